// The http core module: http { server { location { } } }, listen, server_name, keepalive and
// header limits; builds the phase engine and the listening ports of a cycle.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "core/core_module.h"
#include "core/cycle.h"
#include "core/log.h"
#include "core/module.h"
#include "http/body_file.h"
#include "http/core_request.h"
#include "http/error_log.h"
#include "http/http.h"
#include "http/listen_conf.h"
#include "http/proxy_protocol.h"
#include "http/session.h"

namespace http {
namespace {

using core::ConfContext;
using core::ConfLevel;
using core::ConfVector;
using core::Status;

Status set_http(ConfContext& cf, HttpMainConf& main) {
    HALO_TRY(cf.mark_given(main.seen));
    main.main_confs = cf.create_confs(ConfLevel::kHttpMain);
    ConfVector http_srv = cf.create_confs(ConfLevel::kHttpSrv);
    ConfVector http_loc = cf.create_confs(ConfLevel::kHttpLoc);
    ConfContext::Frame frames[] = {{ConfLevel::kHttpMain, &main.main_confs},
                                   {ConfLevel::kHttpSrv, &http_srv},
                                   {ConfLevel::kHttpLoc, &http_loc}};
    HALO_TRY(cf.apply_block(cf.node().children, core::kCtxHttp, frames));
    HALO_TRY(cf.finalize_confs(ConfLevel::kHttpMain, main.main_confs));

    // Inheritance: http level -> server -> location -> nested location.
    struct Merger {
        ConfContext& cf;
        Status locations(const ConfVector& parent,
                         std::vector<std::unique_ptr<LocationBlock>>& locs) {
            for (auto& loc : locs) {
                HALO_TRY(cf.merge_confs(ConfLevel::kHttpLoc, parent, loc->loc_confs));
                HALO_TRY(locations(loc->loc_confs, loc->children));
            }
            return Status::ok();
        }
    } merger{cf};
    ConfVector srv_defaults = cf.create_confs(ConfLevel::kHttpSrv);
    ConfVector loc_defaults = cf.create_confs(ConfLevel::kHttpLoc);
    HALO_TRY(cf.merge_confs(ConfLevel::kHttpSrv, srv_defaults, http_srv));
    HALO_TRY(cf.merge_confs(ConfLevel::kHttpLoc, loc_defaults, http_loc));
    for (auto& srv : main.servers) {
        HALO_TRY(cf.merge_confs(ConfLevel::kHttpSrv, http_srv, srv->srv_confs));
        HALO_TRY(cf.merge_confs(ConfLevel::kHttpLoc, http_loc, srv->loc_confs));
        HALO_TRY(merger.locations(srv->loc_confs, srv->locations));
    }
    main.http_srv_confs = std::move(http_srv);
    main.http_loc_confs = std::move(http_loc);
    return Status::ok();
}

Status set_server(ConfContext& cf) {
    HttpMainConf& main = cf.cycle().conf<HttpMainConf>();
    auto srv = std::make_unique<ServerBlock>();
    srv->where = cf.node().where();
    srv->srv_confs = cf.create_confs(ConfLevel::kHttpSrv);
    srv->loc_confs = cf.create_confs(ConfLevel::kHttpLoc);
    core::conf_of<HttpLocConf>(srv->loc_confs).locations = &srv->locations;
    ConfContext::Frame frames[] = {{ConfLevel::kHttpSrv, &srv->srv_confs},
                                   {ConfLevel::kHttpLoc, &srv->loc_confs}};
    HALO_TRY(cf.apply_block(cf.node().children, core::kCtxServer, frames));
    auto& sc = core::conf_of<HttpSrvConf>(srv->srv_confs);
    if (sc.listens.empty()) {
        HttpSrvConf::Listen l;
        l.addr = *core::SockAddr::parse(geteuid() == 0 ? "*:80" : "*:8000", 80);
        l.where = srv->where;
        sc.listens.push_back(l);
    }
    srv->names = sc.names;
    for (const std::string& name : srv->names) {
        if (name[0] == '~') {
            auto re = std::make_unique<Regex>();
            Status s = Regex::compile(std::string_view(name).substr(1), true, *re);
            if (!s.is_ok()) {
                return core::Status::error(s.message() + " in " + srv->where);
            }
            std::vector<std::pair<const ConfVariable*, int>> captures;
            for (const auto& [group, index] : re->names()) {
                if (ConfVariable* v = declare_variable(cf.cycle(), group, srv->where)) {
                    captures.emplace_back(v, index);
                }
            }
            srv->name_captures.push_back(std::move(captures));
            srv->name_regexes.push_back(std::move(re));
        }
    }
    for (const auto& loc : srv->locations) {
        if (loc->match == LocationMatch::kNamed) {
            srv->named.push_back(loc.get());
        }
    }
    main.servers.push_back(std::move(srv));
    return Status::ok();
}

Status set_location(ConfContext& cf, HttpLocConf& parent) {
    if (parent.exact) {
        return cf.error("location \"" + cf.arg(0) + "\" cannot be inside the exact location");
    }
    if (parent.named) {
        return cf.error("location \"" + cf.arg(0) + "\" cannot be inside the named location");
    }
    auto loc = std::make_unique<LocationBlock>();
    loc->where = cf.node().where();
    if (cf.args().size() == 2) {
        const std::string& mod = cf.arg(0);
        loc->name = cf.arg(1);
        if (mod == "=") {
            loc->match = LocationMatch::kExact;
        } else if (mod == "^~") {
            loc->match = LocationMatch::kPrefixNoRegex;
        } else if (mod == "~" || mod == "~*") {
            loc->match = LocationMatch::kRegex;
            loc->regex = std::make_unique<Regex>();
            Status s = Regex::compile(loc->name, mod == "~*", *loc->regex);
            if (!s.is_ok()) {
                return cf.error(s.message());
            }
        } else {
            return cf.error("invalid location modifier \"" + mod + "\"");
        }
    } else {
        loc->name = cf.arg(0);
        if (loc->name.size() > 1 && loc->name[0] == '=') {
            loc->match = LocationMatch::kExact;
            loc->name.erase(0, 1);
        } else if (loc->name[0] == '@') {
            loc->match = LocationMatch::kNamed;
        } else if (loc->name[0] == '~') {
            return cf.error("a regex location needs a space after \"~\": \"location ~ regex\"");
        }
    }
    if (loc->match == LocationMatch::kNamed && parent.locations_owner_is_location) {
        return cf.error("named location \"" + loc->name + "\" can be on the server level only");
    }
    for (const auto& other : *parent.locations) {
        if (other->match != LocationMatch::kIf && other->match != LocationMatch::kLimitExcept &&
            other->name == loc->name &&
            (other->match == LocationMatch::kExact) == (loc->match == LocationMatch::kExact) &&
            (other->match == LocationMatch::kRegex) == (loc->match == LocationMatch::kRegex)) {
            return cf.error("duplicate location \"" + loc->name + "\"");
        }
    }
    loc->loc_confs = cf.create_confs(ConfLevel::kHttpLoc);
    auto& own = core::conf_of<HttpLocConf>(loc->loc_confs);
    own.locations = &loc->children;
    own.exact = loc->match == LocationMatch::kExact;
    own.named = loc->match == LocationMatch::kNamed;
    own.locations_owner_is_location = true;
    ConfContext::Frame frame{ConfLevel::kHttpLoc, &loc->loc_confs};
    HALO_TRY(cf.apply_block(cf.node().children, core::kCtxLocation, std::span(&frame, 1)));
    parent.locations->push_back(std::move(loc));
    return Status::ok();
}

/// The methods `limit_except` knows (nginx's list), each with its bit.
constexpr std::string_view kLimitExceptMethods[] = {
    "GET",  "HEAD",    "POST",     "PUT",       "DELETE", "MKCOL",  "COPY",
    "MOVE", "OPTIONS", "PROPFIND", "PROPPATCH", "LOCK",   "UNLOCK", "PATCH",
};

/// `limit_except method ... { ... }`: a nameless location inside this one whose confs the
/// methods not listed get (GET implies HEAD). Only the directives nginx allows there
/// (kCtxLimitExcept: allow, deny, auth_basic, ...) may be written inside.
Status set_limit_except(ConfContext& cf, HttpLocConf& parent) {
    if (parent.limit_except_confs != nullptr) {
        return cf.duplicate();
    }
    if (parent.locations == nullptr || !parent.locations_owner_is_location) {
        return cf.error("\"limit_except\" directive is not allowed here");
    }
    uint32_t allowed = 0;
    for (const std::string& name : cf.args()) {
        uint32_t bit = limit_except_method(name);
        if (bit == 0) {
            return cf.error("invalid method \"" + name + "\"");
        }
        allowed |= bit;
    }
    if ((allowed & method_bit("GET")) != 0) {
        allowed |= method_bit("HEAD");
    }
    auto loc = std::make_unique<LocationBlock>();
    loc->where = cf.node().where();
    loc->match = LocationMatch::kLimitExcept;
    loc->loc_confs = cf.create_confs(ConfLevel::kHttpLoc);
    auto& own = core::conf_of<HttpLocConf>(loc->loc_confs);
    own.locations = &loc->children;
    own.exact = parent.exact;
    own.named = parent.named;
    own.locations_owner_is_location = true;
    ConfContext::Frame frame{ConfLevel::kHttpLoc, &loc->loc_confs};
    HALO_TRY(cf.apply_block(cf.node().children, core::kCtxLimitExcept, std::span(&frame, 1)));
    parent.limit_except = ~allowed;
    parent.limit_except_confs = &loc->loc_confs;
    parent.locations->push_back(std::move(loc));
    return Status::ok();
}

constexpr core::Named<bool> kSatisfyNames[] = {{"all", false}, {"any", true}};
constexpr char kSatisfyDetail[] = "it must be \"all\" or \"any\"";

Status set_large_buffers(ConfContext& cf, HttpSrvConf& conf) {
    if (conf.large_header_buffers) {
        return cf.duplicate();
    }
    auto n = core::parse_int(cf.arg(0));
    auto size = core::parse_size(cf.arg(1));
    if (!n || *n < 1 || *n > 1024) {
        return cf.invalid_value(cf.arg(0), "the number must be 1..1024");
    }
    if (!size || size->bytes < 64 || size->bytes > 1024 * 1024) {
        return cf.invalid_value(cf.arg(1), "the size must be 64..1m");
    }
    conf.large_header_buffers = static_cast<int>(*n);
    conf.large_header_buffer_size = *size;
    return Status::ok();
}

constexpr core::Named<int> kLingeringNames[] = {
    {"off", kLingeringOff}, {"on", kLingeringOn}, {"always", kLingeringAlways}};
constexpr char kLingeringDetail[] = "it must be \"off\", \"on\" or \"always\"";

Status set_error_page(ConfContext& cf, HttpLocConf& conf) {
    auto page = std::make_unique<ErrorPage>();
    size_t n = cf.args().size();
    std::string_view target = cf.arg(n - 1);
    size_t codes_end = n - 1;
    std::string_view last_code = cf.arg(n - 2);
    if (last_code[0] == '=') {
        codes_end = n - 2;
        if (last_code.size() == 1) {
            page->override_status = 0;
        } else {
            auto v = core::parse_int(last_code.substr(1));
            if (!v || *v < 100 || *v > 999) {
                return cf.error("invalid value \"" + std::string(last_code) + "\"");
            }
            page->override_status = static_cast<int>(*v);
        }
    }
    if (codes_end == 0) {
        return cf.error("invalid number of arguments in \"error_page\" directive");
    }
    for (size_t i = 0; i < codes_end; i++) {
        auto v = core::parse_int(cf.arg(i));
        if (!v || *v < 300 || *v > 599) {
            return cf.error("value \"" + cf.arg(i) + "\" must be between 300 and 599");
        }
        page->codes.push_back(static_cast<int>(*v));
    }
    HALO_TRY(ComplexValue::parse(target, cf.node().where(), page->uri));
    if (!conf.error_pages) {
        conf.error_pages = std::make_shared<std::vector<std::unique_ptr<ErrorPage>>>();
    }
    register_complex_value(cf.cycle(), &page->uri);
    conf.error_pages->push_back(std::move(page));
    return Status::ok();
}

constexpr uint32_t kHttpAll = core::kCtxHttpAll;
constexpr uint32_t kHttpSrv = core::kCtxHttpSrv;

constexpr core::Directive kCoreDirectives[] = {
    {"http", core::kCtxMain, core::kArgsBlock, core::setter<&set_http>()},
    {"server", core::kCtxHttp, core::kArgsBlock, core::setter_noconf<&set_server>()},
    {"location", core::kCtxServer | core::kCtxLocation, core::Args{1, 2, true},
     core::setter<&set_location>()},
    {"client_header_timeout", kHttpSrv, core::kArgs1,
     core::slot<&HttpSrvConf::client_header_timeout>()},
    {"client_header_buffer_size", kHttpSrv, core::kArgs1,
     core::slot<&HttpSrvConf::client_header_buffer_size>()},
    {"large_client_header_buffers", kHttpSrv, core::kArgs2, core::setter<&set_large_buffers>()},
    {"keepalive_timeout", kHttpAll, core::kArgs1, core::slot<&HttpLocConf::keepalive_timeout>()},
    {"keepalive_requests", kHttpAll, core::kArgs1,
     core::slot<&HttpLocConf::keepalive_requests, 0, INT32_MAX>()},
    {"send_timeout", kHttpAll, core::kArgs1, core::slot<&HttpLocConf::send_timeout>()},
    {"default_type", kHttpAll, core::kArgs1, core::slot<&HttpLocConf::default_type>()},
    {"absolute_redirect", kHttpAll, core::kArgs1, core::slot<&HttpLocConf::absolute_redirect>()},
    {"server_name_in_redirect", kHttpAll, core::kArgs1,
     core::slot<&HttpLocConf::server_name_in_redirect>()},
    {"port_in_redirect", kHttpAll, core::kArgs1, core::slot<&HttpLocConf::port_in_redirect>()},
    {"client_max_body_size", kHttpAll, core::kArgs1,
     core::length_slot<&HttpLocConf::client_max_body_size>()},
    {"client_body_buffer_size", kHttpAll, core::kArgs1,
     core::slot<&HttpLocConf::client_body_buffer_size>()},
    {"client_body_timeout", kHttpAll, core::kArgs1,
     core::slot<&HttpLocConf::client_body_timeout>()},
    {"lingering_close", kHttpAll, core::kArgs1,
     core::enum_slot<&HttpLocConf::lingering_close, kLingeringNames, kLingeringDetail>()},
    {"lingering_time", kHttpAll, core::kArgs1, core::slot<&HttpLocConf::lingering_time>()},
    {"lingering_timeout", kHttpAll, core::kArgs1, core::slot<&HttpLocConf::lingering_timeout>()},
    {"error_page", kHttpAll | core::kCtxLocationIf, core::kArgs2ToN,
     core::setter<&set_error_page>()},
    {"error_log", kHttpAll, core::kArgs1ToN, core::setter<&set_error_log>()},
    {"limit_except", core::kCtxLocation, core::Args{1, 255, true},
     core::setter<&set_limit_except>()},
    {"satisfy", kHttpAll, core::kArgs1,
     core::enum_slot<&HttpLocConf::satisfy_any, kSatisfyNames, kSatisfyDetail>()},
    {"auth_delay", kHttpAll, core::kArgs1, core::slot<&HttpLocConf::auth_delay>()},
};

/// The core's own directives, then those of listen_conf.h, core_request.h and body_file.h
/// (one table for the http module).
template <size_t... N>
constexpr std::array<core::Directive, (N + ...)> join(const core::Directive (&... tables)[N]) {
    std::array<core::Directive, (N + ...)> out{};
    size_t n = 0;
    auto append = [&](const auto& table) {
        for (const core::Directive& d : table) {
            out[n++] = d;
        }
    };
    (append(tables), ...);
    return out;
}
constexpr auto kDirectives =
    join(kCoreDirectives, kListenDirectives, kRequestDirectives, kBodyFileDirectives);

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<HttpMainConf>(ConfLevel::kMain),
    core::conf_hooks<HttpSrvConf>(ConfLevel::kHttpSrv),
    core::conf_hooks<HttpLocConf>(ConfLevel::kHttpLoc),
};

/// Flattens the registered handlers into one array, nginx style: each entry knows where the
/// next phase starts. find_config is the core's own step (an entry with no handler).
Status build_engine(HttpMainConf& main) {
    main.engine.clear();
    for (int p = 0; p < kPhaseCount; p++) {
        Phase phase = static_cast<Phase>(p);
        if (phase == Phase::kLog) {
            continue;  // log handlers run when the request ends, not in the engine
        }
        size_t first = main.engine.size();
        if (phase == Phase::kFindConfig) {
            main.engine.push_back({phase, nullptr, 0});
        }
        for (PhaseHandler h : main.registered[p]) {
            main.engine.push_back({phase, h, 0});
        }
        for (size_t i = first; i < main.engine.size(); i++) {
            main.engine[i].next = main.engine.size();
        }
    }
    return Status::ok();
}

}  // namespace

