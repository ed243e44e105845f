// `halo -t` / `-T` / `-q` / `-V` / `-h` and the -c -p -e -g options: configuration errors are
// reported as nginx reports them, with the file and line of the offending directive.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest-spi.h>

#include "support/harness.h"

namespace halo_test {
namespace {

constexpr std::string_view kGood = R"(
daemon off;
worker_processes 1;
error_log logs/error.log notice;

events {
    worker_connections 64;
}

http {
    server {
        listen 127.0.0.1:%%PORT_0%%;
        location / {
        }
    }
}
)";

class ConfigTestTest : public ::testing::Test {
  protected:
    /// Writes `conf` as halo.conf, runs `halo -t`, expects the failure with exactly
    /// "halo: [emerg] <message> in <file>:<line>" (file relative to the prefix).
    void expect_emerg(std::string_view conf, const std::string& message, const std::string& file,
                      int line, const std::vector<std::string>& extra = {}) {
        halo_.write_conf(conf);
        std::vector<std::string> args = {"-t"};
        args.insert(args.end(), extra.begin(), extra.end());
        RunResult r = halo_.run(args);
        EXPECT_EQ(r.status, 1) << r;
        std::string where =
            file.empty() ? "" : " in " + halo_.path(file) + ":" + std::to_string(line);
        EXPECT_NE(r.err.find("halo: [emerg] " + message + where + "\n"), std::string::npos)
            << "expected: halo: [emerg] " << message << where << "\n"
            << r;
        EXPECT_NE(r.err.find("halo: configuration file " + halo_.conf_path() + " test failed\n"),
                  std::string::npos)
            << r;
        EXPECT_EQ(r.err.find("syntax is ok"), std::string::npos) << r;
    }

    Halo halo_;
};

TEST_F(ConfigTestTest, GoodConfigIsSuccessful) {
    halo_.write_conf(kGood);
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 0) << r;
    const std::string conf = halo_.conf_path();
    EXPECT_EQ(r.err, "halo: the configuration file " + conf +
                         " syntax is ok\nhalo: configuration file " + conf +
                         " test is successful\n");
    EXPECT_EQ(r.out, "");
    // -t opens no listening socket and writes no pid file.
    EXPECT_FALSE(port_accepts(halo_.port(0)));
    EXPECT_FALSE(file_exists(halo_.path("logs/halo.pid")));
}

// Values parsed at http level with no server block to share them were freed before binding:
// five add_header lines made -t crash (issue 16).
TEST_F(ConfigTestTest, HttpLevelValuesWithoutServersAreKept) {
    halo_.write_conf(
        "error_log logs/error.log;\nevents {} http { add_header A 1; add_header B 2; "
        "add_header C 3; add_header D $host; add_header E 5; "
        "error_page 404 /x$uri; }\n");
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(r.err.find("test is successful"), std::string::npos) << r;
}

TEST_F(ConfigTestTest, UnknownDirective) {
    expect_emerg("daemon off;\n\nbogus_directive on;\n", "unknown directive \"bogus_directive\"",
                 "halo.conf", 3);
}

TEST_F(ConfigTestTest, UnknownDirectiveInsideBlock) {
    expect_emerg("events {\n}\nhttp {\n    server {\n        nosuch 1;\n    }\n}\n",
                 "unknown directive \"nosuch\"", "halo.conf", 5);
}

TEST_F(ConfigTestTest, DirectiveNotAllowedHere) {
    expect_emerg("events {}\nhttp {\n    listen 127.0.0.1:1;\n}\n",
                 "\"listen\" directive is not allowed here", "halo.conf", 3);
}

TEST_F(ConfigTestTest, MainDirectiveNotAllowedInHttp) {
    expect_emerg("http {\n    server {\n    }\n    worker_processes 2;\n}\n",
                 "\"worker_processes\" directive is not allowed here", "halo.conf", 4);
}

TEST_F(ConfigTestTest, EventsDirectiveNotAllowedInMain) {
    expect_emerg("daemon off;\nworker_connections 10;\n",
                 "\"worker_connections\" directive is not allowed here", "halo.conf", 2);
}

TEST_F(ConfigTestTest, WrongNumberOfArgumentsTooFew) {
    expect_emerg("daemon off;\nworker_processes;\n",
                 "invalid number of arguments in \"worker_processes\" directive", "halo.conf", 2);
}

