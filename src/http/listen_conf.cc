// The http core directives of listening sockets and client connections: `listen` with its
// parameters, `server_name`, tcp_nopush / tcp_nodelay / sendfile_max_chunk, keepalive_time /
// keepalive_disable, reset_timedout_connection, and nginx's hash sizing hints (checked, no
// effect). Their runtime side is in session_conn.cc and core/cycle.cc (socket options).
#include "http/listen_conf.h"

#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>

#include "core/log.h"
#include "http/session.h"

namespace http {

using core::ConfContext;
using core::Status;

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

Status set_listen(ConfContext& cf, HttpSrvConf& conf) {
    HttpSrvConf::Listen l;
    const std::string& text = cf.arg(0);
    if (text.empty()) {
        return cf.error("no host in \"\" of the \"listen\" directive");
    }
    if (starts_with(text, "unix:")) {
        std::string path = text.substr(5);
        if (path.empty()) {
            return cf.error("no path in the unix domain socket in \"" + text +
                            "\" of the \"listen\" directive");
        }
        if (path.size() >= sizeof(sockaddr_un::sun_path)) {
            return cf.error("too long path in the unix domain socket in \"" + text +
                            "\" of the \"listen\" directive");
        }
        l.addr.storage.ss_family = AF_UNIX;
        l.addr.len = sizeof(sa_family_t);
        l.unix_path = path;
    } else {
        auto addr = core::SockAddr::parse(text, 80);
        if (!addr) {
            return cf.error("invalid address \"" + text + "\" in \"listen\" directive");
        }
        l.addr = *addr;
    }
    l.where = cf.node().where();
    core::ListenOptions& o = l.options;
    std::string why;
    for (size_t i = 1; i < cf.args().size(); i++) {
        const std::string& a = cf.arg(i);
        std::string_view v = a;
        bool socket_option = true;  // nginx: sets lsopt.set and lsopt.bind
        if (a == "default_server" || a == "default") {
            l.default_server = true;
            socket_option = false;
        } else if (a == "ssl") {
            l.ssl = true;
            socket_option = false;
        } else if (a == "proxy_protocol") {
            l.proxy_protocol = true;
            socket_option = false;
        } else if (int r = core::parse_listen_socket_param(a, o, why); r != 0) {
            if (r < 0) {
                return cf.error(why);
            }
            continue;
        } else if (a == "http2") {
            l.http2 = true;  // nginx before 1.25.1; `http2 on` in the server since
            socket_option = false;
        } else if (a == "quic") {
            return cf.error(
                "the \"quic\" parameter of \"listen\" is not supported by halo: "
                "it speaks HTTP/1.1 over TCP only (HTTP/3 is not implemented)");
        } else if (starts_with(v, "accept_filter=") || starts_with(v, "setfib=")) {
            return cf.error("the \"" + a.substr(0, a.find('=')) +
                            "\" parameter of \"listen\" is not supported by halo: it is a "
                            "FreeBSD socket option");
        } else {
            return cf.error("invalid parameter \"" + a + "\"");
        }
        if (socket_option) {
            o.set = true;
        }
    }
    if (l.addr.family() == AF_UNIX && (o.deferred || o.fastopen || o.so_keepalive)) {
        // nginx sets them on the socket and fails there; say so at the directive.
        return cf.error("the TCP parameters of \"listen\" do not apply to the unix socket \"" +
                        text + "\"");
    }
    for (const auto& other : conf.listens) {
        if (other.addr == l.addr && other.unix_path == l.unix_path) {
            return cf.error("a duplicate listen " +
                            (l.unix_path.empty() ? l.addr.text() : "unix:" + l.unix_path));
        }
    }
    conf.listens.push_back(l);
    return Status::ok();
}

Status set_server_name(ConfContext& cf, HttpSrvConf& conf) {
    for (const auto& name : cf.args()) {
        if (name.empty()) {
            conf.names.emplace_back();  // "": requests without a Host header
            continue;
        }
        if (name[0] == '~') {
            if (name.size() == 1) {
                return cf.error("empty regex in server name \"" + name + "\"");
            }
            conf.names.push_back(name);  // a regex keeps its case (\D is not \d)
            continue;
        }
        std::string lower = name;
        if (name == "$hostname") {
            char host[256] = {};
            gethostname(host, sizeof(host) - 1);
            lower = host;
        }
        for (char& c : lower) {
            c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
        }
        // nginx: a `*` only as the whole first or last label ("*.x", "x.*"); "." leads alone.
        size_t star = lower.find('*');
        bool valid = star == std::string::npos ||
                     (lower.find('*', star + 1) == std::string::npos &&
                      ((star == 0 && lower.size() > 2 && lower[1] == '.') ||
                       (star == lower.size() - 1 && star >= 2 && lower[star - 1] == '.')));
        if ((lower[0] == '*' && (lower.size() == 1 || lower[1] != '.')) || lower == ".") {
            return cf.error("server name \"" + name + "\" is invalid");
        }
        if (!valid) {
            return cf.error("invalid server name or wildcard \"" + name + "\"");
        }
        conf.names.push_back(lower);
    }
    return Status::ok();
}

// ---- connection directives ----

Status set_tcp_nopush(ConfContext& cf, HttpLocConf& conf) {
    return core::detail::set_flag(cf, conf.conn.tcp_nopush);
}

Status set_tcp_nodelay(ConfContext& cf, HttpLocConf& conf) {
    return core::detail::set_flag(cf, conf.conn.tcp_nodelay);
}

Status set_sendfile_max_chunk(ConfContext& cf, HttpLocConf& conf) {
    return core::detail::set_size(cf, conf.conn.sendfile_max_chunk, nullptr, UINT64_MAX);
}

Status set_keepalive_time(ConfContext& cf, HttpLocConf& conf) {
    return core::detail::set_duration(cf, conf.conn.keepalive_time);
}

Status set_reset_timedout(ConfContext& cf, HttpLocConf& conf) {
    return core::detail::set_flag(cf, conf.conn.reset_timedout_connection);
}

namespace {
constexpr std::string_view kKeepaliveDisableNames[] = {"none", "msie6", "safari"};
constexpr uint64_t kKeepaliveDisableBits[] = {0, kKeepaliveDisableMsie6, kKeepaliveDisableSafari};
}  // namespace

Status set_keepalive_disable(ConfContext& cf, HttpLocConf& conf) {
    if (conf.conn.keepalive_disable) {
        return cf.duplicate();
    }
    unsigned bits = 0;
    for (const std::string& a : cf.args()) {
        size_t i = 0;
        HALO_TRY(core::detail::find_name(cf, kKeepaliveDisableNames, a,
                                         "it must be \"none\", \"msie6\" or \"safari\"", i));
        if (i == 0 && cf.args().size() > 1) {
            return cf.invalid_value(a, "\"none\" cannot be combined with other values");
        }
        bits |= static_cast<unsigned>(kKeepaliveDisableBits[i]);
    }
    conf.conn.keepalive_disable = bits;
    return Status::ok();
}

// ---- hash sizing hints ----

Status check_hash_hint(ConfContext& cf, std::optional<uint64_t>& field) {
    if (field) {
        return cf.duplicate();
    }
    auto n = core::parse_int(cf.arg(0));
    if (!n) {
        return cf.error("\"" + std::string(cf.name()) + "\" directive invalid number");
    }
    std::string_view name = cf.name();
    bool bucket = name.ends_with("_bucket_size");
    std::string hash(name.substr(0, name.rfind(bucket ? "_bucket_size" : "_max_size")));
    // What nginx's hash builder refuses whatever the keys: no room at all, or a bucket larger
    // than 64k once aligned to a cache line.
    constexpr int64_t kCacheLine = 64;
    int64_t aligned = (*n + kCacheLine - 1) / kCacheLine * kCacheLine;
    if (!bucket && *n == 0) {
        return cf.error("could not build " + hash + ", you should increase " + hash +
                        "_max_size: 0");
    }
    if (bucket && aligned > 65536 - kCacheLine) {
        return cf.error("could not build " + hash + ", too large " + hash +
                        "_bucket_size: " + std::to_string(aligned));
    }
    field = static_cast<uint64_t>(*n);
    return Status::ok();
}

Status set_types_hash(ConfContext& cf, HttpLocConf& conf) {
    bool bucket = cf.name() == "types_hash_bucket_size";
    return check_hash_hint(
        cf, bucket ? conf.conn.types_hash_bucket_size : conf.conn.types_hash_max_size);
}

Status set_main_hash(ConfContext& cf, HttpMainConf& conf) {
    std::string_view n = cf.name();
    if (n == "server_names_hash_max_size") {
        return check_hash_hint(cf, conf.server_names_hash_max_size);
    }
    if (n == "server_names_hash_bucket_size") {
        return check_hash_hint(cf, conf.server_names_hash_bucket_size);
    }
    if (n == "variables_hash_max_size") {
        return check_hash_hint(cf, conf.variables_hash_max_size);
    }
    return check_hash_hint(cf, conf.variables_hash_bucket_size);
}

// ---- ports ----

namespace {

bool is_wildcard(const core::SockAddr& a) {
    if (a.family() == AF_INET) {
        return reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr.s_addr == INADDR_ANY;
    }
    if (a.family() == AF_INET6) {
        return IN6_IS_ADDR_UNSPECIFIED(
            &reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr);
    }
    return false;
}

/// The wildcard address of the family and port of `a`.
core::SockAddr wildcard_of(const core::SockAddr& a) {
    auto w = core::SockAddr::from_ip(a.family() == AF_INET ? "0.0.0.0" : "::", a.port());
    return *w;
}

}  // namespace

Status build_ports(core::Cycle& cycle, HttpMainConf& main) {
    struct Item {
        ServerBlock* srv;
        const HttpSrvConf::Listen* l;
    };
    std::vector<Item> items;
    for (auto& srv : main.servers) {
        for (const auto& l : core::conf_of<HttpSrvConf>(srv->srv_confs).listens) {
            items.push_back({srv.get(), &l});
        }
    }
    auto wildcard_listened = [&](const core::SockAddr& a) {
        if (a.family() == AF_UNIX || is_wildcard(a)) {
            return false;
        }
        core::SockAddr w = wildcard_of(a);
        for (const Item& it : items) {
            if (it.l->addr == w) {
                return true;
            }
        }
        return false;
    };
    auto port_for = [&](core::Listening* ls, const core::SockAddr* local) -> Port* {
        for (auto& p : main.ports) {
            if (p->listening() == ls && p->hosted_addr() == local) {
                return p.get();
            }
            if (local != nullptr && p->listening() == ls && p->hosted_addr() != nullptr &&
                *p->hosted_addr() == *local) {
                return p.get();
            }
        }
        return nullptr;
    };
    // The sockets first: an address that needs its own, or has no wildcard on its port. Each
    // server's client_header_timeout is the deferred accept's wait (nginx: post_accept_timeout).
    for (bool hosted_pass : {false, true}) {
        for (const Item& it : items) {
            const HttpSrvConf::Listen& l = *it.l;
            bool hosted = !l.options.needs_bind() && wildcard_listened(l.addr);
            if (hosted != hosted_pass) {
                continue;
            }
            core::ListenOptions options = l.options;
            auto timeout = core::conf_of<HttpSrvConf>(it.srv->srv_confs).client_header_timeout;
            options.defer_seconds = static_cast<int>(std::max<int64_t>(1, timeout->count() / 1000));
            Status err = Status::ok();
            core::Listening* ls = nullptr;
            if (hosted) {
                core::SockAddr w = wildcard_of(l.addr);
                for (auto& existing : cycle.listening()) {
                    if (existing->addr == w && existing->unix_path.empty()) {
                        ls = existing.get();
                    }
                }
            } else {
                ls = cycle.add_listening(l.addr, options, l.where, err, l.unix_path);
            }
            if (ls == nullptr) {
                return err;
            }
            Port* port = port_for(ls, hosted ? &l.addr : nullptr);
            if (port == nullptr) {
                main.ports.push_back(std::make_unique<Port>(main, ls));
                port = main.ports.back().get();
                if (hosted) {
                    port->set_hosted_addr(l.addr);
                    Port* wild = port_for(ls, nullptr);
                    wild->add_hosted(port);
                } else {
                    ls->handler = port;
                }
            }
            HALO_TRY(port->add_server(it.srv, l.default_server, l.ssl, l.where));
            if (l.proxy_protocol) {
                port->set_proxy_protocol();
            }
            if (l.http2) {
                port->set_http2(l.where);
            }
        }
    }
    return Status::ok();
}

void merge(const ConnLocConf& parent, ConnLocConf& child) {
    using namespace std::chrono_literals;
    core::inherit(child.tcp_nopush, parent.tcp_nopush, false);
    core::inherit(child.tcp_nodelay, parent.tcp_nodelay, true);
    core::inherit(child.sendfile_max_chunk, parent.sendfile_max_chunk, core::Size{2 * 1024 * 1024});
    core::inherit(child.keepalive_time, parent.keepalive_time, 1h);
    core::inherit(child.keepalive_disable, parent.keepalive_disable,
                  static_cast<unsigned>(kKeepaliveDisableMsie6));
    core::inherit(child.reset_timedout_connection, parent.reset_timedout_connection, false);
    core::inherit(child.types_hash_max_size, parent.types_hash_max_size, uint64_t{1024});
    core::inherit(child.types_hash_bucket_size, parent.types_hash_bucket_size, uint64_t{64});
}

}  // namespace http
