// The server context settings beyond certificates, protocols and the session cache: keys
// under a passphrase (ssl_password_file), ssl_dhparam, ssl_ecdh_curve, ssl_session_ticket_key,
// client certificate verification (ssl_verify_client, ssl_client_certificate,
// ssl_trusted_certificate, ssl_verify_depth, ssl_crl), and ssl_conf_command (applied last, as
// nginx does). Shared by http's and stream's ssl modules.
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "core/log.h"
#include "tls/server_context.h"
#include "tls/ssl_transport.h"

namespace tls {
namespace {

using core::Status;

std::optional<std::string> read_whole(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    return std::string(std::istreambuf_iterator<char>(in), {});
}

/// The passphrase OpenSSL asks for: one line of ssl_password_file (userdata), or none.
int password_cb(char* buf, int size, int, void* userdata) {
    if (userdata == nullptr || size <= 0) {
        return 0;
    }
    const auto* pwd = static_cast<const std::string*>(userdata);
    size_t n = std::min(pwd->size(), static_cast<size_t>(size));
    if (n < pwd->size()) {
        core::log_msg(core::LogLevel::kWarn, "password is truncated to %d bytes", size);
    }
    memcpy(buf, pwd->data(), n);
    return static_cast<int>(n);
}

int no_password_cb(char*, int, int, void*) {
    return 0;
}

// ---- session tickets ----

const EVP_CIPHER* ticket_cipher(const TicketKey& k) {
    return k.size == 16 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
}

bool init_hmac(EVP_MAC_CTX* hctx, const TicketKey& k) {
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_init(hctx, k.hmac_key, k.size, params) == 1;
}

/// RFC 5077 §4: the first key encrypts new tickets, any key decrypts; a ticket under an older
/// key is renewed (2).
int on_ticket_key(SSL* ssl, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* ectx,
                  EVP_MAC_CTX* hctx, int enc) {
    const ServerContext* sc = ServerContext::of(SSL_get_SSL_CTX(ssl));
    if (sc == nullptr || sc->ticket_keys.empty()) {
        return 0;
    }
    const auto& keys = sc->ticket_keys;
    if (enc == 1) {
        const TicketKey& k = keys.front();
        const EVP_CIPHER* cipher = ticket_cipher(k);
        memcpy(name, k.name, 16);
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(cipher)) != 1 ||
            EVP_EncryptInit_ex(ectx, cipher, nullptr, k.aes_key, iv) != 1 || !init_hmac(hctx, k)) {
            return -1;
        }
        return 1;
    }
    for (size_t i = 0; i < keys.size(); i++) {
        const TicketKey& k = keys[i];
        if (memcmp(name, k.name, 16) != 0) {
            continue;
        }
        if (!init_hmac(hctx, k) ||
            EVP_DecryptInit_ex(ectx, ticket_cipher(k), nullptr, k.aes_key, iv) != 1) {
            return -1;
        }
        return i == 0 ? 1 : 2;
    }
    return 0;  // an unknown key: a full handshake
}

Status load_ticket_keys(ServerContext& sc, const ServerSettings& s) {
    for (const std::string& path : s.ticket_key_files) {
        std::optional<std::string> data = read_whole(path);
        if (!data) {
            return Status::error("open() \"" + path + "\" failed (" + strerror(errno) + ")");
        }
        if (data->size() != 48 && data->size() != 80) {
            return Status::error("\"" + path + "\" must be 48 or 80 bytes");
        }
        TicketKey k{};
        k.size = data->size() == 48 ? 16 : 32;
        memcpy(k.name, data->data(), 16);
        memcpy(k.hmac_key, data->data() + 16, k.size);
        memcpy(k.aes_key, data->data() + 16 + k.size, k.size);
        sc.ticket_keys.push_back(k);
    }
    if (!sc.ticket_keys.empty()) {
        SSL_CTX_set_tlsext_ticket_key_evp_cb(sc.ctx(), &on_ticket_key);
    }
    return Status::ok();
}

// ---- client certificates ----

/// As nginx: the handshake goes on whatever the verdict; the module looks at it afterwards
/// (SSL_get_verify_result): http answers the request 400, stream ends the session.
int verify_cb(int, X509_STORE_CTX*) {
    return 1;
}

