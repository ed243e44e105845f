// Directory listings with nginx's autoindex output, byte for byte (html, xml, json, jsonp).
#include "http/modules/static/autoindex.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/json.h"
#include "http/http.h"

namespace mod::http_static {
namespace {

constexpr size_t kNameColumns = 50;  // nginx's NGX_HTTP_AUTOINDEX_NAME_LEN

std::string escape_html(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '&':
                out += "&amp;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

/// What nginx escapes in a URI component (its NGX_ESCAPE_URI_COMPONENT table).
bool escape_component(unsigned char c) {
    if (c < 0x20 || c >= 0x7f) {
        return true;
    }
    static constexpr std::string_view kEscaped = " \"#$%&+,/:;<=>?@[\\]^`{|}";
    return kEscaped.find(static_cast<char>(c)) != std::string_view::npos;
}

/// One UTF-8 character at `s[i]`: its length in bytes, 0 when invalid (nginx's decoder).
size_t utf8_char(std::string_view s, size_t i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
        return 1;
    }
    size_t len;
    uint32_t u;
    if (c >= 0xf0) {
        u = c & 0x07;
        len = 4;
    } else if (c >= 0xe0) {
        u = c & 0x0f;
        len = 3;
    } else if (c >= 0xc2) {
        u = c & 0x1f;
        len = 2;
    } else {
        return 0;
    }
    if (i + len > s.size()) {
        return 0;
    }
    for (size_t k = 1; k < len; k++) {
        auto b = static_cast<unsigned char>(s[i + k]);
        if (b < 0x80 || b > 0xbf) {
            return 0;
        }
        u = (u << 6) | (b & 0x3f);
    }
    uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    return u < min || u > 0x10ffff ? 0 : len;
}

/// Characters in `s`, or its byte length when it is not valid UTF-8 (nginx's ngx_utf8_length).
size_t utf8_length(std::string_view s) {
    size_t n = 0;
    for (size_t i = 0; i < s.size(); n++) {
        size_t l = utf8_char(s, i);
        if (l == 0) {
            return s.size();
        }
        i += l;
    }
    return n;
}

/// The first `chars` characters of `s` (stopping at an invalid sequence, as nginx does).
std::string_view utf8_prefix(std::string_view s, size_t chars) {
    size_t i = 0;
    for (size_t n = 0; n < chars && i < s.size(); n++) {
        size_t l = utf8_char(s, i);
        if (l == 0) {
            break;
        }
        i += l;
    }
    return s.substr(0, i);
}

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::string human_size(uint64_t length) {
    char buf[32];
    uint64_t size;
    char scale = 0;
    if (length > 1024ull * 1024 * 1024 - 1) {
        size = length / (1024ull * 1024 * 1024);
        size += length % (1024ull * 1024 * 1024) > 1024ull * 1024 * 1024 / 2 - 1 ? 1 : 0;
        scale = 'G';
    } else if (length > 1024 * 1024 - 1) {
        size = length / (1024 * 1024);
        size += length % (1024 * 1024) > 1024 * 1024 / 2 - 1 ? 1 : 0;
        scale = 'M';
    } else if (length > 9999) {
        size = length / 1024;
        size += length % 1024 > 511 ? 1 : 0;
        scale = 'K';
    } else {
        size = length;
    }
    if (scale != 0) {
        snprintf(buf, sizeof(buf), "%6llu%c", static_cast<unsigned long long>(size), scale);
    } else {
        snprintf(buf, sizeof(buf), " %6llu", static_cast<unsigned long long>(size));
    }
    return buf;
}

}  // namespace

bool read_directory(const std::string& path, std::vector<DirEntry>& out) {
    DIR* d = opendir(path.c_str());
    if (d == nullptr) {
        return false;
    }
    errno = 0;
    while (struct dirent* de = readdir(d)) {
        if (de->d_name[0] == '.') {
            continue;
        }
        std::string full = path + "/" + de->d_name;
        struct stat st;
        if (stat(full.c_str(), &st) != 0) {
            if ((errno != ENOENT && errno != ELOOP) || lstat(full.c_str(), &st) != 0) {
                errno = 0;
                continue;
            }
        }
        DirEntry e;
        e.name = de->d_name;
        e.dir = S_ISDIR(st.st_mode);
        e.file = S_ISREG(st.st_mode);
        e.mtime = st.st_mtime;
        e.size = static_cast<uint64_t>(st.st_size);
        out.push_back(std::move(e));
        errno = 0;
    }
    int err = errno;
    closedir(d);
    if (err != 0) {
        errno = err;
        return false;
    }
    std::sort(out.begin(), out.end(), [](const DirEntry& a, const DirEntry& b) {
        if (a.dir != b.dir) {
            return a.dir;
        }
        return strcmp(a.name.c_str(), b.name.c_str()) < 0;
    });
    return true;
}

std::string autoindex_html(std::string_view uri, const std::vector<DirEntry>& entries,
                           bool exact_size, long gmtoff, bool utf8) {
    std::string title = escape_html(uri);
    std::string b = "<html>\r\n<head><title>Index of " + title +
                    "</title></head>\r\n<body>\r\n<h1>Index of " + title +
                    "</h1><hr><pre><a href=\"../\">../</a>\r\n";
    for (const DirEntry& e : entries) {
        b += "<a href=\"";
        b += http::escape_bytes(e.name, "%", &escape_component);
        if (e.dir) {
            b += '/';
        }
        b += "\">";
        size_t len = utf8 ? utf8_length(e.name) : e.name.size();
        std::string shown;
        if (len != e.name.size()) {
            shown = escape_html(utf8_prefix(e.name, len > kNameColumns ? kNameColumns - 3 : len));
        } else {
            shown = escape_html(
                std::string_view(e.name).substr(0, len > kNameColumns ? kNameColumns - 3 : len));
        }
        b += shown;
        if (len > kNameColumns) {
            b += "..&gt;</a>";
        } else {
            if (e.dir && len < kNameColumns) {
                b += '/';
                len++;
            }
            b += "</a>";
            b.append(kNameColumns - len, ' ');
        }
        b += ' ';
        time_t t = e.mtime + gmtoff;
        struct tm tm;
        gmtime_r(&t, &tm);
        char date[64];
        snprintf(date, sizeof(date), "%02d-%s-%d %02d:%02d ", tm.tm_mday, kMonths[tm.tm_mon],
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
        b += date;
        if (exact_size) {
            if (e.dir) {
                b += "                  -";
            } else {
                char size[32];
                snprintf(size, sizeof(size), "%19llu", static_cast<unsigned long long>(e.size));
                b += size;
            }
        } else {
            b += e.dir ? std::string("      -") : human_size(e.size);
        }
        b += "\r\n";
    }
    b += "</pre><hr></body>\r\n</html>\r\n";
    return b;
}

std::string autoindex_xml(const std::vector<DirEntry>& entries) {
    std::string b = "<?xml version=\"1.0\"?>\r\n<list>\r\n";
    for (const DirEntry& e : entries) {
        const char* type = e.dir ? "directory" : e.file ? "file" : "other";
        struct tm tm;
        gmtime_r(&e.mtime, &tm);
        char head[128];
        snprintf(head, sizeof(head), "<%s mtime=\"%4d-%02d-%02dT%02d:%02d:%02dZ\"", type,
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        b += head;
        if (e.file) {
            b += " size=\"" + std::to_string(e.size) + "\"";
        }
        b += ">";
        b += escape_html(e.name);
        b += "</";
        b += type;
        b += ">\r\n";
    }
    b += "</list>\r\n";
    return b;
}

std::string autoindex_json(const std::vector<DirEntry>& entries, std::string_view callback) {
    std::string b;
    if (!callback.empty()) {
        b += "/* callback */\r\n";
        b += callback;
        b += '(';
    }
    b += '[';
    for (size_t i = 0; i < entries.size(); i++) {
        const DirEntry& e = entries[i];
        b += "\r\n{ \"name\":\"";
        core::append_json_escaped(b, e.name);
        b += "\", \"type\":\"";
        b += e.dir ? "directory" : e.file ? "file" : "other";
        b += "\", \"mtime\":\"" + http::format_http_date(e.mtime);
        if (e.file) {
            b += "\", \"size\":" + std::to_string(e.size);
        } else {
            b += '"';
        }
        b += i + 1 < entries.size() ? " }," : " }";
    }
    b += "\r\n]";
    if (!callback.empty()) {
        b += ");";
    }
    return b;
}

bool valid_callback(std::string_view name) {
    if (name.size() > 128) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char ch) {
        return isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.';
    });
}

}  // namespace mod::http_static
