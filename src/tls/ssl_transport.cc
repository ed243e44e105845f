#include "tls/ssl_transport.h"

#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "core/log.h"
#include "tls/tls_protocols.h"

namespace tls {
namespace {

int transport_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

/// Watches the socket BIO's reads: one that returned less than asked left the socket empty.
long on_bio(BIO* bio, int oper, const char*, size_t len, int, long, int ret, size_t* processed) {
    if (oper == (BIO_CB_READ | BIO_CB_RETURN)) {
        auto* t = reinterpret_cast<SslTransport*>(BIO_get_callback_arg(bio));
        t->note_socket_read(ret > 0 && processed != nullptr && *processed < len);
    }
    return ret;
}

}  // namespace

std::string ssl_error_text() {
    std::string text;
    char buf[256];
    while (unsigned long e = ERR_get_error()) {
        ERR_error_string_n(e, buf, sizeof(buf));
        text += text.empty() ? "SSL: " : " ";
        text += buf;
    }
    return text;
}

void set_tls_protocols(SSL_CTX* ctx, uint32_t protocols) {
    constexpr struct {
        uint32_t bit;
        int version;
        uint64_t no_option;
    } kVersions[] = {
        {kTlsV1, TLS1_VERSION, SSL_OP_NO_TLSv1},
        {kTlsV1_1, TLS1_1_VERSION, SSL_OP_NO_TLSv1_1},
        {kTlsV1_2, TLS1_2_VERSION, SSL_OP_NO_TLSv1_2},
        {kTlsV1_3, TLS1_3_VERSION, SSL_OP_NO_TLSv1_3},
    };
    int lowest = 0;
    int highest = 0;
    for (const auto& v : kVersions) {
        if (protocols & v.bit) {
            lowest = lowest == 0 ? v.version : lowest;
            highest = v.version;
        }
    }
    SSL_CTX_set_min_proto_version(ctx, lowest);
    SSL_CTX_set_max_proto_version(ctx, highest);
    for (const auto& v : kVersions) {
        if (!(protocols & v.bit) && v.version > lowest && v.version < highest) {
            SSL_CTX_set_options(ctx, v.no_option);  // a hole in the range
        }
    }
}

core::Status set_tls_ciphers(SSL_CTX* ctx, const std::string& ciphers) {
    if (SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1) {
        return core::Status::error("SSL_CTX_set_cipher_list(\"" + ciphers + "\") failed (" +
                                   ssl_error_text() + ")");
    }
    return core::Status::ok();
}

SslTransport::SslTransport(SSL* ssl, SSL_CTX* ctx, int fd, uint64_t id, const void* owner,
                           bool server)
    : ssl_(ssl),
      initial_ctx_(ctx),
      fd_(fd),
      connection_id_(id),
      owner_(owner),
      server_(server),
      detected_(!server) {}

SslTransport::~SslTransport() {
    SSL_free(ssl_);
}

std::unique_ptr<SslTransport> SslTransport::accept(SSL_CTX* ctx, int fd, uint64_t connection_id,
                                                   const void* owner) {
    return create(ctx, fd, connection_id, owner, true, "");
}

std::unique_ptr<SslTransport> SslTransport::connect(SSL_CTX* ctx, int fd, uint64_t connection_id,
                                                    const std::string& server_name) {
    return create(ctx, fd, connection_id, nullptr, false, server_name);
}

std::unique_ptr<SslTransport> SslTransport::create(SSL_CTX* ctx, int fd, uint64_t connection_id,
                                                   const void* owner, bool server,
                                                   const std::string& server_name) {
    ERR_clear_error();
    SSL* ssl = SSL_new(ctx);
    if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1 ||
        (!server_name.empty() && SSL_set_tlsext_host_name(ssl, server_name.c_str()) != 1)) {
        core::log_conn(core::LogLevel::kAlert, connection_id, "SSL_new() failed (%s)",
                       ssl_error_text().c_str());
        SSL_free(ssl);
        return nullptr;
    }
    // One read() takes all the socket holds, up to a whole record and what follows it (as
    // nginx): not a 5-byte header, then the rest of the record.
    SSL_set_read_ahead(ssl, 1);
    if (server) {
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
    }
    std::unique_ptr<SslTransport> t(new SslTransport(ssl, ctx, fd, connection_id, owner, server));
    SSL_set_ex_data(ssl, transport_index(), t.get());
    BIO* rbio = SSL_get_rbio(ssl);
    BIO_set_callback_arg(rbio, reinterpret_cast<char*>(t.get()));
    BIO_set_callback_ex(rbio, &on_bio);
    return t;
}

bool SslTransport::drained() const {
    return short_read_ && early_.empty() && SSL_has_pending(ssl_) == 0;
}

SslTransport* SslTransport::of(const SSL* ssl) {
    return static_cast<SslTransport*>(SSL_get_ex_data(ssl, transport_index()));
}

