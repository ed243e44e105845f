// nginx's ngx_http_geo_module: `geo [$address] $variable { ... }` in the http block. $variable
// takes the value of the network (or, after `ranges;`, the range) the client address falls
// in: the connection's address (after realip), or the value of $address. With `proxy` lines,
// a client coming from a trusted address is looked up by X-Forwarded-For's last address
// (`proxy_recursive`: the last untrusted one). The tables are the geo layer's (src/modules/geo).
//
//   geo $country { default ZZ; 127.0.0.0/8 LO; 10.0.0.0/8 INT; proxy 10.0.0.1; }
#include <strings.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "core/module.h"
#include "http/http.h"
#include "modules/geo/geo.h"

namespace mod::http_geo {
namespace {

using core::ConfContext;
using core::Status;

/// One `geo` block: the variable source of its $variable.
class GeoBlock : public http::VariableSource {
  public:
    bool get(const http::Request& r, const http::ConfVariable&, std::string& out) const override {
        core::SockAddr addr;
        bool have = true;
        if (source) {
            auto parsed = geo::parse_addr(source->eval(r));
            have = parsed.has_value();
            if (have) {
                addr = *parsed;
            }
        } else {
            addr = r.peer;
        }
        if (have && !geo.proxies().empty()) {
            std::string_view lists[16];  // X-Forwarded-For headers, as received
            size_t n = 0;
            for (const http::Header& h : r.headers) {
                if (h.name.size() == 15 && strncasecmp(h.name.data(), "X-Forwarded-For", 15) == 0) {
                    if (n == std::size(lists)) {
                        std::move(lists + 1, lists + n, lists);  // keep the last ones
                        n--;
                    }
                    lists[n++] = h.value;
                }
            }
            geo::forwarded_addr(addr, std::span(lists, n), geo.proxies(), geo.proxy_recursive());
        }
        out += geo.find(have ? &addr : nullptr);
        return true;
    }

    std::unique_ptr<http::ComplexValue> source;  // `geo $address $variable`; else the client
    geo::Geo geo;
};

struct GeoMainConf : core::ConfBase {
    std::vector<std::unique_ptr<GeoBlock>> blocks;
};

Status set_geo(ConfContext& cf, GeoMainConf& conf) {
    size_t nargs = cf.node().args.size() - 1;
    for (size_t i = 0; i < nargs; i++) {
        const std::string& a = cf.arg(i);
        if (a.size() < 2 || a[0] != '$') {
            return cf.error("invalid variable name \"" + a + "\"");
        }
    }
    const std::string& dst = cf.arg(nargs - 1);
    auto block = std::make_unique<GeoBlock>();
    if (nargs == 2) {
        block->source = std::make_unique<http::ComplexValue>();
        HALO_TRY(http::ComplexValue::parse(cf.arg(0), cf.node().where(), *block->source));
        http::register_complex_value(cf.cycle(), block->source.get());
    }
    HALO_TRY(geo::build(cf.node().children, geo::Options{.proxy = true}, block->geo));
    http::ConfVariable* var =
        http::declare_variable(cf.cycle(), std::string_view(dst).substr(1), cf.node().where());
    if (var == nullptr) {
        return cf.error("\"geo\" directive is not allowed here");
    }
    if (var->source != nullptr) {
        // nginx lets a later block silently replace the first; halo refuses the ambiguity.
        return cf.error("the duplicate \"" + var->name + "\" variable");
    }
    var->source = block.get();
    var->cacheable = !block->geo.is_volatile();
    var->where = cf.node().where();
    conf.blocks.push_back(std::move(block));
    return Status::ok();
}

constexpr core::Directive kDirectives[] = {
    {"geo", core::kCtxHttp, core::Args{1, 2, true}, core::setter<&set_geo>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<GeoMainConf>(core::ConfLevel::kHttpMain),
};

}  // namespace

extern const core::Module kModule{
    .name = "http_geo",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
};

}  // namespace mod::http_geo
