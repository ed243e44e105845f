#include "http/variables.h"

#include <strings.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <iterator>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/log.h"
#include "http/basic_auth.h"
#include "http/error_log.h"
#include "http/http.h"
#include "http/session.h"

namespace http {
namespace {

/// nginx's upstream variables: one item per attempt, ", " between them.
template <class F>
bool upstream_list(const Request& r, std::string& out, F item) {
    const UpstreamLog* log = r.ctx<UpstreamLog>();
    if (log == nullptr || log->attempts.empty()) {
        return false;
    }
    for (size_t i = 0; i < log->attempts.size(); i++) {
        if (i > 0) {
            out += ", ";
        }
        item(log->attempts[i], out);
    }
    return true;
}

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool header_value(const Request& r, std::string_view name, std::string& out) {
    if (const Header* h = r.find_header(name)) {
        out.append(h->value);
        return true;
    }
    return false;
}

/// nginx's $http_x_forwarded_for: any case, a '-' of the header name read as '_' (so
/// $http_x_a is "X-A" or, when underscores are allowed, "X_A").
bool get_http(const Request& r, std::string_view arg, std::string& out) {
    for (const Header& h : r.headers) {
        if (h.name.size() != arg.size()) {
            continue;
        }
        bool same = true;
        for (size_t i = 0; i < arg.size() && same; i++) {
            char a = h.name[i] == '-'
                         ? '_'
                         : static_cast<char>(tolower(static_cast<unsigned char>(h.name[i])));
            char b = static_cast<char>(tolower(static_cast<unsigned char>(arg[i])));
            same = a == b;
        }
        if (same) {
            out.append(h.value);
            return true;
        }
    }
    return false;
}

bool get_arg(const Request& r, std::string_view arg, std::string& out) {
    std::string_view args = r.args;
    while (!args.empty()) {
        size_t amp = args.find('&');
        std::string_view pair = args.substr(0, amp);
        size_t eq = pair.find('=');
        std::string_view key = pair.substr(0, eq);
        if (key.size() == arg.size() && strncasecmp(key.data(), arg.data(), arg.size()) == 0) {
            out.append(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
            return true;
        }
        args = amp == std::string_view::npos ? std::string_view() : args.substr(amp + 1);
    }
    return false;
}

void append_time(std::string& out, const char* fmt, bool utc_offset) {
    time_t now = time(nullptr);
    struct tm tm;
    localtime_r(&now, &tm);
    char buf[64];
    size_t n = strftime(buf, sizeof(buf), fmt, &tm);
    out.append(buf, n);
    if (utc_offset) {
        long off = tm.tm_gmtoff / 60;
        char z[16];
        int m = snprintf(z, sizeof(z), "%c%02ld%02ld", off < 0 ? '-' : '+', labs(off) / 60,
                         labs(off) % 60);
        out.append(z, static_cast<size_t>(m));
    }
}

template <size_t N>
bool get_capture(const Request& r, std::string_view, std::string& out) {
    if (N < r.captures.size()) {
        out += r.captures[N];
        return true;
    }
    return false;
}

void append_upstream_addr(const UpstreamLog::Attempt& a, std::string& out) {
    out += a.addr;
}

void append_upstream_status(const UpstreamLog::Attempt& a, std::string& out) {
    out += a.status > 0 ? std::to_string(a.status) : "-";
}

void append_upstream_time(const UpstreamLog::Attempt& a, std::string& out) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%.3f", a.ms < 0 ? 0.0 : a.ms / 1000.0);
    out += buf;
}

bool get_upstream_addr(const Request& r, std::string_view, std::string& out) {
    return upstream_list(r, out, &append_upstream_addr);
}

bool get_upstream_status(const Request& r, std::string_view, std::string& out) {
    return upstream_list(r, out, &append_upstream_status);
}

bool get_upstream_response_time(const Request& r, std::string_view, std::string& out) {
    return upstream_list(r, out, &append_upstream_time);
}

bool get_remote_addr(const Request& r, std::string_view, std::string& out) {
    out += r.peer.host_text();
    return true;
}

bool get_remote_port(const Request& r, std::string_view, std::string& out) {
    out += std::to_string(r.peer.port());
    return true;
}

bool get_server_addr(const Request& r, std::string_view, std::string& out) {
    out += r.session->local_addr().host_text();
    return true;
}

bool get_server_port(const Request& r, std::string_view, std::string& out) {
    out += std::to_string(r.session->local_addr().port());
    return true;
}

bool get_server_name(const Request& r, std::string_view, std::string& out) {
    if (r.server == nullptr || r.server->names.empty()) {
        return false;
    }
    out += r.server->names[0];
    return true;
}

bool get_host(const Request& r, std::string_view, std::string& out) {
    for (char c : r.host_name()) {
        out += static_cast<char>(tolower(static_cast<unsigned char>(c)));
    }
    return true;
}

bool is_secure(const Request& r) {
    return r.session != nullptr && r.session->secure();
}

bool get_scheme(const Request& r, std::string_view, std::string& out) {
    out += is_secure(r) ? "https" : "http";
    return true;
}

bool get_https(const Request& r, std::string_view, std::string& out) {
    if (is_secure(r)) {
        out += "on";
    }
    return true;
}

bool get_request(const Request& r, std::string_view, std::string& out) {
    if (!r.request_line.empty()) {
        out.append(r.request_line);  // as sent, also for a refused request
        return true;
    }
    if (r.method.empty()) {
        return false;
    }
    out.append(r.method).append(" ").append(r.target).append(" HTTP/1.");
    out += static_cast<char>('0' + r.http_minor);
    return true;
}

bool get_request_method(const Request& r, std::string_view, std::string& out) {
    out.append(r.method);
    return !r.method.empty();
}

/// An absolute-form target from the path on, as nginx: "http://h/p?q" -> "/p?q".
void append_path_of_absolute(std::string_view target, std::string& out) {
    size_t start = target.find("://");
    size_t from =
        start == std::string_view::npos ? target.npos : target.find_first_of("/?", start + 3);
    std::string_view rest =
        from == std::string_view::npos ? std::string_view() : target.substr(from);
    if (rest.empty() || rest[0] == '?') {
        out += '/';
    }
    out.append(rest);
}

bool get_request_uri(const Request& r, std::string_view, std::string& out) {
    std::string_view t = r.target;
    if (!t.empty() && t[0] != '/' && t != "*") {
        append_path_of_absolute(t, out);
        return true;
    }
    out.append(t);
    return !t.empty();
}

bool get_uri(const Request& r, std::string_view, std::string& out) {
    out.append(r.uri);
    return !r.uri.empty();
}

bool get_args(const Request& r, std::string_view, std::string& out) {
    out.append(r.args);
    return true;
}

void set_args(Request& r, std::string_view value) {
    r.args_storage.assign(value);
    r.args = r.args_storage;
}

bool get_is_args(const Request& r, std::string_view, std::string& out) {
    out += r.args.empty() ? "" : "?";
    return true;
}

bool get_server_protocol(const Request& r, std::string_view, std::string& out) {
    out += r.http2 ? "HTTP/2.0" : r.http_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
    return true;
}

bool get_status(const Request& r, std::string_view, std::string& out) {
    // As nginx: the status an error_page answers with, else the response's, else "000".
    int s = r.error_status > 0 ? r.error_status : r.status;
    char buf[16];
    snprintf(buf, sizeof(buf), "%03d", s);
    out += buf;
    return true;
}

bool get_body_bytes_sent(const Request& r, std::string_view, std::string& out) {
    out += std::to_string(r.body_bytes_sent);
    return true;
}

bool get_bytes_sent(const Request& r, std::string_view, std::string& out) {
    out += std::to_string(r.bytes_sent);
    return true;
}

bool get_request_length(const Request& r, std::string_view, std::string& out) {
    out += std::to_string(r.request_length);
    return true;
}

bool get_request_time(const Request& r, std::string_view, std::string& out) {
    append_seconds_ms(out, std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - r.start));
    return true;
}

bool get_msec(const Request&, std::string_view, std::string& out) {
    append_seconds_ms(out, std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch()));
    return true;
}

