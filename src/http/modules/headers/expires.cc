// nginx's `expires` arithmetic (ngx_http_headers_filter_module), apart from the config
// system so that unit tests reach it with a fixed clock.
#include "http/modules/headers/expires.h"

#include <algorithm>
#include <cstdio>
#include <iterator>

#include "http/http.h"

namespace mod::http_headers {

std::optional<int64_t> parse_seconds(std::string_view s) {
    // The units in the only order nginx accepts, with their length in seconds; a space ends a
    // bare number.
    enum Step { kStart, kYear, kMonth, kWeek, kDay, kHour, kMin, kSec, kLast };
    struct Unit {
        char c;
        Step step;
        int64_t seconds;
    };
    static constexpr Unit kUnits[] = {{'y', kYear, 365 * 86400},
                                      {'M', kMonth, 30 * 86400},
                                      {'w', kWeek, 7 * 86400},
                                      {'d', kDay, 86400},
                                      {'h', kHour, 3600},
                                      {'m', kMin, 60},
                                      {'s', kSec, 1},
                                      {' ', kLast, 1}};
    constexpr int64_t kMax = INT64_MAX;
    Step step = kStart;
    int64_t value = 0;
    int64_t total = 0;
    bool digits = false;
    size_t i = 0;
    while (i < s.size()) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (value > (kMax - (c - '0')) / 10) {
                return std::nullopt;
            }
            value = value * 10 + (c - '0');
            digits = true;
            i++;
            continue;
        }
        i++;
        if (c == 'm' && i < s.size() && s[i] == 's') {
            return std::nullopt;  // milliseconds: not in a time of seconds
        }
        const Unit* unit = std::find_if(std::begin(kUnits), std::end(kUnits),
                                        [c](const Unit& u) { return u.c == c; });
        if (unit == std::end(kUnits)) {
            return std::nullopt;
        }
        Step next = unit->step;
        int64_t scale = unit->seconds;
        // Each unit once, larger ones first; a bare number ends the value.
        if (step >= next || (next == kLast && step >= kSec)) {
            return std::nullopt;
        }
        step = next;
        if (value > kMax / scale || total > kMax - value * scale) {
            return std::nullopt;
        }
        total += value * scale;
        value = 0;
        while (i < s.size() && s[i] == ' ') {
            i++;
        }
    }
    if (!digits || total > kMax - value) {
        return std::nullopt;
    }
    return total + value;
}

const char* parse_expires(std::string_view value, Expires& e) {
    if (e.kind != ExpiresKind::kModified) {
        if (value == "epoch") {
            e.kind = ExpiresKind::kEpoch;
            return nullptr;
        }
        if (value == "max") {
            e.kind = ExpiresKind::kMax;
            return nullptr;
        }
        if (value == "off") {
            e.kind = ExpiresKind::kOff;
            return nullptr;
        }
    }
    bool minus = false;
    if (!value.empty() && value[0] == '@') {
        if (e.kind == ExpiresKind::kModified) {
            return "daily time cannot be used with \"modified\" parameter";
        }
        e.kind = ExpiresKind::kDaily;
        value.remove_prefix(1);
    } else if (!value.empty() && (value[0] == '+' || value[0] == '-')) {
        minus = value[0] == '-';
        value.remove_prefix(1);
    }
    auto t = parse_seconds(value);
    if (!t) {
        return "invalid value";
    }
    if (e.kind == ExpiresKind::kDaily && *t > 24 * 60 * 60) {
        return "daily time value must be less than 24 hours";
    }
    e.seconds = minus ? -*t : *t;
    return nullptr;
}

time_t next_daily(time_t now, int64_t seconds) {
    struct tm tm;
    localtime_r(&now, &tm);
    tm.tm_hour = static_cast<int>(seconds / 3600);
    tm.tm_min = static_cast<int>(seconds % 3600 / 60);
    tm.tm_sec = static_cast<int>(seconds % 60);
    tm.tm_isdst = -1;
    time_t next = mktime(&tm);
    if (next != -1 && next > now) {
        return next;
    }
    tm.tm_mday++;  // mktime() normalizes the 32nd of a month
    tm.tm_isdst = -1;
    return mktime(&tm);
}

ExpiresHeaders expires_headers(const Expires& e, bool conf_negative, time_t now,
                               std::optional<time_t> last_modified) {
    if (e.kind == ExpiresKind::kEpoch) {
        return {"Thu, 01 Jan 1970 00:00:01 GMT", "no-cache"};
    }
    if (e.kind == ExpiresKind::kMax) {
        return {"Thu, 31 Dec 2037 23:55:55 GMT", "max-age=315360000"};  // ten years
    }
    if (e.seconds == 0 && e.kind != ExpiresKind::kDaily) {
        return {http::format_http_date(now), "max-age=0"};
    }
    time_t when;
    int64_t max_age;
    if (e.kind == ExpiresKind::kDaily) {
        when = next_daily(now, e.seconds);
        max_age = when - now;
    } else if (e.kind == ExpiresKind::kAccess || !last_modified) {
        max_age = e.seconds;
        when = now + static_cast<time_t>(e.seconds);
    } else {
        when = *last_modified + static_cast<time_t>(e.seconds);
        max_age = when - now;
    }
    ExpiresHeaders out;
    out.expires = http::format_http_date(when);
    out.cache_control =
        conf_negative || max_age < 0 ? "no-cache" : "max-age=" + std::to_string(max_age);
    return out;
}

}  // namespace mod::http_headers
