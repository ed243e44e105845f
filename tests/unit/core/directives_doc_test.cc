// docs/directives.md against the directive tables of the compiled-in modules: every directive
// has an entry with its module and exactly its contexts, every entry names a real directive,
// and every entry has a syntax, a default, an example and a line of meaning. A failure prints
// the skeleton of each missing entry, ready to be filled in.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/conf_context.h"
#include "core/module.h"

namespace core {
namespace {

/// Context bits as the reference writes them (nginx's words, halo's own blocks after).
struct CtxName {
    uint32_t bit;
    std::string_view name;
};
constexpr CtxName kCtxNames[] = {
    {kCtxMain, "main"},
    {kCtxEvents, "events"},
    {kCtxHttp, "http"},
    {kCtxServer, "server"},
    {kCtxLocation, "location"},
    {kCtxServerIf, "if in server"},
    {kCtxLocationIf, "if in location"},
    {kCtxLimitExcept, "limit_except"},
    {kCtxUpstream, "upstream"},
    {kCtxVrrp, "vrrp"},
    {kCtxVrrpScript, "vrrp_script"},
    {kCtxVrrpInstance, "vrrp_instance"},
    {kCtxVrrpSyncGroup, "vrrp_sync_group"},
    {kCtxStream, "stream"},
    {kCtxStreamServer, "stream server"},
};

/// `include` is read by the parser itself, in any context: documented, in no table.
constexpr std::string_view kParserDirective = "include";

std::string context_text(uint32_t bits) {
    std::string out;
    for (const CtxName& c : kCtxNames) {
        if (bits & c.bit) {
            out += out.empty() ? "" : ", ";
            out += c.name;
            bits &= ~c.bit;
        }
    }
    if (bits != 0) {
        out += (out.empty() ? "" : ", ") + std::string("<unnamed context bits ") +
               std::to_string(bits) + ">";
    }
    return out;
}

std::string trim(std::string s) {
    size_t b = s.find_first_not_of(" \t");
    size_t e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : s.substr(b, e + 1 - b);
}

/// One `### \`name\`` entry of the reference.
struct DocEntry {
    std::string name;
    int line = 0;
    std::map<std::string, std::string> fields;  // "Module" -> "http_core", ...
    bool example_block = false;                 // "- Example:" followed by a ``` block
    bool prose = false;                         // a line of meaning outside the field list
};

std::vector<DocEntry> parse_reference(std::istream& in) {
    std::vector<DocEntry> out;
    DocEntry* cur = nullptr;
    std::string raw;
    int line = 0;
    bool in_fence = false;
    std::string last_field;
    while (std::getline(in, raw)) {
        line++;
        std::string t = trim(raw);
        if (t.rfind("```", 0) == 0) {
            if (!in_fence && cur != nullptr && last_field == "Example" &&
                cur->fields["Example"].empty()) {
                cur->example_block = true;
            }
            in_fence = !in_fence;
            continue;
        }
        if (in_fence) {
            continue;
        }
        if (t.rfind("#", 0) == 0) {
            cur = nullptr;
            if (t.rfind("### `", 0) == 0) {
                size_t close = t.find('`', 5);
                out.push_back(DocEntry{});
                cur = &out.back();
                cur->line = line;
                cur->name = close == std::string::npos ? t.substr(5) : t.substr(5, close - 5);
            }
            continue;
        }
        if (cur == nullptr || t.empty()) {
            continue;
        }
        if (t.rfind("- ", 0) == 0 && t.find(':') != std::string::npos) {
            size_t colon = t.find(':');
            last_field = trim(t.substr(2, colon - 2));
            cur->fields[last_field] = trim(t.substr(colon + 1));
            continue;
        }
        cur->prose = true;
    }
    return out;
}

std::set<std::string> split_contexts(const std::string& text) {
    std::set<std::string> out;
    std::stringstream ss(text);
    std::string part;
    while (std::getline(ss, part, ',')) {
        out.insert(trim(part));
    }
    return out;
}

std::string skeleton(const Module& m, const Directive& d) {
    return "### `" + std::string(d.name) + "`\n\n- Module: " + std::string(m.name) +
           "\n- Context: " + context_text(d.contexts) + "\n- Syntax: `" + std::string(d.name) +
           " ...;`\n- Default: —\n- Example: `" + std::string(d.name) + " ...;`\n\n...\n";
}

class DirectivesDocTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const char* top = getenv("HALO_TOP");
        path_ = std::string(top != nullptr && *top != '\0' ? top : ".") + "/docs/directives.md";
        std::ifstream in(path_);
        ASSERT_TRUE(in.good()) << "cannot read " << path_ << " (run from the source tree)";
        entries_ = parse_reference(in);
    }

