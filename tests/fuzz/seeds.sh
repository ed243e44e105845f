#!/bin/sh
# Seeds built at run time for a fuzz target (nothing third-party is copied into the tree):
#   tests/fuzz/seeds.sh conf_parser_fuzz DIR
# fills DIR with real configurations: Debian's /etc/nginx when installed, halo's conf/, and
# h5bp/server-configs-nginx when a checkout is named by $HALO_FUZZ_EXTRA_CONFS;
#   tests/fuzz/seeds.sh client_hello_fuzz DIR
# fills DIR with TLS ClientHellos that Python's ssl module writes (when python3 is there).
name=$1
dir=$2
mkdir -p "$dir" || exit 1
case $name in
conf_parser_fuzz)
    for src in /etc/nginx conf $HALO_FUZZ_EXTRA_CONFS; do
        [ -d "$src" ] || continue
        find "$src" -type f \( -name '*.conf' -o -name 'nginx.conf' -o -name 'default' \
            -o -name '*params' -o -name 'mime.types' \) -size -256k 2>/dev/null |
        while read -r f; do
            cp "$f" "$dir/$(echo "$f" | tr '/' '_')" 2>/dev/null
        done
    done
    ;;
client_hello_fuzz)
    # ClientHellos written by Python's ssl module (OpenSSL) into a memory BIO: TLS 1.3 and
    # TLS 1.2 clients, with and without SNI and ALPN. No network.
    command -v python3 >/dev/null 2>&1 || exit 0
    python3 - "$dir" << 'PY' || true
import os, ssl, sys
out = sys.argv[1]
cases = [
    ("tls13_sni_alpn", "www.example.com", ["h2", "http/1.1"], None),
    ("tls13_plain", None, None, None),
    ("tls12_sni_alpn", "api.example.org", ["http/1.1"], ssl.TLSVersion.TLSv1_2),
    ("tls12_many_alpn", "many.example", ["proto-%d" % i for i in range(40)], ssl.TLSVersion.TLSv1_2),
]
for name, host, alpn, max_version in cases:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if max_version:
        ctx.maximum_version = max_version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname=host)
    try:
        conn.do_handshake()
    except ssl.SSLWantReadError:
        pass
    with open(os.path.join(out, name + ".bin"), "wb") as f:
        f.write(outgoing.read())
PY
    ;;
esac
exit 0
