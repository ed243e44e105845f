// Recoding by the charset filter through the real binary, side by side with Debian's nginx on
// the same config, with Debian's shipped tables included from the machine (/etc/nginx/koi-utf,
// koi-win, win-utf): static files in koi8-r served as utf-8 and windows-1251 (every byte
// value), utf-8 served as koi8-r and windows-1251 ("&#NNNN;" for what the table lacks, "?"
// for malformed bytes), proxied responses recoded from the charset they declare
// (override_charset on) or from source_charset, and bodies larger than a buffer with UTF-8
// sequences split at the buffer edges. Bodies are compared byte for byte (de-chunked), with
// the status and the Content-Type, Content-Length, Transfer-Encoding and Accept-Ranges headers.
#include <zlib.h>

#include <string>
#include <vector>

#include "support/harness.h"
#include "support/nginx.h"

namespace halo_test {
namespace {

constexpr std::string_view kHttp = R"(
http {
    access_log off;
    server_tokens off;
    include /etc/nginx/koi-utf;
    include /etc/nginx/koi-win;
    include /etc/nginx/win-utf;
    default_type application/octet-stream;
    types {
        text/html html;
        text/plain txt;
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%ROOT%%;
        location /koi-utf/ { alias %%ROOT%%/; source_charset koi8-r; charset utf-8; }
        location /koi-win/ { alias %%ROOT%%/; source_charset koi8-r; charset windows-1251; }
        location /win-koi/ { alias %%ROOT%%/; source_charset windows-1251; charset koi8-r; }
        location /win-utf/ { alias %%ROOT%%/; source_charset windows-1251; charset UTF-8; }
        location /utf-koi/ { alias %%ROOT%%/; source_charset utf-8; charset koi8-r; }
        location /utf-win/ { alias %%ROOT%%/; source_charset utf-8; charset windows-1251; }
        location /gz/ {
            alias %%ROOT%%/;
            source_charset koi8-r;
            charset utf-8;
            gzip on;
            gzip_types text/plain;
        }
        location /utf-utf/ { alias %%ROOT%%/; source_charset utf-8; charset utf-8; }
        location /up-utf/ {
            charset utf-8;
            override_charset on;
            proxy_pass http://127.0.0.1:%%BACKEND%%/koi/;
        }
        location /up-win/ {
            charset windows-1251;
            override_charset on;
            proxy_pass http://127.0.0.1:%%BACKEND%%/koi/;
        }
        location /up-koi/ {
            charset koi8-r;
            override_charset on;
            proxy_pass http://127.0.0.1:%%BACKEND%%/utf/;
        }
        location /up-xa/ { proxy_pass http://127.0.0.1:%%BACKEND%%/xa/; }
        location /up-xa-ignored/ {
            proxy_ignore_headers X-Accel-Charset;
            proxy_pass http://127.0.0.1:%%BACKEND%%/xa/;
        }
        location /up-xa-unknown/ { proxy_pass http://127.0.0.1:%%BACKEND%%/xa-unknown/; }
        location /up-kept/ { charset koi8-r; proxy_pass http://127.0.0.1:%%BACKEND%%/utf/; }
        location /up-src/ {
            source_charset koi8-r;
            charset utf-8;
            proxy_pass http://127.0.0.1:%%BACKEND%%/plain/;
        }
    }
    server {
        listen 127.0.0.1:%%BACKEND%%;
        root %%ROOT%%;
        location /koi/ { alias %%ROOT%%/; types {} default_type "text/plain; charset=koi8-r"; }
        location /utf/ { alias %%ROOT%%/; types {} default_type "text/plain; charset=utf-8"; }
        location /plain/ { alias %%ROOT%%/; }
        location /xa/ {
            alias %%ROOT%%/;
            types {}
            default_type "text/plain; charset=koi8-r";
            add_header X-Accel-Charset windows-1251;
        }
        location /xa-unknown/ {
            alias %%ROOT%%/;
            add_header X-Accel-Charset x-none;
        }
    }
}
)";

/// Every byte value, four times over: what a single-byte table does to each.
std::string all_bytes() {
    std::string s;
    for (int round = 0; round < 4; round++) {
        for (int b = 0; b < 256; b++) {
            s.push_back(static_cast<char>(b));
        }
        s += "\n";
    }
    return s;
}

/// UTF-8 text: Russian (in the tables), Chinese and an emoji (not: "&#NNNN;"), malformed
/// bytes ("?"), and an unfinished sequence at the very end (dropped).
std::string utf8_text() {
    return "Привет, мир! Ёлка, ёж; € • № «»\n"
           "中文 😀 é ß\n"
           "bad: \x80 \xC0\x80 \xE2\x41 \xFF\xFE end\n"
           "\xE2\x82";
}

/// More than two 32k buffers of UTF-8 (3-byte "€" and 2-byte Cyrillic), with a sequence
/// across 32768 and 65536 and one ending exactly at each edge.
std::string big_utf8() {
    std::string s;
    const std::string line = "Съешь же ещё этих мягких французских булок € 中 😀\n";
    while (s.size() < 32767) {
        s += line;
    }
    s.resize(32767, 'x');
    s += "€";  // E2 | 82 AC across the 32k edge
    while (s.size() < 65534) {
        s += "ж";
    }
    s.resize(65534, 'y');
    s += "жж";  // D0 B6 ends at 65536
    while (s.size() < 100000) {
        s += line;
    }
    return s;
}

/// A gzip body inflated ("" when it is not one).
std::string gunzip(const std::string& data) {
    z_stream zs{};
    if (inflateInit2(&zs, 15 + 16) != Z_OK) {
        return {};
    }
    std::string out;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    int rc = Z_OK;
    while (rc == Z_OK) {
        char buf[65536];
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof(buf);
        rc = inflate(&zs, Z_NO_FLUSH);
        out.append(buf, sizeof(buf) - zs.avail_out);
    }
    inflateEnd(&zs);
    return rc == Z_STREAM_END ? out : std::string();
}

class CharsetRecodeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_charset") || !halo_has_module("http_proxy")) {
            GTEST_SKIP() << "http_charset or http_proxy is not compiled in";
        }
        if (!nginx_installed() || !file_exists("/etc/nginx/koi-utf") ||
            !file_exists("/etc/nginx/koi-win") || !file_exists("/etc/nginx/win-utf")) {
            GTEST_SKIP() << "Debian's nginx (with /etc/nginx/koi-utf, koi-win, win-utf) is not "
                            "installed";
        }
        std::string root = halo_.path("www");
        halo_.write("www/bytes.txt", all_bytes());
        halo_.write("www/bytes.html", all_bytes());
        halo_.write("www/utf.txt", utf8_text());
        halo_.write("www/big.txt", big_utf8());
        halo_.write("www/empty.txt", "");
        std::string large;  // 4 MB: more than the socket buffers hold, so halo waits for the client
        while (large.size() < (4u << 20)) {
            large += all_bytes();
        }
        halo_.write("www/large.txt", large);
        halo_port_ = halo_.port(0);
        uint16_t halo_backend = halo_.port(1);
        nginx_port_ = free_port();
        uint16_t nginx_backend = free_port();
        std::string http = replace_all(std::string(kHttp), "%%ROOT%%", root);
        std::string h = replace_all(http, "%%PORT%%", std::to_string(halo_port_));
        halo_.write_conf("daemon off;\nerror_log logs/error.log;\nevents {}\n" +
                         replace_all(h, "%%BACKEND%%", std::to_string(halo_backend)));
        ASSERT_TRUE(halo_.start());
        std::string n = replace_all(http, "%%PORT%%", std::to_string(nginx_port_));
        ASSERT_TRUE(nginx_.start("error_log logs/error.log;\nevents {}\n" +
                                     replace_all(n, "%%BACKEND%%", std::to_string(nginx_backend)),
                                 nginx_port_));
    }

