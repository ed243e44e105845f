#include "support/stream_backend.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "auto_config.h"

#if HALO_HAVE_OPENSSL
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "support/test_cert.h"
#endif

namespace halo_test {
namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<StreamMillis>(deadline - Clock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
}

/// A TCP socket connected to 127.0.0.1:port, or -1.
int connect_loopback(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(fd);
        fd = -1;
    }
    return fd;
}

bool ends_with(std::string_view s, std::string_view end) {
    return s.size() >= end.size() && s.substr(s.size() - end.size()) == end;
}

std::string hex(const unsigned char* p, size_t n) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < n; i++) {
        out += kDigits[p[i] >> 4];
        out += kDigits[p[i] & 0xf];
    }
    return out;
}

uint16_t get16(std::string_view m, size_t at) {
    return static_cast<uint16_t>((static_cast<uint8_t>(m[at]) << 8) |
                                 static_cast<uint8_t>(m[at + 1]));
}

std::string addr_text(int family, const char* p) {
    char buf[INET6_ADDRSTRLEN] = {};
    return inet_ntop(family, p, buf, sizeof(buf)) != nullptr ? buf : "";
}

// The v2 signature (proxy-protocol.txt §2.2).
constexpr std::string_view kV2Sig("\r\n\r\n\0\r\nQUIT\n", 12);
// v1: "PROXY " ... "\r\n", at most 107 bytes (§2.1).
constexpr size_t kV1Max = 107;

ProxyParse parse_v1(std::string_view data) {
    ProxyParse r;
    size_t eol = data.find("\r\n");
    if (eol == std::string_view::npos) {
        r.need_more = data.size() < kV1Max;
        r.header.error = r.need_more ? "" : "v1 header without CRLF in 107 bytes";
        return r;
    }
    if (eol + 2 > kV1Max) {
        r.header.error = "v1 header longer than 107 bytes";
        return r;
    }
    std::vector<std::string> f;
    std::string_view line = data.substr(0, eol);
    size_t pos = 0;
    while (pos <= line.size()) {
        size_t sp = line.find(' ', pos);
        f.emplace_back(line.substr(pos, sp == std::string_view::npos ? sp : sp - pos));
        if (sp == std::string_view::npos) {
            break;
        }
        pos = sp + 1;
    }
    ProxyHeader& h = r.header;
    h.version = 1;
    h.command = "PROXY";
    if (f.size() >= 2 && f[1] == "UNKNOWN") {
        h.family = "UNKNOWN";
        r.length = eol + 2;
        return r;
    }
    char bin[16];
    int family = f.size() == 6 && f[1] == "TCP4"   ? AF_INET
                 : f.size() == 6 && f[1] == "TCP6" ? AF_INET6
                                                   : 0;
    auto port_ok = [](const std::string& p) {
        return !p.empty() && p.size() <= 5 && p.find_first_not_of("0123456789") == p.npos &&
               (p.size() == 1 || p[0] != '0') && std::stoi(p) <= 65535;
    };
    if (family == 0 || inet_pton(family, f[2].c_str(), bin) != 1 ||
        inet_pton(family, f[3].c_str(), bin) != 1 || !port_ok(f[4]) || !port_ok(f[5])) {
        h = ProxyHeader{};
        h.error = "invalid v1 header \"" + std::string(line) + "\"";
        return r;
    }
    h.family = f[1];
    h.src_addr = f[2];
    h.dst_addr = f[3];
    h.src_port = static_cast<uint16_t>(std::stoi(f[4]));
    h.dst_port = static_cast<uint16_t>(std::stoi(f[5]));
    r.length = eol + 2;
    return r;
}

