// Request bodies in files through the real binary, proxied to a test backend, as nginx:
// client_body_in_file_only on (the file left behind, 0600, named by $request_body_file),
// clean (removed once the request is done), off (in memory up to client_body_buffer_size,
// else an unlinked file); client_body_temp_path levels; an empty body still gets its file, a
// request without one none; $request_body with client_body_in_single_buffer on and off.
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/backend.h"
#include "support/harness.h"

namespace halo_test {
namespace {

class BodyFileTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_proxy") || !halo_has_module("http_log")) {
            GTEST_SKIP() << "the http_proxy or http_log module is not compiled in";
        }
        // The backend answers with what it got, and whether the file named in X-Body-File
        // held the body while the request was being served.
        backend_.set_handler([this](BackendConn& c, const BackendRequest& req) {
            std::string file;
            auto it = req.headers.find("x-body-file");
            if (it != req.headers.end() && !it->second.empty()) {
                file = read_file(it->second).value_or("<missing>");
            }
            {
                std::lock_guard<std::mutex> lock(mu_);
                file_during_request_ = file;
            }
            c.send(Backend::ok_response("body=" + req.body + " cl=" +
                                        (req.headers.count("content-length")
                                             ? req.headers.at("content-length")
                                             : std::string("-"))));
        });
        halo_.write_conf(
            "daemon off;\nworker_processes 1;\nerror_log logs/error.log info;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            " log_format b '$uri file=\"$request_body_file\" body=\"$request_body\"';\n"
            " access_log logs/body.log b;\n"
            " client_body_temp_path body 1 2;\n"
            " client_body_buffer_size 1k;\n"
            " proxy_set_header X-Body-File $request_body_file;\n"
            " server { listen 127.0.0.1:%%PORT_0%%;\n"
            "  location /on { client_body_in_file_only on; proxy_pass http://" +
            backend_.address() +
            "; }\n"
            "  location /clean { client_body_in_file_only clean; proxy_pass http://" +
            backend_.address() +
            "; }\n"
            "  location /off { proxy_pass http://" +
            backend_.address() +
            "; }\n"
            "  location /single { client_body_in_single_buffer on; proxy_pass http://" +
            backend_.address() +
            "; }\n"
            "  location /stream { client_body_in_file_only on; proxy_request_buffering off;\n"
            "   proxy_pass http://" +
            backend_.address() +
            "; }\n"
            " }\n}\n");
        ASSERT_TRUE(halo_.start());
        ASSERT_EQ(halo_.wait_workers(1).size(), 1u);
    }

    HttpResponse post(std::string_view path, std::string_view body, std::string_view framing = {}) {
        std::string raw =
            "POST " + std::string(path) + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n";
        raw += framing.empty() ? "Content-Length: " + std::to_string(body.size()) + "\r\n"
                               : std::string(framing);
        raw += "\r\n" + std::string(body);
        HttpConnection c;
        EXPECT_TRUE(c.connect(halo_.port(0))) << c.error();
        EXPECT_TRUE(c.send(raw)) << c.error();
        auto r = c.read_response();
        EXPECT_TRUE(r) << c.error();
        return r.value_or(HttpResponse{});
    }
    std::string file_during_request() {
        std::lock_guard<std::mutex> lock(mu_);
        return file_during_request_;
    }
    /// The access log line of `uri` (waits for it).
    std::string log_line(std::string_view uri) {
        std::string found;
        wait_until([&] {
            std::istringstream in(read_file(halo_.path("logs/body.log")).value_or(""));
            for (std::string line; std::getline(in, line);) {
                if (line.rfind(std::string(uri) + " ", 0) == 0) {
                    found = line;
                    return true;
                }
            }
            return false;
        });
        return found;
    }
    /// The file named in `line` (file="...").
    static std::string file_of(const std::string& line) {
        std::smatch m;
        static const std::regex kFile("file=\"([^\"]*)\"");
        return std::regex_search(line, m, kFile) ? m[1].str() : "";
    }

    Backend backend_{"b"};
    Halo halo_;
    std::mutex mu_;
    std::string file_during_request_;
};

