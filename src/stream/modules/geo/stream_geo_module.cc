// nginx's ngx_stream_geo_module: `geo [$address] $variable { ... }` in the stream block.
// $variable takes the value of the network (or, after `ranges;`, the range) the client
// address falls in: the session's client address, or the value of $address. As nginx's, the
// stream geo has no `proxy` (there is no X-Forwarded-For). The tables are the geo layer's.
//
//   geo $upstream_pool { default public; 10.0.0.0/8 internal; }
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/module.h"
#include "event/runtime.h"
#include "modules/geo/geo.h"
#include "stream/stream.h"

namespace mod::stream_geo {

extern const core::Module kModule;

namespace {

using core::ConfContext;
using core::Status;

/// One `geo` block.
struct GeoBlock {
    std::string name;  // $variable without the '$'
    std::string where;
    std::unique_ptr<stream::ComplexValue> source;  // `geo $address $variable`; else the client
    geo::Geo geo;
};

struct GeoMainConf : core::ConfBase {
    std::vector<std::unique_ptr<GeoBlock>> blocks;
    std::unordered_map<std::string_view, const GeoBlock*> by_name;
    int module_index = -1;
};

/// The values a session has read (nginx keeps a variable's value for the session unless
/// the block says `volatile`).
struct GeoCtx : stream::SessionCtx {
    std::unordered_map<const GeoBlock*, std::string> values;
};

void lookup(const stream::Session& s, const GeoBlock& b, std::string& out) {
    if (!b.source) {
        out += b.geo.find(&s.peer);
        return;
    }
    auto addr = geo::parse_addr(b.source->eval(s));
    out += b.geo.find(addr ? &*addr : nullptr);
}

GeoMainConf* geo_main(core::Cycle& cycle) {
    stream::StreamMainConf* main = stream::stream_main(cycle);
    return main == nullptr ? nullptr : &core::conf_of<GeoMainConf>(main->main_confs);
}

bool get_geo(const stream::Session& s, std::string_view name, std::string& out) {
    GeoMainConf* conf = geo_main(ev::Runtime::current().cycle());
    if (conf == nullptr) {
        return false;
    }
    auto it = conf->by_name.find(name);
    if (it == conf->by_name.end()) {
        return false;
    }
    const GeoBlock& b = *it->second;
    if (b.geo.is_volatile() || conf->module_index < 0) {
        lookup(s, b, out);
        return true;
    }
    // The session's cache is state of the session, not of its meaning: a const getter fills it.
    auto& ctx = const_cast<stream::Session&>(s).ctx_of<GeoCtx>(conf->module_index);
    auto [cached, fresh] = ctx.values.try_emplace(&b);
    if (fresh) {
        lookup(s, b, cached->second);
    }
    out += cached->second;
    return true;
}

Status set_geo(ConfContext& cf, GeoMainConf& conf) {
    size_t nargs = cf.node().args.size() - 1;
    for (size_t i = 0; i < nargs; i++) {
        const std::string& a = cf.arg(i);
        if (a.size() < 2 || a[0] != '$') {
            return cf.error("invalid variable name \"" + a + "\"");
        }
    }
    auto block = std::make_unique<GeoBlock>();
    block->name = cf.arg(nargs - 1).substr(1);
    block->where = cf.node().where();
    if (conf.by_name.count(block->name) != 0) {
        // nginx lets a later block silently replace the first; halo refuses the ambiguity.
        return cf.error("the duplicate \"" + block->name + "\" variable");
    }
    if (nargs == 2) {
        block->source = std::make_unique<stream::ComplexValue>();
        HALO_TRY(stream::ComplexValue::parse(cf.arg(0), cf.node().where(), *block->source));
        stream::register_complex_value(cf.cycle(), block->source.get());
    }
    HALO_TRY(geo::build(cf.node().children, geo::Options{.proxy = false}, block->geo));
    conf.by_name[block->name] = block.get();
    stream::add_variable(cf.cycle(), {.name = block->name, .get = &get_geo, .arg = block->name});
    conf.blocks.push_back(std::move(block));
    return Status::ok();
}

constexpr core::Directive kDirectives[] = {
    {"geo", core::kCtxStream, core::Args{1, 2, true}, core::setter<&set_geo>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<GeoMainConf>(core::ConfLevel::kStreamMain),
};

/// Once every module registered its variables: a geo block may not define a variable another
/// module (or the core) defines.
Status init_cycle(core::Cycle& cycle) {
    stream::StreamMainConf* main = stream::stream_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    GeoMainConf& conf = core::conf_of<GeoMainConf>(main->main_confs);
    conf.module_index = cycle.registry().index_of(kModule);
    for (const auto& b : conf.blocks) {
        for (const stream::VariableDef& d : main->variables) {
            if (!d.prefix && d.name == b->name && d.get != &get_geo) {
                return Status::error("the duplicate \"" + b->name + "\" variable in " + b->where);
            }
        }
    }
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "stream_geo",
    .type = core::ModuleType::kStream,
    .directives = kDirectives,
    .confs = kConfs,
    .init_cycle = &init_cycle,
};

}  // namespace mod::stream_geo