    /// The body as sent by `port`, de-chunked when chunked (a malformed chunked body is an
    /// exchange error).
    static std::string body_of(const RawResponse& r) {
        EXPECT_EQ(r.error, "") << "malformed answer";
        return r.body;
    }

    /// Same status, framing headers and body (byte for byte) from halo and nginx; returns
    /// halo's body.
    std::string expect_same(const std::string& path, std::string_view extra = {},
                            std::string_view method = "GET") {
        SCOPED_TRACE(std::string(method) + " " + path + " " + std::string(extra));
        RawResponse h = fetch_raw(halo_port_, request_text(path, extra, method));
        RawResponse n = fetch_raw(nginx_port_, request_text(path, extra, method));
        EXPECT_NE(n.status, 0);
        EXPECT_EQ(h.status, n.status);
        for (const char* name :
             {"Content-Type", "Content-Length", "Transfer-Encoding", "Content-Range",
              "Content-Encoding", "ETag", "Last-Modified", "Vary"}) {
            EXPECT_EQ(h.header(name), n.header(name)) << name;
        }
        // halo's static handler sends Accept-Ranges with a 206 too (the static module's known
        // difference, tests/integration/diff_*): compared on the other answers.
        if (h.status != 206) {
            EXPECT_EQ(h.header("Accept-Ranges"), n.header("Accept-Ranges"));
        }
        std::string hb = body_of(h);
        if (h.header("Content-Encoding") == "gzip") {
            hb = gunzip(hb);
            EXPECT_FALSE(hb.empty());
        }
        // The error pages' signature is each server's own.
        std::string nb = replace_all(body_of(n), "<center>nginx</center>", "<center>halo</center>");
        if (n.header("Content-Encoding") == "gzip") {
            nb = gunzip(nb);
        }
        EXPECT_EQ(hb.size(), nb.size());
        EXPECT_TRUE(hb == nb) << "bodies differ (halo " << hb.size() << " bytes, nginx "
                              << nb.size() << ")";
        return hb;
    }