ProxyParse parse_v2(std::string_view data) {
    ProxyParse r;
    if (data.size() < 16) {
        r.need_more = true;
        return r;
    }
    size_t len = get16(data, 14);
    if (data.size() < 16 + len) {
        r.need_more = true;
        return r;
    }
    auto ver_cmd = static_cast<uint8_t>(data[12]);
    auto fam = static_cast<uint8_t>(data[13]);
    ProxyHeader& h = r.header;
    if ((ver_cmd >> 4) != 2 || (ver_cmd & 0xf) > 1) {
        h.error = "invalid v2 version/command byte";
        return r;
    }
    h.version = 2;
    h.command = (ver_cmd & 0xf) == 0 ? "LOCAL" : "PROXY";
    r.length = 16 + len;
    std::string_view body = data.substr(16, len);
    // §2.2: 0x11 TCP over IPv4, 0x12 UDP over IPv4, 0x21 TCP over IPv6, 0x22 UDP over IPv6
    int family = (fam >> 4) == 1 ? AF_INET : (fam >> 4) == 2 ? AF_INET6 : 0;
    size_t alen = family == AF_INET ? 4 : 16;
    if (h.command == "LOCAL" || family == 0 || ((fam & 0xf) != 1 && (fam & 0xf) != 2)) {
        h.family = "UNKNOWN";
        return r;
    }
    if (body.size() < 2 * alen + 4) {
        h = ProxyHeader{};
        h.error = "v2 address block too short";
        r.length = 0;
        return r;
    }
    h.family = std::string((fam & 0xf) == 1 ? "TCP" : "UDP") + (family == AF_INET ? "4" : "6");
    h.src_addr = addr_text(family, body.data());
    h.dst_addr = addr_text(family, body.data() + alen);
    h.src_port = get16(body, 2 * alen);
    h.dst_port = get16(body, 2 * alen + 2);
    return r;
}

}  // namespace

ProxyParse parse_proxy_header(std::string_view data) {
    size_t n = std::min(data.size(), kV2Sig.size());
    if (data.substr(0, n) == kV2Sig.substr(0, n)) {
        return parse_v2(data);
    }
    constexpr std::string_view kV1 = "PROXY ";
    n = std::min(data.size(), kV1.size());
    if (data.substr(0, n) == kV1.substr(0, n)) {
        if (data.size() < kV1.size()) {
            ProxyParse r;
            r.need_more = true;
            return r;
        }
        return parse_v1(data);
    }
    ProxyParse r;
    r.header.error = "no PROXY protocol header";
    return r;
}

bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

// ---- TcpAcceptor ------------------------------------------------------------------------------

TcpAcceptor::~TcpAcceptor() {
    stop();
}

bool TcpAcceptor::listen(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    socklen_t len = sizeof(a);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 512) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        return false;
    }
    port_ = ntohs(a.sin_port);
    listen_fd_ = fd;
    stopping_ = false;
    acceptor_ = std::thread([this] { accept_loop(); });
    return true;
}

void TcpAcceptor::accept_loop() {
    for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            return;  // the listening socket was shut down
        }
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) {
            ::close(fd);
            return;
        }
        int index = accepted_++;
        open_++;
        conn_fds_.push_back(fd);
        workers_.emplace_back([this, fd, index] { run(fd, index); });
    }
}

void TcpAcceptor::run(int fd, int index) {
    serve_(fd, index);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find(conn_fds_.begin(), conn_fds_.end(), fd);
    if (it != conn_fds_.end()) {
        conn_fds_.erase(it);
        ::close(fd);
    }
    open_--;
}

void TcpAcceptor::stop() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
        if (listen_fd_ >= 0) {
            ::shutdown(listen_fd_, SHUT_RDWR);
        }
        for (int fd : conn_fds_) {
            ::shutdown(fd, SHUT_RDWR);
        }
    }
    if (acceptor_.joinable()) {
        acceptor_.join();
    }
    std::vector<std::thread> workers;
    {
        std::lock_guard<std::mutex> lock(mu_);
        workers.swap(workers_);
    }
    for (auto& t : workers) {
        t.join();
    }
    if (listen_fd_ >= 0) {
        ::close(listen_fd_);
        listen_fd_ = -1;
    }
}

bool TcpAcceptor::restart() {
    stop();
    return port_ != 0 && listen(port_);
}

// ---- TcpEchoBackend ---------------------------------------------------------------------------

TcpEchoBackend::TcpEchoBackend(std::string name, bool greeting)
    : name_(std::move(name)), greeting_(greeting), acceptor_([this](int fd, int) { serve(fd); }) {
    acceptor_.listen();
}

void TcpEchoBackend::serve(int fd) {
    if (greeting_) {
        if (!send_all(fd, greeting())) {
            return;
        }
        greeted_++;
    }
    char buf[65536];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        // Counted before the echo goes out: a client that has read it sees the count.
        bytes_ += static_cast<uint64_t>(n);
        if (!send_all(fd, std::string_view(buf, static_cast<size_t>(n)))) {
            return;
        }
    }
}

// ---- UdpEchoBackend ---------------------------------------------------------------------------

