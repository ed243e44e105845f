// OCSP pieces without I/O: the responder URL, the HTTP request, the responder's HTTP answer
// and the checks of a response (ocsp.h).
#include "http/modules/ssl/ocsp.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <strings.h>

#include <ctime>

#include "core/conf_context.h"
#include "tls/ssl_transport.h"

namespace mod::http_ssl {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

/// RFC 3986 §2.3: only unreserved characters go unescaped in a path segment.
void escape_component(std::string_view in, std::string& out) {
    static const char kHex[] = "0123456789ABCDEF";
    for (unsigned char c : in) {
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

/// The status line: "HTTP/1.x NNN text". kPremature when the line has not ended.
OcspHttpAnswer::Outcome status_line(std::string_view line, bool complete, int& code) {
    using Outcome = OcspHttpAnswer::Outcome;
    constexpr std::string_view kHttp = "HTTP/";
    if (line.substr(0, kHttp.size()) != kHttp.substr(0, std::min(line.size(), kHttp.size()))) {
        return Outcome::kInvalid;
    }
    if (!complete) {
        return Outcome::kPremature;
    }
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    size_t i = kHttp.size();
    auto digit = [&](size_t at) { return at < line.size() && isdigit((unsigned char)line[at]); };
    if (!digit(i) || line[i] == '0') {
        return Outcome::kInvalid;
    }
    while (digit(i)) {
        i++;
    }
    if (i >= line.size() || line[i++] != '.' || !digit(i)) {
        return Outcome::kInvalid;
    }
    while (digit(i)) {
        i++;
    }
    if (i >= line.size() || line[i] != ' ') {
        return Outcome::kInvalid;
    }
    while (i < line.size() && line[i] == ' ') {
        i++;
    }
    for (int n = 0; n < 3; n++, i++) {
        if (!digit(i)) {
            return Outcome::kInvalid;
        }
        code = code * 10 + (line[i] - '0');
    }
    // IIS may send "403.1"
    if (i < line.size() && line[i] != ' ' && line[i] != '.') {
        return Outcome::kInvalid;
    }
    return Outcome::kOk;
}

}  // namespace

std::string parse_responder(std::string_view url, bool resolve, OcspResponder& out) {
    if (url.size() <= 7 || strncasecmp(url.data(), "http://", 7) != 0) {
        return "invalid URL prefix";
    }
    std::string_view rest = url.substr(7);
    size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    out.uri = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    std::string_view host = authority;
    std::string_view port;
    if (!authority.empty() && authority[0] == '[') {
        size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            return "invalid host";
        }
        host = authority.substr(0, close + 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') {
                return "invalid host";
            }
            port = authority.substr(close + 2);
            if (port.empty()) {
                return "invalid port";
            }
        }
    } else if (size_t colon = authority.find(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
        if (port.empty()) {
            return "invalid port";
        }
    }
    if (host.empty()) {
        return "no host";
    }
    out.host = std::string(host);
    out.port = 80;
    if (!port.empty()) {
        auto p = core::parse_int(port);
        if (!p || *p < 1 || *p > 65535) {
            return "invalid port";
        }
        out.port = static_cast<uint16_t>(*p);
    }
    std::string bare = out.host;
    if (bare.size() >= 2 && bare.front() == '[') {
        bare = bare.substr(1, bare.size() - 2);
    }
    out.addrs.clear();
    if (auto ip = core::SockAddr::from_ip(bare, out.port)) {
        out.addrs.push_back(*ip);
    } else if (resolve && !core::resolve_host(bare, out.port, out.addrs)) {
        return "host not found";
    }
    return "";
}

std::string ocsp_http_request(const OcspResponder& responder, X509* cert, X509* issuer) {
    OCSP_REQUEST* req = OCSP_REQUEST_new();
    OCSP_CERTID* id = req != nullptr ? OCSP_cert_to_id(nullptr, cert, issuer) : nullptr;
    if (id == nullptr || OCSP_request_add0_id(req, id) == nullptr) {
        OCSP_CERTID_free(id);
        OCSP_REQUEST_free(req);
        ERR_clear_error();
        return "";
    }
    unsigned char* der = nullptr;
    int len = i2d_OCSP_REQUEST(req, &der);
    OCSP_REQUEST_free(req);
    if (len <= 0) {
        ERR_clear_error();
        return "";
    }
    std::string b64(static_cast<size_t>(4 * ((len + 2) / 3)) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), der, len);
    OPENSSL_free(der);
    b64.resize(static_cast<size_t>(n));
    std::string out = "GET " + responder.uri;
    if (out.back() != '/') {
        out += '/';
    }
    escape_component(b64, out);
    out += " HTTP/1.0\r\nHost: " + responder.host + "\r\n\r\n";
    return out;
}