    std::string path_;
    std::vector<DocEntry> entries_;
};

TEST_F(DirectivesDocTest, EveryCompiledDirectiveHasAnEntryWithItsContexts) {
    std::span<const Module* const> modules = compiled_modules();
    ASSERT_FALSE(modules.empty());
    std::string missing;
    size_t checked = 0;
    for (const Module* m : modules) {
        for (const Directive& d : m->directives) {
            const DocEntry* found = nullptr;
            for (const DocEntry& e : entries_) {
                auto mod = e.fields.find("Module");
                if (e.name == d.name && mod != e.fields.end() && mod->second == m->name) {
                    EXPECT_EQ(found, nullptr) << path_ << ":" << e.line << ": second entry for \""
                                              << d.name << "\" of module " << m->name;
                    found = &e;
                }
            }
            if (found == nullptr) {
                missing += "\n" + skeleton(*m, d);
                continue;
            }
            checked++;
            auto ctx = found->fields.find("Context");
            ASSERT_NE(ctx, found->fields.end()) << path_ << ":" << found->line << ": \"" << d.name
                                                << "\" has no \"- Context:\" line";
            EXPECT_EQ(split_contexts(ctx->second), split_contexts(context_text(d.contexts)))
                << path_ << ":" << found->line << ": contexts of \"" << d.name << "\" (" << m->name
                << ") are \"" << context_text(d.contexts) << "\" in its table";
        }
    }
    EXPECT_TRUE(missing.empty()) << "directives without an entry in " << path_ << ":\n" << missing;
    EXPECT_GT(checked, 0u);
}

TEST_F(DirectivesDocTest, EveryEntryNamesACompiledDirective) {
    std::span<const Module* const> modules = compiled_modules();
    ModuleRegistry registry(modules);
    ASSERT_FALSE(entries_.empty()) << path_ << " has no \"### `name`\" entry";
    for (const DocEntry& e : entries_) {
        auto mod = e.fields.find("Module");
        ASSERT_NE(mod, e.fields.end())
            << path_ << ":" << e.line << ": \"" << e.name << "\" has no \"- Module:\" line";
        if (e.name == kParserDirective) {
            EXPECT_EQ(mod->second, "core") << path_ << ":" << e.line;
            EXPECT_EQ(e.fields.count("Context") ? e.fields.at("Context") : "", "any")
                << path_ << ":" << e.line;
            continue;
        }
        if (registry.find(mod->second) == nullptr) {
            // A module left out by ./configure --without-...: nothing to compare with. A typo
            // in a module name is caught by the other test (its directives lack entries).
            continue;
        }
        bool exists = false;
        for (const ModuleRegistry::Entry& r : registry.lookup(e.name)) {
            exists = exists || registry.at(static_cast<size_t>(r.module)).name == mod->second;
        }
        EXPECT_TRUE(exists) << path_ << ":" << e.line << ": \"" << e.name
                            << "\" is not a directive of module " << mod->second;
    }
}

TEST_F(DirectivesDocTest, EveryEntryIsComplete) {
    for (const DocEntry& e : entries_) {
        for (const char* field : {"Module", "Context", "Syntax", "Default"}) {
            auto f = e.fields.find(field);
            EXPECT_TRUE(f != e.fields.end() && !f->second.empty())
                << path_ << ":" << e.line << ": \"" << e.name << "\" needs \"- " << field
                << ": ...\"";
        }
        auto ex = e.fields.find("Example");
        EXPECT_TRUE(ex != e.fields.end() && (!ex->second.empty() || e.example_block))
            << path_ << ":" << e.line << ": \"" << e.name
            << "\" needs \"- Example: `...`\" (or a ``` block after \"- Example:\")";
        auto syntax = e.fields.find("Syntax");
        if (syntax != e.fields.end()) {
            EXPECT_NE(syntax->second.find("`" + e.name), std::string::npos)
                << path_ << ":" << e.line << ": the syntax of \"" << e.name
                << "\" should start with `" << e.name;
        }
        EXPECT_TRUE(e.prose) << path_ << ":" << e.line << ": \"" << e.name
                             << "\" needs a line or two of meaning";
    }
}