bool get_time_local(const Request&, std::string_view, std::string& out) {
    append_time(out, "%d/%b/%Y:%H:%M:%S ", true);
    return true;
}

bool get_time_iso8601(const Request&, std::string_view, std::string& out) {
    append_time(out, "%Y-%m-%dT%H:%M:%S", false);
    time_t now = time(nullptr);
    struct tm tm;
    localtime_r(&now, &tm);
    long off = tm.tm_gmtoff / 60;
    char z[16];
    int m = snprintf(z, sizeof(z), "%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 60,
                     labs(off) % 60);
    out.append(z, static_cast<size_t>(m));
    return true;
}

bool get_connection(const Request& r, std::string_view, std::string& out) {
    out += std::to_string(r.connection_id);
    return true;
}

bool get_connection_requests(const Request& r, std::string_view, std::string& out) {
    out += std::to_string(r.session->requests());
    return true;
}

bool get_pid(const Request&, std::string_view, std::string& out) {
    out += std::to_string(getpid());
    return true;
}

bool get_hostname(const Request&, std::string_view, std::string& out) {
    char buf[256] = {0};
    gethostname(buf, sizeof(buf) - 1);
    out += buf;
    return true;
}

bool get_content_length(const Request& r, std::string_view, std::string& out) {
    if (header_value(r, "Content-Length", out)) {
        return true;
    }
    if (r.chunked && r.body) {
        out += std::to_string(r.body->size);  // nginx: a chunked body's size, once read whole
        return true;
    }
    return false;
}

