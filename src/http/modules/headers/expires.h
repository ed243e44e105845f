#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace mod::http_headers {

/// The forms of nginx's `expires` directive.
enum class ExpiresKind { kOff, kEpoch, kMax, kAccess, kModified, kDaily };

/// A parsed `expires` value: the kind and its time in seconds (negative: in the past; for
/// kDaily the time of day, seconds after local midnight).
struct Expires {
    ExpiresKind kind = ExpiresKind::kOff;
    int64_t seconds = 0;
};

/// nginx's time syntax in seconds (ngx_parse_time with seconds): `1y 2M 3w 4d 5h 6m 7s`, units
/// in this order, spaces allowed between them, a bare number (seconds) last; "ms" refused.
std::optional<int64_t> parse_seconds(std::string_view s);

/// Parses one `expires` value into `e`, whose kind is kAccess or kModified beforehand (the
/// `modified` word): `epoch`, `max`, `off` (not after `modified`), `@15h30m` (daily),
/// `+1h`, `-1h`, `1h`. nullptr when valid, else nginx's words for the error.
const char* parse_expires(std::string_view value, Expires& e);

/// The Expires and Cache-Control values nginx sends.
struct ExpiresHeaders {
    std::string expires;
    std::string cache_control;
};

/// What `e` gives at `now` for a response last modified at `last_modified` (nullopt: none).
/// `conf_negative`: the configured (not variable) time was negative, which nginx answers with
/// no-cache whatever the arithmetic gives.
ExpiresHeaders expires_headers(const Expires& e, bool conf_negative, time_t now,
                               std::optional<time_t> last_modified);

/// The next moment after `now` at `seconds` after local midnight (today or tomorrow).
time_t next_daily(time_t now, int64_t seconds);

}  // namespace mod::http_headers
