// Active health checks, the socket-free parts: reasons, the fall/rise machine, HTTP response
// and tcp/udp reply classification, and the per-server Checker (interval, timeout, jitter).
#include "modules/healthcheck/healthcheck.h"

#include <algorithm>
#include <cstring>

#include "core/log.h"
#include "core/named.h"
#include "http/parse.h"
#include "http/response_parse.h"

namespace mod::healthcheck {

// ---- CheckSpec, CheckResult ----

namespace {
constexpr core::Named<CheckType> kCheckTypes[] = {
    {"tcp", CheckType::kTcp},
    {"udp", CheckType::kUdp},
    {"http", CheckType::kHttp},
    {"https", CheckType::kHttps},
};
}  // namespace

std::string_view check_type_name(CheckType type) {
    return core::name_of<CheckType>(kCheckTypes, type, "");
}

std::optional<CheckType> parse_check_type(std::string_view name) {
    return core::value_of<CheckType>(kCheckTypes, name);
}

bool CheckSpec::accepts(int status) const {
    return std::any_of(expect.begin(), expect.end(),
                       [status](const StatusRange& r) { return status >= r.lo && status <= r.hi; });
}

std::string format_duration(Millis d) {
    int64_t ms = d.count();
    if (ms != 0 && ms % 60000 == 0) {
        return std::to_string(ms / 60000) + "m";
    }
    if (ms != 0 && ms % 1000 == 0) {
        return std::to_string(ms / 1000) + "s";
    }
    return std::to_string(ms) + "ms";
}

std::string CheckResult::reason() const {
    switch (failure) {
        case Failure::kNone:
            return status != 0 ? "status " + std::to_string(status) : "ok";
        case Failure::kConnectRefused:
            return "connect() refused";
        case Failure::kConnectFailed:
            return core::format("connect() failed (%d: %s)", err, strerror(err));
        case Failure::kTimeout:
            return "timeout after " + format_duration(timeout);
        case Failure::kReset:
            return "connection reset";
        case Failure::kIoError:
            return core::format("i/o error (%d: %s)", err, strerror(err));
        case Failure::kClosed:
            return "connection closed prematurely";
        case Failure::kInvalidResponse:
            return "invalid response";
        case Failure::kStatus:
            return "status " + std::to_string(status);
        case Failure::kBodyMismatch:
            return "body mismatch";
        case Failure::kTls:
            return "SSL handshake failed";
        case Failure::kReplyMismatch:
            return "reply mismatch";
        case Failure::kRefused:
            return "connection refused";
    }
    return "unknown";
}

namespace {
int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}
}  // namespace

bool decode_escapes(std::string_view in, std::string& out, std::string& why) {
    out.clear();
    for (size_t i = 0; i < in.size(); i++) {
        if (in[i] != '\\') {
            out += in[i];
            continue;
        }
        if (i + 1 == in.size()) {
            why = "a lone \\ at the end";
            return false;
        }
        switch (in[i + 1]) {
            case 'r':
                out += '\r';
                break;
            case 'n':
                out += '\n';
                break;
            case 't':
                out += '\t';
                break;
            case '\\':
                out += '\\';
                break;
            case 'x': {
                int hi = i + 2 < in.size() ? hex_digit(in[i + 2]) : -1;
                int lo = i + 3 < in.size() ? hex_digit(in[i + 3]) : -1;
                if (hi < 0 || lo < 0) {
                    why = "\\x needs two hex digits";
                    return false;
                }
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                break;
            }
            default:
                why = "unknown escape \"\\" + std::string(in.substr(i + 1, 1)) +
                      "\": use \\r \\n \\t \\\\ or \\xHH";
                return false;
        }
        i++;
    }
    return true;
}

// ---- HealthMachine ----

HealthMachine::HealthMachine(int fall, int rise, bool down, uint32_t streak, bool last_ok)
    : fall_(std::max(fall, 1)),
      rise_(std::max(rise, 1)),
      down_(down),
      streak_(streak),
      last_ok_(last_ok) {}

