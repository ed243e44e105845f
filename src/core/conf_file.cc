#include "core/conf_file.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "core/log.h"

namespace core {
namespace {

/// Cursor over one file's text; produces the words of one directive at a time.
class Tokenizer {
  public:
    enum class Stop { kSemicolon, kBlockStart, kBlockEnd, kEof };

    Tokenizer(std::string_view text, std::shared_ptr<const std::string> name)
        : text_(text), name_(std::move(name)) {}

    /// Reads words up to the next `;`, `{`, `}` or the end of the text.
    Status next(std::vector<std::string>& words, int& first_line, Stop& stop) {
        words.clear();
        first_line = 0;
        for (;;) {
            skip_blanks_and_comments();
            if (pos_ >= text_.size()) {
                stop = Stop::kEof;
                return Status::ok();
            }
            char c = text_[pos_];
            if (c == ';' || c == '{' || c == '}') {
                pos_++;
                stop = c == ';' ? Stop::kSemicolon : c == '{' ? Stop::kBlockStart : Stop::kBlockEnd;
                return Status::ok();
            }
            if (words.empty()) {
                first_line = line_;
            }
            std::string word;
            HALO_TRY(c == '"' || c == '\'' ? quoted(word) : unquoted(word));
            words.push_back(std::move(word));
        }
    }

    int line() const { return line_; }
    Status error(const std::string& what) const {
        return Status::error(what + " in " + *name_ + ":" + std::to_string(line_));
    }

  private:
    void skip_blanks_and_comments() {
        while (pos_ < text_.size()) {
            char c = text_[pos_];
            if (c == '\n') {
                line_++;
                pos_++;
            } else if (c == ' ' || c == '\t' || c == '\r') {
                pos_++;
            } else if (c == '#') {
                while (pos_ < text_.size() && text_[pos_] != '\n') {
                    pos_++;
                }
            } else {
                return;
            }
        }
    }

    /// Appends the meaning of `\x` to `word`: quotes, backslash and \t \r \n are decoded,
    /// anything else keeps its backslash (regexes such as `\.` stay intact).
    static void unescape(char x, std::string& word) {
        switch (x) {
            case '"':
            case '\'':
            case '\\':
                word += x;
                break;
            case 't':
                word += '\t';
                break;
            case 'r':
                word += '\r';
                break;
            case 'n':
                word += '\n';
                break;
            default:
                word += '\\';
                word += x;
        }
    }

    Status quoted(std::string& word) {
        char quote = text_[pos_++];
        while (pos_ < text_.size()) {
            char c = text_[pos_++];
            if (c == quote) {
                if (pos_ < text_.size()) {
                    char n = text_[pos_];
                    // ')' may follow: `if ($a = "b")` (the ')' is a word of its own, as nginx)
                    if (n != ' ' && n != '\t' && n != '\r' && n != '\n' && n != ';' && n != '{' &&
                        n != '}' && n != ')') {
                        return error(format("unexpected \"%c\"", n));
                    }
                }
                return Status::ok();
            }
            if (c == '\n') {
                line_++;
            }
            if (c == '\\' && pos_ < text_.size()) {
                char x = text_[pos_++];
                if (x == '\n') {
                    line_++;
                }
                unescape(x, word);
                continue;
            }
            word += c;
        }
        return error("unexpected end of file, expecting terminating quote");
    }

    Status unquoted(std::string& word) {
        while (pos_ < text_.size()) {
            char c = text_[pos_];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '{' ||
                c == '}') {
                return Status::ok();
            }
            pos_++;
            if (c == '\\' && pos_ < text_.size() && text_[pos_] != '\n') {
                unescape(text_[pos_++], word);
                continue;
            }
            if (c == '$' && pos_ < text_.size() && text_[pos_] == '{') {
                size_t close = text_.find('}', pos_);
                if (close == std::string_view::npos) {
                    return error("the closing bracket in variable is missing");
                }
                word += '$';
                word.append(text_.substr(pos_, close + 1 - pos_));
                pos_ = close + 1;
                continue;
            }
            word += c;
        }
        return Status::ok();
    }

