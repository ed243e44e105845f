// The differential harness's own checks (tests/support/differential.h), with no server: how it
// parses answers, what it normalizes (Expires within a second, the multipart boundary, the
// error pages' signature and the Content-Length that follows from it, gzip) and that a real
// difference is reported. Runs as any user.
#include <string>
#include <vector>

#include "support/differential.h"
#include "support/harness.h"

namespace halo_test {
namespace {

constexpr std::string_view kHead = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: x\r\n";

RawResponse answer(std::string_view headers, std::string_view body, bool head = false) {
    std::string raw = std::string(kHead) + std::string(headers) + "\r\n" + std::string(body);
    return parse_response(raw, head);
}

std::vector<std::string> fields(const std::vector<Difference>& diffs) {
    std::vector<std::string> out;
    for (const Difference& d : diffs) {
        out.push_back(d.field);
    }
    return out;
}

TEST(DiffHarnessTest, ParsesChunkedAndLengthBodies) {
    RawResponse chunked =
        answer("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    EXPECT_EQ(chunked.error, "");
    EXPECT_EQ(chunked.status, 200);
    EXPECT_EQ(chunked.body, "hello world");
    RawResponse sized = answer("Content-Length: 3\r\n", "abc");
    EXPECT_EQ(sized.body, "abc");
    EXPECT_EQ(sized.header("content-length"), "3");
    RawResponse head = answer("Content-Length: 3\r\n", "", true);
    EXPECT_EQ(head.error, "");
    EXPECT_EQ(parse_response("", false).error, "no response (connection closed)");
}

TEST(DiffHarnessTest, IgnoresServerDateAndFramingOnly) {
    RawResponse a = answer("Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\r\n");
    RawResponse b = parse_response(
        "HTTP/1.1 200 OK\r\nServer: halo/0.1.0\r\nDate: y\r\nContent-Length: 3\r\n\r\nabc", false);
    // the body is the same; Content-Length present on one side only is a difference
    EXPECT_EQ(fields(compare_responses("r", a, b)), std::vector<std::string>{"content-length"});
}

TEST(DiffHarnessTest, ExpiresWithinASecondIsTheSame) {
    RawResponse a = answer("Expires: Tue, 07 Dec 2027 00:13:32 GMT\r\nContent-Length: 0\r\n", "");
    RawResponse b = answer("Expires: Tue, 07 Dec 2027 00:13:33 GMT\r\nContent-Length: 0\r\n", "");
    RawResponse c = answer("Expires: Tue, 07 Dec 2027 00:13:35 GMT\r\nContent-Length: 0\r\n", "");
    EXPECT_TRUE(compare_responses("r", a, b).empty());
    EXPECT_EQ(fields(compare_responses("r", a, c)), std::vector<std::string>{"expires"});
}

TEST(DiffHarnessTest, NormalizesBoundaryAndSignature) {
    std::string body_a = "--00000000001\r\nx\r\n--00000000001--";
    std::string body_b = "--abcdef\r\nx\r\n--abcdef--";
    RawResponse a = answer(
        "Content-Type: multipart/byteranges; boundary=00000000001\r\n"
        "Content-Length: " +
            std::to_string(body_a.size()) + "\r\n",
        body_a);
    RawResponse b = answer(
        "Content-Type: multipart/byteranges; boundary=abcdef\r\n"
        "Content-Length: " +
            std::to_string(body_b.size()) + "\r\n",
        body_b);
    EXPECT_TRUE(compare_responses("r", a, b).empty())
        << format_differences(compare_responses("r", a, b));
    std::string page_a = "<html><hr><center>nginx/1.22.1</center></html>";
    std::string page_b = "<html><hr><center>halo/0.1.0</center></html>";
    RawResponse ea = answer("Content-Length: " + std::to_string(page_a.size()) + "\r\n", page_a);
    RawResponse eb = answer("Content-Length: " + std::to_string(page_b.size()) + "\r\n", page_b);
    EXPECT_TRUE(compare_responses("r", ea, eb).empty())
        << format_differences(compare_responses("r", ea, eb));
}

TEST(DiffHarnessTest, ReportsRealDifferencesReadably) {
    RawResponse a = answer(
        "Content-Type: text/html; charset=utf-8\r\nContent-Length: 2\r\n"
        "X-Frame-Options: DENY\r\n",
        "ok");
    RawResponse b = answer("Content-Type: text/html\r\nContent-Length: 2\r\n", "no");
    std::vector<Difference> d = compare_responses("GET /", a, b);
    EXPECT_EQ(fields(d), (std::vector<std::string>{"content-type", "x-frame-options", "body"}));
    std::string text = format_differences(d);
    EXPECT_NE(text.find("  GET /  [x-frame-options]\n    nginx: DENY\n    halo : (absent)\n"),
              std::string::npos)
        << text;
    RawResponse not_found = parse_response("HTTP/1.1 404 Not Found\r\n\r\n", false);
    EXPECT_EQ(fields(compare_responses("r", a, not_found)).front(), "status");
}

TEST(DiffHarnessTest, ComparesGzipBodiesDecoded) {
    TempDir tmp("halo-diff-gzip");
    write_file(tmp / "x", "same text, compressed twice\n");
    RunResult fast = run_command({"gzip", "-1", "-n", "-c", tmp / "x"});
    RunResult best = run_command({"gzip", "-9", "-c", tmp / "x"});  // with the name and mtime
    ASSERT_EQ(fast.status, 0);
    ASSERT_EQ(best.status, 0);
    ASSERT_NE(fast.out, best.out);
    RawResponse a = answer(
        "Content-Encoding: gzip\r\nContent-Length: " + std::to_string(fast.out.size()) + "\r\n",
        fast.out);
    RawResponse b = answer(
        "Content-Encoding: gzip\r\nContent-Length: " + std::to_string(best.out.size()) + "\r\n",
        best.out);
    EXPECT_TRUE(compare_responses("r", a, b).empty())
        << format_differences(compare_responses("r", a, b));
}

TEST(DiffHarnessTest, StripsDirectivesOverSeveralLines) {
    std::string text =
        "http {\n    charset utf-8;\n    charset_types\n        text/css\n"
        "        application/json;\n    charsetx on;\n}\n";
    std::string out = strip_directives(text, {"charset", "charset_types"});
    EXPECT_EQ(out,
              "http {\n# stripped for halo:     charset utf-8;\n"
              "# stripped for halo:     charset_types\n# stripped for halo:         text/css\n"
              "# stripped for halo:         application/json;\n    charsetx on;\n}\n");
}

}  // namespace
}  // namespace halo_test