bool get_content_type(const Request& r, std::string_view, std::string& out) {
    return header_value(r, "Content-Type", out);
}

/// nginx's $remote_user: the user of Basic credentials in the Authorization field, whether
/// or not auth_basic checks them.
bool get_remote_user(const Request& r, std::string_view, std::string& out) {
    std::optional<BasicCredentials> c = basic_credentials(r);
    if (!c) {
        return false;
    }
    out += c->user;
    return true;
}

/// The built-in variables, nginx's ngx_http_core_variables: {name, getter, prefix, setter}.
constexpr VariableDef kBuiltins[] = {
    {"upstream_addr", &get_upstream_addr},
    {"upstream_status", &get_upstream_status},
    {"upstream_response_time", &get_upstream_response_time},
    {"remote_addr", &get_remote_addr},
    {"remote_port", &get_remote_port},
    {"server_addr", &get_server_addr},
    {"server_port", &get_server_port},
    {"server_name", &get_server_name},
    {"host", &get_host},
    {"scheme", &get_scheme},
    {"https", &get_https},
    {"request", &get_request},
    {"request_method", &get_request_method},
    {"request_uri", &get_request_uri},
    {"uri", &get_uri},
    {"document_uri", &get_uri},
    {"args", &get_args, false, &set_args},
    {"query_string", &get_args},
    {"is_args", &get_is_args},
    {"server_protocol", &get_server_protocol},
    {"status", &get_status},
    {"body_bytes_sent", &get_body_bytes_sent},
    {"bytes_sent", &get_bytes_sent},
    {"request_length", &get_request_length},
    {"request_time", &get_request_time},
    {"msec", &get_msec},
    {"time_local", &get_time_local},
    {"time_iso8601", &get_time_iso8601},
    {"connection", &get_connection},
    {"connection_requests", &get_connection_requests},
    {"pid", &get_pid},
    {"hostname", &get_hostname},
    {"content_length", &get_content_length},
    {"content_type", &get_content_type},
    {"remote_user", &get_remote_user},
    {"0", &get_capture<0>},
    {"1", &get_capture<1>},
    {"2", &get_capture<2>},
    {"3", &get_capture<3>},
    {"4", &get_capture<4>},
    {"5", &get_capture<5>},
    {"6", &get_capture<6>},
    {"7", &get_capture<7>},
    {"8", &get_capture<8>},
    {"9", &get_capture<9>},
    {"http_", &get_http, true},
    {"arg_", &get_arg, true},
};

}  // namespace