ev::TransportStatus SslTransport::handshake() {
    if (!detected_) {
        // RFC 8446 §5.1: a TLS record starts with its content type, 22 = handshake (SSLv2
        // hellos set the top bit). Anything else is a plain HTTP request.
        unsigned char first = 0;
        ssize_t n;
        do {
            n = ::recv(fd_, &first, 1, MSG_PEEK);
        } while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return ev::TransportStatus::kWantRead;
        }
        if (n <= 0) {
            return n == 0 ? ev::TransportStatus::kEof : ev::TransportStatus::kError;
        }
        if (first != 0x16 && (first & 0x80) == 0) {
            return ev::TransportStatus::kPlaintext;
        }
        detected_ = true;
    }
    ERR_clear_error();
    // RFC 8446 §4.2.10: with ssl_early_data on, what the client sent as 0-RTT data is read
    // first, kept for read(), then the handshake completes.
    while (server_ && !early_done_ && SSL_get_max_early_data(ssl_) > 0) {
        char buf[4096];
        size_t n = 0;
        int rc = SSL_read_early_data(ssl_, buf, sizeof(buf), &n);
        if (rc == SSL_READ_EARLY_DATA_SUCCESS) {
            early_.append(buf, n);
            early_received_ = early_received_ || n > 0;
        } else if (rc == SSL_READ_EARLY_DATA_FINISH) {
            early_done_ = true;
        } else {
            return failed(0, "SSL_read_early_data()");
        }
    }
    int rc = SSL_do_handshake(ssl_);
    if (rc == 1) {
        handshaking_ = false;
        return ev::TransportStatus::kOk;
    }
    return failed(rc, "SSL_do_handshake()");
}

ev::TransportStatus SslTransport::read(std::span<char> buf, size_t& n) {
    if (!early_.empty()) {
        n = std::min(buf.size(), early_.size());
        memcpy(buf.data(), early_.data(), n);
        early_.erase(0, n);
        return ev::TransportStatus::kOk;
    }
    ERR_clear_error();
    int rc = SSL_read(ssl_, buf.data(), static_cast<int>(std::min<size_t>(buf.size(), INT_MAX)));
    if (rc > 0) {
        n = static_cast<size_t>(rc);
        return ev::TransportStatus::kOk;
    }
    return failed(rc, "SSL_read()");
}

ev::TransportStatus SslTransport::write(std::string_view data, size_t& n) {
    if (data.empty()) {
        n = 0;
        return ev::TransportStatus::kOk;
    }
    ERR_clear_error();
    size_t len = std::min<size_t>(data.size(), INT_MAX);
    if (write_limit_ > 0) {
        len = std::min(len, write_limit_);
    }
    int rc = SSL_write(ssl_, data.data(), static_cast<int>(len));
    if (rc > 0) {
        n = static_cast<size_t>(rc);
        return ev::TransportStatus::kOk;
    }
    return failed(rc, "SSL_write()");
}

void SslTransport::shutdown() {
    if (shut_ || fatal_ || handshaking_) {
        return;
    }
    shut_ = true;
    // Our close_notify only: the peer's is not awaited (RFC 8446 §6.1 allows it).
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
}

ev::TransportStatus SslTransport::failed(int rc, const char* call) {
    int sys = errno;
    int err = SSL_get_error(ssl_, rc);
    // A client's handshake failure is its owner's to report (with the upstream it was for).
    auto report = [&](const std::string& what, bool failure = true) {
        if (!server_ && handshaking_) {
            handshake_error_ = what;
            return;
        }
        core::log_conn(core::LogLevel::kInfo, connection_id_, "%s%s", what.c_str(),
                       failure && handshaking_ ? " while SSL handshaking" : "");
    };
    switch (err) {
        case SSL_ERROR_WANT_READ:
            return ev::TransportStatus::kWantRead;
        case SSL_ERROR_WANT_WRITE:
            return ev::TransportStatus::kWantWrite;
        case SSL_ERROR_ZERO_RETURN:
            // close_notify (or, with SSL_OP_IGNORE_UNEXPECTED_EOF, a bare EOF).
            if (handshaking_) {
                report("peer closed connection in SSL handshake", false);
            }
            return ev::TransportStatus::kEof;
        case SSL_ERROR_SYSCALL:
            fatal_ = true;
            if (ERR_peek_error() == 0 && (rc == 0 || sys == 0)) {
                if (handshaking_) {
                    report("peer closed connection in SSL handshake", false);
                }
                return ev::TransportStatus::kEof;
            }
            report(std::string(call) + " failed (" + std::to_string(sys) + ": " + strerror(sys) +
                   ")");
            ERR_clear_error();
            return ev::TransportStatus::kError;
        default:
            fatal_ = true;
            report(std::string(call) + " failed (" + ssl_error_text() + ")");
            return ev::TransportStatus::kError;
    }
}

std::string_view SslTransport::server_name() const {
    const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
    return name != nullptr ? std::string_view(name) : std::string_view();
}

std::string_view SslTransport::alpn() const {
    const unsigned char* p = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl_, &p, &len);
    return p != nullptr ? std::string_view(reinterpret_cast<const char*>(p), len)
                        : std::string_view();
}

}  // namespace tls