Status make_temp_dir(core::Cycle& cycle, const std::string& dir) {
    if (cycle.options().test_only) {
        return Status::ok();
    }
    const auto& core_conf = cycle.conf<core::CoreConf>();
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return Status::error(
            core::format("mkdir() \"%s\" failed (%d: %s)", dir.c_str(), errno, strerror(errno)));
    }
    if (geteuid() == 0 && chown(dir.c_str(), core_conf.uid, core_conf.gid) != 0) {
        return Status::error(
            core::format("chown(\"%s\") failed (%d: %s)", dir.c_str(), errno, strerror(errno)));
    }
    return Status::ok();
}

namespace {

/// Fills the default client_body_temp_path and creates every temp folder (owned by the
/// worker user), as nginx does at startup.
Status prepare_temp_paths(core::Cycle& cycle, HttpMainConf& main) {
    std::vector<std::string> done;
    auto visit = [&](core::ConfVector& confs) -> Status {
        auto& lc = core::conf_of<HttpLocConf>(confs);
        if (lc.client_body_temp_path->empty()) {
            lc.client_body_temp_path = cycle.full_path("client_body_temp");
        }
        const std::string& dir = *lc.client_body_temp_path;
        if (cycle.options().test_only || std::find(done.begin(), done.end(), dir) != done.end()) {
            return Status::ok();
        }
        done.push_back(dir);
        return make_temp_dir(cycle, dir);
    };
    Status result = Status::ok();
    for_each_location_confs(main, [&](core::ConfVector& confs) {
        if (result.is_ok()) {
            result = visit(confs);
        }
    });
    return result;
}

Status init_cycle(core::Cycle& cycle) {
    apply_pcre_jit(*cycle.conf<core::CoreConf>().pcre_jit);
    HttpMainConf* main = http_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    HALO_TRY(build_engine(*main));
    HALO_TRY(prepare_temp_paths(cycle, *main));
    // Every module registered its variables in postconfiguration: bind the config strings.
    std::vector<VariableDef> vars = builtin_variables();
    for (const VariableDef& d : proxy_protocol_variables()) {
        vars.push_back(d);
    }
    vars.insert(vars.end(), main->variables.begin(), main->variables.end());
    main->variables = std::move(vars);
    // `set $args` writes the built-in; any other name clash is an error (nginx's wording).
    for (auto& cv : main->conf_variables) {
        for (const VariableDef& d : main->variables) {
            if (!d.prefix && d.name == cv->name) {
                if (cv->source != nullptr || d.set == nullptr) {
                    return Status::error("the duplicate \"" + cv->name + "\" variable in " +
                                         cv->where);
                }
                cv->builtin = &d;
            }
        }
    }
    for (ComplexValue* cv : main->complex_values) {
        HALO_TRY(cv->bind(*main));
        main->upstream_headers_used = main->upstream_headers_used || cv->uses("upstream_http_");
    }
    HALO_TRY(build_ports(cycle, *main));
    for (auto& port : main->ports) {
        if (!port->http2_where().empty() && main->start_http2 == nullptr) {
            return Status::error(
                "the \"http2\" parameter requires the http_v2 module, which is not compiled "
                "in (see halo -V) in " +
                port->http2_where());
        }
        if (!port->ssl()) {
            continue;
        }
        if (main->make_port_tls == nullptr) {
            return Status::error(
                "the \"ssl\" parameter requires the http_ssl module, which is not "
                "compiled in (see halo -V) in " +
                port->ssl_where());
        }
        HALO_TRY(main->make_port_tls(cycle, *port));
    }
    return Status::ok();
}

}  // namespace