TEST_F(BodyFileTest, OnKeepsTheFileNamedByRequestBodyFile) {
    HttpResponse r = post("/on", "hello");
    EXPECT_EQ(r.body, "body=hello cl=5");
    EXPECT_EQ(file_during_request(), "hello");
    std::string line = log_line("/on");
    std::string file = file_of(line);
    // nginx's names: ten digits under one folder per level, from the name's last digits.
    EXPECT_TRUE(std::regex_match(
        file, std::regex(halo_.path("body") + "/([0-9])/([0-9]{2})/[0-9]{7}\\2\\1")))
        << line;
    EXPECT_NE(line.find("body=\"-\""), std::string::npos)
        << "a body in a file is not in $request_body";
    EXPECT_EQ(read_file(file).value_or("<missing>"), "hello");
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    if (geteuid() == 0) {
        EXPECT_NE(st.st_uid, 0u) << "the file is not the worker user's";
    }
    // nginx: a notice (not the warning of a large body) naming the file.
    auto said = log_lines_with(halo_.error_log(),
                               "a client request body is buffered to a temporary file " + file);
    ASSERT_EQ(said.size(), 1u) << halo_.error_log();
    EXPECT_NE(said[0].find("[notice] "), std::string::npos) << said[0];
}

TEST_F(BodyFileTest, CleanRemovesTheFileAfterTheRequest) {
    HttpResponse r = post("/clean", "tidy");
    EXPECT_EQ(r.body, "body=tidy cl=4");
    EXPECT_EQ(file_during_request(), "tidy") << "the file was not there during the request";
    std::string file = file_of(log_line("/clean"));
    ASSERT_FALSE(file.empty());
    EXPECT_TRUE(wait_until([&] { return !file_exists(file); })) << file << " left behind";
}

TEST_F(BodyFileTest, ChunkedBodyInAFile) {
    HttpResponse r = post("/on", "6\r\nchunky\r\n0\r\n\r\n", "Transfer-Encoding: chunked\r\n");
    EXPECT_EQ(r.body, "body=chunky cl=6");
    EXPECT_EQ(read_file(file_of(log_line("/on"))).value_or("<missing>"), "chunky");
}

TEST_F(BodyFileTest, EmptyBodyGetsAnEmptyFileNoBodyNone) {
    HttpResponse r = post("/on", "");
    EXPECT_EQ(r.body.substr(0, 6), "body= ");  // (halo passes no "Content-Length: 0" on)
    std::string file = file_of(log_line("/on"));
    ASSERT_FALSE(file.empty()) << "Content-Length: 0 with client_body_in_file_only: no file";
    EXPECT_EQ(read_file(file).value_or("<missing>"), "");
    auto g = http_get(halo_.port(0), "/on?get", "h");
    ASSERT_TRUE(g);
    EXPECT_EQ(g->body, "body= cl=-");
    EXPECT_EQ(file_during_request(), "");
}

TEST_F(BodyFileTest, OffSmallBodyInMemoryLargeInAnUnlinkedFile) {
    HttpResponse r = post("/off", "small");
    EXPECT_EQ(r.body, "body=small cl=5");
    std::string line = log_line("/off");
    EXPECT_NE(line.find("file=\"-\" body=\"small\""), std::string::npos) << line;
    std::string big(3000, 'x');
    r = post("/off?big", big);
    EXPECT_EQ(r.body, "body=" + big + " cl=3000");
    EXPECT_EQ(file_during_request(), "<missing>") << "the temporary file was not unlinked";
    // The line is written after the response: wait for it.
    std::string want = "/off file=\"" + halo_.path("body") + "/";
    EXPECT_TRUE(wait_until([&] {
        return read_file(halo_.path("logs/body.log")).value_or("").find(want) != std::string::npos;
    })) << read_file(halo_.path("logs/body.log")).value_or("");
    auto said = log_lines_with(halo_.error_log(), "a client request body is buffered");
    ASSERT_EQ(said.size(), 1u) << halo_.error_log();
    EXPECT_NE(said[0].find("[warn] "), std::string::npos) << said[0];
}

TEST_F(BodyFileTest, RequestBodyWithSingleBufferOnAndOff) {
    post("/single", "one");
    post("/off?two", "two");
    EXPECT_NE(log_line("/single").find("file=\"-\" body=\"one\""), std::string::npos);
    EXPECT_TRUE(wait_until([&] {
        return read_file(halo_.path("logs/body.log"))
                   .value_or("")
                   .find("/off file=\"-\" body=\"two\"") != std::string::npos;
    })) << read_file(halo_.path("logs/body.log")).value_or("");
}

TEST_F(BodyFileTest, StreamedBodyHasNoFile) {
    // proxy_request_buffering off: the body goes to the upstream as it comes, never to a file
    // (nginx ignores client_body_in_file_only there too).
    HttpResponse r = post("/stream", "flow");
    EXPECT_EQ(r.body, "body=flow cl=4");
    EXPECT_EQ(file_of(log_line("/stream")), "-");
}

}  // namespace
}  // namespace halo_test
