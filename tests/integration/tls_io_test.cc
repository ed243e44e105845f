// The TLS record layer of the real binary, driven by an in-process OpenSSL client that decides
// how its bytes reach the socket: several records in one segment (read-ahead takes them in one
// read(); each request must still be answered), a ClientHello and a request cut into many
// small segments (a record arriving in pieces), a request with the client's close right behind
// it, and a large file to a slow reader, byte for byte, in records of 16 KiB or of
// ssl_buffer_size.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/test_cert.h"

namespace halo_test {
namespace {

constexpr std::string_view kConf = R"(
daemon off;
worker_processes 1;
error_log logs/error.log info;

events {
    worker_connections 128;
}

http {
    access_log off;

    server {
        listen 127.0.0.1:%%PORT_0%% ssl;
        ssl_certificate %%PREFIX%%/t.crt;
        ssl_certificate_key %%PREFIX%%/t.key;
        location / {
            return 200 "req=$connection_requests\n";
        }
        location /files/ {
            alias %%PREFIX%%/data/;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_1%% ssl;
        ssl_certificate %%PREFIX%%/t.crt;
        ssl_certificate_key %%PREFIX%%/t.key;
        ssl_buffer_size 4k;
        location /files/ {
            alias %%PREFIX%%/data/;
        }
    }
}
)";

/// A TLS client whose output collects in memory until send_out() puts it on the socket, in
/// one send() or in small pieces. Reads come straight from the socket.
class TlsClient {
  public:
    explicit TlsClient(uint16_t port, int rcvbuf = 0) {
        ctx_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
        SSL_CTX_set_msg_callback(ctx_, &on_msg);
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (rcvbuf > 0) {
            setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        }
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
        // Non-blocking: OpenSSL hands back WANT_READ so that what it queued gets sent first.
        fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
        ssl_ = SSL_new(ctx_);
        SSL_set_msg_callback_arg(ssl_, this);
        out_ = BIO_new(BIO_s_mem());
        SSL_set_bio(ssl_, BIO_new_socket(fd_, BIO_NOCLOSE), out_);
        SSL_set_connect_state(ssl_);
    }
    ~TlsClient() {
        SSL_free(ssl_);
        SSL_CTX_free(ctx_);
        ::close(fd_);
    }
    TlsClient(const TlsClient&) = delete;
    TlsClient& operator=(const TlsClient&) = delete;

    /// Completes the handshake, each flight sent in pieces of `piece` bytes (0: whole).
    bool handshake(size_t piece = 0) {
        if (!connected_) {
            return false;
        }
        for (int i = 0; i < 1000; i++) {
            int rc = SSL_do_handshake(ssl_);
            send_out(piece);
            if (rc == 1) {
                return true;
            }
            if (SSL_get_error(ssl_, rc) != SSL_ERROR_WANT_READ || !wait_readable()) {
                return false;
            }
        }
        return false;
    }

    /// Encrypts `plain` as one record (kept until send_out()).
    void queue(std::string_view plain) {
        SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
    }

    /// The client's closing alert, kept until send_out().
    void queue_close_notify() { SSL_shutdown(ssl_); }

    /// Sends what was queued: in one send() (piece 0) or in pieces of `piece` bytes, each its
    /// own segment (TCP_NODELAY and a short pause between them).
    bool send_out(size_t piece = 0) {
        char* data = nullptr;
        long len = BIO_get_mem_data(out_, &data);
        std::string bytes(data, static_cast<size_t>(std::max(0L, len)));
        (void)BIO_reset(out_);
        size_t step = piece == 0 ? bytes.size() : piece;
        for (size_t at = 0; at < bytes.size(); at += step) {
            size_t n = std::min(step, bytes.size() - at);
            for (size_t done = 0; done < n;) {
                ssize_t w = ::send(fd_, bytes.data() + at + done, n - done, MSG_NOSIGNAL);
                pollfd p{fd_, POLLOUT, 0};
                if (w > 0) {
                    done += static_cast<size_t>(w);
                } else if (w < 0 && errno == EAGAIN && ::poll(&p, 1, 10000) == 1) {
                    continue;
                } else {
                    return false;
                }
            }
            if (piece != 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
        }
        return true;
    }

    /// Reads until the server closes (or nothing comes for 10 s); `slow`: the first reads
    /// are small and spaced out, so that the server finds the socket full.
    std::string read_all(bool slow = false) {
        std::string got;
        char buf[16384];
        for (int reads = 0;; reads++) {
            size_t want = slow && reads < 200 ? 1024 : sizeof(buf);
            int rc = SSL_read(ssl_, buf, static_cast<int>(want));
            if (rc > 0) {
                got.append(buf, static_cast<size_t>(rc));
                if (slow && reads < 200) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                }
                continue;
            }
            if (SSL_get_error(ssl_, rc) == SSL_ERROR_WANT_READ && wait_readable()) {
                continue;
            }
            return got;
        }
    }

