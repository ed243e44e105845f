#!/bin/sh
# Side-by-side over TLS: halo vs nginx, the same config with `listen ... ssl` and a fresh
# RSA-2048 certificate; wrk keeps its connections alive, so this measures the record layer
# (one full handshake per connection). Needs wrk, nginx and openssl.
# Usage: bench/tls_bench.sh [seconds] [connections]
secs=${1:-5}
conns=${2:-50}
tls=1
. "$(dirname "$0")/lib.sh"
compare 'return 200 "one\n";' / 'https return 200'
mkdir -p "$work/www"
head -c 16384 /dev/zero | tr '\0' x > "$work/www/16k.txt"
chmod -R a+rX "$work/www"
compare "root $work/www;" /16k.txt 'https 16 KiB static file'