HealthMachine::Change HealthMachine::record(bool ok) {
    if (ok == last_ok_ && streak_ > 0) {
        if (streak_ < UINT32_MAX) {
            streak_++;
        }
    } else {
        last_ok_ = ok;
        streak_ = 1;
    }
    if (ok && down_ && streak_ >= static_cast<uint32_t>(rise_)) {
        down_ = false;
        return Change::kUp;
    }
    if (!ok && !down_ && streak_ >= static_cast<uint32_t>(fall_)) {
        down_ = true;
        return Change::kDown;
    }
    return Change::kNone;
}

// ---- ResponseCheck ----

ResponseCheck::Verdict ResponseCheck::body_verdict(std::string_view body, int status,
                                                   CheckResult& out) const {
    if (body.size() > CheckSpec::kMaxBody) {
        body = body.substr(0, CheckSpec::kMaxBody);
    }
    out = spec_.body->match(body) ? CheckResult::pass(status)
                                  : CheckResult{Failure::kBodyMismatch, status};
    return Verdict::kDone;
}

ResponseCheck::Verdict ResponseCheck::feed(std::string_view in, bool eof, CheckResult& out) {
    http::ParsedResponse resp;
    switch (http::parse_response_head(in, CheckSpec::kMaxHead, scan_, resp)) {
        case http::ParseResult::kError:
            out = CheckResult::fail(Failure::kInvalidResponse);
            return Verdict::kDone;
        case http::ParseResult::kIncomplete: {
            if (!eof) {
                return Verdict::kNeedMore;
            }
            // Closed before the head ended: cut short, or not HTTP at all.
            std::string_view proto = "HTTP/";
            size_t n = std::min(in.size(), proto.size());
            bool looks_http = !in.empty() && in.substr(0, n) == proto.substr(0, n);
            out = CheckResult::fail(looks_http || in.empty() ? Failure::kClosed
                                                             : Failure::kInvalidResponse);
            return Verdict::kDone;
        }
        case http::ParseResult::kComplete:
            break;
    }
    if (!spec_.accepts(resp.status)) {
        out = CheckResult{Failure::kStatus, resp.status};
        return Verdict::kDone;
    }
    if (spec_.body == nullptr) {
        out = CheckResult::pass(resp.status);
        return Verdict::kDone;
    }
    std::string_view rest = in.substr(resp.head_len);
    switch (resp.framing(false)) {
        case http::BodyFraming::kNone:
            return body_verdict({}, resp.status, out);
        case http::BodyFraming::kLength: {
            uint64_t want = std::min<uint64_t>(*resp.content_length, CheckSpec::kMaxBody);
            if (rest.size() >= want) {
                return body_verdict(rest.substr(0, static_cast<size_t>(want)), resp.status, out);
            }
            break;
        }
        case http::BodyFraming::kChunked: {
            // The whole body is decoded again on each call: it is small (kMaxBody at most).
            http::ChunkedDecoder decoder;
            std::string body;
            std::string_view left = rest;
            for (;;) {
                size_t used = 0;
                std::string_view data;
                auto r = decoder.decode(left, used, data);
                body.append(data);
                left.remove_prefix(used);
                if (r == http::ChunkedDecoder::Result::kError) {
                    out = CheckResult{Failure::kInvalidResponse, resp.status};
                    return Verdict::kDone;
                }
                if (r == http::ChunkedDecoder::Result::kDone ||
                    body.size() >= CheckSpec::kMaxBody) {
                    return body_verdict(body, resp.status, out);
                }
                if (used == 0) {
                    break;  // needs more input
                }
            }
            break;
        }
        case http::BodyFraming::kUntilClose:
            if (eof || rest.size() >= CheckSpec::kMaxBody) {
                return body_verdict(rest, resp.status, out);
            }
            break;
    }
    if (eof) {
        out = CheckResult{Failure::kClosed, resp.status};
        return Verdict::kDone;
    }
    return Verdict::kNeedMore;
}

// ---- ReplyCheck ----

