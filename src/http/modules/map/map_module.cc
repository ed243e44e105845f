// The map module: `map $src $dst { default v; hostnames; volatile; key value; ~re value; }`
// in http context, as nginx's. $dst is computed when a request first reads it (and cached for
// the request unless `volatile`); values may hold variables and a regex key's captures.
#include <memory>
#include <string>
#include <vector>

#include "core/module.h"
#include "http/http.h"
#include "modules/map/map_table.h"

namespace mod::http_map {
namespace {

using core::ConfContext;
using core::Status;

/// One `map` block: the variable source of its $dst.
class MapBlock : public http::VariableSource {
  public:
    bool get(const http::Request& r, const http::ConfVariable&, std::string& out) const override {
        std::string subject = source.eval(r);
        std::vector<std::string_view> groups;
        std::optional<size_t> found = table.find(subject, &groups);
        if (!found) {
            if (default_value != nullptr) {
                default_value->eval(r, out);
            }
            return true;
        }
        if (!groups.empty()) {
            r.captures.assign(groups.begin(), groups.end());  // nginx: a regex key sets them
        }
        values[*found]->eval(r, out);
        return true;
    }

    http::ComplexValue source;
    map::MapTable table;
    std::vector<std::unique_ptr<http::ComplexValue>> values;
    const http::ComplexValue* default_value = nullptr;  // nullptr: ""
};

struct MapMainConf : core::ConfBase {
    std::vector<std::unique_ptr<MapBlock>> maps;
};

Status entry_error(const core::ConfNode& entry, const std::string& what) {
    return Status::error(what + " in " + entry.where());
}

/// One line of the block: `key value;`, `default value;`, `hostnames;` or `volatile;`.
Status add_entry(ConfContext& cf, MapBlock& map, const core::ConfNode& entry, bool& cacheable) {
    if (entry.block) {
        return entry_error(entry, "unexpected \"{\"");
    }
    const auto& args = entry.args;
    if (args.size() == 1 && args[0] == "hostnames") {
        map.table.set_hostnames();
        return Status::ok();
    }
    if (args.size() == 1 && args[0] == "volatile") {
        cacheable = false;
        return Status::ok();
    }
    if (args.size() != 2) {
        return entry_error(entry, "invalid number of the map parameters");
    }
    auto value = std::make_unique<http::ComplexValue>();
    HALO_TRY(http::ComplexValue::parse(args[1], entry.where(), *value));
    http::register_complex_value(cf.cycle(), value.get());
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

Status set_map(ConfContext& cf, MapMainConf& conf) {
    const std::string& dst = cf.arg(1);
    if (dst.size() < 2 || dst[0] != '$') {
        return cf.error("invalid variable name \"" + dst + "\"");
    }
    auto map = std::make_unique<MapBlock>();
    HALO_TRY(http::ComplexValue::parse(cf.arg(0), cf.node().where(), map->source));
    http::register_complex_value(cf.cycle(), &map->source);
    bool cacheable = true;
    for (const core::ConfNode& entry : cf.node().children) {
        HALO_TRY(add_entry(cf, *map, entry, cacheable));
    }
    http::ConfVariable* var =
        http::declare_variable(cf.cycle(), std::string_view(dst).substr(1), cf.node().where());
    if (var == nullptr) {
        return cf.error("\"map\" directive is not allowed here");
    }
    if (var->source != nullptr) {
        // nginx lets a later map silently replace the first; halo refuses the ambiguity.
        return cf.error("the duplicate \"" + var->name + "\" variable");
    }
    var->source = map.get();
    var->cacheable = cacheable;
    var->where = cf.node().where();
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
    {"map", core::kCtxHttp, core::Args{2, 2, true}, core::setter<&set_map>()},
    {"map_hash_max_size", core::kCtxHttp, core::kArgs1, core::setter_noconf<&set_hash_size>()},
    {"map_hash_bucket_size", core::kCtxHttp, core::kArgs1, core::setter_noconf<&set_hash_size>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<MapMainConf>(core::ConfLevel::kHttpMain),
};

}  // namespace

extern const core::Module kModule{
    .name = "http_map",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
};

}  // namespace mod::http_map