TEST_F(ConfigTestTest, WrongNumberOfArgumentsTooMany) {
    expect_emerg("\n\ndaemon on off;\n", "invalid number of arguments in \"daemon\" directive",
                 "halo.conf", 3);
}

TEST_F(ConfigTestTest, DuplicateDirective) {
    expect_emerg("daemon on;\ndaemon off;\n", "\"daemon\" directive is duplicate", "halo.conf", 2);
}

TEST_F(ConfigTestTest, InvalidValue) {
    halo_.write_conf("daemon off;\nworker_processes abc;\n");
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("halo: [emerg] invalid value \"abc\" in \"worker_processes\" directive"),
              std::string::npos)
        << r;
    EXPECT_NE(r.err.find(" in " + halo_.conf_path() + ":2\n"), std::string::npos) << r;
    EXPECT_NE(r.err.find("test failed"), std::string::npos) << r;
}

TEST_F(ConfigTestTest, InvalidFlagValue) {
    halo_.write_conf("daemon maybe;\n");
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("halo: [emerg] invalid value \"maybe\" in \"daemon\" directive"),
              std::string::npos)
        << r;
    EXPECT_NE(r.err.find(" in " + halo_.conf_path() + ":1\n"), std::string::npos) << r;
}

TEST_F(ConfigTestTest, UnterminatedBlock) {
    // No trailing newline: the end of the file is on line 4 (nginx's message names it); halo
    // adds where the block left open starts.
    halo_.write_conf("daemon off;\nevents {}\nhttp {\n    server {");
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("halo: [emerg] unexpected end of file, expecting \"}\" in " +
                         halo_.conf_path() + ":4 (the \"server\" block opened in " +
                         halo_.conf_path() + ":4 is not closed)\n"),
              std::string::npos)
        << r;
}

TEST_F(ConfigTestTest, UnterminatedDirective) {
    expect_emerg("daemon off;\nworker_processes 1",
                 "unexpected end of file, expecting \";\" or \"}\"", "halo.conf", 2);
}

TEST_F(ConfigTestTest, UnexpectedClosingBrace) {
    expect_emerg("daemon off;\nevents {\n}\n}\n", "unexpected \"}\"", "halo.conf", 4);
}

TEST_F(ConfigTestTest, BlockDirectiveWithoutBlock) {
    expect_emerg("daemon off;\n\nhttp;\n", "directive \"http\" has no opening \"{\"", "halo.conf",
                 3);
}

TEST_F(ConfigTestTest, ErrorInIncludedFilePointsIntoIt) {
    halo_.write("conf.d/bad.conf", "# included\nkeepalive_timeout 5s;\n\nno_such_thing 1;\n");
    expect_emerg(
        "daemon off;\nevents {}\nhttp {\n    server {\n        include conf.d/bad.conf;\n"
        "    }\n}\n",
        "unknown directive \"no_such_thing\"", "conf.d/bad.conf", 4);
}

TEST_F(ConfigTestTest, MissingIncludedFile) {
    halo_.write_conf("daemon off;\n\ninclude nowhere.conf;\n");
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(
        r.err.find("halo: [emerg] open() \"" + halo_.path("nowhere.conf") +
                   "\" failed (2: No such file or directory) in " + halo_.conf_path() + ":3\n"),
        std::string::npos)
        << r;
}

TEST_F(ConfigTestTest, CommandLineDirectiveDuplicatedInFile) {
    // -g directives come first; the file's `daemon` is then the duplicate.
    expect_emerg("worker_processes 1;\ndaemon on;\n", "\"daemon\" directive is duplicate",
                 "halo.conf", 2, {"-g", "daemon off;"});
}