Status merge(const HttpSrvConf& parent, HttpSrvConf& child) {
    using namespace std::chrono_literals;
    core::inherit(child.client_header_timeout, parent.client_header_timeout, 60s);
    core::inherit(child.client_header_buffer_size, parent.client_header_buffer_size,
                  core::Size{1024});
    if (!child.large_header_buffers) {
        child.large_header_buffers = parent.large_header_buffers.value_or(4);
        child.large_header_buffer_size = parent.large_header_buffer_size.value_or(core::Size{8192});
    }
    return merge_request(parent, child);
}

Status merge(const HttpLocConf& parent, HttpLocConf& child) {
    using namespace std::chrono_literals;
    core::inherit(child.keepalive_timeout, parent.keepalive_timeout, 75s);
    core::inherit(child.keepalive_requests, parent.keepalive_requests, 1000);
    core::inherit(child.send_timeout, parent.send_timeout, 60s);
    core::inherit(child.default_type, parent.default_type, "text/plain");
    core::inherit(child.absolute_redirect, parent.absolute_redirect, true);
    core::inherit(child.server_name_in_redirect, parent.server_name_in_redirect, false);
    core::inherit(child.port_in_redirect, parent.port_in_redirect, true);
    core::inherit(child.client_max_body_size, parent.client_max_body_size, core::Size{1024 * 1024});
    core::inherit(child.client_body_buffer_size, parent.client_body_buffer_size,
                  core::Size{16 * 1024});
    core::inherit(child.client_body_timeout, parent.client_body_timeout, 60s);
    core::inherit(child.client_body_temp_path, parent.client_body_temp_path, "");
    core::inherit(child.client_body_temp_levels, parent.client_body_temp_levels,
                  std::vector<int>());
    core::inherit(child.client_body_in_file_only, parent.client_body_in_file_only, kBodyInFileOff);
    core::inherit(child.lingering_close, parent.lingering_close, kLingeringOn);
    core::inherit(child.lingering_time, parent.lingering_time, 30s);
    core::inherit(child.lingering_timeout, parent.lingering_timeout, 5s);
    if (!child.error_pages) {
        child.error_pages = parent.error_pages;
    }
    if (!child.error_log) {
        child.error_log = parent.error_log;
    }
    core::inherit(child.satisfy_any, parent.satisfy_any, false);
    core::inherit(child.auth_delay, parent.auth_delay, std::chrono::milliseconds(0));
    merge(parent.conn, child.conn);
    return merge_request(parent, child);
}

