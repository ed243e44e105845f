// The setters and merge of a location's cache settings (cache_conf.h).

#include "modules/cache/cache_conf.h"

#include "core/cycle.h"

namespace mod::cache {

void merge(const CacheLocConf& parent, CacheLocConf& child) {
    using namespace std::chrono_literals;
    if (!child.cache_set) {
        child.cache_set = parent.cache_set;
        child.off = parent.off;
        child.zone_name = parent.zone_name;
        child.zone_value = parent.zone_value;
        child.path = parent.path;
        child.where = parent.where;
    }
    if (!child.key) {
        child.key = parent.key;
    }
    if (!child.valid) {
        child.valid = parent.valid;
    }
    core::inherit(child.methods, parent.methods, uint32_t{kMethodGet | kMethodHead});
    core::inherit(child.min_uses, parent.min_uses, int64_t{1});
    if (!child.bypass) {
        child.bypass = parent.bypass;
    }
    if (!child.no_cache) {
        child.no_cache = parent.no_cache;
    }
    core::inherit(child.use_stale, parent.use_stale, uint32_t{kStaleOff});
    core::inherit(child.background_update, parent.background_update, false);
    core::inherit(child.lock, parent.lock, false);
    core::inherit(child.lock_timeout, parent.lock_timeout, std::chrono::milliseconds(5s));
    core::inherit(child.lock_age, parent.lock_age, std::chrono::milliseconds(5s));
    core::inherit(child.revalidate, parent.revalidate, false);
    core::inherit(child.convert_head, parent.convert_head, true);
    core::inherit(child.max_range_offset, parent.max_range_offset, UINT64_MAX);
}

namespace {

/// What follows "<prefix>_cache" in the directive's name ("_valid", "" for proxy_cache).
std::string_view suffix(const core::ConfContext& cf) {
    std::string_view n = cf.name();
    size_t at = n.find("_cache");
    return at == std::string_view::npos ? n : n.substr(at + 6);
}

core::Status parse_value(core::ConfContext& cf, const std::string& text,
                         std::shared_ptr<http::ComplexValue>& out) {
    out = std::make_shared<http::ComplexValue>();
    HALO_TRY(http::ComplexValue::parse(text, cf.node().where(), *out));
    http::register_complex_value(cf.cycle(), out.get());
    return core::Status::ok();
}

}  // namespace

core::Status set_cache(core::ConfContext& cf, CacheLocConf& c) {
    if (c.cache_set) {
        return cf.duplicate();
    }
    c.cache_set = true;
    c.where = cf.node().where();
    const std::string& a = cf.arg(0);
    if (a == "off") {
        c.off = true;
        return core::Status::ok();
    }
    if (a.find('$') != std::string::npos) {
        return parse_value(cf, a, c.zone_value);
    }
    c.zone_name = a;
    return core::Status::ok();
}

core::Status set_key(core::ConfContext& cf, CacheLocConf& c) {
    if (c.key) {
        return cf.duplicate();
    }
    return parse_value(cf, cf.arg(0), c.key);
}

core::Status set_valid(core::ConfContext& cf, CacheLocConf& c) {
    if (!c.valid) {
        c.valid = std::make_shared<std::vector<ValidRule>>();
    }
    auto args = cf.args();
    auto d = core::parse_duration(args.back());
    if (!d || d->count() < 0) {
        return cf.error("invalid time value \"" + args.back() + "\"");
    }
    int64_t secs = std::chrono::duration_cast<std::chrono::seconds>(*d).count();
    if (args.size() == 1) {
        for (int code : {200, 301, 302}) {
            c.valid->push_back({code, secs});
        }
        return core::Status::ok();
    }
    for (size_t i = 0; i + 1 < args.size(); i++) {
        if (args[i] == "any") {
            c.valid->push_back({0, secs});
            continue;
        }
        auto code = core::parse_int(args[i]);
        if (!code || *code < 1 || *code > 599) {
            return cf.error("invalid status \"" + args[i] + "\"");
        }
        c.valid->push_back({static_cast<int>(*code), secs});
    }
    return core::Status::ok();
}

core::Status set_methods(core::ConfContext& cf, CacheLocConf& c) {
    if (c.methods) {
        return cf.duplicate();
    }
    uint32_t bits = kMethodGet | kMethodHead;  // nginx: GET and HEAD always
    for (const std::string& a : cf.args()) {
        if (a == "GET") {
            bits |= kMethodGet;
        } else if (a == "HEAD") {
            bits |= kMethodHead;
        } else if (a == "POST") {
            bits |= kMethodPost;
        } else {
            return cf.invalid_value(a);
        }
    }
    c.methods = bits;
    return core::Status::ok();
}

core::Status set_min_uses(core::ConfContext& cf, CacheLocConf& c) {
    if (c.min_uses) {
        return cf.duplicate();
    }
    auto n = core::parse_int(cf.arg(0));
    if (!n || *n < 1) {
        return cf.error("invalid number \"" + cf.arg(0) + "\"");
    }
    c.min_uses = *n;
    return core::Status::ok();
}

core::Status set_conditions(core::ConfContext& cf, CacheLocConf& c) {
    auto& list = cf.name().ends_with("_bypass") ? c.bypass : c.no_cache;
    if (!list) {
        list = std::make_shared<std::deque<http::ComplexValue>>();
    }
    for (const std::string& a : cf.args()) {
        http::ComplexValue& cv = list->emplace_back();
        HALO_TRY(http::ComplexValue::parse(a, cf.node().where(), cv));
        http::register_complex_value(cf.cycle(), &cv);
    }
    return core::Status::ok();
}

core::Status set_use_stale(core::ConfContext& cf, CacheLocConf& c) {
    if (c.use_stale) {
        return cf.duplicate();
    }
    static constexpr std::pair<std::string_view, uint32_t> kNames[] = {
        {"error", kStaleError},
        {"timeout", kStaleTimeout},
        {"invalid_header", kStaleInvalidHeader},
        {"updating", kStaleUpdating},
        {"http_500", kStaleHttp500},
        {"http_502", kStaleHttp502},
        {"http_503", kStaleHttp503},
        {"http_504", kStaleHttp504},
        {"http_403", kStaleHttp403},
        {"http_404", kStaleHttp404},
        {"http_429", kStaleHttp429},
        {"off", kStaleOff},
    };
    uint32_t bits = 0;
    for (const std::string& a : cf.args()) {
        bool found = false;
        for (auto [name, bit] : kNames) {
            if (a == name) {
                bits |= bit;
                found = true;
            }
        }
        if (!found) {
            return cf.invalid_value(a);
        }
    }
    if ((bits & kStaleOff) && bits != kStaleOff) {
        return cf.error("invalid value \"off\" combined with other values");
    }
    c.use_stale = bits;
    return core::Status::ok();
}

core::Status set_flag(core::ConfContext& cf, CacheLocConf& c) {
    std::string_view s = suffix(cf);
    std::optional<bool>* slot = s == "_background_update" ? &c.background_update
                                : s == "_lock"            ? &c.lock
                                : s == "_revalidate"      ? &c.revalidate
                                                          : &c.convert_head;
    if (*slot) {
        return cf.duplicate();
    }
    const std::string& a = cf.arg(0);
    if (a != "on" && a != "off") {
        return cf.error("invalid value \"" + a + "\" in \"" + std::string(cf.name()) +
                        "\" directive, it must be \"on\" or \"off\"");
    }
    *slot = a == "on";
    return core::Status::ok();
}

core::Status set_time(core::ConfContext& cf, CacheLocConf& c) {
    auto& slot = suffix(cf) == "_lock_timeout" ? c.lock_timeout : c.lock_age;
    if (slot) {
        return cf.duplicate();
    }
    auto d = core::parse_duration(cf.arg(0));
    if (!d || d->count() < 0) {
        return cf.error("invalid value \"" + cf.arg(0) + "\"");
    }
    slot = *d;
    return core::Status::ok();
}

core::Status set_max_range_offset(core::ConfContext& cf, CacheLocConf& c) {
    if (c.max_range_offset) {
        return cf.duplicate();
    }
    auto n = core::parse_size(cf.arg(0));
    if (!n) {
        return cf.invalid_value(cf.arg(0));
    }
    c.max_range_offset = n->bytes;
    return core::Status::ok();
}

core::Status set_purge(core::ConfContext& cf, CacheLocConf& c) {
    if (c.purge_key) {
        return cf.duplicate();
    }
    c.purge_zone = cf.arg(0);
    return parse_value(cf, cf.arg(1), c.purge_key);
}

core::Status resolve(core::Cycle& cycle, CacheLocConf& c, std::string_view prefix,
                     std::string_view default_key) {
    if (!c.zone_name.empty() && c.path == nullptr) {
        c.path = find_path(cycle, c.zone_name);
        if (c.path == nullptr) {
            return core::Status::error("\"" + std::string(prefix) + "_cache\" zone \"" +
                                       c.zone_name + "\" is unknown in " + c.where);
        }
    }
    if (c.purge_key && c.purge_path == nullptr) {
        c.purge_path = find_path(cycle, c.purge_zone);
        if (c.purge_path == nullptr) {
            return core::Status::error("\"" + std::string(prefix) + "_cache_purge\" zone \"" +
                                       c.purge_zone + "\" is unknown");
        }
    }
    if (c.enabled() && !c.key) {
        if (default_key.empty()) {
            return core::Status::error("no \"" + std::string(prefix) + "_cache_key\" for \"" +
                                       std::string(prefix) + "_cache\" in " + c.where);
        }
        c.key = std::make_shared<http::ComplexValue>();
        HALO_TRY(http::ComplexValue::parse(default_key, c.where, *c.key));
        http::register_complex_value(cycle, c.key.get());
    }
    return core::Status::ok();
}

bool any_condition(const http::Request& r, const std::deque<http::ComplexValue>* conds) {
    if (conds == nullptr) {
        return false;
    }
    for (const http::ComplexValue& cv : *conds) {
        std::string v = cv.eval(r);
        if (!v.empty() && v != "0") {
            return true;
        }
    }
    return false;
}

int64_t valid_for(const CacheLocConf& c, int status) {
    if (!c.valid) {
        return 0;
    }
    for (const ValidRule& v : *c.valid) {
        if (v.code == status) {
            return v.seconds;
        }
    }
    for (const ValidRule& v : *c.valid) {
        if (v.code == 0) {
            return v.seconds;
        }
    }
    return 0;
}

}  // namespace mod::cache
