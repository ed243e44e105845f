#pragma once

// A throwaway self-signed certificate for unit tests that need one (the ssl module's and the
// proxy's https settings). Header-only: include it only where OpenSSL is linked.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <string>

namespace halo_test {

/// A self-signed certificate for CN=`cn` written as PEM to `crt` and `key`.
inline bool make_certificate(const std::string& cn, const std::string& crt,
                             const std::string& key) {
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    X509* x = X509_new();
    bool ok = pkey != nullptr && x != nullptr;
    if (ok) {
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_set_pubkey(x, pkey);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
        X509_set_issuer_name(x, name);
        ok = X509_sign(x, pkey, EVP_sha256()) > 0;
    }
    FILE* f = ok ? fopen(crt.c_str(), "w") : nullptr;
    ok = f != nullptr && PEM_write_X509(f, x) == 1;
    if (f != nullptr) {
        fclose(f);
    }
    f = ok ? fopen(key.c_str(), "w") : nullptr;
    ok = f != nullptr && PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    if (f != nullptr) {
        fclose(f);
    }
    X509_free(x);
    EVP_PKEY_free(pkey);
    return ok;
}

}  // namespace halo_test