UdpEchoBackend::UdpEchoBackend(std::string name, int replies)
    : name_(std::move(name)), replies_(replies) {
    open(0);
}

bool UdpEchoBackend::open(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    socklen_t len = sizeof(a);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = -1;
        return false;
    }
    port_ = ntohs(a.sin_port);
    stop_ = false;
    thread_ = std::thread([this] { run(); });
    return true;
}

void UdpEchoBackend::run() {
    char buf[65536];
    while (!stop_) {
        struct pollfd p = {fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) != 1) {
            continue;
        }
        sockaddr_in from{};
        socklen_t len = sizeof(from);
        ssize_t n = ::recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0) {
            continue;
        }
        datagrams_++;
        {
            std::lock_guard<std::mutex> lock(mu_);
            uint16_t src = ntohs(from.sin_port);
            if (std::find(sources_.begin(), sources_.end(), src) == sources_.end()) {
                sources_.push_back(src);
            }
        }
        std::string answer = name_ + ":" + std::string(buf, static_cast<size_t>(n));
        for (int i = 0; i < replies_; i++) {
            ::sendto(fd_, answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
        }
    }
}

std::vector<uint16_t> UdpEchoBackend::sources() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sources_;
}

void UdpEchoBackend::stop() {
    stop_ = true;
    if (thread_.joinable()) {
        thread_.join();
    }
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

bool UdpEchoBackend::restart() {
    stop();
    return port_ != 0 && open(port_);
}

// ---- ProxyProtocolBackend ---------------------------------------------------------------------

ProxyProtocolBackend::ProxyProtocolBackend(std::string name)
    : name_(std::move(name)), acceptor_([this](int fd, int) { serve(fd); }) {
    acceptor_.listen();
}

void ProxyProtocolBackend::serve(int fd) {
    std::string in;
    ProxyParse p;
    char buf[65536];
    for (;;) {
        p = parse_proxy_header(in);
        if (!p.need_more) {
            break;
        }
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            p.header.error = in.empty() ? "closed before any byte" : "closed inside the header";
            break;
        }
        in.append(buf, static_cast<size_t>(n));
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        headers_.push_back(p.header);
    }
    if (!p.header.error.empty() || !send_all(fd, std::string_view(in).substr(p.length))) {
        return;
    }
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0 || !send_all(fd, std::string_view(buf, static_cast<size_t>(n)))) {
            return;
        }
    }
}

std::vector<ProxyHeader> ProxyProtocolBackend::headers() const {
    std::lock_guard<std::mutex> lock(mu_);
    return headers_;
}

// ---- TlsPassthroughBackend --------------------------------------------------------------------

#if HALO_HAVE_OPENSSL

namespace {

/// Records the client's ALPN list (wire format: length-prefixed names) in the std::string the
/// connection's SSL carries as app data, and selects nothing.
int record_alpn(SSL* ssl, const unsigned char**, unsigned char*, const unsigned char* in,
                unsigned int inlen, void*) {
    auto* offer = static_cast<std::string*>(SSL_get_app_data(ssl));
    for (unsigned int i = 0; offer != nullptr && i < inlen; i += 1 + in[i]) {
        unsigned int n = std::min<unsigned int>(in[i], inlen - i - 1);
        offer->append(offer->empty() ? "" : ",");
        offer->append(reinterpret_cast<const char*>(in + i + 1), n);
    }
    return SSL_TLSEXT_ERR_NOACK;
}

std::string cert_fingerprint(X509* x) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (x == nullptr || X509_digest(x, EVP_sha256(), md, &n) != 1) {
        return {};
    }
    return hex(md, n);
}

/// Reads from `ssl` into `out` until `done(out)`, EOF, an error or the socket's timeout.
template <typename Done>
void ssl_read_until(SSL* ssl, std::string& out, Done done) {
    char buf[16384];
    while (!done(out)) {
        int n = SSL_read(ssl, buf, sizeof(buf));
        if (n <= 0) {
            return;
        }
        out.append(buf, static_cast<size_t>(n));
    }
}

