// Stream variables (nginx's ngx_stream_variables): the core's, the registry modules add to,
// and config strings with $variables.
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include "auto_config.h"
#include "core/log.h"
#include "event/runtime.h"
#include "stream/stream.h"

namespace stream {
namespace {

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool get_remote_addr(const Session& s, std::string_view, std::string& out) {
    out += s.peer.host_text();
    return true;
}

bool get_remote_port(const Session& s, std::string_view, std::string& out) {
    if (s.peer.family() == AF_UNIX) {
        return false;
    }
    out += std::to_string(s.peer.port());
    return true;
}

bool get_binary_remote_addr(const Session& s, std::string_view, std::string& out) {
    if (s.peer.family() == AF_INET) {
        out.append(reinterpret_cast<const char*>(&s.peer.storage.in4.sin_addr), 4);
    } else if (s.peer.family() == AF_INET6) {
        out.append(reinterpret_cast<const char*>(&s.peer.storage.in6.sin6_addr), 16);
    } else {
        return false;
    }
    return true;
}

bool get_server_addr(const Session& s, std::string_view, std::string& out) {
    out += const_cast<Session&>(s).local().host_text();
    return true;
}

bool get_server_port(const Session& s, std::string_view, std::string& out) {
    const core::SockAddr& a = const_cast<Session&>(s).local();
    if (a.family() == AF_UNIX) {
        return false;
    }
    out += std::to_string(a.port());
    return true;
}

bool get_protocol(const Session& s, std::string_view, std::string& out) {
    out += s.udp ? "UDP" : "TCP";
    return true;
}

bool get_status(const Session& s, std::string_view, std::string& out) {
    out += std::to_string(s.status);
    return true;
}

bool get_bytes_sent(const Session& s, std::string_view, std::string& out) {
    out += std::to_string(s.bytes_sent);
    return true;
}

bool get_bytes_received(const Session& s, std::string_view, std::string& out) {
    out += std::to_string(s.bytes_received);
    return true;
}

bool get_session_time(const Session& s, std::string_view, std::string& out) {
    auto ms =
        std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - s.start).count();
    append_seconds_ms(out, ms);
    return true;
}

bool get_upstream_addr(const Session& s, std::string_view, std::string& out) {
    if (s.upstream_addr.empty()) {
        return false;
    }
    out += s.upstream_addr;
    return true;
}

bool get_upstream_connect_time(const Session& s, std::string_view, std::string& out) {
    if (s.upstream_connect_time.empty()) {
        return false;
    }
    out += s.upstream_connect_time;
    return true;
}

bool get_upstream_bytes_sent(const Session& s, std::string_view, std::string& out) {
    if (s.upstream_addr.empty()) {
        return false;
    }
    out += s.upstream_bytes_sent_before;
    out += std::to_string(s.upstream_bytes_sent);
    return true;
}

bool get_upstream_bytes_received(const Session& s, std::string_view, std::string& out) {
    if (s.upstream_addr.empty()) {
        return false;
    }
    out += s.upstream_bytes_received_before;
    out += std::to_string(s.upstream_bytes_received);
    return true;
}

bool get_connection(const Session& s, std::string_view, std::string& out) {
    out += std::to_string(s.id);
    return true;
}

bool get_pid(const Session&, std::string_view, std::string& out) {
    out += std::to_string(getpid());
    return true;
}

bool get_hostname(const Session&, std::string_view, std::string& out) {
    char name[256] = {};
    gethostname(name, sizeof(name) - 1);
    out += name;
    return true;
}

bool get_nginx_version(const Session&, std::string_view, std::string& out) {
    out += HALO_VERSION;
    return true;
}

bool get_msec(const Session&, std::string_view, std::string& out) {
    auto ms =
        std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    append_seconds_ms(out, ms);
    return true;
}

template <bool Iso>
bool get_time(const Session&, std::string_view, std::string& out) {
    time_t now = time(nullptr);
    struct tm tm {};
    localtime_r(&now, &tm);
    char buf[64];
    if (Iso) {
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S%z", &tm);
        std::string t(buf);
        if (t.size() > 2) {
            t.insert(t.size() - 2, ":");  // +0000 -> +00:00, as nginx
        }
        out += t;
    } else {
        strftime(buf, sizeof(buf), "%d/%b/%Y:%H:%M:%S %z", &tm);
        out += buf;
    }
    return true;
}

bool get_proxy_protocol_addr(const Session& s, std::string_view, std::string& out) {
    if (s.proxy_protocol_addr.empty()) {
        return false;
    }
    out += s.proxy_protocol_addr;
    return true;
}

bool get_proxy_protocol_port(const Session& s, std::string_view, std::string& out) {
    if (s.proxy_protocol_port.empty()) {
        return false;
    }
    out += s.proxy_protocol_port;
    return true;
}

}  // namespace

