#include "support/h2_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "auto_config.h"

#if HALO_HAVE_OPENSSL
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

namespace halo_test::h2 {

using Clock = std::chrono::steady_clock;

#if HALO_HAVE_OPENSSL
struct Client::Tls {
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    ~Tls() {
        if (ssl != nullptr) {
            SSL_free(ssl);
        }
        if (ctx != nullptr) {
            SSL_CTX_free(ctx);
        }
    }
};
#else
struct Client::Tls {};
#endif

namespace {

nghttp2_hd_deflater* deflater(void* p) {
    return static_cast<nghttp2_hd_deflater*>(p);
}
nghttp2_hd_inflater* inflater(void* p) {
    return static_cast<nghttp2_hd_inflater*>(p);
}

uint32_t get32(std::string_view s, size_t at) {
    auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(s[at + i])); };
    return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

int poll_fd(int fd, short events, Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    if (left < 0) {
        left = 0;
    }
    pollfd p{fd, events, 0};
    int rc;
    do {
        rc = ::poll(&p, 1, static_cast<int>(left));
    } while (rc < 0 && errno == EINTR);
    return rc;
}

const char* type_name(uint8_t t) {
    static const char* kNames[] = {"DATA",          "HEADERS",      "PRIORITY", "RST_STREAM",
                                   "SETTINGS",      "PUSH_PROMISE", "PING",     "GOAWAY",
                                   "WINDOW_UPDATE", "CONTINUATION"};
    return t < 10 ? kNames[t] : "UNKNOWN";
}

}  // namespace

std::string Response::header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
        if (n == name) {
            return v;
        }
    }
    return {};
}

bool Response::has(std::string_view name) const {
    for (const auto& h : headers) {
        if (h.first == name) {
            return true;
        }
    }
    return false;
}

Client::Client() {
    nghttp2_hd_deflater* d = nullptr;
    nghttp2_hd_inflater* i = nullptr;
    nghttp2_hd_deflate_new(&d, 4096);
    nghttp2_hd_inflate_new(&i);
    deflater_ = d;
    inflater_ = i;
}

Client::~Client() {
    close();
    nghttp2_hd_deflate_del(deflater(deflater_));
    nghttp2_hd_inflate_del(inflater(inflater_));
}

void Client::close() {
    tls_.reset();
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

bool Client::connect(uint16_t port, Millis timeout) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) {
        error_ = std::string("socket: ") + strerror(errno);
        return false;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 && errno != EINPROGRESS) {
        error_ = std::string("connect: ") + strerror(errno);
        close();
        return false;
    }
    if (poll_fd(fd_, POLLOUT, Clock::now() + timeout) <= 0) {
        error_ = "connect: timed out";
        close();
        return false;
    }
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        error_ = std::string("connect: ") + strerror(err);
        close();
        return false;
    }
    closed_ = false;
    return true;
}

#if HALO_HAVE_OPENSSL
bool Client::connect_tls(uint16_t port, const std::vector<std::string>& alpn, Millis timeout) {
    if (!connect(port, timeout)) {
        return false;
    }
    tls_ = std::make_unique<Tls>();
    tls_->ctx = SSL_CTX_new(TLS_client_method());
    tls_->ssl = SSL_new(tls_->ctx);
    std::string wire;
    for (const std::string& p : alpn) {
        wire += static_cast<char>(p.size());
        wire += p;
    }
    SSL_set_alpn_protos(tls_->ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
    SSL_set_tlsext_host_name(tls_->ssl, "localhost");
    SSL_set_fd(tls_->ssl, fd_);
    auto deadline = Clock::now() + timeout;
    for (;;) {
        int rc = SSL_connect(tls_->ssl);
        if (rc == 1) {
            break;
        }
        int e = SSL_get_error(tls_->ssl, rc);
        short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (ev == 0 || poll_fd(fd_, ev, deadline) <= 0) {
            error_ = "TLS handshake failed";
            close();
            return false;
        }
    }
    const unsigned char* sel = nullptr;
    unsigned sel_len = 0;
    SSL_get0_alpn_selected(tls_->ssl, &sel, &sel_len);
    alpn_.assign(reinterpret_cast<const char*>(sel), sel_len);
    if (alpn_ != "h2") {
        error_ = "ALPN chose \"" + alpn_ + "\", not h2";
        return false;
    }
    return true;
}
#else
bool Client::connect_tls(uint16_t, const std::vector<std::string>&, Millis) {
    error_ = "this build has no OpenSSL";
    return false;
}
#endif

long Client::io_read(char* buf, size_t n) {
#if HALO_HAVE_OPENSSL
    if (tls_) {
        int rc = SSL_read(tls_->ssl, buf, static_cast<int>(n));
        if (rc > 0) {
            return rc;
        }
        int e = SSL_get_error(tls_->ssl, rc);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            errno = EAGAIN;
            return -1;
        }
        if (e == SSL_ERROR_ZERO_RETURN) {
            return 0;
        }
        errno = ECONNRESET;
        return -1;
    }
#endif
    return ::recv(fd_, buf, n, 0);
}

