#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace core {

/// One directive of a parsed config: its words (args[0] is the name), where it was written,
/// and its block body when it has one. `$variables` and regexes are kept as written text.
struct ConfNode {
    std::vector<std::string> args;
    std::shared_ptr<const std::string> file;
    int line = 0;
    bool block = false;
    std::vector<ConfNode> children;

    std::string_view name() const { return args.empty() ? std::string_view() : args[0]; }
    /// "file:line", as printed in every config error.
    std::string where() const;
};

/// A whole config: the main-level directives (includes already expanded in place) and the
/// text of every file that was read, in order, for `halo -T`.
struct ConfDocument {
    std::vector<ConfNode> directives;
    struct File {
        std::string path;
        std::string text;
    };
    std::vector<File> files;
};

/// Reads nginx's config grammar: words separated by blanks, directives ended by `;`, blocks
/// in `{ }`, `#` comments, single or double quotes with `\"` `\'` `\\` `\t` `\r` `\n` escapes,
/// `${name}` kept whole, and `include <glob>` (relative to the main config's folder) in any
/// context. Errors are worded as nginx's: `unexpected "}" in /etc/halo/halo.conf:12`.
class ConfParser {
  public:
    /// `conf_dir` anchors relative include paths.
    explicit ConfParser(std::string conf_dir) : conf_dir_(std::move(conf_dir)) {}

    /// Appends the directives of `path` to `doc`.
    Status parse_file(const std::string& path, ConfDocument& doc);
    /// Appends the directives of `text` (named `name` in errors, e.g. "command line").
    Status parse_text(std::string_view text, const std::string& name, ConfDocument& doc);

  private:
    Status parse_into(std::string_view text, const std::shared_ptr<const std::string>& name,
                      std::vector<ConfNode>& out, ConfDocument& doc, int depth);
    Status expand_include(const ConfNode& node, std::vector<ConfNode>& out, ConfDocument& doc,
                          int depth);

    std::string conf_dir_;
};

/// Reads a whole file; false with `error` set (nginx wording) when it cannot.
bool read_file(const std::string& path, std::string& out, std::string* error);

}  // namespace core
