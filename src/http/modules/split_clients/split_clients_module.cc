// nginx's ngx_http_split_clients_module: `split_clients string $variable { 10% a; * b; }` in
// the http block, for A/B testing. $variable is the value of the slice the MurmurHash2 of
// the string (variables evaluated for the request) falls in; the same string always gives the
// same value, the value nginx gives it. The table is the split_clients layer's.
//
//   split_clients "${remote_addr}AAA" $variant { 0.5% .one; 2.0% .two; * ""; }
#include <memory>
#include <string>
#include <vector>

#include "core/module.h"
#include "http/http.h"
#include "modules/split_clients/split_clients.h"

namespace mod::http_split_clients {
namespace {

using core::ConfContext;
using core::Status;

/// One `split_clients` block: the variable source of its $variable.
class SplitBlock : public http::VariableSource {
  public:
    bool get(const http::Request& r, const http::ConfVariable&, std::string& out) const override {
        const std::string* v = table.pick(split_clients::murmur_hash2(key.eval(r)));
        if (v != nullptr) {
            out += *v;
        }
        return true;
    }

    http::ComplexValue key;
    split_clients::Table table;
};

struct SplitMainConf : core::ConfBase {
    std::vector<std::unique_ptr<SplitBlock>> blocks;
};

Status set_split_clients(ConfContext& cf, SplitMainConf& conf) {
    const std::string& dst = cf.arg(1);
    if (dst.size() < 2 || dst[0] != '$') {
        return cf.error("invalid variable name \"" + dst + "\"");
    }
    auto block = std::make_unique<SplitBlock>();
    HALO_TRY(http::ComplexValue::parse(cf.arg(0), cf.node().where(), block->key));
    http::register_complex_value(cf.cycle(), &block->key);
    HALO_TRY(split_clients::build(cf.node().children, block->table));
    http::ConfVariable* var =
        http::declare_variable(cf.cycle(), std::string_view(dst).substr(1), cf.node().where());
    if (var == nullptr) {
        return cf.error("\"split_clients\" directive is not allowed here");
    }
    if (var->source != nullptr) {
        // nginx lets a later block silently replace the first; halo refuses the ambiguity.
        return cf.error("the duplicate \"" + var->name + "\" variable");
    }
    var->source = block.get();
    var->where = cf.node().where();
    conf.blocks.push_back(std::move(block));
    return Status::ok();
}

constexpr core::Directive kDirectives[] = {
    {"split_clients", core::kCtxHttp, core::Args{2, 2, true}, core::setter<&set_split_clients>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<SplitMainConf>(core::ConfLevel::kHttpMain),
};

}  // namespace

extern const core::Module kModule{
    .name = "http_split_clients",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
};

}  // namespace mod::http_split_clients
