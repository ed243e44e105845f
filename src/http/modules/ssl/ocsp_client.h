#pragma once

// The request side of ssl_ocsp (ocsp_client.cc), for the client certificate check and
// $ssl_client_verify (ssl_variables.cc).

#include <openssl/ssl.h>

#include "http/http.h"

namespace mod::http_ssl {

/// The OCSP check of the client certificate of `ssl`'s connection: kDeclined when there is
/// none to make or it is over (ocsp_failure() tells the verdict), kSuspend while a responder
/// is asked (`r` is resumed with the verdict). Started by the connection's first request.
http::Flow ocsp_check(http::Request& r, SSL* ssl);

/// nginx's reason for refusing the client certificate after OCSP ("certificate revoked",
/// "certificate status unknown", "certificate status request failed"); nullptr when it is
/// good or was not checked.
const char* ocsp_failure(SSL* ssl);

}  // namespace mod::http_ssl
