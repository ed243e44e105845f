// index, try_files and disable_symlinks, as nginx's index module and try_files phase:
// index names with variables, an absolute last name, try_files with "$uri/" (a directory),
// "=code", a named location or a URI with its own arguments last.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "http/error_log.h"
#include "http/modules/static/static_conf.h"

namespace mod::http_static {
namespace {

using core::ConfContext;
using core::Status;

/// nginx's ngx_http_index_error(): 403 for a path it may not search, else 404.
http::Flow index_error(http::Request& r, const std::string& path, int err) {
    if (err == EACCES) {
        http::log_error(r, core::LogLevel::kError, "\"%s\" is forbidden (%d: %s)", path.c_str(),
                        err, strerror(err));
        r.send_error(403);
        return http::Flow::kDone;
    }
    if (*r.loc_conf<http::HttpLocConf>().log_not_found) {
        http::log_error(r, core::LogLevel::kError, "\"%s\" is not found (%d: %s)", path.c_str(),
                        err, strerror(err));
    }
    r.send_error(404);
    return http::Flow::kDone;
}

/// Opens `path` only to learn whether it is there (the descriptor is closed).
OpenedFile probe(const http::Request& r, const StaticLocConf& c, const std::string& path) {
    OpenedFile f = open_file(r, c, path);
    if (f.fd >= 0) {
        ::close(f.fd);
        f.fd = -1;
    }
    return f;
}

}  // namespace

std::vector<IndexName> default_index() {
    return {IndexName{"index.html", nullptr}};
}

Status set_index(ConfContext& cf, StaticLocConf& conf) {
    if (conf.index) {
        return cf.duplicate();
    }
    conf.index.emplace();
    const auto& args = cf.args();
    for (size_t i = 0; i < args.size(); i++) {
        const std::string& name = args[i];
        if (name.empty()) {
            return cf.error("index \"" + name + "\" in \"index\" directive is invalid");
        }
        IndexName idx{name, nullptr};
        auto cv = std::make_shared<http::ComplexValue>();
        HALO_TRY(http::ComplexValue::parse(name, cf.node().where(), *cv));
        if (!cv->is_literal()) {
            http::register_complex_value(cf.cycle(), cv.get());
            idx.value = std::move(cv);
        }
        conf.index->push_back(std::move(idx));
    }
    return Status::ok();
}

Status set_try_files(ConfContext& cf, StaticLocConf& conf) {
    if (conf.try_files) {
        return cf.duplicate();
    }
    conf.try_files = std::make_shared<std::vector<TryFile>>();
    const auto& args = cf.args();
    for (size_t i = 0; i < args.size(); i++) {
        std::string text = args[i];
        TryFile tf;
        // A file argument ending in "/" names a directory: the slash goes, as in nginx.
        if (i + 1 < args.size() && text.size() > 1 && text.back() == '/') {
            tf.test_dir = true;
            text.pop_back();
        }
        tf.value = std::make_unique<http::ComplexValue>();
        HALO_TRY(http::ComplexValue::parse(text, cf.node().where(), *tf.value));
        http::register_complex_value(cf.cycle(), tf.value.get());
        conf.try_files->push_back(std::move(tf));
    }
    const std::string& last = args.back();
    if (last[0] == '=') {
        auto code = core::parse_int(std::string_view(last).substr(1));
        if (!code || *code < 100 || *code > 999) {
            return cf.error("invalid code \"" + last + "\"");
        }
    }
    return Status::ok();
}

Status set_disable_symlinks(ConfContext& cf, StaticLocConf& conf) {
    if (conf.disable_symlinks) {
        return cf.duplicate();
    }
    std::optional<Symlinks> mode;
    std::string mode_arg;
    for (const std::string& a : cf.args()) {
        if (a == "off" || a == "on" || a == "if_not_owner") {
            if (mode) {
                return cf.error("duplicate parameters \"" + mode_arg + " " + a + "\"");
            }
            mode = a == "off" ? Symlinks::kOff : a == "on" ? Symlinks::kOn : Symlinks::kIfNotOwner;
            mode_arg = a;
            continue;
        }
        if (a.rfind("from=", 0) == 0) {
            if (a.size() > 5) {
                // Usually "from=$document_root": the leading part of the path not checked.
                conf.symlinks_from = std::make_shared<http::ComplexValue>();
                HALO_TRY(
                    http::ComplexValue::parse(a.substr(5), cf.node().where(), *conf.symlinks_from));
                http::register_complex_value(cf.cycle(), conf.symlinks_from.get());
            }
            continue;
        }
        return cf.error("invalid parameter \"" + a + "\"");
    }
    if (!mode) {
        return cf.error(
            "\"disable_symlinks\" must have \"off\", \"on\" or \"if_not_owner\" parameter");
    }
    if (*mode == Symlinks::kOff && cf.args().size() > 1) {
        return cf.error("\"from=\" cannot be used with \"off\" parameter");
    }
    conf.disable_symlinks = mode;
    return Status::ok();
}

http::Flow try_files(http::Request& r, const StaticLocConf& c) {
    const auto& files = *c.try_files;
    for (size_t i = 0; i + 1 < files.size(); i++) {
        std::string candidate = files[i].value->eval(r);
        std::string mapped = map_path(r, c, candidate);
        if (mapped.empty()) {
            continue;
        }
        OpenedFile f = probe(r, c, mapped);
        if (f.err != 0) {
            if (f.err != ENOENT && f.err != ENOTDIR && f.err != ENAMETOOLONG) {
                http::log_error(r, core::LogLevel::kCrit, "%s \"%s\" failed (%d: %s)", f.failed,
                                mapped.c_str(), f.err, strerror(f.err));
            }
            continue;
        }
        if (S_ISDIR(f.st.st_mode) != files[i].test_dir) {
            continue;
        }
        // The static answer follows for this name: a directory named without its slash
        // gets nginx's 301 to the slash, one with it its index.
        r.uri = candidate;
        return http::Flow::kDeclined;
    }
    std::string last = files.back().value->eval(r);
    if (!last.empty() && last[0] == '=') {
        r.send_error(static_cast<int>(*core::parse_int(std::string_view(last).substr(1))));
        return http::Flow::kDone;
    }
    // As nginx (ngx_http_split_args): the arguments are those the URI names after "?", none
    // otherwise (`try_files $uri /index.php?$args;` keeps the request's).
    size_t q = last.find('?');
    std::string args = q == std::string::npos ? std::string() : last.substr(q + 1);
    return r.internal_redirect(last.substr(0, q), args);
}

http::Flow serve_index(http::Request& r, const StaticLocConf& c, const std::string& dir) {
    bool dir_tested = false;
    for (const IndexName& idx : *c.index) {
        std::string name = idx.value ? idx.value->eval(r) : idx.name;
        if (name.empty()) {
            continue;
        }
        if (name[0] == '/') {
            return r.internal_redirect(name, r.args);  // not looked for, as nginx
        }
        std::string path = dir + name;
        OpenedFile f = probe(r, c, path);
        if (f.err == 0) {
            return r.internal_redirect(r.uri + name, r.args);
        }
        if (f.err == ENOTDIR || f.err == ENAMETOOLONG || f.err == EACCES) {
            return index_error(r, path, f.err);
        }
        if (f.err != ENOENT) {
            http::log_error(r, core::LogLevel::kCrit, "%s \"%s\" failed (%d: %s)", f.failed,
                            path.c_str(), f.err, strerror(f.err));
            r.send_error(500);
            return http::Flow::kDone;
        }
        if (!dir_tested) {
            // Is the folder itself there? nginx asks once, after the first index is missing.
            OpenedFile d = probe(r, c, dir);
            if (d.err == ENOENT) {
                return index_error(r, path, ENOENT);
            }
            if (d.err != 0 && d.err != EACCES) {
                http::log_error(r, core::LogLevel::kCrit, "%s \"%s\" failed (%d: %s)", d.failed,
                                dir.c_str(), d.err, strerror(d.err));
                r.send_error(500);
                return http::Flow::kDone;
            }
            if (d.err == 0 && !S_ISDIR(d.st.st_mode)) {
                http::log_error(r, core::LogLevel::kAlert, "\"%s\" is not a directory",
                                dir.c_str());
                r.send_error(500);
                return http::Flow::kDone;
            }
            dir_tested = true;
        }
    }
    return http::Flow::kDeclined;
}

}  // namespace mod::http_static
