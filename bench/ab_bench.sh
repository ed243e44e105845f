#!/bin/sh
# Two halo builds side by side as reverse proxies to one nginx backend (`return 200`), one
# worker each, upstream keepalive, alternating A, B, A, B...: CPU µs per request of the worker
# (from /proc/<pid>/stat over a wrk run) and syscalls per request (strace -c on the worker over
# a second wrk run). The figures that repeat on a noisy 2-core machine, for "no loss" checks.
# Needs wrk, nginx, strace, python3.
# Usage: bench/ab_bench.sh A_BINARY B_BINARY [rounds] [seconds] [connections] [size]
#   size: "small" (a 4-byte `return 200`, the default) or a body size in bytes (a static file
#   on the backend: 4096, 65536, 1048576...)
set -eu
a=$1
b=$2
rounds=${3:-2}
secs=${4:-6}
conns=${5:-50}
size=${6:-small}
wconns=$((conns + 100))
HALO_BIN=$a
export HALO_BIN
. "$(dirname "$0")/lib.sh"
ulimit -n 65536 2>/dev/null || true
command -v strace > /dev/null || { echo "ab_bench: needs strace (apt-get install -y strace)" >&2; exit 1; }

# The backend: `return 200` (small), or a static file of `size` bytes.
if [ "$size" = small ]; then
    proxy_backend
else
    mkdir -p "$work/www"
    head -c "$size" /dev/zero > "$work/www/body"
    proxy_backend "root $work/www;"
fi
url_path=$([ "$size" = small ] && echo / || echo /body)

# measure NAME BINARY ROUND: one line of figures
measure() {
    port=$(free_port)
    dir="$work/$1$3"
    mkdir -p "$dir/logs"
    bench_conf "$dir/logs/halo.pid" "$port" "$proxy" "$upstream" > "$dir/halo.conf"
    "$2" -p "$dir/" -c "$dir/halo.conf"
    sleep 0.5
    worker=$(pgrep -P "$(cat "$dir/logs/halo.pid")" | head -1)
    wrk -t1 -c"$conns" -d2s "http://127.0.0.1:$port$url_path" > /dev/null 2>&1  # warm up
    before=$(awk '{print $14 + $15}' "/proc/$worker/stat")
    n=$(wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$port$url_path" | awk '/requests in/ {print $1}')
    after=$(awk '{print $14 + $15}' "/proc/$worker/stat")
    strace -c -f -p "$worker" -o "$dir/strace.txt" 2> /dev/null &
    tracer=$!
    sleep 0.3
    traced=$(wrk -t1 -c"$conns" -d4s "http://127.0.0.1:$port$url_path" | awk '/requests in/ {print $1}')
    kill -INT "$tracer"
    wait "$tracer" || true
    calls=$(awk '$NF == "total" {print $4}' "$dir/strace.txt")
    awk -v name="$1" -v n="$n" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
        -v calls="$calls" -v traced="$traced" \
        'BEGIN { printf "%s  %6.1f cpu-us/req  %5.2f syscalls/req  (%d requests)\n", name, t / hz * 1e6 / n, calls / traced, n }'
    kill "$(cat "$dir/logs/halo.pid")"
    while [ -f "$dir/logs/halo.pid" ]; do sleep 0.1; done
}

echo "A = $a"
echo "   (wrk -t1 -c$conns, response $size, ${secs}s per measure)"
echo "B = $b"
round=1
while [ "$round" -le "$rounds" ]; do
    measure A "$a" "$round"
    measure B "$b" "$round"
    round=$((round + 1))
done
