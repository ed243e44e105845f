#!/bin/sh
# Side-by-side: halo vs nginx serving a small static file (sendfile on) from one worker, same
# machine, same run: requests/s, CPU µs per request of the workers, and the ratios.
# Needs wrk and nginx (apt-get install -y wrk nginx-light).
# Usage: bench/static_bench.sh [seconds] [connections] [file size in bytes]
secs=${1:-5}
conns=${2:-50}
size=${3:-1024}
. "$(dirname "$0")/lib.sh"
mkdir -p "$work/www"
head -c "$size" /dev/zero | tr '\0' 'x' > "$work/www/index.html"
chmod -R a+rX "$work/www"
compare "root $work/www;" /index.html "static $size B file"
