# Shared by the side-by-side benches: sourced, never run. Each bench sets `secs`, `conns`,
# writes its files under "$work", then calls `compare '<location / body>' <path> <label>`:
# halo and Debian's nginx get the same config (one worker, access_log off, sendfile on), wrk
# loads each in turn, and the CPU time of each server's workers gives µs per request.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
halo=${HALO_BIN:-$top/objs/halo}  # HALO_BIN: another build to compare
scheme=http
[ "${tls:-0}" = 1 ] && scheme=https
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install -y wrk)"; exit 1; }
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || { echo "bench: nginx is missing (apt-get install -y nginx-light)"; exit 1; }
[ -x "$halo" ] || { echo "bench: build halo first (./configure && make)"; exit 1; }

work=$(mktemp -d /tmp/halo-bench.XXXXXX)
chmod 0755 "$work"
trap 'for f in "$work"/*/logs/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done; sleep 0.3; rm -rf "$work"' EXIT
mkdir -p "$work/nginx/logs" "$work/halo/logs"
ssl_listen=
ssl_conf=
if [ $scheme = https ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench -keyout "$work/cert.key" \
        -out "$work/cert.pem" 2>/dev/null
    ssl_listen=" ssl"
    ssl_conf="ssl_certificate $work/cert.pem; ssl_certificate_key $work/cert.key;"
fi

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

bench_conf() { # $1 = pid file, $2 = port, $3 = body of `location /`, [$4 = http-level text]
    cat <<CONF
worker_processes 1;
daemon on;
pid $1;
error_log $work/err.log error;
worker_rlimit_nofile $(( ${wconns:-4096} + 100 ));
events { worker_connections ${wconns:-4096}; }
http {
    default_type text/plain;
    access_log off;
    sendfile on;
    ${4:-}
    server {
        listen 127.0.0.1:$2$ssl_listen;
        $ssl_conf
        location / { $3 }
    }
}
CONF
}

# proxy_backend [LOCATION_BODY]: one nginx worker as the upstream (by default `return 200
# "one\n"`), and $upstream / $proxy for a proxy's config (upstream keepalive 64).
proxy_backend() {
    bp=$(free_port)
    mkdir -p "$work/backend/logs"
    bench_conf "$work/backend/logs/nginx.pid" "$bp" "${1:-return 200 \"one\\n\";}" \
        > "$work/backend/nginx.conf"
    "$nginx" -p "$work/backend/" -c "$work/backend/nginx.conf"
    upstream="upstream be { server 127.0.0.1:$bp; keepalive 64; }"
    proxy='proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection "";'
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

measure() { # $1 = name, $2 = master pid, $3 = port, $4 = path
    before=$(child_ticks "$2")
    out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency "$scheme://127.0.0.1:$3$4")
    after=$(child_ticks "$2")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    hz=$(getconf CLK_TCK)
    us=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    echo "$1 $rps $us $p99"
}

compare() { # $1 = body of `location /`, $2 = path to load, $3 = label
    np=$(free_port)
    hp=$(free_port)
    bench_conf "$work/nginx/logs/nginx.pid" "$np" "$1" > "$work/nginx/nginx.conf"
    bench_conf "$work/halo/logs/halo.pid" "$hp" "$1" > "$work/halo/halo.conf"
    "$nginx" -p "$work/nginx/" -c "$work/nginx/nginx.conf"
    "$halo" -p "$work/halo/" -c "$work/halo/halo.conf"
    sleep 0.5
    n=$(measure nginx "$(cat "$work/nginx/logs/nginx.pid")" "$np" "$2")
    h=$(measure halo "$(cat "$work/halo/logs/halo.pid")" "$hp" "$2")
    echo "server  req/s  cpu-us/req  p99   ($3, wrk -t1 -c$conns -d${secs}s, 1 worker each)"
    echo "$n"
    echo "$h"
    echo "$n $h" | awk '{ printf "ratio halo/nginx: throughput %.2f, cpu per request %.2f, p99 %s vs %s\n", $6 / $2, $7 / $3, $8, $4 }'
    # Stop both now: a second compare() rewrites the pid files the exit trap reads.
    kill "$(cat "$work/nginx/logs/nginx.pid")" "$(cat "$work/halo/logs/halo.pid")" 2>/dev/null || true
    sleep 0.3
}
