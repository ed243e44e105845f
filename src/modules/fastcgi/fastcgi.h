#pragma once

// The FastCGI module (nginx's ngx_http_fastcgi_module): `fastcgi_pass` makes a location's
// content come from a FastCGI server (PHP-FPM) through the proxy's exchange; the upstream-
// generic settings are the proxy's (FastcgiLocConf is a ProxyLocConf), set by fastcgi_*.

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/regex.h"
#include "http/variables.h"
#include "modules/proxy/proxy.h"
#include "modules/proxy/proxy_codec.h"
#include "modules/proxy/proxy_shared.h"

namespace mod::fastcgi {

struct FastcgiLocConf : proxy::ProxyLocConf {
    // pass (ProxyLocConf's): fastcgi_pass, not inherited.
    proxy::CgiParams params;             // fastcgi_param
    std::optional<std::string> index;    // fastcgi_index
    std::shared_ptr<http::Regex> split;  // fastcgi_split_path_info (two captures)
    bool split_set = false;
    std::optional<bool> keep_conn;                           // off
    std::shared_ptr<std::vector<std::string>> catch_stderr;  // fastcgi_catch_stderr
};

core::Status merge(const FastcgiLocConf& parent, FastcgiLocConf& child);

/// $fastcgi_script_name and $fastcgi_path_info of `r` under `c` (nginx's rules: the split
/// regex's two captures, else the URI and nothing; fastcgi_index after a trailing '/').
void split_path(const http::Request& r, const FastcgiLocConf& c, std::string* script_name,
                std::string* path_info);

// FastCGI 1.0 record types and roles (the FastCGI Specification, §8).
constexpr uint8_t kVersion1 = 1;
constexpr uint8_t kBeginRequest = 1;
constexpr uint8_t kEndRequest = 3;
constexpr uint8_t kParams = 4;
constexpr uint8_t kStdin = 5;
constexpr uint8_t kStdout = 6;
constexpr uint8_t kStderr = 7;
constexpr uint8_t kResponder = 1;
constexpr uint8_t kKeepConn = 1;
constexpr uint16_t kRequestId = 1;  // one request per connection at a time, as nginx
constexpr size_t kRecordMax = 65535;

/// Appends a record head (8 bytes) for `len` content bytes.
void record_head(uint8_t type, size_t len, std::string& out);
/// Appends a name-value pair in FastCGI's length encoding (§3.4).
void name_value(std::string_view name, std::string_view value, std::string& out);

/// One request's FastCGI: the request records, the response records taken apart.
class FastcgiCodec final : public proxy::Codec {
  public:
    explicit FastcgiCodec(const FastcgiLocConf& c) : c_(c) {}

    std::string_view scheme() const override { return "fastcgi://"; }
    std::string_view pool_tag() const override { return "fastcgi"; }
    std::string request_head(const http::Request& r, bool streamed) override;
    size_t max_piece() const override { return 32768; }
    void body_prefix(size_t len, std::string& out) const override { record_head(kStdin, len, out); }
    void body_end(std::string& out) const override { record_head(kStdin, 0, out); }
    bool streams_unknown_length() const override { return true; }
    bool framed() const override { return true; }
    void reset() override;
    Decoded decode(ev::Buffer& raw, ev::Buffer& out, std::vector<std::string>& messages,
                   std::string& why) override;
    http::ParseResult parse_head(std::string_view in, size_t max_head, size_t& scan,
                                 http::ParsedResponse& out, std::string* why) override {
        return proxy::parse_cgi_head(in, max_head, scan, out, why);
    }
    bool reusable() const override { return *c_.keep_conn; }
    bool fatal_message(std::string_view msg) const override;
    std::string_view request_error() const override { return error_; }

  private:
    const FastcgiLocConf& c_;
    std::string error_;  // why request_head() gave nothing
    // The record being read: its type, the content and padding bytes still to come.
    bool in_record_ = false;
    uint8_t type_ = 0;
    size_t content_left_ = 0;
    size_t padding_left_ = 0;
};

}  // namespace mod::fastcgi