Status set_client_verify(SSL_CTX* ctx, const ServerSettings& s) {
    if (s.verify != VerifyClient::kOff) {
        if (s.client_certificate.empty() && s.trusted_certificate.empty()) {
            return Status::error(
                "no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client");
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, &verify_cb);
        SSL_CTX_set_verify_depth(ctx, s.verify_depth);
        if (!s.client_certificate.empty()) {
            if (SSL_CTX_load_verify_locations(ctx, s.client_certificate.c_str(), nullptr) != 1) {
                return Status::error("SSL_CTX_load_verify_locations(\"" + s.client_certificate +
                                     "\") failed (" + ssl_error_text() + ")");
            }
            ERR_clear_error();
            STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.client_certificate.c_str());
            if (names == nullptr) {
                return Status::error("SSL_load_client_CA_file(\"" + s.client_certificate +
                                     "\") failed (" + ssl_error_text() + ")");
            }
            SSL_CTX_set_client_CA_list(ctx, names);  // names the CAs in the CertificateRequest
        }
    }
    if (!s.trusted_certificate.empty()) {
        SSL_CTX_set_verify_depth(ctx, s.verify_depth);
        if (SSL_CTX_load_verify_locations(ctx, s.trusted_certificate.c_str(), nullptr) != 1) {
            return Status::error("SSL_CTX_load_verify_locations(\"" + s.trusted_certificate +
                                 "\") failed (" + ssl_error_text() + ")");
        }
    }
    if (!s.crl.empty()) {
        X509_STORE* store = SSL_CTX_get_cert_store(ctx);
        X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
        if (lookup == nullptr ||
            X509_LOOKUP_load_file(lookup, s.crl.c_str(), X509_FILETYPE_PEM) != 1) {
            return Status::error("X509_LOOKUP_load_file(\"" + s.crl + "\") failed (" +
                                 ssl_error_text() + ")");
        }
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
    ERR_clear_error();
    return Status::ok();
}

Status set_dhparam(SSL_CTX* ctx, const std::string& file) {
    BIO* bio = BIO_new_file(file.c_str(), "r");
    if (bio == nullptr) {
        return Status::error("BIO_new_file(\"" + file + "\") failed (" + ssl_error_text() + ")");
    }
    EVP_PKEY* dh = PEM_read_bio_Parameters(bio, nullptr);
    BIO_free(bio);
    if (dh == nullptr || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
        EVP_PKEY_free(dh);
        return Status::error("PEM_read_bio_DHparams(\"" + file + "\") failed (" + ssl_error_text() +
                             ")");
    }
    return Status::ok();
}

}  // namespace

Status apply_conf_commands(SSL_CTX* ctx, const ServerSettings& s) {
    if (s.conf_commands.empty()) {
        return Status::ok();
    }
    SSL_CONF_CTX* cctx = SSL_CONF_CTX_new();
    if (cctx == nullptr) {
        return Status::error("SSL_CONF_CTX_new() failed (" + ssl_error_text() + ")");
    }
    SSL_CONF_CTX_set_flags(cctx, SSL_CONF_FLAG_FILE | SSL_CONF_FLAG_SERVER |
                                     SSL_CONF_FLAG_CERTIFICATE | SSL_CONF_FLAG_SHOW_ERRORS);
    SSL_CONF_CTX_set_ssl_ctx(cctx, ctx);
    for (const auto& [name, value] : s.conf_commands) {
        if (SSL_CONF_cmd(cctx, name.c_str(), value.c_str()) <= 0) {
            SSL_CONF_CTX_free(cctx);
            return Status::error("SSL_CONF_cmd(\"" + name + "\", \"" + value + "\") failed (" +
                                 ssl_error_text() + ")");
        }
    }
    int rc = SSL_CONF_CTX_finish(cctx);
    SSL_CONF_CTX_free(cctx);
    if (rc != 1) {
        return Status::error("SSL_CONF_finish() failed (" + ssl_error_text() + ")");
    }
    return Status::ok();
}

Status load_key(SSL_CTX* ctx, const std::string& key, const ServerSettings& s) {
    // Each line of ssl_password_file in turn, as nginx.
    size_t tries = std::max<size_t>(1, s.passwords.size());
    for (size_t i = 0; i < tries; i++) {
        const std::string* pwd = i < s.passwords.size() ? &s.passwords[i] : nullptr;
        SSL_CTX_set_default_passwd_cb(ctx, &password_cb);
        SSL_CTX_set_default_passwd_cb_userdata(ctx, const_cast<std::string*>(pwd));
        ERR_clear_error();
        int rc = SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM);
        SSL_CTX_set_default_passwd_cb(ctx, &no_password_cb);
        SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
        if (rc == 1) {
            ERR_clear_error();
            return Status::ok();
        }
        if (i + 1 < tries) {
            ERR_clear_error();
        }
    }
    return Status::error("cannot load certificate key \"" + key +
                         "\": SSL_CTX_use_PrivateKey_file() failed (" + ssl_error_text() + ")");
}

Status apply_options(ServerContext& sc, const ServerSettings& s) {
    SSL_CTX* ctx = sc.ctx();
    if (!s.dhparam.empty()) {
        HALO_TRY(set_dhparam(ctx, s.dhparam));
    }
    if (s.ecdh_curve != "auto" && SSL_CTX_set1_curves_list(ctx, s.ecdh_curve.c_str()) != 1) {
        return Status::error("SSL_CTX_set1_curves_list(\"" + s.ecdh_curve + "\") failed (" +
                             ssl_error_text() + ")");
    }
    HALO_TRY(load_ticket_keys(sc, s));
    return set_client_verify(ctx, s);
}

}  // namespace tls
