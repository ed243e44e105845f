// The command line and its documentation cannot drift apart: every flag halo accepts is in
// `halo -h`, and every flag of `halo -h` (and every `-s` signal) is documented in man/halo.8,
// which renders without a warning.
#include <set>
#include <sstream>

#include "support/harness.h"

namespace halo_test {
namespace {

/// The option lines of `halo -h` ("  -s signal     : send signal ...").
std::vector<std::string> help_option_lines() {
    RunResult r = run_command({halo_bin(), "-h"});
    std::vector<std::string> out;
    std::istringstream in(r.err);
    std::string line;
    bool options = false;
    while (std::getline(in, line)) {
        if (line == "Options:") {
            options = true;
        } else if (options && line.rfind("  -", 0) == 0) {
            out.push_back(line);
        }
    }
    return out;
}

/// The long options of `halo -h` ("  --import-keepalived file : ..." gives
/// "import-keepalived").
std::set<std::string> help_long_options() {
    std::set<std::string> out;
    for (const auto& line : help_option_lines()) {
        if (line.rfind("  --", 0) == 0) {
            size_t end = line.find_first_of(" =", 4);
            out.insert(line.substr(4, end == std::string::npos ? end : end - 4));
        }
    }
    return out;
}

/// The flag letters named in the option column of `halo -h` ("-?,-h" gives '?' and 'h');
/// long options are help_long_options().
std::set<char> help_flags() {
    std::set<char> flags;
    for (const auto& line : help_option_lines()) {
        std::string column = line.substr(0, line.find(':'));
        for (size_t i = 0; i + 1 < column.size(); i++) {
            if (column[i] == '-' && column[i + 1] != '-' &&
                (i == 0 || column[i - 1] == ' ' || column[i - 1] == ',')) {
                flags.insert(column[i + 1]);
            }
        }
    }
    return flags;
}

/// The lines of one `.SH` section of the man page source.
std::vector<std::string> man_section(const std::string& page, std::string_view name) {
    std::vector<std::string> out;
    std::istringstream in(page);
    std::string line;
    bool inside = false;
    while (std::getline(in, line)) {
        if (line.rfind(".SH ", 0) == 0) {
            inside = line == ".SH " + std::string(name);
        } else if (inside) {
            out.push_back(line);
        }
    }
    return out;
}

/// Long options documented as items of OPTIONS: `\-\-name` in the line after a `.TP`.
std::set<std::string> man_long_options(const std::string& page) {
    std::set<std::string> out;
    auto lines = man_section(page, "OPTIONS");
    for (size_t i = 0; i + 1 < lines.size(); i++) {
        size_t at = lines[i + 1].find("\\-\\-");
        if (lines[i] != ".TP" || at == std::string::npos) {
            continue;
        }
        std::string name;
        std::string_view rest = std::string_view(lines[i + 1]).substr(at + 4);
        while (!rest.empty() && rest[0] != ' ' && rest[0] != '"') {
            if (rest.substr(0, 2) == "\\-") {
                name += '-';
                rest.remove_prefix(2);
            } else {
                name += rest[0];
                rest.remove_prefix(1);
            }
        }
        out.insert(name);
    }
    return out;
}

/// Flags documented as items of OPTIONS: `\-x` in the line after each `.TP` (long options
/// are man_long_options()).
std::set<char> man_flags(const std::string& page) {
    std::set<char> flags;
    auto lines = man_section(page, "OPTIONS");
    for (size_t i = 0; i + 1 < lines.size(); i++) {
        if (lines[i] != ".TP" || lines[i + 1].find("\\-\\-") != std::string::npos) {
            continue;
        }
        const std::string& tag = lines[i + 1];
        for (size_t at = tag.find("\\-"); at != std::string::npos; at = tag.find("\\-", at + 2)) {
            if (at + 2 < tag.size()) {
                flags.insert(tag[at + 2]);
            }
        }
    }
    return flags;
}

std::string man_page() {
    return read_file(halo_top() + "/man/halo.8").value_or("");
}

TEST(CommandLineTest, HelpListsEveryFlagHaloAccepts) {
    TempDir dir("halo-flags");
    std::set<char> accepted;
    std::string letters = "?";
    for (char c = 'a'; c <= 'z'; c++) {
        letters += c;
        letters += static_cast<char>(c - 'a' + 'A');
    }
    for (char c : letters) {
        // A config that does not exist: no flag can start a server.
        RunResult r = run_command(
            {halo_bin(), "-p", dir.path() + "/", "-c", dir / "none.conf", std::string("-") + c});
        ASSERT_FALSE(r.timed_out) << c;
        if (r.err.find(std::string("invalid option: \"") + c + "\"") == std::string::npos) {
            accepted.insert(c);
        }
    }
    std::set<char> listed = help_flags();
    EXPECT_GE(listed.size(), 11u) << "could not read the options of halo -h";
    EXPECT_EQ(accepted, listed) << "accepted flags and the flags `halo -h` lists differ";
}

TEST(ManPageTest, DocumentsEveryFlagOfHelp) {
    std::string page = man_page();
    ASSERT_FALSE(page.empty()) << "no " << halo_top() << "/man/halo.8";
    std::set<char> listed = help_flags();
    ASSERT_FALSE(listed.empty());
    EXPECT_EQ(man_flags(page), listed) << "OPTIONS of man/halo.8 and `halo -h` differ";
    EXPECT_EQ(man_long_options(page), help_long_options())
        << "long options of man/halo.8 and `halo -h` differ";

    // The synopsis names them all too.
    std::string synopsis;
    for (const auto& l : man_section(page, "SYNOPSIS")) {
        synopsis += l + "\n";
    }
    for (char c : listed) {
        // In an .OP line: "\-?hvVtTq" (flag letters grouped after one dash) or "\-s signal".
        bool found = false;
        std::istringstream lines(synopsis);
        for (std::string l; std::getline(lines, l);) {
            if (l.rfind(".OP \\-", 0) == 0) {
                std::string flags = l.substr(6, l.find(' ', 6) - 6);
                found = found || flags.find(c) != std::string::npos;
            }
        }
        EXPECT_TRUE(found) << "-" << c << " missing from SYNOPSIS";
    }
}

TEST(ManPageTest, DocumentsEverySignalName) {
    std::string page = man_page();
    std::string signals;
    for (const auto& line : help_option_lines()) {
        if (line.rfind("  -s ", 0) == 0) {
            signals = line.substr(line.rfind(':') + 1);
        }
    }
    ASSERT_FALSE(signals.empty()) << "no -s line in halo -h";
    std::vector<std::string> names;
    std::istringstream in(signals);
    std::string word;
    while (in >> word) {
        if (word.back() == ',') {
            word.pop_back();
        }
        names.push_back(word);
    }
    ASSERT_EQ(names.size(), 4u) << signals;
    auto options = man_section(page, "OPTIONS");
    for (const auto& n : names) {
        EXPECT_NE(std::find(options.begin(), options.end(), ".B " + n), options.end())
            << "-s " << n << " is not an item in OPTIONS of man/halo.8";
    }
}

TEST(ManPageTest, RendersWithoutWarnings) {
    if (run_command({"groff", "--version"}).status != 0) {
        GTEST_SKIP() << "groff is not installed (Debian package groff-base)";
    }
    const std::string path = halo_top() + "/man/halo.8";
    RunResult r = run_command({"groff", "-man", "-Tutf8", "-ww", "-z", path});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_EQ(r.err, "") << r;

    if (run_command({"man", "--version"}).status != 0) {
        return;
    }
    r = run_command({"env", "MANWIDTH=100", "MAN_KEEP_FORMATTING=0", "man", "-l", path});
    EXPECT_EQ(r.status, 0) << r;
    // Without a terminal man may still overstrike bold text ("N\bN"): keep the letters.
    std::string text;
    for (char c : r.out) {
        if (c == '\b') {
            if (!text.empty()) {
                text.pop_back();
            }
        } else {
            text += c;
        }
    }
    r.out = text;
    for (const char* heading :
         {"NAME", "SYNOPSIS", "OPTIONS", "SIGNALS", "FILES", "EXIT STATUS", "EXAMPLES"}) {
        EXPECT_NE(r.out.find(std::string("\n") + heading + "\n"), std::string::npos) << heading;
    }
    EXPECT_NE(r.out.find("/usr/local/halo/conf/halo.conf"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace halo_test