ReplyCheck::Verdict ReplyCheck::feed(std::string_view in, bool eof, CheckResult& out) const {
    if (datagram_) {
        eof = true;  // a datagram is the whole reply
    }
    if (expect_.regex == nullptr) {
        const std::string& want = expect_.prefix;
        size_t n = std::min(in.size(), want.size());
        if (in.substr(0, n) != std::string_view(want).substr(0, n)) {
            out = CheckResult::fail(Failure::kReplyMismatch);
            return Verdict::kDone;
        }
        if (in.size() >= want.size()) {
            out = CheckResult::pass();
            return Verdict::kDone;
        }
        if (!eof) {
            return Verdict::kNeedMore;
        }
        // Closed before the whole prefix came (a datagram: shorter than it).
        out = CheckResult::fail(datagram_ ? Failure::kReplyMismatch : Failure::kClosed);
        return Verdict::kDone;
    }
    std::string_view seen = in.substr(0, std::min(in.size(), CheckSpec::kMaxReply));
    if (expect_.regex->match(seen)) {
        out = CheckResult::pass();
        return Verdict::kDone;
    }
    if (eof || in.size() >= CheckSpec::kMaxReply) {
        bool nothing = in.empty() && !datagram_;
        out = CheckResult::fail(nothing ? Failure::kClosed : Failure::kReplyMismatch);
        return Verdict::kDone;
    }
    return Verdict::kNeedMore;
}

std::optional<CheckResult> ReplyCheck::at_timeout(std::string_view received) const {
    if (expect_.regex != nullptr && !received.empty()) {
        return CheckResult::fail(Failure::kReplyMismatch);
    }
    return std::nullopt;
}

// ---- Checker ----

Checker::Checker(ev::TimeSource& time, const CheckSpec& spec, Target target, Prober& prober,
                 HealthMachine initial, Report report, uint64_t seed)
    : time_(time),
      spec_(spec),
      target_(std::move(target)),
      prober_(prober),
      state_(initial),
      report_(std::move(report)),
      rng_(seed) {
    tick_ = time_.make_timer([this] { run(); });
    deadline_ = time_.make_timer([this] {
        CheckResult r = CheckResult::fail(Failure::kTimeout);
        r.timeout = spec_.timeout;
        if (probe_ != nullptr) {
            if (std::optional<CheckResult> v = probe_->at_timeout()) {
                r = *v;
            }
        }
        probe_.reset();  // cancels the check: closes its connection
        finish(r);
    });
}

Checker::~Checker() {
    // Probes first: their connections reference the loop, not this object.
    probe_.reset();
    retired_.reset();
}

Millis Checker::jitter() {
    if (spec_.jitter.count() <= 0) {
        return Millis(0);
    }
    std::uniform_int_distribution<int64_t> d(0, spec_.jitter.count());
    return Millis(d(rng_));
}

void Checker::start(Millis delay) {
    tick_->arm(delay + jitter());
}

void Checker::run() {
    retired_.reset();
    started_ = time_.now();
    in_flight_ = true;
    deadline_->arm(spec_.timeout);
    uint64_t generation = ++generation_;
    std::unique_ptr<Probe> p =
        prober_.start(spec_, target_, [this, generation](const CheckResult& r) {
            if (generation == generation_) {
                finish(r);  // (never a word from an earlier, cancelled check)
            }
        });
    if (in_flight_) {
        probe_ = std::move(p);
    } else {
        retired_ = std::move(p);  // it finished inside start()
    }
}

void Checker::finish(const CheckResult& r) {
    if (!in_flight_) {
        return;
    }
    in_flight_ = false;
    deadline_->cancel();
    if (probe_ != nullptr) {
        retired_ = std::move(probe_);  // its callback may be on the stack: destroyed later
    }
    checks_++;
    last_ = r;
    HealthMachine::Change change = state_.record(r.ok());
    auto next = started_ + spec_.interval + jitter();
    auto wait = std::chrono::duration_cast<Millis>(next - time_.now());
    tick_->arm(std::max(wait, Millis(0)));
    if (report_) {
        report_(*this, change);
    }
}

}  // namespace mod::healthcheck