/// OpenSSL writes to its sockets with write(2): a peer that closed first (a proxy ending a
/// session mid-handshake) would kill the test process with SIGPIPE. While one lives, SIGPIPE
/// is blocked on this thread (the write fails with EPIPE, which the callers handle); one
/// raised meanwhile is consumed before the mask is restored, so that processes the thread
/// starts later keep the default.
class SigpipeBlock {
  public:
    SigpipeBlock() {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    }
    ~SigpipeBlock() {
        timespec zero{0, 0};
        while (sigtimedwait(&pipe_, nullptr, &zero) > 0) {
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    SigpipeBlock(const SigpipeBlock&) = delete;
    SigpipeBlock& operator=(const SigpipeBlock&) = delete;

  private:
    sigset_t pipe_;
    sigset_t old_;
};

}  // namespace

struct TlsPassthroughBackend::Tls {
    SSL_CTX* ctx = nullptr;
    ~Tls() { SSL_CTX_free(ctx); }
};

TlsPassthroughBackend::TlsPassthroughBackend(std::string name)
    : name_(std::move(name)),
      tls_(std::make_unique<Tls>()),
      acceptor_(std::make_unique<TcpAcceptor>([this](int fd, int) { serve(fd); })) {
    char tmpl[] = "/tmp/halo-tls-backend.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
        return;
    }
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0755);  // a proxy's worker (another user) may read the certificate
    cert_file_ = dir_ + "/cert.pem";
    key_file_ = dir_ + "/cert.key";
    if (!make_certificate(name_, cert_file_, key_file_)) {
        return;
    }
    ::chmod(cert_file_.c_str(), 0644);
    ::chmod(key_file_.c_str(), 0644);
    tls_->ctx = SSL_CTX_new(TLS_server_method());
    if (tls_->ctx == nullptr ||
        SSL_CTX_use_certificate_file(tls_->ctx, cert_file_.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls_->ctx, key_file_.c_str(), SSL_FILETYPE_PEM) != 1) {
        return;
    }
    fingerprint_ = cert_fingerprint(SSL_CTX_get0_certificate(tls_->ctx));
    SSL_CTX_set_alpn_select_cb(tls_->ctx, record_alpn, nullptr);
    acceptor_->listen();
}

TlsPassthroughBackend::~TlsPassthroughBackend() {
    acceptor_->stop();
    if (!dir_.empty()) {
        ::unlink(cert_file_.c_str());
        ::unlink(key_file_.c_str());
        ::rmdir(dir_.c_str());
    }
}

void TlsPassthroughBackend::serve(int fd) {
    SigpipeBlock no_sigpipe;
    SSL* ssl = SSL_new(tls_->ctx);
    if (ssl == nullptr) {
        return;
    }
    SSL_set_fd(ssl, fd);
    std::string alpn;
    SSL_set_app_data(ssl, &alpn);
    if (SSL_accept(ssl) == 1) {
        const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        {
            std::lock_guard<std::mutex> lock(mu_);
            server_names_.emplace_back(sni != nullptr ? sni : "");
            alpn_offers_.push_back(alpn);
        }
        handshakes_++;
        if (SSL_session_reused(ssl) == 1) {
            resumed_++;
        }
        std::string hello = "tls " + name_ + "\n";
        if (SSL_write(ssl, hello.data(), static_cast<int>(hello.size())) > 0) {
            char buf[16384];
            int n;
            while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0) {
                if (SSL_write(ssl, buf, n) <= 0) {
                    break;
                }
            }
        }
    }
    SSL_free(ssl);  // (no close_notify: the client may be gone; the acceptor closes fd)
    ERR_clear_error();
}

