// Session: request bodies, read whole (read_body: memory, then a temporary file), streamed to
// a handler as they arrive (stream_body, paced by pause_input/resume_input), or discarded.
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/sys.h"
#include "http/body_file.h"
#include "http/error_log.h"
#include "http/session.h"

    namespace http {

    void Http1Session::detach_head() {
        if (work().head_len == 0) {
            return;
        }
        std::string_view old = in_.view().substr(0, work().head_len);
        req_->rebase(old);
        in_.consume(work().head_len);
        work().head_len = 0;
    }

    Flow Http1Session::read_body(BodyHandler done) {
        Request& r = *req_;
        work().body_handler = done;
        work().body = std::make_unique<RequestBody>();
        if (work().body_done) {
            if (!finish_body(*work().body)) {
                fail_request(500);
                return Flow::kSuspend;
            }
            r.body = std::move(work().body);
            done(r);  // may finish the request: `r` is not used after this
            return Flow::kSuspend;
        }
        detach_head();
        if (r.expect_continue && !work().continue_sent && in_.empty() && r.http_minor >= 1) {
            conn_.send("HTTP/1.1 100 Continue\r\n\r\n");
            work().continue_sent = true;
        }
        state_ = State::kReadingBody;
        conn_.set_timeout(*loc().client_body_timeout);
        process_input();
        return Flow::kSuspend;
    }

    void Http1Session::stream_body(BodyDataHandler on_data) {
        Request& r = *req_;
        work().stream = on_data;
        work().input_paused = false;
        detach_head();
        if (!work().body_done && r.expect_continue && !work().continue_sent && in_.empty() &&
            r.http_minor >= 1) {
            conn_.send("HTTP/1.1 100 Continue\r\n\r\n");
            work().continue_sent = true;
        }
        conn_.set_timeout(*loc().client_body_timeout);
        post_input();
    }

    void Http1Session::pause_input() {
        work().input_paused = true;
        if (state_ == State::kRunning && !conn_.output_pending()) {
            conn_.clear_timeout();  // the consumer's own timeout covers the wait
        }
    }

    void Http1Session::resume_input() {
        if (!input_paused()) {
            return;
        }
        work().input_paused = false;
        if (state_ == State::kRunning && streaming()) {
            conn_.set_timeout(*loc().client_body_timeout);
        }
        post_input();
    }

    bool Http1Session::stream_step() {
        if (work().body_done) {
            // stream_body() after the body was complete (an empty chunked body): just the end.
            BodyDataHandler h = work().stream;
            work().stream = nullptr;
            h(*req_, {}, true);
            return true;
        }
        switch (take_body(BodyMode::kStream)) {
            case BodyStep::kDone:
                work().stream = nullptr;
                if (!conn_.output_pending()) {
                    conn_.clear_timeout();
                }
                return false;
            case BodyStep::kGone:
                return true;  // the handler finished the request: on in the new state
            case BodyStep::kBad:
                log(core::LogLevel::kError, "client sent invalid chunked body");
                fail_request(400);
                return true;
            case BodyStep::kTooLarge:
                log(core::LogLevel::kError,
                    "client intended to send too large chunked body: %llu bytes",
                    static_cast<unsigned long long>(work().body_seen));
                fail_request(413);
                return true;
            case BodyStep::kNeedMore:
            case BodyStep::kFailed:
                break;
        }
        if (input_paused() || !read_more(in_.size() + 65536)) {
            return false;
        }
        conn_.set_timeout(*loc().client_body_timeout);
        return true;
    }

    Http1Session::BodyStep Http1Session::take_body(BodyMode mode) {
        bool keep = mode != BodyMode::kDiscard;
        if (!keep && work().head_len > 0) {
            in_.consume(work().head_len);
            work().head_len = 0;
        }
        uint64_t max = req_ ? loc().client_max_body_size->bytes : 0;
        while (!work().body_done && !in_.empty() &&
               !(mode == BodyMode::kStream && input_paused())) {
            std::string_view data;
            size_t used = 0;
            if (work().body_chunked) {
                auto res = work().chunked.decode(in_.view(), used, data);
                if (res == ChunkedDecoder::Result::kError) {
                    return BodyStep::kBad;
                }
                work().body_done = res == ChunkedDecoder::Result::kDone;
            } else {
                used = static_cast<size_t>(std::min<uint64_t>(work().body_left, in_.size()));
                data = in_.view().substr(0, used);
                work().body_left -= used;
                work().body_done = work().body_left == 0;
            }
            work().body_seen += data.size();
            if (req_) {
                req_->request_length += used;
            }
            if (keep && max > 0 && work().body_seen > max) {
                return BodyStep::kTooLarge;
            }
            if (mode == BodyMode::kStream) {
                // Consumed first: the handler may finish the request, and the session then goes
                // on (discarding, the next request) from what follows.
                in_.consume(used);
                if (!data.empty() || work().body_done) {
                    const Request* r = req_.get();
                    work().stream(*req_, data, work().body_done);
                    if (req_.get() != r || state_ != State::kRunning || !streaming()) {
                        return BodyStep::kGone;
                    }
                }
                continue;
            }
            if (keep && !data.empty() && !store_body(*work().body, data)) {
                return BodyStep::kFailed;
            }
            in_.consume(used);
        }
        return work().body_done ? BodyStep::kDone : BodyStep::kNeedMore;
    }

    bool Session::open_body_file(RequestBody & b) {
        int mode = *loc().client_body_in_file_only;
        b.fd = create_body_file(loc(), mode != kBodyInFileOff, b.path);
        if (b.fd < 0) {
            log_error(*req_, core::LogLevel::kCrit, "open() \"%s\" failed (%d: %s)", b.path.c_str(),
                      errno, strerror(errno));
            return false;
        }
        b.remove = mode == kBodyInFileClean;
        if (!b.memory.empty() || b.size > 0) {
            // nginx: a notice when the location asks for files, a warning when the body is large
            log_error(*req_,
                      mode != kBodyInFileOff ? core::LogLevel::kNotice : core::LogLevel::kWarn,
                      "a client request body is buffered to a temporary file %s", b.path.c_str());
        }
        if (!core::write_all(b.fd, b.memory)) {
            log_error(*req_, core::LogLevel::kCrit, "write() \"%s\" failed (%d: %s)",
                      b.path.c_str(), errno, strerror(errno));
            return false;
        }
        b.memory.clear();
        b.memory.shrink_to_fit();
        return true;
    }

    bool Session::finish_body(RequestBody & b) {
        if (b.in_file() || !wants_body_file(*req_)) {
            return true;  // no body at all: no file, as nginx
        }
        return open_body_file(b);
    }

    bool Session::store_body(RequestBody & b, std::string_view data) {
        b.size += data.size();
        if (!b.in_file() && *loc().client_body_in_file_only == kBodyInFileOff &&
            b.memory.size() + data.size() <= loc().client_body_buffer_size->bytes) {
            b.memory.append(data);
            return true;
        }
        if (!b.in_file() && !open_body_file(b)) {
            return false;
        }
        if (!core::write_all(b.fd, data)) {
            log_error(*req_, core::LogLevel::kCrit, "write() \"%s\" failed (%d: %s)",
                      b.path.c_str(), errno, strerror(errno));
            return false;
        }
        return true;
    }

}  // namespace http
