// Directives halo does not know: `halo -t` names every one of them with its file:line, in
// file order, then fails (an unknown block is named once, its body skipped); a reload logs one
// line each. And Debian's default nginx.conf + sites-available/default: as shipped, -t names
// exactly the two directives halo lacks; without them the same files run unchanged and serve.
#include <unistd.h>

#include <csignal>
#include <string>
#include <vector>

#include "support/harness.h"

namespace halo_test {
namespace {

/// The `halo: [emerg] ...` lines of `err`, without the prefix, in order.
std::vector<std::string> emerg_lines(const std::string& err) {
    std::vector<std::string> out;
    const std::string prefix = "halo: [emerg] ";
    size_t pos = 0;
    while (pos < err.size()) {
        size_t nl = err.find('\n', pos);
        std::string line = err.substr(pos, nl == std::string::npos ? nl : nl - pos);
        if (line.rfind(prefix, 0) == 0) {
            out.push_back(line.substr(prefix.size()));
        }
        if (nl == std::string::npos) {
            break;
        }
        pos = nl + 1;
    }
    return out;
}

class UnknownDirectivesTest : public ::testing::Test {
  protected:
    std::string at(std::string_view rel, int line) const {
        return " in " + halo_.path(rel) + ":" + std::to_string(line);
    }

