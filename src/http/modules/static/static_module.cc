// Static files, as nginx's static, index and try_files: root/alias mapping, index files by
// internal redirect, conditional requests (304), sendfile; byte ranges are the range filter's.
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/cycle.h"
#include "core/log.h"
#include "core/module.h"
#include "http/core_request.h"
#include "http/error_log.h"
#include "http/http.h"
#include "http/modules/static/autoindex.h"
#include "http/modules/static/static.h"
#include "http/modules/static/static_conf.h"
#include "http/session.h"

namespace mod::http_static {
namespace {

using core::ConfContext;
using core::Status;
std::shared_ptr<const TypesMap> builtin_types() {
    static const auto kTypes = std::make_shared<const TypesMap>(TypesMap{
        {"html", "text/html"},
        {"htm", "text/html"},
        {"gif", "image/gif"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"png", "image/png"},
        {"css", "text/css"},
        {"js", "application/javascript"},
        {"txt", "text/plain"},
    });
    return kTypes;
}

}  // namespace

// Found by conf_hooks through the conf's namespace (argument-dependent lookup).
Status merge(const StaticLocConf& parent, StaticLocConf& child) {
    if (!child.root && !child.alias) {
        child.root = parent.root;
        child.alias = parent.alias;
        child.alias_prefix = parent.alias_prefix;
        child.path_value = parent.path_value;
        child.prefix = parent.prefix;
    }
    core::inherit(child.index, parent.index, default_index());
    // try_files is not inherited (nginx: a server's applies where no location matched).
    if (!child.disable_symlinks) {
        child.disable_symlinks = parent.disable_symlinks.value_or(Symlinks::kOff);
        child.symlinks_from = parent.symlinks_from;
    }
    if (!child.types) {
        child.types = parent.types ? parent.types : builtin_types();
    }
    core::inherit(child.sendfile, parent.sendfile, false);
    core::inherit(child.etag, parent.etag, true);
    core::inherit(child.gzip_static, parent.gzip_static, 0);
    core::inherit(child.autoindex, parent.autoindex, false);
    core::inherit(child.autoindex_format, parent.autoindex_format, AutoindexFormat::kHtml);
    core::inherit(child.autoindex_exact_size, parent.autoindex_exact_size, true);
    core::inherit(child.autoindex_localtime, parent.autoindex_localtime, false);
    return Status::ok();
}

namespace {

/// A root or alias holding $variables becomes a value evaluated per request.
Status parse_path_value(ConfContext& cf, const std::string& path, StaticLocConf& conf) {
    auto cv = std::make_shared<http::ComplexValue>();
    HALO_TRY(http::ComplexValue::parse(path, cf.node().where(), *cv));
    if (cv->is_literal()) {
        return Status::ok();
    }
    http::register_complex_value(cf.cycle(), cv.get());
    conf.path_value = std::move(cv);
    conf.prefix = cf.full_path("x");  // the prefix folder, with its trailing slash
    conf.prefix.pop_back();
    return Status::ok();
}

Status set_root(ConfContext& cf, StaticLocConf& conf) {
    if (conf.root || conf.alias) {
        return cf.error(conf.alias ? "\"root\" directive is duplicate, \"alias\" directive was "
                                     "specified earlier"
                                   : "\"root\" directive is duplicate");
    }
    std::string path = cf.arg(0);
    while (path.size() > 1 && path.back() == '/') {
        path.pop_back();
    }
    HALO_TRY(parse_path_value(cf, path, conf));
    conf.root = conf.path_value ? path : cf.full_path(path);
    return Status::ok();
}

Status set_alias(ConfContext& cf, StaticLocConf& conf) {
    if (!(cf.context() & core::kCtxLocation)) {
        return cf.error("\"alias\" directive is not allowed here");
    }
    if (conf.root || conf.alias) {
        return cf.error(conf.root ? "\"alias\" directive is duplicate, \"root\" directive was "
                                    "specified earlier"
                                  : "\"alias\" directive is duplicate");
    }
    HALO_TRY(parse_path_value(cf, cf.arg(0), conf));
    conf.alias = conf.path_value ? cf.arg(0) : cf.full_path(cf.arg(0));
    conf.alias_where = cf.node().where();
    return Status::ok();
}

/// `types { text/html html htm; ... }`: the block's lines are data, not directives.
Status set_types(ConfContext& cf, StaticLocConf& conf) {
    if (conf.types) {
        return cf.duplicate();
    }
    auto map = std::make_shared<TypesMap>();
    for (const core::ConfNode& n : cf.node().children) {
        if (n.block || n.args.size() < 2) {
            return core::Status::error("invalid types line \"" + std::string(n.name()) + "\" in " +
                                       n.where());
        }
        for (size_t i = 1; i < n.args.size(); i++) {
            std::string ext = n.args[i];
            for (char& c : ext) {
                c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
            }
            (*map)[ext] = n.args[0];
        }
    }
    conf.types = std::move(map);
    return Status::ok();
}

constexpr uint32_t kHttpAll = core::kCtxHttpAll;

constexpr core::Named<AutoindexFormat> kFormats[] = {{"html", AutoindexFormat::kHtml},
                                                     {"xml", AutoindexFormat::kXml},
                                                     {"json", AutoindexFormat::kJson},
                                                     {"jsonp", AutoindexFormat::kJsonp}};

enum GzipStatic { kGzipStaticOff = 0, kGzipStaticOn = 1, kGzipStaticAlways = 2 };
constexpr core::Named<int> kGzipStatic[] = {
    {"off", kGzipStaticOff}, {"on", kGzipStaticOn}, {"always", kGzipStaticAlways}};

constexpr core::Directive kDirectives[] = {
    {"root", kHttpAll | core::kCtxLocationIf, core::kArgs1, core::setter<&set_root>()},
    {"alias", core::kCtxLocation, core::kArgs1, core::setter<&set_alias>()},
    {"index", kHttpAll, core::kArgs1ToN, core::setter<&set_index>()},
    {"try_files", core::kCtxServer | core::kCtxLocation, core::kArgs2ToN,
     core::setter<&set_try_files>()},
    {"disable_symlinks", kHttpAll, core::kArgs1To2, core::setter<&set_disable_symlinks>()},
    {"types", kHttpAll, core::kArgsBlock, core::setter<&set_types>()},
    {"sendfile", kHttpAll | core::kCtxLocationIf, core::kArgs1,
     core::slot<&StaticLocConf::sendfile>()},
    {"etag", kHttpAll, core::kArgs1, core::slot<&StaticLocConf::etag>()},
    {"gzip_static", kHttpAll, core::kArgs1,
     core::enum_slot<&StaticLocConf::gzip_static, kGzipStatic>()},
    {"autoindex", kHttpAll, core::kArgs1, core::slot<&StaticLocConf::autoindex>()},
    {"autoindex_format", kHttpAll, core::kArgs1,
     core::enum_slot<&StaticLocConf::autoindex_format, kFormats>()},
    {"autoindex_exact_size", kHttpAll, core::kArgs1,
     core::slot<&StaticLocConf::autoindex_exact_size>()},
    {"autoindex_localtime", kHttpAll, core::kArgs1,
     core::slot<&StaticLocConf::autoindex_localtime>()},
};

constexpr core::ConfHooks kConfs[] = {
    core::conf_hooks<StaticLocConf>(core::ConfLevel::kHttpLoc),
};

// ---- runtime ----

}  // namespace

std::string map_path(const http::Request& r, const StaticLocConf& c, std::string_view uri) {
    std::string base;
    if (c.path_value) {
        base = c.path_value->eval(r);
        if (base.empty() || base.find('\0') != std::string::npos) {
            return {};
        }
        if (base[0] != '/') {
            base.insert(0, c.prefix);
        }
        if (c.whole_alias) {
            return base;  // alias in a regex location: the captures place the file
        }
    }
    const std::string& root = c.path_value ? base : (c.root ? *c.root : base);
    if (c.alias) {
        const std::string& alias = c.path_value ? base : *c.alias;
        // Only a URI under the declaring location's prefix maps; anything else maps nowhere
        // (never to a path from the file system root).
        if (c.alias_prefix.empty() || uri.substr(0, c.alias_prefix.size()) != c.alias_prefix) {
            return {};
        }
        return alias + std::string(uri.substr(c.alias_prefix.size()));
    }
    return root + std::string(uri);
}

OpenedFile open_file(const http::Request& r, const StaticLocConf& c, const std::string& path) {
    Symlinks mode = *c.disable_symlinks;
    size_t skip = 0;
    if (mode != Symlinks::kOff && c.symlinks_from &&
        !symlinks_from(path, c.symlinks_from->eval(r), skip)) {
        mode = Symlinks::kOff;  // the path is the from= part itself
    }
    if (mode != Symlinks::kOff) {
        return open_no_symlinks(path, mode, skip);
    }
    // Through open_file_cache when the location has one.
    http::OpenFileResult o = http::open_static_file(r, path);
    OpenedFile f;
    f.fd = o.fd;
    f.err = o.err;
    f.st = o.st;
    f.failed = "open()";
    return f;
}

namespace {

std::string_view content_type(const http::Request& r, const StaticLocConf& c,
                              std::string_view path) {
    std::string ext = extension_of(path);
    if (!ext.empty()) {
        auto it = c.types->find(ext);
        if (it != c.types->end()) {
            return it->second;
        }
    }
    return *r.loc_conf<http::HttpLocConf>().default_type;
}

/// HttpMainConf::type_of: the `types` entry for the extension of `path`, or "".
std::string_view type_of(const http::Request& r, std::string_view path) {
    const auto& c = r.loc_conf<StaticLocConf>();
    std::string ext = extension_of(path);
    if (!ext.empty()) {
        auto it = c.types->find(ext);
        if (it != c.types->end()) {
            return it->second;
        }
    }
    return {};
}

http::Flow fail(http::Request& r, int status, const std::string& path, int err,
                const char* failed = "open()") {
    if (status != 404 || *r.loc_conf<http::HttpLocConf>().log_not_found) {
        http::log_error(r, status == 500 ? core::LogLevel::kCrit : core::LogLevel::kError,
                        "%s \"%s\" failed (%d: %s)", failed, path.c_str(), err, strerror(err));
    }
    r.send_error(status);
    return http::Flow::kDone;
}

bool file_exists(const std::string& path, bool want_dir) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

bool gzip_static(http::Request& r, const StaticLocConf& c, const std::string& path,
                 http::Flow& flow, bool& vary);

}  // namespace

/// `type_path` names the Content-Type (the original file for a gzip_static ".gz", which adds
/// Content-Encoding: gzip).
http::Flow serve_file(http::Request& r, const StaticLocConf& c, const std::string& path,
                      const std::string* type_path, bool vary) {
    if (http::Flow f;
        type_path == nullptr && r.method != "POST" && gzip_static(r, c, path, f, vary)) {
        return f;
    }
    OpenedFile opened = open_file(r, c, path);
    int fd = opened.fd;
    if (fd < 0) {
        int e = opened.err;
        return fail(r,
                    e == EACCES || e == ELOOP                            ? 403
                    : (e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG) ? 404
                                                                         : 500,
                    path, e, opened.failed);
    }
    const struct stat& st = opened.st;
    const auto& lc = r.loc_conf<http::HttpLocConf>();
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        std::string location = http::escape_uri(r.uri) + "/";
        if (!r.args.empty()) {
            location += "?";
            location += r.args;
        }
        r.send_error(301, location);
        return http::Flow::kDone;
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return fail(r, 404, path, ENOENT);
    }
    if (r.method == "POST") {
        ::close(fd);  // nginx: a POST finds the file, then is not allowed
        r.send_error(405);
        return http::Flow::kDone;
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    std::string etag = make_etag(st.st_mtime, size);
    std::string last_modified = http::format_http_date(st.st_mtime);
    // nginx sends Last-Modified only with 200, 206 and 304: not when the file is an error
    // page answering with the error's status.
    if (r.error_status <= 0 || r.error_status == 200) {
        r.out_headers.emplace_back("Last-Modified", last_modified);
    }
    if (vary) {
        r.out_headers.emplace_back("Vary", "Accept-Encoding");  // where nginx writes it
    }
    if (*c.etag) {
        r.out_headers.emplace_back("ETag", etag);
    }
    std::string_view type = content_type(r, c, type_path != nullptr ? *type_path : path);

    // Conditional requests (RFC 9110 §13.2.2): If-None-Match wins over If-Modified-Since.
    const http::Header* inm = r.find_header("If-None-Match");
    const http::Header* ims = r.find_header("If-Modified-Since");
    bool not_modified = false;
    if (r.error_status > 0 && r.error_status != 200) {
        // an error page: nginx's not-modified filter looks at 200 answers only
    } else if (inm != nullptr) {
        // With If-None-Match, If-Modified-Since is ignored (RFC 9110 §13.1.3).
        not_modified = *c.etag && etag_matches(inm->value, etag);
    } else if (ims != nullptr) {
        auto t = http::parse_http_date(ims->value);
        not_modified = t && (*lc.if_modified_since == http::kImsExact    ? *t == st.st_mtime
                             : *lc.if_modified_since == http::kImsBefore ? st.st_mtime <= *t
                                                                         : false);
    }
    if (not_modified) {
        ::close(fd);
        r.send(304, {}, {});
        return http::Flow::kDone;
    }

    if (type_path != nullptr) {
        // nginx 1.22's gzip_static: no ranges on the .gz (and none of this on a 304).
        r.out_headers.emplace_back("Content-Encoding", "gzip");
        r.send_file(200, type, fd, 0, size, *c.sendfile);
        return http::Flow::kDone;
    }
    r.allow_ranges = true;  // the range filter cuts the 200 to Range
    r.send_file(200, type, fd, 0, size, *c.sendfile);
    return http::Flow::kDone;
}

namespace {

/// nginx's gzip_static: "<file>.gz" answers for "<file>" when the client takes gzip (`on`,
/// the gzip module's client checks) or always. True when it answered (`flow` set).
bool gzip_static(http::Request& r, const StaticLocConf& c, const std::string& path,
                 http::Flow& flow, bool& vary_out) {
    if (*c.gzip_static == kGzipStaticOff || r.uri.empty() || r.uri.back() == '/') {
        return false;
    }
    bool ok = true;
    bool vary = false;
    if (*c.gzip_static == kGzipStaticOn) {
        auto check = r.session->port().main().gzip_ok;
        ok = check != nullptr && check(r, vary);
    }
    if (!ok && !vary) {
        return false;
    }
    std::string gz = path + ".gz";
    struct stat st;
    if (stat(gz.c_str(), &st) != 0) {
        int e = errno;
        if (e != ENOENT && e != ENOTDIR && e != ENAMETOOLONG) {
            core::log_conn(
                e == EACCES || e == ELOOP ? core::LogLevel::kError : core::LogLevel::kCrit,
                r.connection_id, "stat() \"%s\" failed (%d: %s)", gz.c_str(), e, strerror(e));
        }
        return false;
    }
    vary_out = *c.gzip_static == kGzipStaticOn && vary;
    if (!ok || S_ISDIR(st.st_mode)) {
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        core::log_conn(core::LogLevel::kError, r.connection_id, "\"%s\" is not a regular file",
                       gz.c_str());
        r.send_error(404);
        flow = http::Flow::kDone;
        return true;
    }
    flow = serve_file(r, c, gz, &path, vary_out);
    return true;
}

/// nginx's autoindex: the listing of a folder without an index file, sent chunked.
http::Flow serve_autoindex(http::Request& r, const StaticLocConf& c, const std::string& path) {
    AutoindexFormat format = *c.autoindex_format;
    std::string callback;
    if (format == AutoindexFormat::kJsonp) {
        for (std::string_view args = r.args; !args.empty();) {
            std::string_view pair = args.substr(0, args.find('&'));
            if (pair.substr(0, 9) == "callback=") {
                callback = std::string(pair.substr(9));
                break;
            }
            args = pair.size() < args.size() ? args.substr(pair.size() + 1) : std::string_view();
        }
        if (!valid_callback(callback)) {
            core::log_conn(core::LogLevel::kInfo, r.connection_id,
                           "client sent invalid callback name: \"%s\"", callback.c_str());
            r.send_error(400);
            return http::Flow::kDone;
        }
        if (callback.empty()) {
            format = AutoindexFormat::kJson;
        }
    }
    std::string dir =
        path.size() > 1 && path.back() == '/' ? path.substr(0, path.size() - 1) : path;
    std::vector<DirEntry> entries;
    if (!read_directory(dir, entries)) {
        int e = errno;
        core::log_conn(e == ENOENT || e == ENOTDIR || e == EACCES ? core::LogLevel::kError
                                                                  : core::LogLevel::kCrit,
                       r.connection_id, "opendir() \"%s\" failed (%d: %s)", dir.c_str(), e,
                       strerror(e));
        r.send_error(e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG ? 404
                     : e == EACCES                                    ? 403
                                                                      : 500);
        return http::Flow::kDone;
    }
    const char* type = format == AutoindexFormat::kJson    ? "application/json"
                       : format == AutoindexFormat::kJsonp ? "application/javascript"
                       : format == AutoindexFormat::kXml   ? "text/xml; charset=utf-8"
                                                           : "text/html";
    r.send_head(200, type, std::nullopt);
    std::string body;
    if (!r.out.header_only) {
        if (format == AutoindexFormat::kHtml) {
            long gmtoff = 0;
            if (*c.autoindex_localtime) {
                time_t now = time(nullptr);
                struct tm tm;
                localtime_r(&now, &tm);
                gmtoff = tm.tm_gmtoff;
            }
            std::string_view ct = r.out.content_type;
            size_t cs = ct.find("charset=");
            bool utf8 = cs != std::string_view::npos && ct.size() - cs - 8 == 5 &&
                        strncasecmp(ct.data() + cs + 8, "utf-8", 5) == 0;
            body = autoindex_html(r.uri, entries, *c.autoindex_exact_size, gmtoff, utf8);
        } else if (format == AutoindexFormat::kXml) {
            body = autoindex_xml(entries);
        } else {
            body = autoindex_json(entries, callback);
        }
    }
    http::BodyChunk chunk;
    chunk.data = body;
    chunk.last = true;
    r.send_body(chunk);
    return http::Flow::kDone;
}

/// nginx's try_files phase: after access, before the content handler (static or a
/// location's own, as proxy_pass), whatever the method (a POST may go to @app).
http::Flow try_files_handler(http::Request& r) {
    const auto& c = r.loc_conf<StaticLocConf>();
    return c.try_files ? try_files(r, c) : http::Flow::kDeclined;
}

http::Flow static_handler(http::Request& r) {
    const auto& c = r.loc_conf<StaticLocConf>();
    if (r.method != "GET" && r.method != "HEAD" && r.method != "POST") {
        r.send_error(405);
        return http::Flow::kDone;
    }
    std::string path = map_path(r, c, r.uri);
    if (path.empty()) {
        r.send_error(404);
        return http::Flow::kDone;
    }
    if (!r.uri.empty() && r.uri.back() == '/') {
        if (http::Flow f = serve_index(r, c, path); f != http::Flow::kDeclined) {
            return f;
        }
        if (*c.autoindex && r.method != "POST" && file_exists(path, true)) {
            return serve_autoindex(r, c, path);
        }
        if (file_exists(path, true)) {
            http::log_error(r, core::LogLevel::kError, "directory index of \"%s\" is forbidden",
                            path.c_str());
            r.send_error(403);
        } else {
            if (*r.loc_conf<http::HttpLocConf>().log_not_found) {
                http::log_error(r, core::LogLevel::kError, "\"%s\" is not found (%d: %s)",
                                path.c_str(), ENOENT, strerror(ENOENT));
            }
            r.send_error(404);
        }
        return http::Flow::kDone;
    }
    return serve_file(r, c, path);
}

// ---- $document_root, $realpath_root, $request_filename ----

/// The root or alias of the request's location, evaluated (a relative one from the prefix).
std::string document_root(const http::Request& r) {
    const auto& c = r.loc_conf<StaticLocConf>();
    if (c.path_value) {
        std::string base = c.path_value->eval(r);
        if (!base.empty() && base[0] != '/') {
            base.insert(0, c.prefix);
        }
        return base;
    }
    return c.alias ? *c.alias : c.root.value_or("");
}

bool get_document_root(const http::Request& r, std::string_view, std::string& out) {
    out += document_root(r);
    return true;
}

bool get_realpath_root(const http::Request& r, std::string_view, std::string& out) {
    char* real = realpath(document_root(r).c_str(), nullptr);
    if (real == nullptr) {
        return false;
    }
    out += real;
    free(real);
    return true;
}

bool get_request_filename(const http::Request& r, std::string_view, std::string& out) {
    std::string path = map_path(r, r.loc_conf<StaticLocConf>(), r.uri);
    out += path;
    return !path.empty();
}

Status postconfiguration(core::Cycle& cycle) {
    http::HttpMainConf* main = http::http_main(cycle);
    if (main == nullptr) {
        return Status::ok();
    }
    std::string html = cycle.full_path("html");
    http::for_each_location_confs(*main, [&](core::ConfVector& confs) {
        auto& c = core::conf_of<StaticLocConf>(confs);
        if (!c.root && !c.alias) {
            c.root = html;
        }
    });
    // Where each alias was declared: nested locations inherit the prefix it replaces. An
    // alias in a regex location names the whole path with captures; in a named one it has no
    // prefix to replace and is refused.
    struct Walk {
        Status run(const std::vector<std::unique_ptr<http::LocationBlock>>& locs,
                   const StaticLocConf* parent) {
            for (const auto& loc : locs) {
                auto& c = core::conf_of<StaticLocConf>(loc->loc_confs);
                // An alias this location did not declare itself (no alias_where) is its parent's.
                bool inherited = c.alias && c.alias_where.empty() && parent != nullptr &&
                                 parent->alias && c.alias_prefix.empty() &&
                                 !parent->alias_prefix.empty();
                if (inherited) {
                    c.alias_prefix = parent->alias_prefix;
                    c.whole_alias = parent->whole_alias;
                } else if (c.alias) {
                    if (loc->match == http::LocationMatch::kNamed) {
                        return Status::error(
                            "the \"alias\" directive cannot be used inside the named location in " +
                            c.alias_where);
                    }
                    if (loc->match == http::LocationMatch::kRegex) {
                        // As nginx: the alias names the whole file through the captures.
                        if (!c.path_value) {
                            return Status::error(
                                "the \"alias\" directive in a regex location must refer to its "
                                "captures ($1...) in " +
                                c.alias_where);
                        }
                        c.whole_alias = true;
                    }
                    c.alias_prefix = loc->name;
                }
                HALO_TRY(run(loc->children, &c));
            }
            return Status::ok();
        }
    } walk;
    for (auto& srv : main->servers) {
        HALO_TRY(walk.run(srv->locations, nullptr));
    }
    http::add_phase_handler(cycle, http::Phase::kTryFiles, &try_files_handler);
    http::add_phase_handler(cycle, http::Phase::kContent, &static_handler);
    main->type_of = &type_of;
    http::add_variable(cycle, {"document_root", &get_document_root});
    http::add_variable(cycle, {"realpath_root", &get_realpath_root});
    http::add_variable(cycle, {"request_filename", &get_request_filename});
    return Status::ok();
}

}  // namespace

extern const core::Module kModule{
    .name = "http_static",
    .type = core::ModuleType::kHttp,
    .directives = kDirectives,
    .confs = kConfs,
    .postconfiguration = &postconfiguration,
};

}  // namespace mod::http_static