    std::string_view text_;
    std::shared_ptr<const std::string> name_;
    size_t pos_ = 0;
    int line_ = 1;
};

bool has_glob_chars(const std::string& s) {
    return s.find_first_of("*?[") != std::string::npos;
}

const char* file_kind(mode_t mode) {
    if (S_ISCHR(mode)) {
        return "a character device";
    }
    if (S_ISBLK(mode)) {
        return "a block device";
    }
    if (S_ISFIFO(mode)) {
        return "a fifo";
    }
    if (S_ISSOCK(mode)) {
        return "a socket";
    }
    return "not a regular file";
}

/// Appends what `fd` holds, at most `max` bytes (one more is read to tell a larger file).
/// False with errno set on a read error; `over` when the file has more than `max` bytes.
bool read_fd(int fd, size_t max, std::string& out, bool& over) {
    out.clear();
    over = false;
    char buf[16384];
    for (;;) {
        size_t want = std::min(sizeof(buf), max + 1 - out.size());
        ssize_t n = ::read(fd, buf, want);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return false;
        }
        if (n == 0) {
            return true;
        }
        out.append(buf, static_cast<size_t>(n));
        if (out.size() > max) {
            over = true;
            return true;
        }
    }
}

}  // namespace

std::string ConfNode::where() const {
    return (file ? *file : std::string("?")) + ":" + std::to_string(line);
}

bool read_file(const std::string& path, std::string& out, std::string* error) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        ::close(fd);
        fd = -1;
        errno = EISDIR;
    }
    if (fd < 0) {
        if (error) {
            int e = errno;
            *error = format("open() \"%s\" failed (%d: %s)", path.c_str(), e, strerror(e));
        }
        return false;
    }
    bool over = false;
    bool ok = read_fd(fd, SIZE_MAX - 1, out, over);
    int e = errno;
    ::close(fd);
    if (!ok && error) {
        *error = format("read() \"%s\" failed (%d: %s)", path.c_str(), e, strerror(e));
    }
    return ok;
}

bool read_regular_file(const std::string& path, size_t max_size, std::string& out,
                       std::string* error) {
    auto fail = [&](std::string what) {
        if (error) {
            *error = std::move(what);
        }
        return false;
    };
    // O_NONBLOCK: opening a fifo must not wait for a writer; no effect on a regular file.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return fail(format("open() \"%s\" failed (%d: %s)", path.c_str(), e, strerror(e)));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        return fail(format("fstat() \"%s\" failed (%d: %s)", path.c_str(), e, strerror(e)));
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        return fail(
            format("open() \"%s\" failed (%d: %s)", path.c_str(), EISDIR, strerror(EISDIR)));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return fail(
            format("\"%s\" is not a regular file (%s)", path.c_str(), file_kind(st.st_mode)));
    }
    bool over = static_cast<uint64_t>(st.st_size) > max_size;
    bool ok = over || read_fd(fd, max_size, out, over);
    int e = errno;
    ::close(fd);
    if (!ok) {
        return fail(format("read() \"%s\" failed (%d: %s)", path.c_str(), e, strerror(e)));
    }
    if (over) {
        out.clear();
        return fail(format("\"%s\" is too large (more than %s)", path.c_str(),
                           size_text(max_size).c_str()));
    }
    return true;
}

std::string size_text(uint64_t bytes) {
    static constexpr struct {
        uint64_t scale;
        char unit;
    } kUnits[] = {{1024ull * 1024 * 1024, 'g'}, {1024 * 1024, 'm'}, {1024, 'k'}};
    for (const auto& u : kUnits) {
        if (bytes != 0 && bytes % u.scale == 0) {
            return std::to_string(bytes / u.scale) + u.unit;
        }
    }
    return std::to_string(bytes);
}

Status ConfParser::read(const std::string& path, std::string& out) {
    std::string err;
    if (!read_regular_file(path, limits_.max_file_size, out, &err)) {
        return Status::error(err);
    }
    total_size_ += out.size();
    if (total_size_ > limits_.max_total_size) {
        return Status::error(format("the configuration files are too large in total (more than %s)",
                                    size_text(limits_.max_total_size).c_str()));
    }
    return Status::ok();
}

Status ConfParser::parse_file(const std::string& path, ConfDocument& doc) {
    std::string text;
    HALO_TRY(read(path, text));
    doc.files.push_back({path, text});
    auto name = std::make_shared<const std::string>(path);
    return parse_into(text, name, doc.directives, doc, 0, 0);
}

Status ConfParser::parse_text(std::string_view text, const std::string& name, ConfDocument& doc) {
    auto shared = std::make_shared<const std::string>(name);
    std::string copy(text);
    return parse_into(copy, shared, doc.directives, doc, 0, 0);
}

