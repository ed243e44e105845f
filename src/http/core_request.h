#pragma once
// The request-level directives of the http core module that live apart from
// http_core_module.cc: log_not_found, internal, recursive_error_pages, server_tokens, the
// header parsing flags, max_ranges, if_modified_since, open_file_cache and the directives halo
// accepts only in the form that matches what it does (aio off, postpone_output 0...), and
// limit_rate / limit_rate_after (the pacing itself is http/pacer.cc). The http core
// module appends kRequestDirectives to its own table.
#include <sys/stat.h>

#include <chrono>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/conf_context.h"
#include "core/module.h"
#include "core/named.h"
#include "http/http.h"

namespace http {

core::Status set_internal(core::ConfContext& cf, HttpLocConf& conf);
core::Status set_max_ranges(core::ConfContext& cf, HttpLocConf& conf);
core::Status set_open_file_cache(core::ConfContext& cf, HttpLocConf& conf);
/// The directives halo takes only in their "disabled" form (the form it acts as): any other
/// value is refused saying so.
core::Status set_off_only(core::ConfContext& cf, HttpLocConf& conf);
core::Status set_output_buffers(core::ConfContext& cf, HttpLocConf& conf);
/// limit_rate and limit_rate_after: a size, or a value with variables (nginx 1.17.0).
core::Status set_limit_rate(core::ConfContext& cf, HttpLocConf& conf);

/// Fills the request-level fields of `child` (defaults live here), from HttpLocConf's merge.
core::Status merge_request(const HttpLocConf& parent, HttpLocConf& child);
core::Status merge_request(const HttpSrvConf& parent, HttpSrvConf& child);

// The words of server_tokens (nginx: a string with variables is part of its commercial
// subscription only) and if_modified_since.
inline constexpr core::Named<int> kServerTokensNames[] = {
    {"on", kServerTokensOn}, {"off", kServerTokensOff}, {"build", kServerTokensBuild}};
inline constexpr char kServerTokensDetail[] = "it must be \"on\", \"off\" or \"build\"";
inline constexpr core::Named<int> kIfModifiedSinceNames[] = {
    {"off", kImsOff}, {"exact", kImsExact}, {"before", kImsBefore}};
inline constexpr char kIfModifiedSinceDetail[] = "it must be \"off\", \"exact\" or \"before\"";

inline constexpr core::Directive kRequestDirectives[] = {
    {"server_tokens", core::kCtxHttpAll, core::kArgs1,
     core::enum_slot<&HttpLocConf::server_tokens, kServerTokensNames, kServerTokensDetail>()},
    {"log_not_found", core::kCtxHttpAll, core::kArgs1, core::slot<&HttpLocConf::log_not_found>()},
    {"log_subrequest", core::kCtxHttpAll, core::kArgs1, core::slot<&HttpLocConf::log_subrequest>()},
    {"internal", core::kCtxLocation, core::kArgs0, core::setter<&set_internal>()},
    {"recursive_error_pages", core::kCtxHttpAll, core::kArgs1,
     core::slot<&HttpLocConf::recursive_error_pages>()},
    {"merge_slashes", core::kCtxHttpSrv, core::kArgs1, core::slot<&HttpSrvConf::merge_slashes>()},
    {"underscores_in_headers", core::kCtxHttpSrv, core::kArgs1,
     core::slot<&HttpSrvConf::underscores_in_headers>()},
    {"ignore_invalid_headers", core::kCtxHttpSrv, core::kArgs1,
     core::slot<&HttpSrvConf::ignore_invalid_headers>()},
    {"max_ranges", core::kCtxHttpAll, core::kArgs1, core::setter<&set_max_ranges>()},
    {"if_modified_since", core::kCtxHttpAll, core::kArgs1,
     core::enum_slot<&HttpLocConf::if_modified_since, kIfModifiedSinceNames,
                     kIfModifiedSinceDetail>()},
    {"chunked_transfer_encoding", core::kCtxHttpAll, core::kArgs1,
     core::slot<&HttpLocConf::chunked_transfer_encoding>()},
    {"msie_padding", core::kCtxHttpAll, core::kArgs1, core::slot<&HttpLocConf::msie_padding>()},
    {"msie_refresh", core::kCtxHttpAll, core::kArgs1, core::slot<&HttpLocConf::msie_refresh>()},
    {"open_file_cache", core::kCtxHttpAll, core::Args{1, 2, false},
     core::setter<&set_open_file_cache>()},
    {"open_file_cache_valid", core::kCtxHttpAll, core::kArgs1,
     core::slot<&HttpLocConf::open_file_cache_valid>()},
    {"open_file_cache_min_uses", core::kCtxHttpAll, core::kArgs1,
     core::slot<&HttpLocConf::open_file_cache_min_uses, 1, INT32_MAX>()},
    {"open_file_cache_errors", core::kCtxHttpAll, core::kArgs1,
     core::slot<&HttpLocConf::open_file_cache_errors>()},
    {"client_body_in_single_buffer", core::kCtxHttpAll, core::kArgs1,
     core::slot<&HttpLocConf::client_body_in_single_buffer>()},
    {"aio", core::kCtxHttpAll, core::kArgs1, core::setter<&set_off_only>()},
    {"aio_write", core::kCtxHttpAll, core::kArgs1, core::setter<&set_off_only>()},
    {"directio", core::kCtxHttpAll, core::kArgs1, core::setter<&set_off_only>()},
    {"directio_alignment", core::kCtxHttpAll, core::kArgs1,
     core::slot<&HttpLocConf::directio_alignment>()},
    {"output_buffers", core::kCtxHttpAll, core::kArgs2, core::setter<&set_output_buffers>()},
    {"postpone_output", core::kCtxHttpAll, core::kArgs1, core::setter<&set_off_only>()},
    {"limit_rate", core::kCtxHttpAll | core::kCtxLocationIf, core::kArgs1,
     core::setter<&set_limit_rate>()},
    {"limit_rate_after", core::kCtxHttpAll | core::kCtxLocationIf, core::kArgs1,
     core::setter<&set_limit_rate>()},
};

/// One cached open file (open_file_cache): a descriptor of the file (the caller gets its own
/// dup) or the error its open() gave, and what fstat() said.
struct OpenFileResult {
    int fd = -1;  // the caller's own descriptor (close it), -1 on error
    int err = 0;  // errno of the failed open() or fstat()
    struct stat st {};
};

/// The per-worker cache of one `open_file_cache` directive (made in the master, filled in
/// each worker after the fork): open descriptors, fstat() results and, with
/// open_file_cache_errors, open() errors, by path; least recently used first out.
class OpenFileCache {
  public:
    OpenFileCache() = default;
    OpenFileCache(const OpenFileCache&) = delete;
    OpenFileCache& operator=(const OpenFileCache&) = delete;
    ~OpenFileCache();