std::string tls_roundtrip(uint16_t port, std::string_view sni, std::string* peer_fingerprint,
                          std::string_view bytes, const std::vector<std::string>& alpn,
                          StreamMillis timeout) {
    if (peer_fingerprint != nullptr) {
        peer_fingerprint->clear();
    }
    SigpipeBlock no_sigpipe;
    int fd = connect_loopback(port);
    if (fd < 0) {
        return {};
    }
    struct timeval tv = {static_cast<time_t>(timeout.count() / 1000),
                         static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = ctx != nullptr ? SSL_new(ctx) : nullptr;
    std::string out;
    if (ssl != nullptr) {
        SSL_set_fd(ssl, fd);
        std::string host(sni);
        if (!host.empty()) {
            SSL_set_tlsext_host_name(ssl, host.c_str());
        }
        std::string wire;  // RFC 7301 §3.1: each name with a one-byte length
        for (const std::string& p : alpn) {
            wire += static_cast<char>(p.size());
            wire += p;
        }
        if (!wire.empty()) {
            SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned int>(wire.size()));
        }
        if (SSL_connect(ssl) == 1) {
            X509* peer = SSL_get1_peer_certificate(ssl);
            if (peer_fingerprint != nullptr) {
                *peer_fingerprint = cert_fingerprint(peer);
            }
            X509_free(peer);
            if (bytes.empty() || SSL_write(ssl, bytes.data(), static_cast<int>(bytes.size())) > 0) {
                // the greeting line, then at least as many bytes as were sent, ending with them
                ssl_read_until(ssl, out, [&](const std::string& s) {
                    size_t eol = s.find('\n');
                    return eol != std::string::npos && s.size() >= eol + 1 + bytes.size() &&
                           ends_with(s, bytes);
                });
            }
            SSL_shutdown(ssl);
        }
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    ::close(fd);
    return out;
}

#else  // no OpenSSL: the backend never listens (port() 0) and the client always fails

struct TlsPassthroughBackend::Tls {};

TlsPassthroughBackend::TlsPassthroughBackend(std::string name)
    : name_(std::move(name)), acceptor_(std::make_unique<TcpAcceptor>([](int, int) {})) {}

TlsPassthroughBackend::~TlsPassthroughBackend() = default;

void TlsPassthroughBackend::serve(int) {}

std::string tls_roundtrip(uint16_t, std::string_view, std::string* peer_fingerprint,
                          std::string_view, const std::vector<std::string>&, StreamMillis) {
    if (peer_fingerprint != nullptr) {
        peer_fingerprint->clear();
    }
    return {};
}

#endif

std::vector<std::string> TlsPassthroughBackend::server_names() const {
    std::lock_guard<std::mutex> lock(mu_);
    return server_names_;
}

std::vector<std::string> TlsPassthroughBackend::alpn_offers() const {
    std::lock_guard<std::mutex> lock(mu_);
    return alpn_offers_;
}

std::string TlsPassthroughBackend::last_server_name() const {
    std::lock_guard<std::mutex> lock(mu_);
    return server_names_.empty() ? std::string() : server_names_.back();
}

// ---- clients ----------------------------------------------------------------------------------

std::string tcp_roundtrip(uint16_t port, std::string_view bytes, std::optional<std::string> until,
                          StreamMillis timeout) {
    int fd = connect_loopback(port);
    if (fd < 0) {
        return {};
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    std::string want = until ? *until : std::string(bytes);
    auto done = [&](const std::string& s) {
        return want.empty() ? s.find('\n') != std::string::npos : ends_with(s, want) && !s.empty();
    };
    auto deadline = Clock::now() + timeout;
    std::string out;
    char buf[65536];
    while (!done(out)) {
        struct pollfd p = {fd, static_cast<short>(POLLIN | (bytes.empty() ? 0 : POLLOUT)), 0};
        int left = ms_left(deadline);
        if (left == 0 || ::poll(&p, 1, left) <= 0) {
            break;
        }
        if ((p.revents & POLLOUT) != 0) {
            ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n > 0) {
                bytes.remove_prefix(static_cast<size_t>(n));
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                break;
            }
        }
        if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
            if (n > 0) {
                out.append(buf, static_cast<size_t>(n));
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                break;
            }
        }
    }
    ::close(fd);
    return out;
}

UdpClient::UdpClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    socklen_t len = sizeof(a);
    // connected: an ICMP port unreachable ends a wait at once (ECONNREFUSED)
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = -1;
        return;
    }
    local_port_ = ntohs(a.sin_port);
}

UdpClient::~UdpClient() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

bool UdpClient::send(std::string_view bytes) {
    return fd_ >= 0 &&
           ::send(fd_, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size());
}

std::string UdpClient::receive(StreamMillis timeout) {
    struct pollfd p = {fd_, POLLIN, 0};
    if (fd_ < 0 || ::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
        return {};
    }
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::vector<std::string> udp_roundtrip_all(uint16_t port, std::string_view bytes, int count,
                                           StreamMillis timeout) {
    std::vector<std::string> out;
    UdpClient client(port);
    if (!client.send(bytes)) {
        return out;
    }
    while (static_cast<int>(out.size()) < count) {
        std::string got = client.receive(timeout);
        if (got.empty()) {
            break;
        }
        out.push_back(std::move(got));
    }
    return out;
}

std::string udp_roundtrip(uint16_t port, std::string_view bytes, StreamMillis timeout) {
    std::vector<std::string> got = udp_roundtrip_all(port, bytes, 1, timeout);
    return got.empty() ? std::string() : got.front();
}

}  // namespace halo_test
