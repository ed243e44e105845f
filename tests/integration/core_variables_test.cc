// nginx's core variables through the real binary: `return 200` with the deterministic ones
// side by side with Debian's nginx on the same configuration, and the others (request_id,
// msec, pipe, request_completion, sent_http_*, tcpinfo_*) through their shape or an access
// log line.
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/harness.h"
#include "support/nginx.h"

namespace halo_test {
namespace {

HttpResponse ask(uint16_t port, std::string_view raw) {
    HttpConnection c;
    EXPECT_TRUE(c.connect(port)) << c.error();
    EXPECT_TRUE(c.send(raw)) << c.error();
    auto r = c.read_response();
    EXPECT_TRUE(r) << c.error();
    return r.value_or(HttpResponse{});
}

std::string conf(std::string_view http_body) {
    return "worker_processes 1;\nerror_log logs/error.log info;\n"
           "events { worker_connections 64; }\nhttp {\naccess_log off;\n" +
           std::string(http_body) + "\n}\n";
}

class CoreVariablesTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_rewrite") || !halo_has_module("http_static")) {
            GTEST_SKIP() << "the http_rewrite or http_static module is not compiled in";
        }
    }
    void start(std::string_view http_body) {
        halo_.write_conf(conf(http_body));
        ASSERT_TRUE(halo_.start({"-g", "daemon off;"}));
        ASSERT_EQ(halo_.wait_workers(1).size(), 1u);
    }
    Halo halo_;
};

/// One line per variable, so that a difference names the variable.
constexpr std::string_view kDeterministic =
    "uri=$uri\\ndocument_uri=$document_uri\\nargs=$args\\nquery_string=$query_string\\n"
    "is_args=$is_args\\narg_a=$arg_a\\narg_missing=$arg_missing\\ncookie_sid=$cookie_sid\\n"
    "cookie_other=$cookie_other\\ncookie_none=$cookie_none\\nhttp_x_a=$http_x_a\\n"
    "http_user_agent=$http_user_agent\\nrequest_method=$request_method\\n"
    "request_uri=$request_uri\\nrequest=$request\\nserver_protocol=$server_protocol\\n"
    "scheme=$scheme\\nhttps=$https\\nhost=$host\\nserver_name=$server_name\\n"
    "remote_addr=$remote_addr\\nserver_addr=$server_addr\\ncontent_length=$content_length\\n"
    "content_type=$content_type\\nrequest_filename=$request_filename\\n"
    "document_root=$document_root\\nrealpath_root=$realpath_root\\n"
    "request_length=$request_length\\nconnection_requests=$connection_requests\\n"
    "pipe=$pipe\\nrequest_completion=$request_completion\\nlimit_rate=$limit_rate\\n"
    "remote_user=$remote_user\\nsent_http_content_type=$sent_http_content_type\\n"
    "request_body=$request_body\\nrequest_body_file=$request_body_file\\n"
    "binary_remote_addr=$binary_remote_addr\\nbody_bytes_sent=$body_bytes_sent\\n";