    Halo halo_;
    Nginx nginx_;
    uint16_t halo_port_ = 0;
    uint16_t nginx_port_ = 0;
};

TEST_F(CharsetRecodeTest, Koi8rFilesServedAsUtf8AndWindows1251) {
    std::string utf = expect_same("/koi-utf/bytes.txt");
    // Debian's koi-utf: C1 is "а" (D0 B0), A3 "ё" (D1 91), 80 the euro; 81 is not in it: "?".
    EXPECT_NE(utf.find("\xD0\xB0"), std::string::npos);
    EXPECT_NE(utf.find("\xE2\x82\xAC"), std::string::npos);
    std::string win = expect_same("/koi-win/bytes.txt");
    EXPECT_EQ(win.size(), all_bytes().size());  // single byte to single byte: same length
    expect_same("/koi-utf/bytes.html");
    expect_same("/win-koi/bytes.txt");  // the koi-win table read backwards
    expect_same("/win-utf/bytes.txt");
    expect_same("/koi-utf/empty.txt");
    expect_same("/koi-win/empty.txt");
    RawResponse h = fetch_raw(halo_port_, request_text("/koi-utf/bytes.txt"));
    EXPECT_EQ(h.header("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_FALSE(h.has("Content-Length"));  // the length changed
    RawResponse w = fetch_raw(halo_port_, request_text("/koi-win/bytes.txt"));
    EXPECT_EQ(w.header("Content-Type"), "text/plain; charset=windows-1251");
    EXPECT_EQ(w.header("Content-Length"), std::to_string(all_bytes().size()));
}

TEST_F(CharsetRecodeTest, Utf8ServedAsKoi8rWithEntitiesForWhatTheTableLacks) {
    std::string koi = expect_same("/utf-koi/utf.txt");
    EXPECT_NE(koi.find("&#20013;&#25991; &#128512;"), std::string::npos) << koi;
    // 80: "?"; C0 80: two; E2 41 eats the "A"; FF FE " " (a four-byte lead ended by the space).
    EXPECT_NE(koi.find("bad: ? ?? ? ?end"), std::string::npos) << koi;
    expect_same("/utf-win/utf.txt");
    expect_same("/utf-utf/utf.txt");  // same charset: nothing recoded
    expect_same("/utf-koi/bytes.txt");
    expect_same("/utf-koi/empty.txt");
}

TEST_F(CharsetRecodeTest, BodiesLargerThanABufferWithSplitSequences) {
    std::string koi = expect_same("/utf-koi/big.txt");
    EXPECT_GT(koi.size(), 50000u);
    expect_same("/utf-win/big.txt");
    expect_same("/up-koi/big.txt");  // proxied: split wherever the upstream reads end
    expect_same("/koi-utf/big.txt");
    EXPECT_GT(expect_same("/koi-utf/large.txt").size(), 4u << 20);
    expect_same("/koi-win/large.txt");
    expect_same("/up-utf/large.txt");
}

TEST_F(CharsetRecodeTest, ProxiedResponsesRecodedFromTheirCharset) {
    expect_same("/up-utf/bytes.txt");
    expect_same("/up-win/bytes.txt");
    expect_same("/up-koi/utf.txt");
    expect_same("/up-kept/utf.txt");  // names utf-8, no override_charset: as it came
    expect_same("/up-src/bytes.txt");
    RawResponse h = fetch_raw(halo_port_, request_text("/up-utf/bytes.txt"));
    EXPECT_EQ(h.header("Content-Type"), "text/plain; charset=utf-8");
    // X-Accel-Charset from the upstream: recoded to it (no `charset` here), unless ignored.
    expect_same("/up-xa/bytes.txt");
    expect_same("/up-xa-ignored/bytes.txt");
    expect_same("/up-xa-unknown/bytes.txt");
    EXPECT_EQ(fetch_raw(halo_port_, request_text("/up-xa/bytes.txt")).header("Content-Type"),
              "text/plain; charset=windows-1251");
    EXPECT_FALSE(
        log_lines_with(halo_.error_log(), "unknown charset \"x-none\" to override").empty());
}

TEST_F(CharsetRecodeTest, RecodedThenCompressed) {
    std::string utf = expect_same("/gz/big.txt", "Accept-Encoding: gzip\r\n");
    EXPECT_EQ(utf, expect_same("/koi-utf/big.txt"));
    expect_same("/gz/bytes.txt", "Accept-Encoding: gzip\r\n");
    RawResponse h =
        fetch_raw(halo_port_, request_text("/gz/bytes.txt", "Accept-Encoding: gzip\r\n"));
    EXPECT_EQ(h.header("Content-Encoding"), "gzip");
}

TEST_F(CharsetRecodeTest, HeadErrorPagesAndRanges) {
    expect_same("/koi-utf/bytes.txt", {}, "HEAD");
    expect_same("/koi-win/bytes.txt", {}, "HEAD");
    expect_same("/koi-utf/missing.txt");
    expect_same("/utf-koi/missing.txt");
    // A single-byte recoding keeps the length: the range is served, recoded.
    expect_same("/koi-win/bytes.txt", "Range: bytes=100-399\r\n");
    // To or from utf-8 the length is unknown: the whole file, recoded, with 200 (nginx).
    std::string whole = expect_same("/koi-utf/bytes.txt", "Range: bytes=100-399\r\n");
    EXPECT_EQ(whole, expect_same("/koi-utf/bytes.txt"));
    expect_same("/utf-koi/big.txt", "Range: bytes=40000-\r\n");
}

TEST(CharsetRecodeConfigTest, MapsCheckedAsNginx) {
    if (!halo_has_module("http_charset")) {
        GTEST_SKIP() << "http_charset is not compiled in";
    }
    struct Case {
        std::string body;
        std::string error;  // "" : accepted
    } cases[] = {
        {"include /etc/nginx/koi-utf;\nserver { source_charset koi8-r; charset utf-8; }", ""},
        {"include /etc/nginx/koi-utf;\nserver { source_charset utf-8; charset koi8-r; }", ""},
        {"charset_map koi8-r windows-1251 { C1 E0; 0C1 E0; }", ""},
        {"charset_map koi8-r utf-8 { C0 D18E; C1 E282AC; }", ""},
        {"charset_map koi8-r utf-8 { C0 41; }", "invalid value \"41\" in %%CONF%%:3"},
        {"charset_map koi8-r utf-8 { C0 F09F9880; }", "invalid value \"F09F9880\" in %%CONF%%:3"},
        {"charset_map koi8-r utf-8 { C0 D18; }", "invalid value \"D18\" in %%CONF%%:3"},
        {"charset_map koi8-r utf-8 { 100 D18E; }", "invalid value \"100\" in %%CONF%%:3"},
        {"charset_map koi8-r windows-1251 { C0 100; }", "invalid value \"100\" in %%CONF%%:3"},
        {"charset_map koi8-r KOI8-R { }",
         "\"charset_map\" between the same charsets \"koi8-r\" and \"KOI8-R\" in %%CONF%%:3"},
        {"charset_map a b { }\ncharset_map b a { }",
         "duplicate \"charset_map\" between \"b\" and \"a\" in %%CONF%%:4"},
        {"charset_map utf-8 koi8-r { }",
         "\"charset_map utf-8 koi8-r\" is not supported by halo: write it as \"charset_map "
         "koi8-r utf-8\""},
        {"include /etc/nginx/koi-utf;\nserver {\nsource_charset koi8-r;\ncharset "
         "windows-1251;\n}",
         "no \"charset_map\" between the charsets \"koi8-r\" and \"windows-1251\" in "
         "%%CONF%%:6"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.body);
        Halo halo;
        halo.write_conf("events {}\nhttp {\n" + c.body + "\n}\n");
        RunResult r = halo.run({"-t"});
        if (c.error.empty()) {
            EXPECT_EQ(r.status, 0) << r;
        } else {
            EXPECT_NE(r.status, 0);
            EXPECT_NE(r.err.find(replace_all(c.error, "%%CONF%%", halo.conf_path())),
                      std::string::npos)
                << r;
        }
    }
}

}  // namespace
}  // namespace halo_test
