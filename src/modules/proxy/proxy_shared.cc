// The pieces the upstream protocol modules (fastcgi, scgi, uwsgi) share: CGI parameters,
// the pass directive, the installation of their content handler (proxy_shared.h).

#include "modules/proxy/proxy_shared.h"

#include <algorithm>
#include <cctype>

#include "http/http.h"
#include "upstream/upstream.h"

namespace mod::proxy {

using core::Status;

Status add_cgi_param(core::ConfContext& cf, CgiParams& params) {
    if (cf.args().size() == 3 && cf.arg(2) != "if_not_empty") {
        return cf.invalid_value(cf.arg(2));
    }
    if (!params) {
        params = std::make_shared<std::deque<CgiParam>>();
    }
    CgiParam& p = params->emplace_back();
    p.name = cf.arg(0);
    p.if_not_empty = cf.args().size() == 3;
    HALO_TRY(http::ComplexValue::parse(cf.arg(1), cf.node().where(), p.value));
    http::register_complex_value(cf.cycle(), &p.value);
    return Status::ok();
}

std::string cgi_header_name(std::string_view name) {
    std::string out = "HTTP_";
    for (char c : name) {
        out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> cgi_header_params(
    const http::Request& r, const std::vector<std::string>& skip) {
    std::vector<std::pair<std::string, std::string>> fields;
    for (const http::Header& h : r.headers) {
        std::string name = cgi_header_name(h.name);
        if (std::find(skip.begin(), skip.end(), name) != skip.end()) {
            continue;
        }
        auto same = std::find_if(fields.begin(), fields.end(),
                                 [&](const auto& f) { return f.first == name; });
        if (same != fields.end()) {
            same->second += name == "HTTP_COOKIE" ? "; " : ", ";
            same->second.append(h.value);
            continue;
        }
        fields.emplace_back(std::move(name), std::string(h.value));
    }
    return fields;
}

Status set_protocol_pass(core::ConfContext& cf, ProxyLocConf& conf) {
    if (conf.pass) {
        return cf.duplicate();
    }
    std::string arg = cf.arg(0);
    if (cf.name() == "uwsgi_pass") {
        // nginx: "uwsgi://" may stand before the address; "suwsgi://" is uwsgi over TLS.
        if (arg.compare(0, 8, "uwsgi://") == 0) {
            arg.erase(0, 8);
        } else if (arg.compare(0, 9, "suwsgi://") == 0) {
            return cf.error("\"suwsgi://\" (uwsgi over TLS) is not supported by halo");
        }
    }
    auto p = std::make_shared<ProxyPass>();
    p->url = arg;
    p->where = cf.node().where();
    p->cycle = &cf.cycle();
    p->location_prefix = "/";
    if (arg.find('$') != std::string::npos) {
        // Evaluated per request as the proxy evaluates its URL: an address with a port,
        // unix:/path, or an upstream name.
        p->value = std::make_shared<http::ComplexValue>();
        HALO_TRY(http::ComplexValue::parse("http://" + arg, p->where, *p->value));
        http::register_complex_value(cf.cycle(), p->value.get());
        conf.pass = std::move(p);
        return Status::ok();
    }
    if (arg.find("://") != std::string::npos) {
        return cf.invalid_value(arg, "an address, unix:/path or an upstream name, no URL");
    }
    p->authority = arg;
    p->host = arg;
    p->unix_socket = arg.size() > 5 && arg.compare(0, 5, "unix:") == 0;
    // An upstream block of that name, else the address (a port is needed: default 0).
    HALO_TRY(upstream::implicit_group(cf, p->authority, p->group, 0));
    conf.pass = std::move(p);
    return Status::ok();
}

Status install_protocol(core::Cycle& cycle, ProxyLocConf& (*conf_of)(core::ConfVector&),
                        http::PhaseHandler handler) {
    http::HttpMainConf* main = http::http_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    struct Walk {
        ProxyLocConf& (*conf_of)(core::ConfVector&);
        http::PhaseHandler handler;
        void run(const std::vector<std::unique_ptr<http::LocationBlock>>& locs,
                 http::LocationBlock* parent) {
            for (const auto& loc : locs) {
                ProxyLocConf& c = conf_of(loc->loc_confs);
                // As the proxy: an `if` or `limit_except` block passes as its location does.
                bool nameless = loc->match == http::LocationMatch::kLimitExcept ||
                                loc->match == http::LocationMatch::kIf;
                if (nameless && !c.pass && parent != nullptr) {
                    c.pass = conf_of(parent->loc_confs).pass;
                }
                if (c.pass) {
                    core::conf_of<http::HttpLocConf>(loc->loc_confs).content = handler;
                }
                run(loc->children, loc.get());
            }
        }
    } walk{conf_of, handler};
    for (auto& srv : main->servers) {
        walk.run(srv->locations, nullptr);
    }
    // *_temp_path: absolute, created (for the worker user) once each.
    std::vector<std::string> made;
    Status st = Status::ok();
    http::for_each_location_confs(*main, [&](core::ConfVector& confs) {
        ProxyLocConf& c = conf_of(confs);
        c.temp_path = cycle.full_path(*c.temp_path);
        if (st.is_ok() && c.pass &&
            std::find(made.begin(), made.end(), *c.temp_path) == made.end()) {
            made.push_back(*c.temp_path);
            st = http::make_temp_dir(cycle, *c.temp_path);
        }
    });
    return st;
}

}  // namespace mod::proxy
