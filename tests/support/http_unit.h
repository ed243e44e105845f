#pragma once

// Header-only fixture for unit tests of http modules: a cycle loaded from inline config text
// in a temporary prefix (test_only: no sockets), requests served in this process over a
// socketpair, and the responses parsed. Only unit tests include this file.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "support/test_modules.h"

namespace support {

/// A parsed response (header names in lower case).
struct Response {
    int status = 0;
    std::map<std::string, std::string> headers;
    std::string body;
    std::string raw;

    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
    bool has_header(const std::string& name) const { return headers.count(name) != 0; }
};

inline Response parse_response(const std::string& raw) {
    Response r;
    r.raw = raw;
    size_t end = raw.find("\r\n\r\n");
    if (raw.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) {
        return r;
    }
    r.status = std::stoi(raw.substr(9, 3));
    size_t pos = raw.find("\r\n") + 2;
    while (pos < end) {
        size_t eol = raw.find("\r\n", pos);
        std::string line = raw.substr(pos, eol - pos);
        size_t colon = line.find(':');
        std::string name = line.substr(0, colon);
        for (char& c : name) {
            c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
        }
        size_t v = colon + 1;
        while (v < line.size() && line[v] == ' ') {
            v++;
        }
        r.headers[name] = line.substr(v);
        pos = eol + 2;
    }
    r.body = raw.substr(end + 4);
    return r;
}

/// Loads configs with every compiled-in module and serves requests from them.
class HttpUnitTest : public ::testing::Test {
  protected:
    HttpUnitTest() : registry_(core::compiled_modules()) {}

    core::Status load(std::string_view conf) {
        cycle_.reset();
        return load_cycle(registry_, dir_, conf, cycle_, nullptr, {}, true);
    }
    /// `directives` inside `http { server { ... } }` (they start on line 3).
    core::Status load_server(std::string_view directives) {
        return load("http {\n server {\n  listen 127.0.0.1:8080;\n" + std::string(directives) +
                    "\n }\n}\n");
    }
    /// Loads `directives` as a server; a failure fails the test.
    void serve(std::string_view directives) {
        core::Status s = load_server(directives);
        ASSERT_TRUE(s.is_ok()) << s.message();
    }
    std::string error(std::string_view conf) {
        core::Status s = load(conf);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << conf;
        return s.message();
    }
    std::string server_error(std::string_view directives) {
        core::Status s = load_server(directives);
        EXPECT_FALSE(s.is_ok()) << "loaded: " << directives;
        return s.message();
    }
    /// " in <prefix>/halo.conf:<line>", the tail of every config error.
    std::string at(int line) const {
        return " in " + dir_.file("halo.conf") + ":" + std::to_string(line);
    }

    /// One request (`target` as sent, Host `host`, extra `headers` lines ending in CRLF).
    Response get(std::string_view target, std::string_view headers = {},
                 std::string_view host = "a", std::string_view method = "GET") {
        std::string req = std::string(method) + " " + std::string(target) +
                          " HTTP/1.1\r\nHost: " + std::string(host) + "\r\nConnection: close\r\n" +
                          std::string(headers) + "\r\n";
        return parse_response(cycle_ ? http_exchange(*cycle_, req) : "<no cycle>");
    }
    /// The body of GET `target`.
    std::string body(std::string_view target, std::string_view headers = {}) {
        return get(target, headers).body;
    }

    TempDir dir_;
    core::ModuleRegistry registry_;
    std::unique_ptr<core::Cycle> cycle_;
};

}  // namespace support
