// keepalived's configuration syntax (see keepalived_parse.h): a line tokenizer, then blocks.
#include "modules/vrrp/keepalived_parse.h"

#include <glob.h>

#include "core/conf_file.h"

namespace vrrp::keepalived {

using core::Status;

std::string KaNode::where() const {
    return (file ? *file : std::string("?")) + ":" + std::to_string(line);
}

namespace {

constexpr int kMaxIncludeDepth = 16;

enum class Tok : uint8_t { kWord, kOpen, kClose, kEnd };

struct Token {
    Tok kind = Tok::kWord;
    std::string text;
    int line = 0;
    bool quoted = false;
    bool first_on_line = false;
};

bool blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/// Splits `text` into words, braces and line ends. Comments start with `!` or `#` at the start
/// of a word; a double-quoted string is one word (`\"` and `\\` inside it are unescaped).
Status tokenize(std::string_view text, const std::string& name, std::vector<Token>& out) {
    int line = 1;
    bool first = true;
    size_t i = 0;
    while (i < text.size()) {
        char c = text[i];
        if (c == '\n') {
            out.push_back({Tok::kEnd, "", line, false, false});
            line++;
            first = true;
            i++;
            continue;
        }
        if (blank(c)) {
            i++;
            continue;
        }
        if (c == '!' || c == '#') {
            while (i < text.size() && text[i] != '\n') {
                i++;
            }
            continue;
        }
        if (c == '{' || c == '}') {
            out.push_back(
                {c == '{' ? Tok::kOpen : Tok::kClose, std::string(1, c), line, false, first});
            first = false;
            i++;
            continue;
        }
        Token t{Tok::kWord, "", line, false, first};
        first = false;
        if (c == '"') {
            t.quoted = true;
            i++;
            bool closed = false;
            while (i < text.size() && text[i] != '\n') {
                if (text[i] == '\\' && i + 1 < text.size() &&
                    (text[i + 1] == '"' || text[i + 1] == '\\')) {
                    t.text += text[i + 1];
                    i += 2;
                    continue;
                }
                if (text[i] == '"') {
                    closed = true;
                    i++;
                    break;
                }
                t.text += text[i++];
            }
            if (!closed) {
                return Status::error(name + ":" + std::to_string(line) +
                                     ": unterminated quoted string");
            }
        } else {
            while (i < text.size() && !blank(text[i]) && text[i] != '\n' && text[i] != '{' &&
                   text[i] != '}') {
                t.text += text[i++];
            }
        }
        out.push_back(std::move(t));
    }
    out.push_back({Tok::kEnd, "", line, false, false});
    return Status::ok();
}

std::string dir_of(const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) {
        return ".";
    }
    return slash == 0 ? "/" : path.substr(0, slash);
}

class Parser {
  public:
    Parser(KaDocument& doc, int depth) : doc_(doc), depth_(depth) {}

    Status run(std::string_view text, const std::string& name, const std::string& dir,
               std::vector<KaNode>& out) {
        name_ = std::make_shared<const std::string>(name);
        dir_ = dir;
        HALO_TRY(tokenize(text, name, toks_));
        return block(out, 0);
    }

  private:
    Status error(int line, const std::string& what) const {
        return Status::error(*name_ + ":" + std::to_string(line) + ": " + what);
    }

    /// Statements until the end of the text (`opener` == 0) or the `}` closing the block
    /// opened at line `opener`.
    Status block(std::vector<KaNode>& out, int opener) {
        while (true) {
            const Token& t = toks_[pos_];
            if (t.kind == Tok::kEnd) {
                if (pos_ + 1 == toks_.size()) {
                    if (opener != 0) {
                        return error(t.line, "unexpected end of file, the \"{\" of line " +
                                                 std::to_string(opener) + " is not closed");
                    }
                    return Status::ok();
                }
                pos_++;
                continue;
            }
            if (t.kind == Tok::kClose) {
                if (opener == 0) {
                    return error(t.line, "unexpected \"}\"");
                }
                pos_++;
                return Status::ok();
            }
            if (t.kind == Tok::kOpen) {
                // keepalived accepts the `{` of a block on the line after its keyword.
                if (!t.first_on_line || out.empty() || out.back().block) {
                    return error(t.line, "unexpected \"{\"");
                }
                pos_++;
                out.back().block = true;
                HALO_TRY(block(out.back().children, t.line));
                continue;
            }
            HALO_TRY(statement(out));
        }
    }

    Status statement(std::vector<KaNode>& out) {
        KaNode n;
        n.file = name_;
        n.line = toks_[pos_].line;
        while (toks_[pos_].kind == Tok::kWord) {
            const Token& w = toks_[pos_++];
            if (n.words.empty() && n.condition.empty() && !w.quoted && w.text.size() > 1 &&
                w.text[0] == '@') {
                n.condition = w.text;
                continue;
            }
            n.words.push_back(w.text);
        }
        if (toks_[pos_].kind == Tok::kOpen) {
            int line = toks_[pos_].line;
            pos_++;
            n.block = true;
            HALO_TRY(block(n.children, line));
        }
        if (n.words.empty()) {
            if (n.condition.empty()) {
                return error(n.line, "a block without a keyword");
            }
            n.words.push_back("");
        }
        if (n.keyword() == "include" && !n.block && n.condition.empty()) {
            return include(n, out);
        }
        out.push_back(std::move(n));
        return Status::ok();
    }

    Status include(const KaNode& n, std::vector<KaNode>& out) {
        if (n.words.size() != 2) {
            return error(n.line, "\"include\" takes one file name or pattern");
        }
        if (depth_ >= kMaxIncludeDepth) {
            return error(n.line, "includes nested too deep (" + std::to_string(kMaxIncludeDepth) +
                                     " levels)");
        }
        std::string pattern = n.words[1];
        if (pattern.empty() || pattern[0] != '/') {
            pattern = dir_ + "/" + pattern;
        }
        std::vector<std::string> files;
        if (pattern.find_first_of("*?[") == std::string::npos) {
            files.push_back(pattern);  // a plain name: an error when it cannot be read
        } else {
            glob_t g{};
            if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
                for (size_t i = 0; i < g.gl_pathc; i++) {
                    files.emplace_back(g.gl_pathv[i]);
                }
            }
            globfree(&g);
        }
        if (files.empty()) {
            doc_.notes.push_back(n.where() + ": include \"" + n.words[1] +
                                 "\" matches no file (skipped)");
            return Status::ok();
        }
        for (const std::string& f : files) {
            std::string text;
            std::string err;
            if (!core::read_file(f, text, &err)) {
                return error(n.line, "cannot read included file: " + err);
            }
            Parser sub(doc_, depth_ + 1);
            HALO_TRY(sub.run(text, f, dir_of(f), out));
        }
        return Status::ok();
    }

    KaDocument& doc_;
    int depth_;
    std::shared_ptr<const std::string> name_;
    std::string dir_;
    std::vector<Token> toks_;
    size_t pos_ = 0;
};

}  // namespace

Status parse_text(std::string_view text, const std::string& name, const std::string& dir,
                  KaDocument& doc) {
    Parser p(doc, 0);
    return p.run(text, name, dir, doc.nodes);
}

Status parse_file(const std::string& path, KaDocument& doc) {
    std::string text;
    std::string err;
    if (!core::read_file(path, text, &err)) {
        return Status::error("cannot read keepalived configuration: " + err);
    }
    return parse_text(text, path, dir_of(path), doc);
}

}  // namespace vrrp::keepalived