    /// Shuts the sending side of the socket (TCP FIN).
    void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

    /// The largest application-data record received (its length in the record header).
    size_t largest_record() const { return largest_; }

  private:
    bool wait_readable() {
        pollfd p{fd_, POLLIN, 0};
        return ::poll(&p, 1, 10000) == 1;
    }

    static void on_msg(int write_p, int, int content_type, const void* buf, size_t len, SSL*,
                       void* arg) {
        // RFC 8446 §5.2: every protected record says "application_data" (23) outside.
        const auto* h = static_cast<const unsigned char*>(buf);
        if (write_p == 0 && content_type == SSL3_RT_HEADER && len >= 5 && h[0] == 23) {
            auto* self = static_cast<TlsClient*>(arg);
            self->largest_ = std::max<size_t>(self->largest_, size_t{h[3]} << 8 | h[4]);
        }
    }

    SSL_CTX* ctx_;
    SSL* ssl_;
    BIO* out_;
    int fd_;
    bool connected_ = false;
    size_t largest_ = 0;
};

size_t count(const std::string& s, std::string_view what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) {
        n++;
    }
    return n;
}

class TlsIoTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!halo_has_module("http_ssl") || !halo_has_module("http_rewrite")) {
            GTEST_SKIP() << "the http_ssl or http_rewrite module is not compiled in";
        }
        ASSERT_TRUE(make_certificate("t.test", halo_.path("t.crt"), halo_.path("t.key")));
        ASSERT_EQ(::mkdir(halo_.path("data").c_str(), 0755), 0);
        ASSERT_TRUE(write_file(halo_.path("data/big.bin"), file_));
        halo_.write_conf(kConf);
        ASSERT_TRUE(halo_.start());
    }

    Halo halo_;
    const std::string file_ = pattern_bytes(1024 * 1024 + 123);
};

TEST_F(TlsIoTest, PipelinedRecordsInOneSegmentAreAllAnswered) {
    TlsClient c(halo_.port(0));
    ASSERT_TRUE(c.handshake());
    c.queue("GET /1 HTTP/1.1\r\nHost: t\r\n\r\n");
    c.queue("GET /2 HTTP/1.1\r\nHost: t\r\n\r\n");
    c.queue("GET /3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(c.send_out());
    std::string got = c.read_all();
    EXPECT_EQ(count(got, "HTTP/1.1 200"), 3u) << got;
    EXPECT_NE(got.find("req=3"), std::string::npos) << got;
}

TEST_F(TlsIoTest, RecordsCutIntoSmallSegments) {
    TlsClient c(halo_.port(0));
    ASSERT_TRUE(c.handshake(7));  // the ClientHello in 7-byte pieces
    c.queue("GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    c.queue("GET /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(c.send_out(3));
    std::string got = c.read_all();
    EXPECT_EQ(count(got, "HTTP/1.1 200"), 2u) << got;
    EXPECT_NE(got.find("req=2"), std::string::npos) << got;
}

TEST_F(TlsIoTest, RequestWithTheClientsCloseBehindIt) {
    TlsClient c(halo_.port(0));
    ASSERT_TRUE(c.handshake());
    c.queue("GET / HTTP/1.0\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(c.send_out());
    c.shutdown_write();  // the FIN right behind the request: the answer still comes
    std::string got = c.read_all();
    EXPECT_NE(got.find("HTTP/1.1 200"), std::string::npos) << got;
    EXPECT_NE(got.find("req=1"), std::string::npos) << got;
}

TEST_F(TlsIoTest, LargeFileToASlowReaderInWholeRecords) {
    TlsClient c(halo_.port(0), 4096);
    ASSERT_TRUE(c.handshake());
    c.queue("GET /files/big.bin HTTP/1.0\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(c.send_out());
    std::string got = c.read_all(true);
    size_t body = got.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos) << got.substr(0, 200);
    EXPECT_TRUE(got.substr(body + 4) == file_) << "body of " << got.size() - body - 4 << " bytes";
    // RFC 8446 §5.2: 16 KiB of data, its content type and a 16-byte AEAD tag.
    EXPECT_EQ(c.largest_record(), 16384u + 1 + 16);
}

TEST_F(TlsIoTest, SslBufferSizeLimitsTheRecords) {
    TlsClient c(halo_.port(1), 4096);
    ASSERT_TRUE(c.handshake());
    c.queue("GET /files/big.bin HTTP/1.0\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(c.send_out());
    std::string got = c.read_all(true);
    size_t body = got.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos) << got.substr(0, 200);
    EXPECT_TRUE(got.substr(body + 4) == file_) << "body of " << got.size() - body - 4 << " bytes";
    EXPECT_EQ(c.largest_record(), 4096u + 1 + 16);
}

}  // namespace
}  // namespace halo_test
