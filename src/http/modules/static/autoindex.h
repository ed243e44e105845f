#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace mod::http_static {

/// One directory entry as autoindex lists it.
struct DirEntry {
    std::string name;
    bool dir = false;
    bool file = false;  // a regular file (else "other" in json and xml)
    time_t mtime = 0;
    uint64_t size = 0;
};

enum class AutoindexFormat { kHtml, kXml, kJson, kJsonp };

/// Reads `path` as nginx's autoindex does: names starting with '.' left out, entries stat()ed
/// (a dangling symlink lstat()ed, an unreadable one skipped), directories first, then by
/// name (byte order). False with errno set when the folder cannot be opened or read.
bool read_directory(const std::string& path, std::vector<DirEntry>& out);

/// nginx's html listing of `uri` (the decoded URI): 50-column names, "dd-Mon-yyyy hh:mm"
/// dates (`gmtoff` seconds added: autoindex_localtime), exact or human sizes. `utf8`: the
/// response's charset is utf-8 (names are measured in characters).
std::string autoindex_html(std::string_view uri, const std::vector<DirEntry>& entries,
                           bool exact_size, long gmtoff, bool utf8);
std::string autoindex_xml(const std::vector<DirEntry>& entries);
/// JSON; with a callback, nginx's JSONP wrapping.
std::string autoindex_json(const std::vector<DirEntry>& entries, std::string_view callback);
/// Whether a JSONP callback name is one nginx accepts (letters, digits, '_', '.'; 128 at most).
bool valid_callback(std::string_view name);

}  // namespace mod::http_static