TEST_F(ConfigTestTest, CommandLineDirectiveErrorNamesCommandLine) {
    halo_.write_conf(kGood);
    RunResult r = halo_.run({"-t", "-g", "bogus on;"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("halo: [emerg] unknown directive \"bogus\" in command line"),
              std::string::npos)
        << r;
}

TEST_F(ConfigTestTest, CommandLineDirectivesApply) {
    // A config without `daemon` started with -g 'daemon off;' stays in the foreground.
    halo_.write_conf(R"(
error_log logs/error.log notice;
events {}
http { server { listen 127.0.0.1:%%PORT_0%%; } }
)");
    RunResult t = halo_.run({"-t", "-g", "daemon off; worker_processes 2;"});
    EXPECT_EQ(t.status, 0) << t;
    ASSERT_TRUE(halo_.start({"-g", "daemon off; worker_processes 2;"}));
    EXPECT_EQ(parent_of(halo_.master_pid()), getpid());
    EXPECT_EQ(halo_.wait_workers(2).size(), 2u);
}

TEST_F(ConfigTestTest, DumpPrintsEveryFileIncludingIncludes) {
    const std::string inc = "keepalive_timeout 10s;\nkeepalive_requests 5;\n";
    halo_.write("conf.d/a.conf", inc);
    halo_.write("conf.d/b.conf", "# second include\n");
    const std::string main =
        "daemon off;\nevents {}\nhttp {\n    include conf.d/*.conf;\n"
        "    server { listen 127.0.0.1:%%PORT_0%%; }\n}\n";
    halo_.write_conf(main);
    RunResult r = halo_.run({"-T"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(r.err.find("test is successful"), std::string::npos) << r;
    const std::string main_text = halo_.expand(main);
    const std::string expected = "# configuration file " + halo_.conf_path() + ":\n" + main_text +
                                 "\n# configuration file " + halo_.path("conf.d/a.conf") + ":\n" +
                                 inc + "\n# configuration file " + halo_.path("conf.d/b.conf") +
                                 ":\n# second include\n\n";
    EXPECT_EQ(r.out, expected);
}

TEST_F(ConfigTestTest, DumpWithQuietPrintsOnlyTheDump) {
    halo_.write_conf(kGood);
    RunResult r = halo_.run({"-T", "-q"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(r.out.rfind("# configuration file " + halo_.conf_path() + ":\n", 0), 0u) << r;
}

TEST_F(ConfigTestTest, IncludeGlobWithoutMatchIsFine) {
    ::mkdir(halo_.path("sites").c_str(), 0755);
    halo_.write_conf("daemon off;\nevents {}\nhttp {\n    include sites/*.conf;\n}\n");
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 0) << r;
}

TEST_F(ConfigTestTest, IncludeGlobInMissingDirectoryIsFine) {
    // nginx: glob() without GLOB_ERR, GLOB_NOMATCH is fine for include.
    halo_.write_conf("daemon off;\nevents {}\nhttp {\n    include sites/*.conf;\n}\n");
    RunResult r = halo_.run({"-t"});
    EXPECT_EQ(r.status, 0) << r;
}

TEST_F(ConfigTestTest, DumpFailsOnBadConfigWithoutDumping) {
    halo_.write_conf("daemon off;\nbogus;\n");
    RunResult r = halo_.run({"-T"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("unknown directive \"bogus\""), std::string::npos) << r;
}

TEST_F(ConfigTestTest, QuietSuppressesOkLines) {
    halo_.write_conf(kGood);
    RunResult r = halo_.run({"-t", "-q"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_EQ(r.err, "");
    RunResult grouped = halo_.run({"-tq"});
    EXPECT_EQ(grouped.status, 0) << grouped;
    EXPECT_EQ(grouped.err, "");
}

TEST_F(ConfigTestTest, QuietStillReportsErrors) {
    halo_.write_conf("daemon off;\nbogus;\n");
    RunResult r = halo_.run({"-t", "-q"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(
        r.err.find("halo: [emerg] unknown directive \"bogus\" in " + halo_.conf_path() + ":2\n"),
        std::string::npos)
        << r;
}

TEST_F(ConfigTestTest, VersionListsModules) {
    RunResult r = halo_.run_raw({"-V"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(r.err.find("halo version: halo/"), std::string::npos) << r;
    EXPECT_NE(r.err.find("\nconfigure arguments:"), std::string::npos) << r;
    EXPECT_NE(r.err.find("\nmodules: core events http"), std::string::npos) << r;
    EXPECT_TRUE(halo_has_module("core"));
    EXPECT_TRUE(halo_has_module("http"));
    EXPECT_EQ(r.err.find(" no_such_module"), std::string::npos);

    RunResult v = halo_.run_raw({"-v"});
    EXPECT_EQ(v.status, 0) << v;
    EXPECT_EQ(v.err.rfind("halo version: halo/", 0), 0u) << v;
    EXPECT_EQ(v.err.find("modules:"), std::string::npos) << v;
}

TEST_F(ConfigTestTest, HelpListsFlags) {
    for (const char* flag : {"-h", "-?"}) {
        RunResult r = halo_.run_raw({flag});
        EXPECT_EQ(r.status, 0) << r;
        for (const char* text : {"Usage: halo", "-?,-h", "-v ", "-V ", "-t ", "-T ", "-q ",
                                 "-s signal", "stop, quit, reopen, reload", "-p prefix",
                                 "-e filename", "-c filename", "-g directives"}) {
            EXPECT_NE(r.err.find(text), std::string::npos) << flag << " lacks " << text << "\n"
                                                           << r;
        }
    }
}

TEST_F(ConfigTestTest, InvalidOptions) {
    RunResult x = halo_.run_raw({"-x"});
    EXPECT_EQ(x.status, 1) << x;
    EXPECT_NE(x.err.find("halo: invalid option: \"x\""), std::string::npos) << x;

    RunResult word = halo_.run_raw({"stop"});
    EXPECT_EQ(word.status, 1) << word;
    EXPECT_NE(word.err.find("invalid option: \"stop\""), std::string::npos) << word;

    RunResult sig = halo_.run_raw({"-s", "restart"});
    EXPECT_EQ(sig.status, 1) << sig;
    EXPECT_NE(sig.err.find("invalid option: \"-s restart\""), std::string::npos) << sig;

    RunResult c = halo_.run_raw({"-c"});
    EXPECT_EQ(c.status, 1) << c;
    EXPECT_NE(c.err.find("option \"-c\" requires file name"), std::string::npos) << c;
}

TEST_F(ConfigTestTest, ConfPathIsRelativeToPrefix) {
    halo_.write("sub/other.conf", kGood);
    RunResult r = halo_.run_raw({"-p", halo_.prefix(), "-c", "sub/other.conf", "-t"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(
        r.err.find("configuration file " + halo_.path("sub/other.conf") + " test is successful"),
        std::string::npos)
        << r;
}

TEST_F(ConfigTestTest, DefaultConfIsUnderPrefix) {
    // Without -c: <prefix>/conf/halo.conf, as nginx's conf/nginx.conf.
    halo_.write("conf/halo.conf", kGood);
    RunResult r = halo_.run_raw({"-p", halo_.prefix() + "/", "-t"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(r.err.find("configuration file " + halo_.path("conf/halo.conf") + " test is"),
              std::string::npos)
        << r;
}

TEST_F(ConfigTestTest, RelativePrefixIsRelativeToCwd) {
    halo_.write("conf/halo.conf", kGood);
    std::string parent = halo_.prefix().substr(0, halo_.prefix().rfind('/'));
    std::string base = halo_.prefix().substr(parent.size() + 1);
    RunResult r = run_command({halo_.bin(), "-p", base, "-t"}, 10s, parent);
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(r.err.find("configuration file " + halo_.path("conf/halo.conf") + " test is"),
              std::string::npos)
        << r;
}

TEST_F(ConfigTestTest, IncludeIsRelativeToConfDirectory) {
    halo_.write("conf/extra.conf", "keepalive_requests 10;\n");
    halo_.write_conf("daemon off;\nevents {}\nhttp {\n    include extra.conf;\n}\n",
                     "conf/halo.conf");
    RunResult r = halo_.run({"-T"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_NE(r.out.find("# configuration file " + halo_.path("conf/extra.conf") + ":\n"),
              std::string::npos)
        << r;
}

TEST_F(ConfigTestTest, MissingConfigFile) {
    RunResult r = halo_.run_raw({"-p", halo_.prefix() + "/", "-c", "absent.conf", "-t"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find("halo: [emerg] open() \"" + halo_.path("absent.conf") +
                         "\" failed (2: No such file or directory)"),
              std::string::npos)
        << r;
    EXPECT_NE(r.err.find("test failed"), std::string::npos) << r;
}

TEST_F(ConfigTestTest, ErrorLogOptionUnopenableFails) {
    // -e names the error log used when the config has none; it must be opened to pass -t.
    halo_.write_conf("daemon off;\nevents {}\n");
    RunResult r = halo_.run({"-t", "-e", "no/such/dir/err.log"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_NE(r.err.find(halo_.path("no/such/dir/err.log")), std::string::npos) << r;
}

TEST_F(ConfigTestTest, ErrorLogOptionIsUsed) {
    halo_.write_conf("daemon off;\nevents {}\n");
    RunResult r = halo_.run({"-t", "-e", "logs/custom.log"});
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_TRUE(file_exists(halo_.path("logs/custom.log")));
    EXPECT_FALSE(file_exists(halo_.path("logs/error.log")));
}

}  // namespace
}  // namespace halo_test
