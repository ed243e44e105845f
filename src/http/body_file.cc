// Request bodies in named temporary files: see body_file.h.
#include "http/body_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <random>

namespace http {

using core::ConfContext;
using core::Status;

Status set_client_body_temp_path(ConfContext& cf, HttpLocConf& conf) {
    if (conf.client_body_temp_path) {
        return cf.duplicate();
    }
    std::vector<int> levels;
    int digits = 0;
    for (size_t i = 1; i < cf.args().size(); i++) {
        auto n = core::parse_int(cf.arg(i));
        if (!n || *n == 0 || *n > 10) {
            return cf.error("\"client_body_temp_path\" directive invalid value");
        }
        levels.push_back(static_cast<int>(*n));
        digits += static_cast<int>(*n);
    }
    if (digits > 10) {  // the levels take their digits from a ten-digit name
        return cf.error("\"client_body_temp_path\" directive invalid value");
    }
    conf.client_body_temp_path = cf.full_path(cf.arg(0));
    conf.client_body_temp_levels = std::move(levels);
    return Status::ok();
}

Status set_client_body_in_file_only(ConfContext& cf, HttpLocConf& conf) {
    if (conf.client_body_in_file_only) {
        return cf.duplicate();
    }
    const std::string& v = cf.arg(0);
    if (v == "off") {
        conf.client_body_in_file_only = kBodyInFileOff;
    } else if (v == "on") {
        conf.client_body_in_file_only = kBodyInFileOn;
    } else if (v == "clean") {
        conf.client_body_in_file_only = kBodyInFileClean;
    } else {
        return cf.invalid_value(v, "it must be \"on\", \"clean\" or \"off\"");
    }
    return Status::ok();
}

std::string temp_file_name(const std::string& dir, const std::vector<int>& levels,
                           uint32_t number) {
    char digits[16];
    snprintf(digits, sizeof(digits), "%010u", number);
    std::string name = dir;
    size_t end = 10;  // the levels take the name's digits from its end
    for (int level : levels) {
        name += '/';
        name.append(digits + end - static_cast<size_t>(level), static_cast<size_t>(level));
        end -= static_cast<size_t>(level);
    }
    name += '/';
    name += digits;
    return name;
}

namespace {

/// Creates the level folders of `name` under `dir` (0700), as nginx's ngx_create_full_path.
bool make_level_dirs(const std::string& dir, const std::string& name) {
    for (size_t slash = name.find('/', dir.size() + 1); slash != std::string::npos;
         slash = name.find('/', slash + 1)) {
        std::string sub = name.substr(0, slash);
        if (mkdir(sub.c_str(), 0700) != 0 && errno != EEXIST) {
            return false;
        }
    }
    return true;
}

}  // namespace

bool wants_body_file(const Request& r) {
    if (*r.loc_conf<HttpLocConf>().client_body_in_file_only == kBodyInFileOff) {
        return false;
    }
    return r.chunked || r.find_header("Content-Length") != nullptr;
}

int create_body_file(const HttpLocConf& lc, bool keep_name, std::string& name) {
    // One counter per worker; another worker's file of the same number moves us on by a
    // random step (nginx shares the counter between workers).
    static uint32_t counter = 0;
    static std::minstd_rand step(static_cast<uint32_t>(getpid()));
    const std::string& dir = *lc.client_body_temp_path;
    const std::vector<int>& levels = *lc.client_body_temp_levels;
    for (int attempt = 0; attempt < 1000; attempt++) {
        counter++;
        name = temp_file_name(dir, levels, counter);
        int fd = ::open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0 && errno == ENOENT && !levels.empty()) {
            if (!make_level_dirs(dir, name)) {
                return -1;
            }
            fd = ::open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
        }
        if (fd >= 0) {
            if (!keep_name) {
                unlink(name.c_str());
            }
            return fd;
        }
        if (errno != EEXIST) {
            return -1;
        }
        counter += static_cast<uint32_t>(step() % 1000);
    }
    errno = EEXIST;
    return -1;
}

}  // namespace http
