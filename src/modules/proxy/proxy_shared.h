#pragma once

// What the upstream protocol modules (fastcgi, scgi, uwsgi) share with the proxy: the
// upstream-generic directives under their own prefix, set on the ProxyLocConf part of their
// conf by the proxy's own setters; and the CGI parameters (`*_param NAME value
// [if_not_empty]`, then the client's fields as HTTP_*) the three send.

#include <array>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "core/module.h"
#include "http/variables.h"
#include "modules/proxy/proxy.h"
#include "tls/directive_rows.h"

namespace mod::proxy {

/// `fastcgi_param NAME value [if_not_empty];` (scgi_param, uwsgi_param).
struct CgiParam {
    std::string name;
    http::ComplexValue value;
    bool if_not_empty = false;
};
/// A deque: the values are registered by address.
using CgiParams = std::shared_ptr<std::deque<CgiParam>>;

/// The `*_param` setter's work: one more parameter in `params`.
core::Status add_cgi_param(core::ConfContext& cf, CgiParams& params);

/// The parameters of `r`: each of `params` evaluated (an `if_not_empty` one left out when
/// empty), then, with `pass_headers`, each client field as HTTP_NAME but those a parameter
/// sets, repeated ones joined (", ", "; " for Cookie) as nginx 1.23 does. `add` gets each.
template <class Add>
void cgi_params(const http::Request& r, const CgiParams& params, bool pass_headers, Add&& add);

/// "X-Forwarded-For" -> "HTTP_X_FORWARDED_FOR".
std::string cgi_header_name(std::string_view name);
/// The client's fields as (HTTP_NAME, value), joined, without those in `skip`.
std::vector<std::pair<std::string, std::string>> cgi_header_params(
    const http::Request& r, const std::vector<std::string>& skip);

template <class Add>
void cgi_params(const http::Request& r, const CgiParams& params, bool pass_headers, Add&& add) {
    std::vector<std::string> set_names;
    if (params) {
        std::string value;
        for (const CgiParam& p : *params) {
            value.clear();
            p.value.eval(r, value);
            if (p.if_not_empty && value.empty()) {
                continue;
            }
            add(std::string_view(p.name), std::string_view(value));
            if (p.name.size() > 5 && p.name.compare(0, 5, "HTTP_") == 0) {
                set_names.push_back(p.name);
            }
        }
    }
    if (pass_headers) {
        for (const auto& [name, value] : cgi_header_params(r, set_names)) {
            add(std::string_view(name), std::string_view(value));
        }
    }
}

/// The upstream-generic directives, in this order, under each module's names.
inline constexpr size_t kSharedDirectives = 23;
using SharedNames = std::array<std::string_view, kSharedDirectives>;

/// The directive rows for `names` (hide_header, pass_header, ignore_headers, connect_timeout,
/// send_timeout, read_timeout, buffering, request_buffering, intercept_errors,
/// pass_request_headers, pass_request_body, ignore_client_abort, socket_keepalive,
/// buffer_size, buffers, busy_buffers_size, max_temp_file_size, temp_path, limit_rate, bind,
/// next_upstream, next_upstream_tries, next_upstream_timeout), setting Conf (a ProxyLocConf).
template <class Conf>
constexpr std::array<core::Directive, kSharedDirectives> shared_directives(const SharedNames& n) {
    static_assert(std::is_base_of_v<ProxyLocConf, Conf>);
    // The proxy's setter, with Conf's tag: the framework hands it Conf's object.
    constexpr auto ours = [](core::Setter s) {
        s.tag = &core::ConfSlot<Conf>::tag;
        return s;
    };
    constexpr uint32_t kAll = core::kCtxHttpAll;
    using P = ProxyLocConf;
    return {{
        {n[0], kAll, core::kArgs1, ours(core::setter<&shared::hide_header>())},
        {n[1], kAll, core::kArgs1, ours(core::setter<&shared::pass_header>())},
        {n[2], kAll, core::kArgs1ToN, ours(core::setter<&shared::ignore_headers>())},
        {n[3], kAll, core::kArgs1, ours(core::slot<&P::connect_timeout>())},
        {n[4], kAll, core::kArgs1, ours(core::slot<&P::send_timeout>())},
        {n[5], kAll, core::kArgs1, ours(core::slot<&P::read_timeout>())},
        {n[6], kAll, core::kArgs1, ours(core::slot<&P::buffering>())},
        {n[7], kAll, core::kArgs1, ours(core::slot<&P::request_buffering>())},
        {n[8], kAll, core::kArgs1, ours(core::slot<&P::intercept_errors>())},
        {n[9], kAll, core::kArgs1, ours(core::slot<&P::pass_request_headers>())},
        {n[10], kAll, core::kArgs1, ours(core::slot<&P::pass_request_body>())},
        {n[11], kAll, core::kArgs1, ours(core::slot<&P::ignore_client_abort>())},
        {n[12], kAll, core::kArgs1, ours(core::slot<&P::socket_keepalive>())},
        {n[13], kAll, core::kArgs1, ours(core::slot<&P::buffer_size>())},
        {n[14], kAll, core::kArgs2, ours(core::setter<&shared::buffers>())},
        {n[15], kAll, core::kArgs1, core::setter_noconf<&shared::ignored>()},
        {n[16], kAll, core::kArgs1, ours(core::length_slot<&P::max_temp_file_size>())},
        {n[17], kAll, core::kArgs1, ours(core::slot<&P::temp_path>())},
        {n[18], kAll, core::kArgs1, ours(core::setter<&shared::limit_rate>())},
        {n[19], kAll, core::kArgs1To2, ours(core::setter<&shared::bind>())},
        {n[20], kAll, core::kArgs1ToN, ours(core::setter<&shared::next_upstream>())},
        {n[21], kAll, core::kArgs1, ours(core::slot<&P::next_upstream_tries, 0, 1000>())},
        {n[22], kAll, core::kArgs1, ours(core::slot<&P::next_upstream_timeout>())},
    }};
}

/// `fastcgi_pass` and the like: an address with a port, unix:/path, an upstream name, or a
/// value with variables (evaluated per request as the proxy evaluates its URL). `name`: the
/// directive, for messages.
core::Status set_protocol_pass(core::ConfContext& cf, ProxyLocConf& conf);

/// Sets each location whose conf (found by `conf_of`) has a pass to `handler`, as the proxy
/// does (an `if` or `limit_except` block passes as its location), and makes the temp paths
/// absolute and present.
core::Status install_protocol(core::Cycle& cycle, ProxyLocConf& (*conf_of)(core::ConfVector&),
                              http::PhaseHandler handler);

}  // namespace mod::proxy