uint32_t limit_except_method(std::string_view name) {
    for (size_t i = 0; i < std::size(kLimitExceptMethods); i++) {
        std::string_view m = kLimitExceptMethods[i];
        if (name.size() == m.size() &&
            std::equal(name.begin(), name.end(), m.begin(), [](char a, char b) {
                return (a >= 'a' && a <= 'z' ? static_cast<char>(a - 'a' + 'A') : a) == b;
            })) {
            return 1u << i;
        }
    }
    return 0;
}

uint32_t method_bit(std::string_view method) {
    for (size_t i = 0; i < std::size(kLimitExceptMethods); i++) {
        if (method == kLimitExceptMethods[i]) {
            return 1u << i;
        }
    }
    return kMethodOther;
}

HttpMainConf::~HttpMainConf() = default;

void for_each_location_confs(HttpMainConf& main, const std::function<void(core::ConfVector&)>& fn) {
    struct Walk {
        const std::function<void(core::ConfVector&)>& fn;
        void locations(std::vector<std::unique_ptr<LocationBlock>>& locs) {
            for (auto& loc : locs) {
                fn(loc->loc_confs);
                locations(loc->children);
            }
        }
    } walk{fn};
    for (auto& srv : main.servers) {
        fn(srv->loc_confs);
        walk.locations(srv->locations);
    }
}