    /// open() + fstat() of `path`, from the cache while the entry is valid
    /// (open_file_cache_valid of `lc`).
    OpenFileResult open(const std::string& path, const HttpLocConf& lc);

    size_t max = 0;                                                // max=
    std::chrono::milliseconds inactive{std::chrono::seconds(60)};  // inactive=

  private:
    struct Entry;
    OpenFileResult insert(const std::string& path, const HttpLocConf& lc,
                          std::chrono::steady_clock::time_point now, int uses);
    void drop(std::list<Entry>::iterator it);
    std::list<Entry> lru_;  // most recently used first
    std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

/// open() and fstat() of `path` for a static file, through the location's open_file_cache
/// when it has one (a per-worker cache, nginx's semantics: max/inactive, _valid, _min_uses,
/// _errors). Without it: a plain open() + fstat().
OpenFileResult open_static_file(const Request& r, const std::string& path);

/// msie_padding: whether an error page for `status` gets nginx's padding (an MSIE or Chrome
/// agent, status >= 400), and the padding.
bool wants_error_padding(const Request& r, int status);
std::string_view error_padding();
/// msie_refresh: for a 301/302 to an MSIE agent, the page that redirects by
/// `<meta http-equiv="Refresh">` instead (sent as 200 without Location); nullopt otherwise.
std::optional<std::string> msie_refresh_body(const Request& r, int status,
                                             std::string_view location);

}  // namespace http
