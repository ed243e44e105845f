#!/bin/sh
# Side-by-side: halo vs nginx serving a small static file (1 KiB, sendfile on) from one
# worker, same machine, same run. Prints requests/s and CPU microseconds per request of each server's worker(s),
# and the ratios (halo / nginx). Needs wrk and nginx (apt-get install -y wrk nginx-light).
# Usage: bench/static_bench.sh [seconds] [connections] [file size in bytes]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-5}
conns=${2:-50}
size=${3:-1024}
halo=$top/objs/halo
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install -y wrk)"; exit 1; }
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || { echo "bench: nginx is missing (apt-get install -y nginx-light)"; exit 1; }
[ -x "$halo" ] || { echo "bench: build halo first (./configure && make)"; exit 1; }

work=$(mktemp -d /tmp/halo-bench.XXXXXX)
chmod 0755 "$work"
trap 'for f in "$work"/*/logs/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done; sleep 0.3; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

conf() { # $1 = pid file, $2 = port
    cat <<CONF
worker_processes 1;
daemon on;
pid $1;
error_log $work/err.log error;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    server {
        listen 127.0.0.1:$2;
        location / { root '$work/www'; }
    }
}
CONF
}

# CPU ticks (utime+stime) of every child of a master pid.
child_ticks() {
    t=0
    for c in $(cat /proc/"$1"/task/"$1"/children); do
        set -- $(cut -d' ' -f14,15 /proc/"$c"/stat)
        t=$((t + $1 + $2))
    done
    echo $t
}

run() { # $1 = name, $2 = master pid, $3 = port
    before=$(child_ticks "$2")
    out=$(wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$3/index.html")
    after=$(child_ticks "$2")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    hz=$(getconf CLK_TCK)
    us=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    echo "$1 $rps $us"
}

mkdir -p "$work/nginx/logs" "$work/halo/logs" "$work/www"
head -c "$size" /dev/zero | tr '\0' 'x' > "$work/www/index.html"
chmod -R a+rX "$work"
np=$(free_port); hp=$(free_port)
conf "$work/nginx/logs/nginx.pid" "$np" | sed 's/^http {/http { default_type text\/plain;/' > "$work/nginx/nginx.conf"
conf "$work/halo/logs/halo.pid" "$hp" > "$work/halo/halo.conf"
"$nginx" -p "$work/nginx/" -c "$work/nginx/nginx.conf"
"$halo" -p "$work/halo/" -c "$work/halo/halo.conf"
sleep 0.5
n=$(run nginx "$(cat "$work/nginx/logs/nginx.pid")" "$np")
h=$(run halo "$(cat "$work/halo/logs/halo.pid")" "$hp")
echo "server  req/s  cpu-us/req   (static $size B file, wrk -t1 -c$conns -d${secs}s, 1 worker each)"
echo "$n"
echo "$h"
echo "$n $h" | awk '{ printf "ratio halo/nginx: throughput %.2f, cpu per request %.2f\n", $5 / $2, $6 / $3 }'