Status ConfParser::parse_into(std::string_view text, const std::shared_ptr<const std::string>& name,
                              std::vector<ConfNode>& out, ConfDocument& doc, int include_depth,
                              int block_depth) {
    Tokenizer tok(text, name);
    // Stack of open blocks; the bottom is the file's top level.
    std::vector<std::vector<ConfNode>*> stack{&out};
    // The directive that opened each block of the stack above the top level ("server" at
    // line 4), named when the file ends before its "}".
    std::vector<std::pair<std::string, int>> opened;
    std::vector<std::string> words;
    int line = 0;
    Tokenizer::Stop stop = Tokenizer::Stop::kEof;
    for (;;) {
        HALO_TRY(tok.next(words, line, stop));
        switch (stop) {
            case Tokenizer::Stop::kSemicolon: {
                if (words.empty()) {
                    return tok.error("unexpected \";\"");
                }
                ConfNode node{std::move(words), name, line, false, {}};
                if (node.name() == "include") {
                    HALO_TRY(expand_include(node, *stack.back(), doc, include_depth,
                                            block_depth + static_cast<int>(stack.size()) - 1));
                } else {
                    stack.back()->push_back(std::move(node));
                }
                break;
            }
            case Tokenizer::Stop::kBlockStart: {
                if (words.empty()) {
                    return tok.error("unexpected \"{\"");
                }
                // The tree is walked recursively (the conf setters, the location tree, the
                // destructor): its depth must stay far from what a stack can hold.
                if (block_depth + static_cast<int>(stack.size()) > limits_.max_block_depth) {
                    return tok.error(
                        format("too deeply nested blocks (more than %d)", limits_.max_block_depth));
                }
                opened.emplace_back(words[0], line);
                stack.back()->push_back(ConfNode{std::move(words), name, line, true, {}});
                stack.push_back(&stack.back()->back().children);
                break;
            }
            case Tokenizer::Stop::kBlockEnd:
                if (!words.empty() || stack.size() == 1) {
                    return tok.error("unexpected \"}\"");
                }
                stack.pop_back();
                opened.pop_back();
                break;
            case Tokenizer::Stop::kEof:
                if (!words.empty()) {
                    return tok.error("unexpected end of file, expecting \";\" or \"}\"");
                }
                if (stack.size() > 1) {
                    // nginx's message (naming the end of the file), then where the block that
                    // is not closed was opened.
                    return Status::error(
                        tok.error("unexpected end of file, expecting \"}\"").message() +
                        format(" (the \"%s\" block opened in %s:%d is not closed)",
                               opened.back().first.c_str(), name->c_str(), opened.back().second));
                }
                return Status::ok();
        }
    }
}

Status ConfParser::expand_include(const ConfNode& node, std::vector<ConfNode>& out,
                                  ConfDocument& doc, int include_depth, int block_depth) {
    if (node.args.size() != 2) {
        return Status::error("invalid number of arguments in \"include\" directive in " +
                             node.where());
    }
    if (include_depth >= limits_.max_include_depth) {
        return Status::error("too many nested includes (" +
                             std::to_string(limits_.max_include_depth) + ") in " + node.where());
    }
    std::string pattern = node.args[1];
    if (pattern.empty()) {
        return Status::error("invalid value \"\" in \"include\" directive in " + node.where());
    }
    if (pattern[0] != '/') {
        pattern = conf_dir_ + "/" + pattern;
    }
    std::vector<std::string> paths;
    if (has_glob_chars(pattern)) {
        glob_t g{};
        // Unreadable or missing folders match nothing, as in nginx (modules-enabled/*.conf).
        int rc = glob(pattern.c_str(), 0, nullptr, &g);
        if (rc != 0 && rc != GLOB_NOMATCH && rc != GLOB_ABORTED) {
            globfree(&g);
            return Status::error(format("glob() \"%s\" failed in ", pattern.c_str()) +
                                 node.where());
        }
        for (size_t i = 0; i < g.gl_pathc; i++) {
            paths.emplace_back(g.gl_pathv[i]);  // glob(3) sorts them
        }
        globfree(&g);
    } else {
        paths.push_back(pattern);
    }
    for (const auto& path : paths) {
        if (++included_files_ > limits_.max_included_files) {
            return Status::error(
                format("too many included files (more than %zu) in ", limits_.max_included_files) +
                node.where());
        }
        std::string text;
        Status s = read(path, text);
        if (!s.is_ok()) {
            return Status::error(s.message() + " in " + node.where());
        }
        doc.files.push_back({path, std::move(text)});
        // Keep a stable copy: doc.files may reallocate while nested includes are read.
        auto body = std::make_shared<const std::string>(doc.files.back().text);
        auto name = std::make_shared<const std::string>(path);
        HALO_TRY(parse_into(*body, name, out, doc, include_depth + 1, block_depth));
    }
    return Status::ok();
}

}  // namespace core