LocationBlock* add_if_location(core::ConfContext& cf) {
    ConfVector* confs = cf.confs(ConfLevel::kHttpLoc);
    if (confs == nullptr) {
        return nullptr;
    }
    auto& parent = core::conf_of<HttpLocConf>(*confs);
    if (parent.locations == nullptr) {
        return nullptr;
    }
    auto loc = std::make_unique<LocationBlock>();
    loc->where = cf.node().where();
    loc->match = LocationMatch::kIf;
    loc->loc_confs = cf.create_confs(ConfLevel::kHttpLoc);
    auto& own = core::conf_of<HttpLocConf>(loc->loc_confs);
    own.locations = &loc->children;
    own.exact = parent.exact;
    own.named = parent.named;
    own.locations_owner_is_location = true;
    parent.locations->push_back(std::move(loc));
    return parent.locations->back().get();
}

HttpMainConf* http_main(core::Cycle& cycle) {
    auto& main = cycle.conf<HttpMainConf>();
    return main.seen ? &main : nullptr;
}

void add_phase_handler(core::Cycle& cycle, Phase phase, PhaseHandler h) {
    HttpMainConf* main = http_main(cycle);
    if (main != nullptr) {
        main->registered[static_cast<int>(phase)].push_back(h);
    }
}

void add_header_filter(core::Cycle& cycle, HeaderFilter f) {
    HttpMainConf* main = http_main(cycle);
    if (main != nullptr) {
        main->header_filters.push_back(f);
    }
}

extern const core::Module kHttpModule{
    .name = "http",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .init_cycle = &init_cycle,
};

}  // namespace http
