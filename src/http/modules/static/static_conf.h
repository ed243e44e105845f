#pragma once

// The static module's location conf and the pieces its files share: static_module.cc (the
// directives of root, alias, types..., the file answer), index_try.cc (index, try_files,
// disable_symlinks) and symlinks.cc (opening without following links).
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/conf_context.h"
#include "core/module.h"
#include "http/http.h"
#include "http/modules/static/autoindex.h"
#include "http/modules/static/symlinks.h"
#include "http/variables.h"

namespace mod::http_static {

using TypesMap = std::unordered_map<std::string, std::string>;

/// One name of `index`: a literal, or a value with variables. A name starting with "/" (only
/// the last may) is an internal redirect made without looking for the file.
struct IndexName {
    std::string name;
    std::shared_ptr<http::ComplexValue> value;  // nullptr: the name is literal
};

/// One argument of `try_files`; `test_dir` when it ended in "/" (nginx strips the slash and
/// looks for a directory).
struct TryFile {
    std::unique_ptr<http::ComplexValue> value;
    bool test_dir = false;
};

struct StaticLocConf : core::ConfBase {
    std::optional<std::string> root;   // absolute after the setter
    std::optional<std::string> alias;  // replaces the location prefix
    std::string alias_prefix;          // name of the location that declared the alias
    std::string alias_where;           // file:line of the alias directive
    // root or alias with $variables: evaluated per request (a relative result is taken from
    // `prefix`); shared with the levels that inherit it.
    std::shared_ptr<http::ComplexValue> path_value;
    std::string prefix;
    bool whole_alias = false;  // alias in a regex location: the value is the whole path
    std::optional<std::vector<IndexName>> index;
    // Shared with the levels that inherit it: the values are bound once, by address.
    std::shared_ptr<std::vector<TryFile>> try_files;
    std::shared_ptr<const TypesMap> types;
    std::optional<bool> sendfile;
    std::optional<bool> etag;
    std::optional<int> gzip_static;                     // off
    std::optional<bool> autoindex;                      // off
    std::optional<AutoindexFormat> autoindex_format;    // html
    std::optional<bool> autoindex_exact_size;           // on
    std::optional<bool> autoindex_localtime;            // off
    std::optional<Symlinks> disable_symlinks;           // off
    std::shared_ptr<http::ComplexValue> symlinks_from;  // from=, inherited with the mode
};

// ---- static_module.cc ----

/// The inheritance of the conf (found by core::conf_hooks).
core::Status merge(const StaticLocConf& parent, StaticLocConf& child);

/// The file system path of `uri` under the location's root or alias ("" when none).
std::string map_path(const http::Request& r, const StaticLocConf& c, std::string_view uri);
/// Answers with the file `path` (301 for a directory, 403/404/500 when it cannot be opened).
http::Flow serve_file(http::Request& r, const StaticLocConf& c, const std::string& path,
                      const std::string* type_path = nullptr, bool vary = false);
/// Opens `path` as the location says: disable_symlinks, else through open_file_cache.
OpenedFile open_file(const http::Request& r, const StaticLocConf& c, const std::string& path);

// ---- index_try.cc ----

core::Status set_index(core::ConfContext& cf, StaticLocConf& conf);
core::Status set_try_files(core::ConfContext& cf, StaticLocConf& conf);
core::Status set_disable_symlinks(core::ConfContext& cf, StaticLocConf& conf);
/// The default `index index.html;`.
std::vector<IndexName> default_index();
/// try_files: kDeclined when a file or directory matched (r.uri is now its name: the static
/// answer follows), else the answer (status, or internal redirect to the last argument).
http::Flow try_files(http::Request& r, const StaticLocConf& c);
/// index for a URI ending in "/" whose folder is `dir` (the mapped path, with its slash):
/// an internal redirect to the first index found, an error answer, or kDeclined when none.
http::Flow serve_index(http::Request& r, const StaticLocConf& c, const std::string& dir);

}  // namespace mod::http_static
