#!/bin/sh
# Side-by-side: halo vs nginx answering `return 200 "one\n"` from one worker, same machine,
# same run: requests/s, CPU µs per request of the workers, and the ratios (halo / nginx).
# Needs wrk and nginx (apt-get install -y wrk nginx-light).
# Usage: bench/return_bench.sh [seconds] [connections]
secs=${1:-5}
conns=${2:-50}
. "$(dirname "$0")/lib.sh"
compare 'return 200 "one\n";' / 'return 200'