OcspHttpAnswer parse_ocsp_answer(std::string_view bytes) {
    OcspHttpAnswer a;
    size_t eol = bytes.find('\n');
    a.outcome = status_line(bytes.substr(0, eol), eol != std::string_view::npos, a.code);
    if (a.outcome != OcspHttpAnswer::Outcome::kOk) {
        return a;
    }
    size_t at = eol + 1;
    for (;;) {
        eol = bytes.find('\n', at);
        if (eol == std::string_view::npos) {
            a.outcome = OcspHttpAnswer::Outcome::kPremature;
            return a;
        }
        std::string_view line = bytes.substr(at, eol - at);
        at = eol + 1;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.empty()) {
            break;
        }
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            a.outcome = OcspHttpAnswer::Outcome::kInvalid;
            return a;
        }
        if (iequals(trim(line.substr(0, colon)), "Content-Type")) {
            std::string_view value = trim(line.substr(colon + 1));
            if (!iequals(value, "application/ocsp-response")) {
                a.outcome = OcspHttpAnswer::Outcome::kBadType;
                a.content_type = std::string(value);
                return a;
            }
        }
    }
    a.body = bytes.substr(at);
    return a;
}

int64_t ocsp_time(const ASN1_GENERALIZEDTIME* t) {
    struct tm tm {};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
        return -1;
    }
    return static_cast<int64_t>(timegm(&tm));
}

bool ocsp_verify(int code, std::string_view der, SSL_CTX* ctx, STACK_OF(X509) * chain,
                 unsigned long flags, X509* cert, X509* issuer, OcspVerdict& out,
                 std::string& error) {
    error.clear();
    if (code != 200) {
        return false;  // nginx says nothing more
    }
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    OCSP_RESPONSE* resp = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size()));
    OCSP_BASICRESP* basic = nullptr;
    OCSP_CERTID* id = nullptr;
    bool ok = false;
    int n = 0;
    ASN1_GENERALIZEDTIME* this_update = nullptr;
    ASN1_GENERALIZEDTIME* next_update = nullptr;
    if (resp == nullptr) {
        error = "d2i_OCSP_RESPONSE() failed (" + tls::ssl_error_text() + ")";
    } else if (n = OCSP_response_status(resp); n != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        error = "OCSP response not successful (" + std::to_string(n) + ": " +
                OCSP_response_status_str(n) + ")";
    } else if (basic = OCSP_response_get1_basic(resp); basic == nullptr) {
        error = "OCSP_response_get1_basic() failed (" + tls::ssl_error_text() + ")";
    } else if (OCSP_basic_verify(basic, chain, SSL_CTX_get_cert_store(ctx), flags) != 1) {
        error = "OCSP_basic_verify() failed (" + tls::ssl_error_text() + ")";
    } else if (id = OCSP_cert_to_id(nullptr, cert, issuer); id == nullptr) {
        error = "OCSP_cert_to_id() failed (" + tls::ssl_error_text() + ")";
    } else if (OCSP_resp_find_status(basic, id, &out.status, nullptr, nullptr, &this_update,
                                     &next_update) != 1) {
        error = "certificate status not found in the OCSP response";
    } else if (OCSP_check_validity(this_update, next_update, 300, -1) != 1) {
        error = "OCSP_check_validity() failed (" + tls::ssl_error_text() + ")";
    } else if (next_update != nullptr && (out.valid = ocsp_time(next_update)) < 0) {
        error = "invalid nextUpdate time in certificate status";
    } else {
        if (next_update == nullptr) {
            out.valid = OcspVerdict::kForever;
        }
        ok = true;
    }
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(basic);
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();
    return ok;
}

}  // namespace mod::http_ssl