long Client::io_write(const char* buf, size_t n) {
#if HALO_HAVE_OPENSSL
    if (tls_) {
        int rc = SSL_write(tls_->ssl, buf, static_cast<int>(n));
        if (rc > 0) {
            return rc;
        }
        int e = SSL_get_error(tls_->ssl, rc);
        errno = (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? EAGAIN : EPIPE;
        return -1;
    }
#endif
    return ::send(fd_, buf, n, MSG_NOSIGNAL);
}

bool Client::send_raw(std::string_view bytes) {
    if (fd_ < 0) {
        error_ = "not connected";
        return false;
    }
    auto deadline = Clock::now() + 5s;
    while (!bytes.empty()) {
        long n = io_write(bytes.data(), bytes.size());
        if (n > 0) {
            bytes.remove_prefix(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            // the server may stop reading until we read: keep taking frames meanwhile
            if (poll_fd(fd_, POLLOUT, Clock::now() + 50ms) <= 0) {
                if (Clock::now() > deadline) {
                    error_ = "send: timed out";
                    return false;
                }
                if (read_while_sending_ && fill(Clock::now()) == 0) {
                    error_ = "send: the server closed the connection";
                    return false;
                }
            }
            continue;
        }
        error_ = std::string("send: ") + strerror(errno);
        return false;
    }
    return true;
}

bool Client::send_frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
    return send_raw(encode_frame(type, flags, stream, payload));
}

bool Client::send_preface(const Settings& settings) {
    return send_raw(std::string(kClientMagic) +
                    encode_frame(kSettings, 0, 0, settings_payload(settings)));
}

bool Client::handshake(const Settings& settings, Millis timeout) {
    if (!send_preface(settings)) {
        return false;
    }
    auto deadline = Clock::now() + timeout;
    while (!server_settings_seen_ || settings_acks_ == 0) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        if (left.count() <= 0 || goaway_ || closed_) {
            error_ = "handshake: no SETTINGS/ACK from the server (frames: " + trace_ + ")";
            return false;
        }
        read_frame(left);
    }
    return true;
}

bool Client::send_settings(const Settings& settings) {
    return send_frame(kSettings, 0, 0, settings_payload(settings));
}

bool Client::send_settings_ack() {
    return send_frame(kSettings, kFlagAck, 0, {});
}

bool Client::send_ping(std::string_view opaque8, bool ack) {
    return send_frame(kPing, ack ? kFlagAck : 0, 0, opaque8);
}

bool Client::send_window_update(uint32_t stream, uint32_t increment) {
    return send_frame(kWindowUpdate, 0, stream, be32(increment));
}

bool Client::send_rst(uint32_t stream, uint32_t error) {
    return send_frame(kRstStream, 0, stream, be32(error));
}

bool Client::send_goaway(uint32_t last_stream, uint32_t error, std::string_view debug) {
    return send_frame(kGoaway, 0, 0, be32(last_stream) + be32(error) + std::string(debug));
}

