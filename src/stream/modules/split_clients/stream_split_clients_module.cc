// nginx's ngx_stream_split_clients_module: `split_clients string $variable { 10% a; * b; }`
// in the stream block. $variable is the value of the slice the MurmurHash2 of the string
// (variables evaluated for the session) falls in, the value nginx gives it. The table is the
// split_clients layer's.
//
//   split_clients "$remote_addr" $pool { 20% canary; * stable; }
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/module.h"
#include "event/runtime.h"
#include "modules/split_clients/split_clients.h"
#include "stream/stream.h"

namespace mod::stream_split_clients {

extern const core::Module kModule;

namespace {

using core::ConfContext;
using core::Status;

/// One `split_clients` block.
struct SplitBlock {
    std::string name;  // $variable without the '$'
    std::string where;
    stream::ComplexValue key;
    split_clients::Table table;
};

struct SplitMainConf : core::ConfBase {
    std::vector<std::unique_ptr<SplitBlock>> blocks;
    std::unordered_map<std::string_view, const SplitBlock*> by_name;
    int module_index = -1;
};

/// The values a session has read (nginx keeps a variable's value for the session).
struct SplitCtx : stream::SessionCtx {
    std::unordered_map<const SplitBlock*, std::string> values;
};

void lookup(const stream::Session& s, const SplitBlock& b, std::string& out) {
    if (const std::string* v = b.table.pick(split_clients::murmur_hash2(b.key.eval(s)))) {
        out += *v;
    }
}

SplitMainConf* split_main(core::Cycle& cycle) {
    stream::StreamMainConf* main = stream::stream_main(cycle);
    return main == nullptr ? nullptr : &core::conf_of<SplitMainConf>(main->main_confs);
}

bool get_split(const stream::Session& s, std::string_view name, std::string& out) {
    SplitMainConf* conf = split_main(ev::Runtime::current().cycle());
    if (conf == nullptr) {
        return false;
    }
    auto it = conf->by_name.find(name);
    if (it == conf->by_name.end()) {
        return false;
    }
    const SplitBlock& b = *it->second;
    if (conf->module_index < 0) {
        lookup(s, b, out);
        return true;
    }
    // The session's cache is state of the session, not of its meaning: a const getter fills it.
    auto& ctx = const_cast<stream::Session&>(s).ctx_of<SplitCtx>(conf->module_index);
    auto [cached, fresh] = ctx.values.try_emplace(&b);
    if (fresh) {
        lookup(s, b, cached->second);
    }
    out += cached->second;
    return true;
}

Status set_split_clients(ConfContext& cf, SplitMainConf& conf) {
    const std::string& dst = cf.arg(1);
    if (dst.size() < 2 || dst[0] != '$') {
        return cf.error("invalid variable name \"" + dst + "\"");
    }
    auto block = std::make_unique<SplitBlock>();
    block->name = dst.substr(1);
    block->where = cf.node().where();
    if (conf.by_name.count(block->name) != 0) {
        // nginx lets a later block silently replace the first; halo refuses the ambiguity.
        return cf.error("the duplicate \"" + block->name + "\" variable");
    }
    HALO_TRY(stream::ComplexValue::parse(cf.arg(0), cf.node().where(), block->key));
    stream::register_complex_value(cf.cycle(), &block->key);
    HALO_TRY(split_clients::build(cf.node().children, block->table));
    conf.by_name[block->name] = block.get();
    stream::add_variable(cf.cycle(), {.name = block->name, .get = &get_split, .arg = block->name});
    conf.blocks.push_back(std::move(block));
    return Status::ok();
}

constexpr core::Directive kDirectives[] = {
    {"split_clients", core::kCtxStream, core::Args{2, 2, true}, core::setter<&set_split_clients>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<SplitMainConf>(core::ConfLevel::kStreamMain),
};

/// Once every module registered its variables: a split_clients block may not define a
/// variable another module (or the core) defines.
Status init_cycle(core::Cycle& cycle) {
    stream::StreamMainConf* main = stream::stream_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    SplitMainConf& conf = core::conf_of<SplitMainConf>(main->main_confs);
    conf.module_index = cycle.registry().index_of(kModule);
    for (const auto& b : conf.blocks) {
        for (const stream::VariableDef& d : main->variables) {
            if (!d.prefix && d.name == b->name && d.get != &get_split) {
                return Status::error("the duplicate \"" + b->name + "\" variable in " + b->where);
            }
        }
    }
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "stream_split_clients",
    .type = core::ModuleType::kStream,
    .directives = kDirectives,
    .confs = kConfs,
    .init_cycle = &init_cycle,
};

}  // namespace mod::stream_split_clients
