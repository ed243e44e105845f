#pragma once

// JSON string escaping (RFC 8259 §7), one rule for every JSON halo writes: the status page,
// access logs with `escape=json`, `autoindex_format json`.

#include <string>
#include <string_view>

namespace core {

/// Appends `s` escaped for the inside of a JSON string as nginx's ngx_escape_json does: `"` and
/// `\` get a backslash; \n, \r, \t, \b and \f their short forms; other control characters
/// `\u00XX`. Other bytes (DEL and UTF-8 included) are copied as they are.
void append_json_escaped(std::string& out, std::string_view s);

/// Appends `s` as a quoted JSON string.
void append_json_string(std::string& out, std::string_view s);

}  // namespace core