bool Client::send_priority(uint32_t stream, uint32_t depends_on, uint8_t weight, bool exclusive) {
    return send_frame(kPriority, 0, stream,
                      be32(depends_on | (exclusive ? 0x80000000u : 0)) +
                          std::string(1, static_cast<char>(weight)));
}

bool Client::send_data(uint32_t stream, std::string_view data, bool end_stream, Millis timeout) {
    auto deadline = Clock::now() + timeout;
    do {
        int64_t window = std::min(conn_send_window_, server_initial_window_ + send_delta_[stream]);
        size_t n = std::min<size_t>(data.size(), server_max_frame_);
        if (window < static_cast<int64_t>(n)) {
            n = window > 0 ? static_cast<size_t>(window) : 0;
        }
        if (n == 0 && !data.empty()) {
            auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
            if (left.count() <= 0 || !read_frame(left)) {
                error_ = "send_data: the server's window stays closed (frames: " + trace_ + ")";
                return false;
            }
            if (streams_[stream].rst || goaway_) {
                error_ = "send_data: the stream or the connection ended (frames: " + trace_ + ")";
                return false;
            }
            continue;
        }
        bool last = n == data.size();
        if (!send_frame(kData, last && end_stream ? kFlagEndStream : 0, stream,
                        data.substr(0, n))) {
            return false;
        }
        conn_send_window_ -= static_cast<int64_t>(n);
        send_delta_[stream] -= static_cast<int64_t>(n);
        data.remove_prefix(n);
    } while (!data.empty());
    return true;
}

std::string Client::encode(const HeaderList& headers) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [n, v] : headers) {
        nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                       reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                       NGHTTP2_NV_FLAG_NONE});
    }
    size_t bound = nghttp2_hd_deflate_bound(deflater(deflater_), nva.data(), nva.size());
    std::string out(bound, '\0');
    ssize_t n = nghttp2_hd_deflate_hd(deflater(deflater_), reinterpret_cast<uint8_t*>(out.data()),
                                      out.size(), nva.data(), nva.size());
    if (n < 0) {
        error_ = std::string("HPACK deflate: ") + nghttp2_strerror(static_cast<int>(n));
        return {};
    }
    out.resize(static_cast<size_t>(n));
    return out;
}

bool Client::send_header_block(uint32_t stream, std::string_view block, bool end_stream,
                               size_t fragment) {
    size_t first = fragment == 0 ? block.size() : std::min(fragment, block.size());
    uint8_t flags =
        (end_stream ? kFlagEndStream : 0) | (first == block.size() ? kFlagEndHeaders : 0);
    std::string out = encode_frame(kHeaders, flags, stream, block.substr(0, first));
    block.remove_prefix(first);
    while (!block.empty()) {
        size_t n = std::min(fragment, block.size());
        out += encode_frame(kContinuation, n == block.size() ? kFlagEndHeaders : 0, stream,
                            block.substr(0, n));
        block.remove_prefix(n);
    }
    return send_raw(out);
}

uint32_t Client::next_stream() {
    uint32_t id = next_stream_;
    next_stream_ += 2;
    return id;
}

HeaderList Client::request_headers(std::string_view path, std::string_view method,
                                   const HeaderList& extra) {
    HeaderList h = {{":method", std::string(method)},
                    {":scheme", "http"},
                    {":authority", "localhost"},
                    {":path", std::string(path)}};
    h.insert(h.end(), extra.begin(), extra.end());
    return h;
}

int Client::fill(Clock::time_point deadline) {
    if (fd_ < 0 || closed_) {
        return 0;
    }
    for (;;) {
        char buf[16384];
        long n = io_read(buf, sizeof buf);
        if (n > 0) {
            in_.append(buf, static_cast<size_t>(n));
            return 1;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            closed_ = true;
            return 0;
        }
        if (poll_fd(fd_, POLLIN, deadline) <= 0) {
            return -1;
        }
    }
}

