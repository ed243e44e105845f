#pragma once

#include <cstddef>
#include <cstdint>
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

/// What a config may take, so that no config can exhaust the process that reads it (or the code
/// that walks the tree recursively afterwards: the block nesting bounds its stack depth).
struct ConfLimits {
    int max_block_depth = 100;                 // blocks inside blocks, across includes
    int max_include_depth = 32;                // includes inside included files
    size_t max_file_size = 8 * 1024 * 1024;    // bytes of one file
    size_t max_total_size = 32 * 1024 * 1024;  // bytes of all the files of one config
    size_t max_included_files = 4096;          // files read by `include`, all together
};

/// Reads nginx's config grammar: words separated by blanks, directives ended by `;`, blocks
/// in `{ }`, `#` comments, single or double quotes with `\"` `\'` `\\` `\t` `\r` `\n` escapes,
/// `${name}` kept whole, and `include <glob>` (relative to the main config's folder) in any
/// context. Errors are worded as nginx's: `unexpected "}" in /etc/halo/halo.conf:12`. Only
/// regular files are read (a device, fifo or folder is refused), within `ConfLimits`.
class ConfParser {
  public:
    /// `conf_dir` anchors relative include paths.
    explicit ConfParser(std::string conf_dir, ConfLimits limits = {})
        : conf_dir_(std::move(conf_dir)), limits_(limits) {}

    /// Appends the directives of `path` to `doc`.
    Status parse_file(const std::string& path, ConfDocument& doc);
    /// Appends the directives of `text` (named `name` in errors, e.g. "command line").
    Status parse_text(std::string_view text, const std::string& name, ConfDocument& doc);

  private:
    /// `include_depth`: includes around this text; `block_depth`: blocks around it.
    Status parse_into(std::string_view text, const std::shared_ptr<const std::string>& name,
                      std::vector<ConfNode>& out, ConfDocument& doc, int include_depth,
                      int block_depth);
    Status expand_include(const ConfNode& node, std::vector<ConfNode>& out, ConfDocument& doc,
                          int include_depth, int block_depth);
    /// Reads a config file within the limits (the size of one file and of all of them).
    Status read(const std::string& path, std::string& out);

    std::string conf_dir_;
    ConfLimits limits_;
    size_t total_size_ = 0;      // bytes read so far, all files
    size_t included_files_ = 0;  // files read by include so far
};

/// Reads a whole file; false with `error` set (nginx wording) when it cannot.
bool read_file(const std::string& path, std::string& out, std::string* error);

/// Reads a whole regular file of at most `max_size` bytes; false with `error` set when it
/// cannot, is not a regular file (a device such as /dev/zero, a fifo, a folder) or is larger.
/// Never blocks on a fifo.
bool read_regular_file(const std::string& path, size_t max_size, std::string& out,
                       std::string* error);

/// `1024` → "1k", `8388608` → "8m": a byte count as a config would write it (the largest
/// unit that divides it).
std::string size_text(uint64_t bytes);

}  // namespace core
