// nginx's `expires` arithmetic with a fixed clock: the time syntax, the value forms and the
// Expires / Cache-Control pair each gives.
#include "http/modules/headers/expires.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace mod::http_headers {
namespace {

TEST(ExpiresTest, ParsesNginxTimes) {
    EXPECT_EQ(parse_seconds("30"), 30);
    EXPECT_EQ(parse_seconds("1h"), 3600);
    EXPECT_EQ(parse_seconds("1h30m"), 5400);
    EXPECT_EQ(parse_seconds("1d 2h 30"), 86400 + 7200 + 30);
    EXPECT_EQ(parse_seconds("1y2M3w4d5h6m7s"),
              365 * 86400 + 60 * 86400 + 21 * 86400 + 4 * 86400 + 5 * 3600 + 6 * 60 + 7);
    EXPECT_EQ(parse_seconds("1h1y"), std::nullopt);  // units in order only
    EXPECT_EQ(parse_seconds("1h1h"), std::nullopt);
    EXPECT_EQ(parse_seconds("100ms"), std::nullopt);
    EXPECT_EQ(parse_seconds("h"), std::nullopt);
    EXPECT_EQ(parse_seconds(""), std::nullopt);
    EXPECT_EQ(parse_seconds("1x"), std::nullopt);
    EXPECT_EQ(parse_seconds("99999999999999999999"), std::nullopt);
}

TEST(ExpiresTest, ParsesValueForms) {
    Expires e{ExpiresKind::kAccess, 0};
    EXPECT_EQ(parse_expires("epoch", e), nullptr);
    EXPECT_EQ(e.kind, ExpiresKind::kEpoch);
    e = {ExpiresKind::kAccess, 0};
    EXPECT_EQ(parse_expires("-1h", e), nullptr);
    EXPECT_EQ(e.seconds, -3600);
    e = {ExpiresKind::kAccess, 0};
    EXPECT_EQ(parse_expires("@15h30m", e), nullptr);
    EXPECT_EQ(e.kind, ExpiresKind::kDaily);
    EXPECT_EQ(e.seconds, 15 * 3600 + 30 * 60);
    e = {ExpiresKind::kModified, 0};
    EXPECT_STREQ(parse_expires("epoch", e), "invalid value");
    e = {ExpiresKind::kModified, 0};
    EXPECT_STREQ(parse_expires("@1h", e), "daily time cannot be used with \"modified\" parameter");
    e = {ExpiresKind::kAccess, 0};
    EXPECT_STREQ(parse_expires("@25h", e), "daily time value must be less than 24 hours");
}

constexpr time_t kNow = 1800000000;  // Fri, 15 Jan 2027 08:00:00 GMT

TEST(ExpiresTest, HeadersForEachKind) {
    auto h = expires_headers({ExpiresKind::kEpoch, 0}, false, kNow, std::nullopt);
    EXPECT_EQ(h.expires, "Thu, 01 Jan 1970 00:00:01 GMT");
    EXPECT_EQ(h.cache_control, "no-cache");
    h = expires_headers({ExpiresKind::kMax, 0}, false, kNow, std::nullopt);
    EXPECT_EQ(h.expires, "Thu, 31 Dec 2037 23:55:55 GMT");
    EXPECT_EQ(h.cache_control, "max-age=315360000");
    h = expires_headers({ExpiresKind::kAccess, 0}, false, kNow, std::nullopt);
    EXPECT_EQ(h.expires, "Fri, 15 Jan 2027 08:00:00 GMT");
    EXPECT_EQ(h.cache_control, "max-age=0");
    h = expires_headers({ExpiresKind::kAccess, 3600}, false, kNow, kNow - 100);
    EXPECT_EQ(h.expires, "Fri, 15 Jan 2027 09:00:00 GMT");
    EXPECT_EQ(h.cache_control, "max-age=3600");
    h = expires_headers({ExpiresKind::kModified, 3600}, false, kNow, kNow - 100);
    EXPECT_EQ(h.expires, "Fri, 15 Jan 2027 08:58:20 GMT");
    EXPECT_EQ(h.cache_control, "max-age=3500");
    h = expires_headers({ExpiresKind::kModified, 3600}, false, kNow, kNow - 7200);
    EXPECT_EQ(h.cache_control, "no-cache");  // already expired
    h = expires_headers({ExpiresKind::kModified, 3600}, false, kNow, std::nullopt);
    EXPECT_EQ(h.cache_control, "max-age=3600");  // no Last-Modified: from the access
    h = expires_headers({ExpiresKind::kAccess, -60}, true, kNow, std::nullopt);
    EXPECT_EQ(h.expires, "Fri, 15 Jan 2027 07:59:00 GMT");
    EXPECT_EQ(h.cache_control, "no-cache");
    // A negative configured time is no-cache even when the sum lies ahead (nginx).
    h = expires_headers({ExpiresKind::kModified, -60}, true, kNow, kNow + 3600);
    EXPECT_EQ(h.cache_control, "no-cache");
}

TEST(ExpiresTest, DailyIsTheNextOccurrenceInLocalTime) {
    const char* old = getenv("TZ");
    std::string saved = old != nullptr ? old : "";
    setenv("TZ", "UTC", 1);
    tzset();
    auto h = expires_headers({ExpiresKind::kDaily, 15 * 3600 + 30 * 60}, false, kNow, std::nullopt);
    EXPECT_EQ(h.expires, "Fri, 15 Jan 2027 15:30:00 GMT");
    EXPECT_EQ(h.cache_control, "max-age=27000");
    h = expires_headers({ExpiresKind::kDaily, 7 * 3600}, false, kNow, std::nullopt);
    EXPECT_EQ(h.expires, "Sat, 16 Jan 2027 07:00:00 GMT");
    EXPECT_EQ(h.cache_control, "max-age=82800");
    h = expires_headers({ExpiresKind::kDaily, 8 * 3600}, false, kNow, std::nullopt);
    EXPECT_EQ(h.expires, "Sat, 16 Jan 2027 08:00:00 GMT");  // now is not "next"
    if (old != nullptr) {
        setenv("TZ", saved.c_str(), 1);
    } else {
        unsetenv("TZ");
    }
    tzset();
}

}  // namespace
}  // namespace mod::http_headers
