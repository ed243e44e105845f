// The stream map module: `map $src $dst { default v; hostnames; volatile; key v; ~re v; }` in
// the stream block, as nginx's ngx_stream_map_module. $dst is computed when a session first
// reads it (and kept for the session unless `volatile`); values may hold variables.
//
//   map $ssl_preread_server_name $backend { a.example.com be_a; default be_b; }
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/module.h"
#include "event/runtime.h"
#include "modules/map/map_table.h"
#include "stream/stream.h"

namespace mod::stream_map {

extern const core::Module kModule;

namespace {

using core::ConfContext;
using core::Status;

/// One `map` block.
struct MapBlock {
    std::string name;  // $dst without the '$'
    std::string where;
    stream::ComplexValue source;
    map::MapTable table;
    std::vector<std::unique_ptr<stream::ComplexValue>> values;
    const stream::ComplexValue* default_value = nullptr;  // nullptr: ""
    bool cacheable = true;
};

struct MapMainConf : core::ConfBase {
    std::vector<std::unique_ptr<MapBlock>> maps;
    std::unordered_map<std::string_view, const MapBlock*> by_name;
    int module_index = -1;
};

/// The values of the non-volatile maps a session has read.
struct MapCtx : stream::SessionCtx {
    std::unordered_map<const MapBlock*, std::string> values;
};

Status entry_error(const core::ConfNode& entry, const std::string& what) {
    return Status::error(what + " in " + entry.where());
}

/// One line of the block: `key value;`, `default value;`, `hostnames;` or `volatile;`.
Status add_entry(ConfContext& cf, MapBlock& map, const core::ConfNode& entry) {
    if (entry.block) {
        return entry_error(entry, "unexpected \"{\"");
    }
    const auto& args = entry.args;
    if (args.size() == 1 && args[0] == "hostnames") {
        map.table.set_hostnames();
        return Status::ok();
    }
    if (args.size() == 1 && args[0] == "volatile") {
        map.cacheable = false;
        return Status::ok();
    }
    if (args.size() != 2) {
        return entry_error(entry, "invalid number of the map parameters");
    }
    for (size_t i = args[1].find('$'); i != std::string::npos; i = args[1].find('$', i + 1)) {
        size_t d = i + 1 < args[1].size() && args[1][i + 1] == '{' ? i + 2 : i + 1;
        if (d < args[1].size() && isdigit(static_cast<unsigned char>(args[1][d])) != 0) {
            return entry_error(entry,
                               "regex captures (\"$" + std::string(1, args[1][d]) +
                                   "\") in a stream \"map\" value are not supported by halo yet");
        }
    }
    auto value = std::make_unique<stream::ComplexValue>();
    HALO_TRY(stream::ComplexValue::parse(args[1], entry.where(), *value));
    stream::register_complex_value(cf.cycle(), value.get());
    size_t index = map.values.size();
    map.values.push_back(std::move(value));
    std::string_view key = args[0];
    if (key == "default") {
        if (map.default_value != nullptr) {
            return entry_error(entry, "duplicate default map parameter");
        }
        map.default_value = map.values.back().get();
        return Status::ok();
    }
    if (Status s = map.table.add_key(key, index); !s.is_ok()) {
        return entry_error(entry, s.message());
    }
    return Status::ok();
}

bool get_map(const stream::Session& s, std::string_view name, std::string& out);

Status set_map(ConfContext& cf, MapMainConf& conf) {
    const std::string& dst = cf.arg(1);
    if (dst.size() < 2 || dst[0] != '$') {
        return cf.error("invalid variable name \"" + dst + "\"");
    }
    auto map = std::make_unique<MapBlock>();
    map->name = dst.substr(1);
    map->where = cf.node().where();
    if (conf.by_name.count(map->name) != 0) {
        // nginx lets a later map silently replace the first; halo refuses the ambiguity.
        return cf.error("the duplicate \"" + map->name + "\" variable");
    }
    HALO_TRY(stream::ComplexValue::parse(cf.arg(0), cf.node().where(), map->source));
    stream::register_complex_value(cf.cycle(), &map->source);
    for (const core::ConfNode& entry : cf.node().children) {
        HALO_TRY(add_entry(cf, *map, entry));
    }
    conf.by_name[map->name] = map.get();
    stream::add_variable(cf.cycle(), {.name = map->name, .get = &get_map, .arg = map->name});
    conf.maps.push_back(std::move(map));
    return Status::ok();
}

/// map_hash_max_size and map_hash_bucket_size size nginx's hash tables; halo has none to
/// size, so they are checked and have no effect.
Status set_hash_size(ConfContext& cf) {
    auto v = core::parse_int(cf.arg(0));
    if (!v || *v < 1) {
        return cf.invalid_value(cf.arg(0));
    }
    return Status::ok();
}

constexpr core::Directive kDirectives[] = {
    {"map", core::kCtxStream, core::Args{2, 2, true}, core::setter<&set_map>()},
    {"map_hash_max_size", core::kCtxStream, core::kArgs1, core::setter_noconf<&set_hash_size>()},
    {"map_hash_bucket_size", core::kCtxStream, core::kArgs1, core::setter_noconf<&set_hash_size>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<MapMainConf>(core::ConfLevel::kStreamMain),
};

MapMainConf* map_main(core::Cycle& cycle) {
    stream::StreamMainConf* main = stream::stream_main(cycle);
    return main == nullptr ? nullptr : &core::conf_of<MapMainConf>(main->main_confs);
}

void lookup(const stream::Session& s, const MapBlock& map, std::string& out) {
    std::string subject = map.source.eval(s);
    std::optional<size_t> found = map.table.find(subject);
    if (found) {
        map.values[*found]->eval(s, out);
    } else if (map.default_value != nullptr) {
        map.default_value->eval(s, out);
    }
}

bool get_map(const stream::Session& s, std::string_view name, std::string& out) {
    MapMainConf* conf = map_main(ev::Runtime::current().cycle());
    if (conf == nullptr) {
        return false;
    }
    auto it = conf->by_name.find(name);
    if (it == conf->by_name.end()) {
        return false;
    }
    const MapBlock& map = *it->second;
    if (!map.cacheable || conf->module_index < 0) {
        lookup(s, map, out);
        return true;
    }
    // The session's cache is state of the session, not of its meaning: a const getter fills it.
    auto& ctx = const_cast<stream::Session&>(s).ctx_of<MapCtx>(conf->module_index);
    auto [cached, fresh] = ctx.values.try_emplace(&map);
    if (fresh) {
        lookup(s, map, cached->second);
    }
    out += cached->second;
    return true;
}

/// Once every module registered its variables: a map may not define a variable another
/// module (or the core) defines.
Status init_cycle(core::Cycle& cycle) {
    stream::StreamMainConf* main = stream::stream_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    MapMainConf& conf = core::conf_of<MapMainConf>(main->main_confs);
    conf.module_index = cycle.registry().index_of(kModule);
    for (const auto& map : conf.maps) {
        for (const stream::VariableDef& d : main->variables) {
            if (!d.prefix && d.name == map->name && d.get != &get_map) {
                return Status::error("the duplicate \"" + map->name + "\" variable in " +
                                     map->where);
            }
        }
    }
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "stream_map",
    .type = core::ModuleType::kStream,
    .directives = kDirectives,
    .confs = kConfs,
    .init_cycle = &init_cycle,
};

}  // namespace mod::stream_map