TEST_F(CoreVariablesTest, DeterministicVariablesAsNginx) {
    if (!nginx_installed()) {
        GTEST_SKIP() << "Debian's nginx is not installed";
    }
    halo_.write("html/dir/.keep", "");
    std::string body =
        "server {\n    listen 127.0.0.1:%%PORT_0%%;\n    server_name main.test;\n"
        "    root " +
        halo_.path("html") + "/;\n    location / { return 200 \"" + std::string(kDeterministic) +
        "\"; }\n    location /alias/ { alias " + halo_.path("html/dir/") + "; return 200 \"" +
        std::string(kDeterministic) + "\"; }\n}";
    start(body);
    Nginx nginx;
    ASSERT_TRUE(nginx.start(conf(body)));
    const std::string requests[] = {
        "GET /a/b.html?a=1&b=2 HTTP/1.1\r\nHost: Example.COM:8080\r\nX-A: xa\r\n"
        "Cookie: sid=abc; other=x y\r\nUser-Agent: t/1\r\nConnection: close\r\n\r\n",
        "GET /plain HTTP/1.0\r\nConnection: close\r\n\r\n",
        "POST /alias/x%20y?z HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n"
        "Content-Length: 3\r\nCookie: a=1\r\nCookie: sid=second\r\nConnection: close\r\n\r\nabc",
        "GET http://abs.test/p/q?r=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n",
    };
    for (const std::string& r : requests) {
        SCOPED_TRACE(r.substr(0, r.find('\r')));
        HttpResponse want = ask(nginx.port(), r);
        HttpResponse got = ask(halo_.port(0), r);
        EXPECT_EQ(got.status, want.status);
        ASSERT_NE(want.body.find("\nrequest_uri="), std::string::npos) << want.body;
        std::istringstream w(want.body), g(got.body);
        std::string wl, gl;
        while (std::getline(w, wl)) {
            std::getline(g, gl);
            if (wl.rfind("server_addr=", 0) == 0 || wl.rfind("remote_addr=", 0) == 0) {
                continue;  // the same loopback address either way
            }
            EXPECT_EQ(gl, wl);
        }
    }
}

TEST_F(CoreVariablesTest, RequestIdMsecConnectionTimeAndTcpinfoHaveNginxShapes) {
    start(R"(server {
        listen 127.0.0.1:%%PORT_0%%;
        location / { return 200 "$request_id $request_id|$msec|$connection_time|$tcpinfo_rtt $tcpinfo_rttvar $tcpinfo_snd_cwnd $tcpinfo_rcv_space|$nginx_version|$hostname|$pid"; }
    })");
    std::string a = halo_.get_body("/");
    std::string b = halo_.get_body("/");
    static const std::regex kShape(
        R"(([0-9a-f]{32}) ([0-9a-f]{32})\|[0-9]{10}\.[0-9]{3}\|[0-9]+\.[0-9]{3}\|)"
        R"([0-9]+ [0-9]+ [0-9]+ [0-9]+\|[0-9]+\.[0-9]+\.[0-9]+\|[^|]+\|[0-9]+)");
    std::smatch m;
    ASSERT_TRUE(std::regex_match(a, m, kShape)) << a;
    EXPECT_EQ(m[1], m[2]);  // one id per request
    EXPECT_NE(a.substr(0, 32), b.substr(0, 32));
}

TEST_F(CoreVariablesTest, LogPhaseVariablesInTheAccessLog) {
    if (!halo_has_module("http_log")) {
        GTEST_SKIP() << "the http_log module is not compiled in";
    }
    start(R"(log_format vars '$request_uri $status $pipe [$request_completion] '
                            '[$sent_http_content_type] [$sent_http_x_custom] '
                            '[$sent_http_connection] [$sent_http_content_length] '
                            '$connection_requests $request_length';
    server {
        listen 127.0.0.1:%%PORT_0%%;
        access_log logs/vars.log vars;
        add_header X-Custom "custom value";
        location / { return 200 "hello"; }
    })");
    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_.port(0)));
    // Two requests in one write: the second is pipelined.
    std::string one = "GET /one HTTP/1.1\r\nHost: x\r\n\r\n";
    std::string two = "GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ASSERT_TRUE(c.send(one + two));
    ASSERT_TRUE(c.read_response());
    ASSERT_TRUE(c.read_response());
    std::vector<std::string> lines;
    ASSERT_TRUE(wait_until([&] {
        std::istringstream in(read_file(halo_.path("logs/vars.log")).value_or(""));
        lines.clear();
        for (std::string l; std::getline(in, l);) {
            lines.push_back(l);
        }
        return lines.size() >= 2;
    }));
    EXPECT_EQ(lines[0], "/one 200 . [OK] [text/plain] [custom value] [keep-alive] [5] 1 " +
                            std::to_string(one.size()));
    EXPECT_EQ(lines[1], "/two 200 p [OK] [text/plain] [custom value] [close] [5] 2 " +
                            std::to_string(two.size()));
}

}  // namespace
}  // namespace halo_test