std::vector<VariableDef> core_variables() {
    return {
        {"remote_addr", &get_remote_addr},
        {"remote_port", &get_remote_port},
        {"binary_remote_addr", &get_binary_remote_addr},
        {"server_addr", &get_server_addr},
        {"server_port", &get_server_port},
        {"protocol", &get_protocol},
        {"status", &get_status},
        {"bytes_sent", &get_bytes_sent},
        {"bytes_received", &get_bytes_received},
        {"session_time", &get_session_time},
        {"upstream_addr", &get_upstream_addr},
        {"upstream_connect_time", &get_upstream_connect_time},
        {"upstream_first_byte_time", &get_upstream_connect_time},
        {"upstream_bytes_sent", &get_upstream_bytes_sent},
        {"upstream_bytes_received", &get_upstream_bytes_received},
        {"connection", &get_connection},
        {"pid", &get_pid},
        {"hostname", &get_hostname},
        {"nginx_version", &get_nginx_version},
        {"msec", &get_msec},
        {"time_local", &get_time<false>},
        {"time_iso8601", &get_time<true>},
        {"proxy_protocol_addr", &get_proxy_protocol_addr},
        {"proxy_protocol_port", &get_proxy_protocol_port},
    };
}

void append_seconds_ms(std::string& out, int64_t ms) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld.%03lld", static_cast<long long>(ms / 1000),
             static_cast<long long>(ms % 1000));
    out += buf;
}

void add_variable(core::Cycle& cycle, VariableDef def) {
    if (StreamMainConf* main = stream_main(cycle)) {
        main->variables.push_back(def);
    }
}

void register_complex_value(core::Cycle& cycle, ComplexValue* cv) {
    if (StreamMainConf* main = stream_main(cycle)) {
        main->values.push_back(cv);
    }
}

core::Status ComplexValue::parse(std::string_view text, const std::string& where,
                                 ComplexValue& out) {
    out = ComplexValue();
    out.text_ = std::string(text);
    out.where_ = where;
    std::string literal;
    for (size_t i = 0; i < text.size();) {
        if (text[i] != '$' || i + 1 >= text.size()) {
            literal += text[i++];
            continue;
        }
        std::string name;
        if (text[i + 1] == '{') {
            size_t close = text.find('}', i + 2);
            if (close == std::string_view::npos) {
                return core::Status::error("the closing bracket in \"" + std::string(text) +
                                           "\" variable is missing in " + where);
            }
            name = std::string(text.substr(i + 2, close - i - 2));
            i = close + 1;
        } else {
            size_t j = i + 1;
            while (j < text.size() && is_name_char(text[j])) {
                j++;
            }
            name = std::string(text.substr(i + 1, j - i - 1));
            i = j;
        }
        if (name.empty()) {
            return core::Status::error("invalid variable name in \"" + std::string(text) +
                                       "\" in " + where);
        }
        if (!literal.empty()) {
            Part lit;
            lit.literal = std::move(literal);
            out.parts_.push_back(std::move(lit));
            literal.clear();
        }
        Part p;
        p.name = std::move(name);
        p.var = true;
        out.parts_.push_back(std::move(p));
    }
    if (!literal.empty()) {
        Part lit;
        lit.literal = std::move(literal);
        out.parts_.push_back(std::move(lit));
    }
    return core::Status::ok();
}

bool ComplexValue::has_variables() const {
    for (const Part& p : parts_) {
        if (p.var) {
            return true;
        }
    }
    return false;
}

core::Status ComplexValue::bind(const StreamMainConf& main) {
    for (Part& p : parts_) {
        if (!p.var) {
            continue;
        }
        const VariableDef* best = nullptr;
        for (const VariableDef& d : main.variables) {
            if (!d.prefix && d.name == p.name) {
                best = &d;
                break;
            }
            if (d.prefix && p.name.size() > d.name.size() &&
                p.name.compare(0, d.name.size(), d.name) == 0 &&
                (best == nullptr || best->name.size() < d.name.size())) {
                best = &d;
            }
        }
        if (best == nullptr) {
            return core::Status::error("unknown \"" + p.name + "\" variable in " + where_);
        }
        p.def = best;
        p.arg = best->prefix ? p.name.substr(best->name.size()) : std::string(best->arg);
    }
    return core::Status::ok();
}

void ComplexValue::eval(const Session& s, std::string& out, std::string_view missing,
                        Escape escape) const {
    std::string value;
    for (const Part& p : parts_) {
        if (!p.var) {
            out += p.literal;
        } else if (escape == nullptr) {
            if (p.def == nullptr || !p.def->get(s, p.arg, out)) {
                out += missing;
            }
        } else {
            value.clear();
            if (p.def == nullptr || !p.def->get(s, p.arg, value)) {
                out += missing;
            } else {
                escape(value, out);
            }
        }
    }
}

}  // namespace stream