std::optional<Frame> Client::read_frame(Millis timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (in_.size() >= 9) {
            uint32_t len = (static_cast<uint32_t>(static_cast<uint8_t>(in_[0])) << 16) |
                           (static_cast<uint32_t>(static_cast<uint8_t>(in_[1])) << 8) |
                           static_cast<uint8_t>(in_[2]);
            if (in_.size() >= 9 + len) {
                Frame f;
                f.type = static_cast<uint8_t>(in_[3]);
                f.flags = static_cast<uint8_t>(in_[4]);
                f.stream = get32(in_, 5) & 0x7fffffffu;
                f.payload = in_.substr(9, len);
                in_.erase(0, 9 + len);
                process(f);
                return f;
            }
        }
        if (fill(deadline) <= 0) {
            return std::nullopt;
        }
    }
}

void Client::process(const Frame& f) {
    if (trace_.size() < 2000) {
        trace_ += std::string(trace_.empty() ? "" : " ") + type_name(f.type) + "(" +
                  std::to_string(f.stream) + ")";
    }
    switch (f.type) {
        case kSettings:
            if (f.flags & kFlagAck) {
                settings_acks_++;
                break;
            }
            server_settings_seen_ = true;
            for (size_t i = 0; i + 6 <= f.payload.size(); i += 6) {
                uint16_t id = static_cast<uint16_t>((static_cast<uint8_t>(f.payload[i]) << 8) |
                                                    static_cast<uint8_t>(f.payload[i + 1]));
                uint32_t v = get32(f.payload, i + 2);
                server_settings_[id] = v;
                if (id == kMaxFrameSize) {
                    server_max_frame_ = v;
                }
                if (id == kInitialWindowSize) {
                    server_initial_window_ = v;
                }
            }
            if (auto_ack_) {
                send_settings_ack();
            }
            break;
        case kPing:
            if (!(f.flags & kFlagAck) && auto_ack_) {
                send_ping(f.payload, true);
            }
            break;
        case kGoaway:
            if (f.payload.size() >= 8) {
                goaway_ = GoawayInfo{get32(f.payload, 0) & 0x7fffffffu, get32(f.payload, 4),
                                     f.payload.substr(8)};
            }
            break;
        case kWindowUpdate:
            if (f.payload.size() == 4) {
                uint32_t inc = get32(f.payload, 0) & 0x7fffffffu;
                if (f.stream == 0) {
                    conn_send_window_ += inc;
                } else {
                    send_delta_[f.stream] += inc;
                }
            }
            break;
        case kRstStream:
            if (f.payload.size() == 4) {
                streams_[f.stream].rst = get32(f.payload, 0);
            }
            break;
        case kData: {
            std::string_view d = f.payload;
            if ((f.flags & kFlagPadded) && !d.empty()) {
                size_t pad = static_cast<uint8_t>(d[0]);
                d = d.size() >= 1 + pad ? d.substr(1, d.size() - 1 - pad) : std::string_view{};
            }
            StreamState& s = streams_[f.stream];
            s.body += d;
            s.data_frames++;
            s.max_data_frame = std::max(s.max_data_frame, f.payload.size());
            if (f.flags & kFlagEndStream) {
                s.ended = true;
            }
            uint32_t n = static_cast<uint32_t>(f.payload.size());
            if (auto_window_ && n > 0) {
                send_window_update(0, n);
                if (!s.ended) {
                    send_window_update(f.stream, n);
                }
            } else {
                s.recv_unacked += n;
                conn_unacked_ += n;
            }
            break;
        }
        case kHeaders:
        case kContinuation: {
            std::string_view p = f.payload;
            if (f.type == kHeaders) {
                size_t pad = 0;
                if ((f.flags & kFlagPadded) && !p.empty()) {
                    pad = static_cast<uint8_t>(p[0]);
                    p.remove_prefix(1);
                }
                if ((f.flags & kFlagPriority) && p.size() >= 5) {
                    p.remove_prefix(5);
                }
                p = p.substr(0, p.size() >= pad ? p.size() - pad : 0);
                block_stream_ = f.stream;
                block_.clear();
                block_end_stream_ = (f.flags & kFlagEndStream) != 0;
            }
            block_ += p;
            if (f.flags & kFlagEndHeaders) {
                decode_block(block_stream_, block_);
                if (block_end_stream_) {
                    streams_[block_stream_].ended = true;
                }
                block_.clear();
            }
            break;
        }
        default:
            break;
    }
}

