#pragma once

// The credentials of HTTP Basic authentication (RFC 7617) as nginx reads them from the
// Authorization field (ngx_http_auth_basic_user): the $remote_user variable and the
// auth_basic module use them.

#include <optional>
#include <string>
#include <string_view>

namespace http {

struct Request;

struct BasicCredentials {
    std::string user;      // not empty
    std::string password;  // may be empty
};

/// The user and password of an Authorization value "Basic <base64 of user:password>" (the
/// scheme case-insensitive, spaces before the base64 skipped). nullopt, as nginx: another
/// scheme, no or bad base64, no ':' or an empty user.
std::optional<BasicCredentials> parse_basic_authorization(std::string_view value);
/// Those of the request's (first) Authorization field; nullopt without one.
std::optional<BasicCredentials> basic_credentials(const Request& r);

/// Base64 (RFC 4648 §4) as nginx's ngx_decode_base64: padding optional and what follows the
/// first '=' ignored; nullopt on a character outside the alphabet or a length of 4n+1.
std::optional<std::string> decode_base64(std::string_view in);
/// Base64 with padding.
std::string encode_base64(std::string_view in);

}  // namespace http
