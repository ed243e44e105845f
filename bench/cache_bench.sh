#!/bin/sh
# Cached responses (issue 21): one worker each of halo and Debian's nginx with the same cache
# config (proxy_cache_path levels=1:2, proxy_cache_valid 200 1h) in front of one nginx
# backend; after a warm-up request the entry is a HIT, and wrk loads it. Prints requests/s,
# CPU µs per request of the proxy's worker and p99 for `rounds` alternating runs, and the
# backend's request count over the measured runs (0: every request was served from the cache).
# A second pass loads a 64 KiB cached body. Run it on a quiet machine.
# Needs wrk and nginx (apt-get install -y wrk nginx-light).
# Usage: bench/cache_bench.sh [seconds per run] [connections] [rounds]
secs=${1:-5}
conns=${2:-50}
rounds=${3:-3}
. "$(dirname "$0")/lib.sh"
mkdir -p "$work/www" "$work/halo/cache" "$work/nginx/cache"
head -c 65536 /dev/urandom | base64 -w 76 | head -c 65536 > "$work/www/big"
printf 'one\n' > "$work/www/small"
chmod -R a+rX "$work/www"

bp=$(free_port)
mkdir -p "$work/backend/logs"
cat > "$work/backend/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $work/backend/logs/nginx.pid;
error_log $work/err.log error;
events { worker_connections 1024; }
http {
    access_log off;
    default_type text/plain;
    server {
        listen 127.0.0.1:$bp;
        root $work/www;
        location = /stub { stub_status; }
    }
}
CONF
"$nginx" -p "$work/backend/" -c "$work/backend/nginx.conf"

# conf NAME PORT: the front's config.
conf() {
    bench_conf "$work/$1/logs/$1.pid" "$2" \
        "proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\";
         proxy_cache c; proxy_cache_valid 200 1h;
         add_header X-Cache \$upstream_cache_status;" \
        "upstream be { server 127.0.0.1:$bp; keepalive 64; }
    proxy_cache_path $work/$1/cache levels=1:2 keys_zone=c:10m inactive=1h;"
}

backend_requests() {
    curl -s "http://127.0.0.1:$bp/stub" | awk 'NR == 3 { print $3 }'
}

hp=$(free_port)
np=$(free_port)
conf halo "$hp" > "$work/halo/halo.conf"
conf nginx "$np" > "$work/nginx/nginx.conf"
"$halo" -p "$work/halo/" -c "$work/halo/halo.conf"
"$nginx" -p "$work/nginx/" -c "$work/nginx/nginx.conf"
sleep 0.5
for port in "$hp" "$np"; do
    for path in /small /big; do
        curl -s -o /dev/null "http://127.0.0.1:$port$path"
        st=$(curl -s -o /dev/null -D - "http://127.0.0.1:$port$path" | tr -d '\r' |
            awk -F': ' 'tolower($1) == "x-cache" { print $2 }')
        [ "$st" = HIT ] || { echo "bench: $path on port $port is not a HIT (X-Cache: $st)"; exit 1; }
    done
done

echo "cache HIT, wrk -t1 -c$conns -d${secs}s per run, 1 worker each, $rounds rounds"
for path in /small /big; do
    before=$(backend_requests)
    hs=0
    ns=0
    i=0
    while [ $i -lt "$rounds" ]; do
        h=$(measure halo "$(cat "$work/halo/logs/halo.pid")" "$hp" "$path")
        n=$(measure nginx "$(cat "$work/nginx/logs/nginx.pid")" "$np" "$path")
        echo "  $path round $((i + 1)): $h | $n   (name req/s cpu-us/req p99)"
        hs=$(echo "$hs $h" | awk '{ printf "%.2f", $1 + $4 }')
        ns=$(echo "$ns $n" | awk '{ printf "%.2f", $1 + $4 }')
        i=$((i + 1))
    done
    after=$(backend_requests)
    echo "$path $hs $ns $rounds $((after - before - 1))" | awk '{ printf "%s: cpu-us/req halo %.2f, nginx %.2f, halo/nginx %.2f; backend requests during the runs: %d\n", $1, $2 / $4, $3 / $4, $2 / $3, $5 }'
done