void Client::decode_block(uint32_t stream, const std::string& block) {
    HeaderList list;
    const uint8_t* in = reinterpret_cast<const uint8_t*>(block.data());
    size_t left = block.size();
    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(inflater(inflater_), &nv, &flags, in, left, 1);
        if (rv < 0) {
            error_ = std::string("HPACK inflate: ") + nghttp2_strerror(static_cast<int>(rv));
            break;
        }
        in += rv;
        left -= static_cast<size_t>(rv);
        if (flags & NGHTTP2_HD_INFLATE_EMIT) {
            list.emplace_back(std::string(reinterpret_cast<char*>(nv.name), nv.namelen),
                              std::string(reinterpret_cast<char*>(nv.value), nv.valuelen));
        }
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(inflater(inflater_));
            break;
        }
        if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0) {
            break;
        }
    }
    streams_[stream].header_blocks.push_back(std::move(list));
}

std::optional<Frame> Client::wait_frame(uint8_t type, Millis timeout,
                                        std::optional<uint32_t> stream) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        if (left.count() < 0) {
            return std::nullopt;
        }
        std::optional<Frame> f = read_frame(left);
        if (!f) {
            return std::nullopt;
        }
        if (f->type == type && (!stream || f->stream == *stream)) {
            return f;
        }
    }
}

Response Client::request(const HeaderList& headers, std::string_view body, Millis timeout) {
    uint32_t id = next_stream();
    if (!send_headers(id, headers, body.empty())) {
        Response r;
        r.stream = id;
        r.error = error_;
        return r;
    }
    if (!body.empty() && !send_data(id, body, true)) {
        Response r;
        r.stream = id;
        r.error = error_;
        return r;
    }
    return read_response(id, timeout);
}

Response Client::read_response(uint32_t id, Millis timeout) {
    auto deadline = Clock::now() + timeout;
    Response r;
    r.stream = id;
    for (;;) {
        StreamState& s = streams_[id];
        if (s.ended || s.rst || closed_ || (goaway_ && goaway_->last_stream < id)) {
            break;
        }
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        if (left.count() <= 0 || !read_frame(left)) {
            break;
        }
    }
    StreamState& s = streams_[id];
    r.rst = s.rst;
    r.body = s.body;
    for (const HeaderList& block : s.header_blocks) {
        std::string status;
        for (const auto& [n, v] : block) {
            if (n == ":status") {
                status = v;
            }
        }
        if (status.empty()) {
            r.trailers = block;
        } else if (status[0] != '1') {
            r.headers = block;
            r.status = std::atoi(status.c_str());
        }
    }
    if (!s.ended) {
        r.error = s.rst     ? "stream reset: " + error_name(*s.rst)
                  : goaway_ ? "GOAWAY " + error_name(goaway_->error)
                  : closed_ ? "connection closed"
                            : "timed out";
        r.error += " (frames: " + trace_ + ")";
    }
    return r;
}

std::optional<GoawayInfo> Client::wait_goaway(Millis timeout) {
    auto deadline = Clock::now() + timeout;
    while (!goaway_) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        if (left.count() <= 0 || !read_frame(left)) {
            break;
        }
    }
    return goaway_;
}

std::optional<uint32_t> Client::wait_rst(uint32_t id, Millis timeout) {
    auto deadline = Clock::now() + timeout;
    while (!streams_[id].rst) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        if (left.count() <= 0 || !read_frame(left)) {
            break;
        }
    }
    return streams_[id].rst;
}

bool Client::connection_closed(Millis timeout) {
    auto deadline = Clock::now() + timeout;
    while (!closed_) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        if (left.count() <= 0) {
            return false;
        }
        if (!read_frame(left) && !closed_) {
            return false;
        }
    }
    return true;
}

std::optional<uint32_t> Client::server_setting(uint16_t id) const {
    auto it = server_settings_.find(id);
    if (it == server_settings_.end()) {
        return std::nullopt;
    }
    return it->second;
}

}  // namespace halo_test::h2