    Halo halo_;
};

TEST_F(UnknownDirectivesTest, EveryUnknownDirectiveIsNamedInFileOrder) {
    halo_.write("conf.d/extra.conf",
                "server {\n"
                "    listen 127.0.0.1:%%PORT_1%%;\n"
                "    brotli on;\n"
                "}\n");
    halo_.write_conf(
        "daemon off;\n"                                    // 1
        "lock_file logs/halo.lock;\n"                      // 2
        "events {\n"                                       // 3
        "    worker_aio_requests 32;\n"                    // 4
        "}\n"                                              // 5
        "http {\n"                                         // 6
        "    sub_filter_once off;\n"                       // 7
        "    include conf.d/*.conf;\n"                     // 8
        "    server {\n"                                   // 9
        "        listen 127.0.0.1:%%PORT_0%%;\n"           // 10
        "        location / {\n"                           // 11
        "            memcached_pass unix:/run/mc.sock;\n"  // 12
        "            root html;\n"                         // 13
        "        }\n"                                      // 14
        "    }\n"                                          // 15
        "}\n");                                            // 16
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    std::vector<std::string> expected = {
        "unknown directive \"lock_file\"" + at("halo.conf", 2),
        "unknown directive \"worker_aio_requests\"" + at("halo.conf", 4),
        "unknown directive \"sub_filter_once\"" + at("halo.conf", 7),
        "unknown directive \"brotli\"" + at("conf.d/extra.conf", 3),
        "unknown directive \"memcached_pass\"" + at("halo.conf", 12),
    };
    EXPECT_EQ(emerg_lines(r.err), expected) << r;
    EXPECT_NE(r.err.find("halo: configuration file " + halo_.conf_path() + " test failed\n"),
              std::string::npos)
        << r;
    EXPECT_EQ(r.err.find("syntax is ok"), std::string::npos) << r;
}

TEST_F(UnknownDirectivesTest, UnknownBlockIsNamedOnceAndItsBodySkipped) {
    halo_.write_conf(
        "daemon off;\n"                                // 1
        "events {}\n"                                  // 2
        "stream {\n"                                   // 3
        "    upstream dns {\n"                         // 4
        "        server 127.0.0.1:53;\n"               // 5
        "        no_such_thing 1;\n"                   // 6
        "    }\n"                                      // 7
        "    server {\n"                               // 8
        "        listen 5353 udp;\n"                   // 9
        "        proxy_pass dns;\n"                    // 10
        "    }\n"                                      // 11
        "}\n"                                          // 12
        "mail {\n"                                     // 13
        "    server { listen 110; protocol pop3; }\n"  // 14
        "}\n"                                          // 15
        "http {\n"                                     // 16
        "    server {\n"                               // 17
        "        listen 127.0.0.1:%%PORT_0%%;\n"       // 18
        "        match ok { status 200; }\n"           // 19
        "    }\n"                                      // 20
        "}\n");                                        // 21
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    std::vector<std::string> expected = {
        // stream is known now: its contents are read (an unknown directive inside is named).
        "unknown directive \"no_such_thing\"" + at("halo.conf", 6),
        "unknown directive \"mail\"" + at("halo.conf", 13),
        "unknown directive \"match\"" + at("halo.conf", 19),
    };
    EXPECT_EQ(emerg_lines(r.err), expected) << r;
}

TEST_F(UnknownDirectivesTest, UnknownDirectivesComeBeforeTheFirstOtherError) {
    // Other errors still stop the load at the first one; the unknown directives met before it
    // are all named, then that error.
    halo_.write_conf(
        "daemon off;\n"                     // 1
        "lock_file logs/halo.lock;\n"       // 2
        "events {}\n"                       // 3
        "http {\n"                          // 4
        "    sub_filter_types text/css;\n"  // 5
        "    keepalive_timeout forever;\n"  // 6
        "    tcp_nodelay on;\n"             // 7
        "}\n");                             // 8
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    std::vector<std::string> expected = {
        "unknown directive \"lock_file\"" + at("halo.conf", 2),
        "unknown directive \"sub_filter_types\"" + at("halo.conf", 5),
        "invalid value \"forever\" in \"keepalive_timeout\" directive, expected a time such as "
        "500ms, 10s, 1m" +
            at("halo.conf", 6),
    };
    EXPECT_EQ(emerg_lines(r.err), expected) << r;
}

TEST_F(UnknownDirectivesTest, UnknownDirectivesStopBeforeCrossDirectiveChecks) {
    // The upstream's misspelt server leaves it empty, an error of its own ("no servers are
    // inside upstream"): that follow-on is not reported, and the scan goes on to the next
    // unknown directive, so the report is only what the operator must fix.
    halo_.write_conf(
        "daemon off;\n"
        "events {}\n"
        "http {\n"
        "    upstream app { sevrer 127.0.0.1:1; }\n"
        "    server {\n"
        "        listen 127.0.0.1:%%PORT_0%%;\n"
        "        location / { grpc_pass app; }\n"
        "    }\n"
        "}\n");
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_EQ(emerg_lines(r.err),
              (std::vector<std::string>{"unknown directive \"sevrer\"" + at("halo.conf", 4),
                                        "unknown directive \"grpc_pass\"" + at("halo.conf", 7)}))
        << r;
}

TEST_F(UnknownDirectivesTest, ReloadLogsOneLinePerUnknownDirectiveAndKeepsServing) {
    const std::string good =
        "daemon off;\n"
        "worker_processes 1;\n"
        "error_log logs/error.log notice;\n"
        "events {}\n"
        "http {\n"
        "    access_log off;\n"
        "    server {\n"
        "        listen 127.0.0.1:%%PORT_0%%;\n"
        "        location / { return 200 \"old\\n\"; }\n"
        "    }\n"
        "}\n";
    halo_.write_conf(good);
    ASSERT_TRUE(halo_.start());
    std::vector<pid_t> workers = halo_.wait_workers(1);
    ASSERT_EQ(workers.size(), 1u);
    halo_.write_conf(
        "daemon off;\n"
        "worker_processes 1;\n"
        "error_log logs/error.log notice;\n"
        "events {}\n"
        "http {\n"
        "    access_log off;\n"
        "    server {\n"
        "        listen 127.0.0.1:%%PORT_0%%;\n"
        "        proxy_store on;\n"  // 9
        "        location / { return 200 \"new\\n\"; }\n"
        "        ssi on;\n"  // 11
        "    }\n"
        "}\n");
    ASSERT_TRUE(halo_.signal(SIGHUP));
    ASSERT_TRUE(wait_until([&] {
        return !log_lines_with(halo_.error_log(), "reload failed").empty();
    })) << halo_.error_log();
    std::vector<std::string> first =
        log_lines_with(halo_.error_log(), "unknown directive \"proxy_store\"");
    std::vector<std::string> second =
        log_lines_with(halo_.error_log(), "unknown directive \"ssi\"");
    ASSERT_EQ(first.size(), 1u) << halo_.error_log();
    ASSERT_EQ(second.size(), 1u) << halo_.error_log();
    // Each is a log line of its own, with the level and its own file:line.
    EXPECT_NE(first[0].find("[emerg]"), std::string::npos) << first[0];
    EXPECT_NE(first[0].find(halo_.conf_path() + ":9"), std::string::npos) << first[0];
    EXPECT_NE(second[0].find("[emerg]"), std::string::npos) << second[0];
    EXPECT_NE(second[0].find(halo_.conf_path() + ":11"), std::string::npos) << second[0];
    EXPECT_EQ(halo_.workers(), workers);
    EXPECT_EQ(halo_.get_body(), "old\n");
}

// ---- Debian's default nginx.conf ----

// /etc/nginx/nginx.conf of Debian 12's nginx-common (1.22.1), with the paths moved into the
// test prefix (pid, logs, includes) and the commented gzip_* lines switched on. `user
// www-data;` is kept when the test runs as root and that user exists.
constexpr std::string_view kDebianNginxConf = R"(%%USER%%worker_processes auto;
pid logs/nginx.pid;
error_log logs/error.log;
include modules-enabled/*.conf;

events {
	worker_connections 768;
	# multi_accept on;
}

http {

	##
	# Basic Settings
	##

	sendfile on;
	tcp_nopush on;
	types_hash_max_size 2048;
	# server_tokens off;

	# server_names_hash_bucket_size 64;
	# server_name_in_redirect off;

	include mime.types;
	default_type application/octet-stream;

	##
	# SSL Settings
	##

	ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; # Dropping SSLv3, ref: POODLE
	ssl_prefer_server_ciphers on;

	##
	# Logging Settings
	##

	access_log logs/access.log;

	##
	# Gzip Settings
	##

	gzip on;

	gzip_vary on;
	gzip_proxied any;
	gzip_comp_level 6;
	gzip_buffers 16 8k;
	gzip_http_version 1.1;
	gzip_types text/plain text/css application/json application/javascript text/xml application/xml application/xml+rss text/javascript;

	##
	# Virtual Host Configs
	##

	include conf.d/*.conf;
	include sites-enabled/*;
}
)";

// sites-available/default without its comments; `listen 80` moved to the test port and the
// `listen [::]:80 default_server;` line left out (the tests use IPv4 loopback only).
constexpr std::string_view kDebianDefaultSite = R"(server {
	listen 127.0.0.1:%%PORT_0%% default_server;
	root %%PREFIX%%/www/html;
	index index.html index.htm index.nginx-debian.html;
	server_name _;
	location / {
		try_files $uri $uri/ =404;
	}
}
)";

class DebianNginxConfTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto mime = read_file(halo_top() + "/conf/mime.types");
        ASSERT_TRUE(mime.has_value()) << "conf/mime.types of " << halo_top();
        halo_.write("mime.types", *mime);
        halo_.write("sites-enabled/default", kDebianDefaultSite);
        halo_.write("www/html/index.nginx-debian.html", "<h1>Welcome to nginx!</h1>\n");
        halo_.write("www/html/style.css", "body { color: black; }\n");
    }

    /// kDebianNginxConf with `user www-data;` when it can be used, minus `drop` lines.
    std::string conf(const std::vector<std::string_view>& drop = {}) const {
        std::string text(kDebianNginxConf);
        const bool www_data = geteuid() == 0 && run_command({"id", "-u", "www-data"}).status == 0;
        text.replace(text.find("%%USER%%"), 8, www_data ? "user www-data;\n" : "\n");
        for (std::string_view d : drop) {
            size_t pos = text.find(d);
            EXPECT_NE(pos, std::string::npos) << d;
            if (pos != std::string::npos) {
                text.replace(pos, d.size(), "# " + std::string(d));  // lines keep their numbers
            }
        }
        return text;
    }

    Halo halo_;
};

TEST_F(DebianNginxConfTest, AsShippedPassesTheTest) {
    // tcp_nopush and types_hash_max_size, once the two directives halo lacked, are known.
    halo_.write_conf(conf());
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_EQ(emerg_lines(r.err), std::vector<std::string>{}) << r;
}

TEST_F(DebianNginxConfTest, AsShippedTheSameFilesRunAndServe) {
    halo_.write_conf(conf());
    RunResult t = halo_.run({"-t"});
    ASSERT_EQ(t.status, 0) << t;
    // The file says nothing about daemon: the harness needs the master in the foreground.
    halo_.set_pid_path("logs/nginx.pid");
    ASSERT_TRUE(halo_.start({"-g", "daemon off;"}));

    HttpConnection c;
    ASSERT_TRUE(c.connect(halo_.port(0))) << c.error();
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    auto index = c.read_response();
    ASSERT_TRUE(index.has_value()) << c.error();
    EXPECT_EQ(index->status, 200);
    EXPECT_EQ(index->body, "<h1>Welcome to nginx!</h1>\n");
    EXPECT_EQ(index->header("Content-Type"), "text/html");

    ASSERT_TRUE(c.send("GET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    auto css = c.read_response();
    ASSERT_TRUE(css.has_value()) << c.error();
    EXPECT_EQ(css->status, 200);
    EXPECT_EQ(css->header("Content-Type"), "text/css");

    ASSERT_TRUE(c.send("GET /missing HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    auto missing = c.read_response();
    ASSERT_TRUE(missing.has_value()) << c.error();
    EXPECT_EQ(missing->status, 404);

    EXPECT_TRUE(wait_until([&] {
        return read_file(halo_.path("logs/access.log"))
                   .value_or("")
                   .find("\"GET /missing HTTP/1.1\" 404") != std::string::npos;
    })) << read_file(halo_.path("logs/access.log")).value_or("");
}

}  // namespace
}  // namespace halo_test