// docs/migrating.md lists nginx directives halo does not have, in the second column of the
// table of its section "## nginx directives halo does not support yet". Every one of them
// must really be unknown: a directive added to halo must leave that table.
TEST(MigratingDoc, UnsupportedDirectivesAreUnknownToHalo) {
    const char* top = getenv("HALO_TOP");
    const std::string path =
        std::string(top != nullptr && *top != '\0' ? top : ".") + "/docs/migrating.md";
    std::ifstream in(path);
    ASSERT_TRUE(in.good()) << "cannot read " << path;
    ModuleRegistry registry(compiled_modules());
    std::string line;
    bool in_section = false;
    int n = 0;
    size_t names = 0;
    while (std::getline(in, line)) {
        n++;
        if (line.rfind("## ", 0) == 0) {
            in_section = line.find("halo does not support") != std::string::npos;
            continue;
        }
        if (!in_section || line.rfind("|", 0) != 0 || line.rfind("|---", 0) == 0) {
            continue;
        }
        // | module | `a` `b` ... | instead |
        size_t c1 = line.find('|', 1);
        size_t c2 = c1 == std::string::npos ? c1 : line.find('|', c1 + 1);
        ASSERT_NE(c2, std::string::npos) << path << ":" << n << ": a row needs three columns";
        std::string cell = line.substr(c1 + 1, c2 - c1 - 1);
        for (size_t b = cell.find('`'); b != std::string::npos; b = cell.find('`', b + 1)) {
            size_t e = cell.find('`', b + 1);
            ASSERT_NE(e, std::string::npos) << path << ":" << n;
            std::string name = cell.substr(b + 1, e - b - 1);
            EXPECT_TRUE(registry.lookup(name).empty())
                << path << ":" << n << ": \"" << name
                << "\" is listed as unsupported, but a compiled-in module has it";
            names++;
            b = e;
        }
    }
    EXPECT_GT(names, 50u) << path << ": the table of unsupported directives was not found";
}

// The checks themselves: a reference that lacks an entry, has a wrong context or names a
// directive that does not exist is caught (on a small text, not the real file).
TEST(DirectivesDocParser, ReadsEntriesFieldsAndExampleBlocks) {
    std::istringstream in(
        "# Title\n\nFormat text - Module: not a field\n\n## core\n\n### `daemon`\n\n"
        "- Module: core\n- Context: main\n- Syntax: `daemon on | off;`\n- Default: `daemon on;`\n"
        "- Example: `daemon off;`\n\nRuns in the background.\n\n### `events`\n\n"
        "- Module: events\n- Context: main\n- Syntax: `events { ... }`\n- Default: —\n"
        "- Example:\n\n```\nevents {\n    # not a heading\n}\n```\n\n## Next\n\nText.\n");
    std::vector<DocEntry> e = parse_reference(in);
    ASSERT_EQ(e.size(), 2u);
    EXPECT_EQ(e[0].name, "daemon");
    EXPECT_EQ(e[0].line, 7);
    EXPECT_EQ(e[0].fields["Module"], "core");
    EXPECT_EQ(e[0].fields["Context"], "main");
    EXPECT_TRUE(e[0].prose);
    EXPECT_FALSE(e[0].example_block);
    EXPECT_EQ(e[1].name, "events");
    EXPECT_TRUE(e[1].example_block);
    EXPECT_FALSE(e[1].prose);  // "Text." belongs to the "## Next" section
}

TEST(DirectivesDocParser, ContextsAreWrittenAsNginxWritesThem) {
    EXPECT_EQ(context_text(kCtxHttpAll | kCtxLocationIf), "http, server, location, if in location");
    EXPECT_EQ(context_text(kCtxVrrp | kCtxVrrpInstance), "vrrp, vrrp_instance");
    EXPECT_EQ(split_contexts("http,  server ,location"),
              (std::set<std::string>{"http", "server", "location"}));
    EXPECT_NE(split_contexts("http, server"), split_contexts(context_text(kCtxHttpAll)));
}

}  // namespace
}  // namespace core
