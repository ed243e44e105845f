// tls::SslTransport's server side over a socketpair, an OpenSSL client on the other end:
// read-ahead takes what the socket holds in one read(), and drained() says the socket is empty
// only when OpenSSL holds nothing back (a second record, or the rest of a record larger than
// the caller's buffer); a record arriving in two halves (drained() cannot tell then: false).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "support/harness.h"
#include "support/test_cert.h"
#include "tls/ssl_transport.h"

namespace tls {
namespace {

class SslReadAheadTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string crt = dir_ / "t.crt";
        std::string key = dir_ / "t.key";
        ASSERT_TRUE(halo_test::make_certificate("t.test", crt, key));
        sctx_ = SSL_CTX_new(TLS_server_method());
        ASSERT_EQ(SSL_CTX_use_certificate_file(sctx_, crt.c_str(), SSL_FILETYPE_PEM), 1);
        ASSERT_EQ(SSL_CTX_use_PrivateKey_file(sctx_, key.c_str(), SSL_FILETYPE_PEM), 1);
        SSL_CTX_set_num_tickets(sctx_, 0);  // nothing after the handshake but our records
        cctx_ = SSL_CTX_new(TLS_client_method());
        int sv[2];
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        for (int fd : sv) {
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        }
        server_fd_ = sv[0];
        client_fd_ = sv[1];
        server_ = SslTransport::accept(sctx_, server_fd_, 1, nullptr);
        ASSERT_NE(server_, nullptr);
        client_ = SSL_new(cctx_);
        SSL_set_fd(client_, client_fd_);
        SSL_set_connect_state(client_);
        bool server_done = false;
        bool client_done = false;
        for (int i = 0; i < 100 && !(server_done && client_done); i++) {
            client_done = client_done || SSL_do_handshake(client_) == 1;
            server_done = server_done || server_->handshake() == ev::TransportStatus::kOk;
        }
        ASSERT_TRUE(server_done && client_done);
    }
    void TearDown() override {
        server_.reset();
        SSL_free(client_);
        SSL_CTX_free(cctx_);
        SSL_CTX_free(sctx_);
        close(server_fd_);
        close(client_fd_);
    }

    /// `plain` as one record, its bytes as they would go on the wire (not sent).
    std::string record(const std::string& plain) {
        BIO* mem = BIO_new(BIO_s_mem());
        BIO* sock = SSL_get_wbio(client_);
        BIO_up_ref(sock);
        SSL_set0_wbio(client_, mem);
        EXPECT_EQ(SSL_write(client_, plain.data(), static_cast<int>(plain.size())),
                  static_cast<int>(plain.size()));
        char* data = nullptr;
        long len = BIO_get_mem_data(mem, &data);
        std::string bytes(data, static_cast<size_t>(len));
        SSL_set0_wbio(client_, sock);  // frees the memory BIO
        return bytes;
    }
    void send(const std::string& bytes) {
        ASSERT_EQ(::write(client_fd_, bytes.data(), bytes.size()),
                  static_cast<ssize_t>(bytes.size()));
    }
    /// One read() of the server transport into a buffer of `size` bytes.
    ev::TransportStatus read(std::string& out, size_t size = 16384) {
        std::string buf(size, '\0');
        size_t n = 0;
        ev::TransportStatus s = server_->read(std::span<char>(buf.data(), buf.size()), n);
        out = s == ev::TransportStatus::kOk ? buf.substr(0, n) : "";
        return s;
    }

    halo_test::TempDir dir_{"halo-ssl-transport"};
    SSL_CTX* sctx_ = nullptr;
    SSL_CTX* cctx_ = nullptr;
    SSL* client_ = nullptr;
    int server_fd_ = -1;
    int client_fd_ = -1;
    std::unique_ptr<SslTransport> server_;
};

TEST_F(SslReadAheadTest, TwoRecordsInOneSegment) {
    std::string first = record("first");
    send(first + record("second"));
    std::string got;
    ASSERT_EQ(read(got), ev::TransportStatus::kOk);
    EXPECT_EQ(got, "first");
    EXPECT_FALSE(server_->drained()) << "the second record is held back";
    ASSERT_EQ(read(got), ev::TransportStatus::kOk);
    EXPECT_EQ(got, "second");
    EXPECT_TRUE(server_->drained());
    EXPECT_EQ(read(got), ev::TransportStatus::kWantRead);
}

TEST_F(SslReadAheadTest, RecordLargerThanTheBuffer) {
    std::string big(10000, 'b');
    send(record(big));
    std::string got;
    std::string all;
    ASSERT_EQ(read(got, 4000), ev::TransportStatus::kOk);
    all += got;
    EXPECT_FALSE(server_->drained()) << "6000 bytes of the record are held back";
    while (all.size() < big.size() && read(got, 4000) == ev::TransportStatus::kOk) {
        all += got;
    }
    EXPECT_EQ(all, big);
    EXPECT_TRUE(server_->drained());
}

TEST_F(SslReadAheadTest, RecordInTwoHalves) {
    std::string bytes = record("halves");
    send(bytes.substr(0, 10));
    std::string got;
    EXPECT_EQ(read(got), ev::TransportStatus::kWantRead);
    send(bytes.substr(10));
    ASSERT_EQ(read(got), ev::TransportStatus::kOk);
    EXPECT_EQ(got, "halves");
    // OpenSSL asked for exactly the rest of the record, so the read was not short: drained()
    // cannot tell (false, one more read() to learn it), never wrongly true.
    EXPECT_FALSE(server_->drained());
    EXPECT_EQ(read(got), ev::TransportStatus::kWantRead);
}

}  // namespace
}  // namespace tls