void append_seconds_ms(std::string& out, std::chrono::milliseconds d) {
    long long ms = d.count();
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%lld.%03lld", ms / 1000, ms % 1000);
    out.append(buf, static_cast<size_t>(n));
}

std::vector<VariableDef> builtin_variables() {
    std::vector<VariableDef> out(std::begin(kBuiltins), std::end(kBuiltins));
    std::span<const VariableDef> more = more_core_variables();
    out.insert(out.end(), more.begin(), more.end());
    return out;
}

void add_variable(core::Cycle& cycle, VariableDef def) {
    if (HttpMainConf* main = http_main(cycle)) {
        main->variables.push_back(def);
    }
}

ConfVariable* declare_variable(core::Cycle& cycle, std::string_view name,
                               const std::string& where) {
    HttpMainConf* main = http_main(cycle);
    if (main == nullptr) {
        return nullptr;
    }
    for (auto& v : main->conf_variables) {
        if (v->name == name) {
            return v.get();
        }
    }
    auto v = std::make_unique<ConfVariable>();
    v->name = std::string(name);
    v->index = main->conf_variables.size();
    v->where = where;
    main->conf_variables.push_back(std::move(v));
    return main->conf_variables.back().get();
}

bool get_variable(const Request& r, const ConfVariable& var, std::string& out) {
    if (var.builtin != nullptr) {
        return var.builtin->get(r, {}, out);
    }
    if (var.index < r.variables.size() && r.variables[var.index]) {
        out += *r.variables[var.index];
        return true;
    }
    if (var.source != nullptr) {
        std::string value;
        bool found = var.source->get(r, var, value);
        if (found && var.cacheable) {
            if (r.variables.size() <= var.index) {
                r.variables.resize(var.index + 1);
            }
            r.variables[var.index] = value;
        }
        out += value;
        return found;
    }
    if (var.fallback != nullptr) {
        return var.fallback->get(r, var, out);
    }
    return true;
}

void set_variable(Request& r, const ConfVariable& var, std::string value) {
    if (var.builtin != nullptr) {
        var.builtin->set(r, value);
        return;
    }
    if (r.variables.size() <= var.index) {
        r.variables.resize(var.index + 1);
    }
    r.variables[var.index] = std::move(value);
}

core::Status SizeValue::parse(core::ConfContext& cf, std::string_view text, SizeValue& out) {
    if (text.find('$') == std::string_view::npos) {
        auto size = core::parse_size(text);
        if (!size) {
            return cf.invalid_value(text);
        }
        out.literal = size->bytes;
        out.value.reset();
        return core::Status::ok();
    }
    auto cv = std::make_shared<ComplexValue>();
    core::Status st = ComplexValue::parse(text, cf.node().where(), *cv);
    if (!st.is_ok()) {
        return st;
    }
    register_complex_value(cf.cycle(), cv.get());
    out.literal = 0;
    out.value = std::move(cv);
    return core::Status::ok();
}

uint64_t SizeValue::eval(const Request& r) const {
    if (value == nullptr) {
        return literal;
    }
    std::string text = value->eval(r);
    if (text.empty()) {
        return 0;
    }
    auto size = core::parse_size(text);
    if (!size) {
        log_error(r, core::LogLevel::kError, "invalid size \"%s\"", escape_log(text).c_str());
        return 0;
    }
    return size->bytes;
}

