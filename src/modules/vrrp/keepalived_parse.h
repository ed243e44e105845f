#pragma once

// A reader for keepalived's configuration syntax, for `halo --import-keepalived`: one keyword
// and its words per line, blocks in `{ }` (the `{` on the keyword's line or on the next one,
// several statements on one line between braces), `!` and `#` comments (at the start of a
// word, outside quotes), double-quoted strings, and `include <glob>` resolved relative to the
// including file and expanded in place. A line prefixed with `@name` / `@^name` (keepalived's
// conditional configuration) is kept with its condition, for the importer to report.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace vrrp::keepalived {

/// One keepalived statement: its words (words[0] is the keyword), where it was written, and
/// its block when it has one.
struct KaNode {
    std::vector<std::string> words;
    std::shared_ptr<const std::string> file;
    int line = 0;
    bool block = false;
    std::vector<KaNode> children;
    std::string condition;  // "@high" when the line was conditional, else ""

    std::string_view keyword() const { return words.empty() ? std::string_view() : words[0]; }
    /// "file:line".
    std::string where() const;
};

/// A parsed keepalived file: the top-level statements, includes expanded. `notes` lists the
/// include patterns that matched no file ("file:line: ..."), which keepalived also ignores.
struct KaDocument {
    std::vector<KaNode> nodes;
    std::vector<std::string> notes;
};

/// Reads `path` (and its includes). Errors: the file cannot be read, unbalanced braces, an
/// unterminated quote, includes nested too deep; worded "file:line: ...".
core::Status parse_file(const std::string& path, KaDocument& doc);

/// Reads `text` named `name` in messages; relative includes resolve against `dir`.
core::Status parse_text(std::string_view text, const std::string& name, const std::string& dir,
                        KaDocument& doc);

}  // namespace vrrp::keepalived