void register_complex_value(core::Cycle& cycle, ComplexValue* cv) {
    if (HttpMainConf* main = http_main(cycle)) {
        main->complex_values.push_back(cv);
    }
}

core::Status ComplexValue::parse(std::string_view text, const std::string& where,
                                 ComplexValue& out) {
    out = ComplexValue();
    out.text_ = std::string(text);
    out.where_ = where;
    Part lit;
    size_t i = 0;
    while (i < text.size()) {
        char c = text[i];
        if (c != '$') {
            lit.literal += c;
            i++;
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
        } else if (i + 1 >= text.size()) {
            i++;  // a `$` that ends the text names nothing (nginx: invalid variable name)
        } else {
            size_t j = i + 1;
            if (text[j] >= '0' && text[j] <= '9') {
                j++;  // $1..$9: one digit, so "$1_x" is $1 followed by "_x" (nginx)
            } else {
                while (j < text.size() && is_name_char(text[j])) {
                    j++;
                }
            }
            name = std::string(text.substr(i + 1, j - i - 1));
            i = j;
        }
        if (name.empty()) {
            return core::Status::error("invalid variable name in \"" + std::string(text) +
                                       "\" in " + where);
        }
        if (!lit.literal.empty()) {
            out.parts_.push_back(std::move(lit));
            lit = Part();
        }
        Part var;
        var.name = std::move(name);
        out.parts_.push_back(std::move(var));
    }
    if (!lit.literal.empty() || out.parts_.empty()) {
        out.parts_.push_back(std::move(lit));
    }
    return core::Status::ok();
}

core::Status ComplexValue::bind(const HttpMainConf& main) {
    for (Part& p : parts_) {
        if (p.name.empty()) {
            continue;
        }
        p.var = nullptr;
        p.conf = nullptr;
        p.arg.clear();
        // Exact built-in names first, then the configuration's, then the longest prefix.
        for (const VariableDef& d : main.variables) {
            if (!d.prefix && d.name == p.name) {
                p.var = &d;
                break;
            }
        }
        if (p.var == nullptr) {
            for (const auto& v : main.conf_variables) {
                if (v->name == p.name) {
                    p.conf = v.get();
                    break;
                }
            }
        }
        if (p.var == nullptr && p.conf == nullptr) {
            for (const VariableDef& d : main.variables) {
                if (d.prefix && p.name.size() > d.name.size() &&
                    p.name.compare(0, d.name.size(), d.name) == 0 &&
                    (p.var == nullptr || d.name.size() > p.var->name.size())) {
                    p.var = &d;
                    p.arg = p.name.substr(d.name.size());
                }
            }
        }
        if (p.var == nullptr && p.conf == nullptr) {
            return core::Status::error("unknown \"" + p.name + "\" variable in " + where_);
        }
    }
    return core::Status::ok();
}

bool ComplexValue::Part::get(const Request& r, std::string& out) const {
    return conf != nullptr ? get_variable(r, *conf, out) : var->get(r, arg, out);
}

void ComplexValue::eval(const Request& r, std::string& out, std::string_view missing,
                        std::string (*escape)(std::string_view)) const {
    for (const Part& p : parts_) {
        if (p.name.empty()) {
            out += p.literal;
            continue;
        }
        if (escape == nullptr) {
            size_t before = out.size();
            if (!p.get(r, out) || out.size() == before) {
                out.resize(before);
                out += missing;
            }
            continue;
        }
        std::string raw;
        if (p.get(r, raw) && !raw.empty()) {
            out += escape(raw);
        } else {
            out += missing;
        }
    }
}

void ComplexValue::eval_captures_escaped(const Request& r, std::string& out,
                                         std::string (*escape)(std::string_view)) const {
    for (const Part& p : parts_) {
        if (p.name.empty()) {
            out += p.literal;
        } else if (escape != nullptr && p.is_capture()) {
            std::string raw;
            p.get(r, raw);
            out += escape(raw);
        } else {
            p.get(r, out);
        }
    }
}

}  // namespace http
