#!/bin/sh
# Cached small responses (proxy_cache HIT) through halo and Debian's nginx, same run, same
# config: one worker each, a cache of its own each (proxy_cache_path under the server's prefix,
# levels=1:2), `proxy_cache_valid 200 1h`, one nginx worker as the backend (`return 200
# "one\n"`). The entry is filled by one request before the measured wrk run, so that every
# measured request is a HIT (the backend's request count over the run is printed: it must be
# 0). Requests/s and CPU µs per request (utime+stime of the server's children over the run: the
# worker, and for halo its idle cache manager helper too; nginx's cache manager is a child as
# well) and the ratios halo/nginx.
# Needs wrk and nginx (apt-get install -y wrk nginx-light).
# Usage: bench/cache_bench.sh [seconds] [connections] [body bytes]
secs=${1:-5}
conns=${2:-50}
size=${3:-4}
. "$(dirname "$0")/lib.sh"
mkdir -p "$work/www"
if [ "$size" = 4 ]; then
    printf 'one\n' > "$work/www/obj"
else
    head -c "$size" /dev/zero | tr '\0' 'x' > "$work/www/obj"
fi
chmod -R a+rX "$work/www"
proxy_backend "root $work/www; access_log $work/backend/access.log;"

np=$(free_port)
hp=$(free_port)
loc="$proxy proxy_cache c; proxy_cache_valid 200 1h;"
bench_conf "$work/nginx/logs/nginx.pid" "$np" "$loc" \
    "$upstream proxy_cache_path $work/nginx/cache levels=1:2 keys_zone=c:10m;" \
    > "$work/nginx/nginx.conf"
bench_conf "$work/halo/logs/halo.pid" "$hp" "$loc" \
    "$upstream proxy_cache_path $work/halo/cache levels=1:2 keys_zone=c:10m;" \
    > "$work/halo/halo.conf"
"$nginx" -p "$work/nginx/" -c "$work/nginx/nginx.conf"
"$halo" -p "$work/halo/" -c "$work/halo/halo.conf"
sleep 0.5
for p in "$np" "$hp"; do
    curl -s -o /dev/null "http://127.0.0.1:$p/obj"  # MISS: fills the entry
    st=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/obj")
    [ "$st" = 200 ] || { echo "cache_bench: port $p answered $st"; exit 1; }
done
lines() { wc -l < "$work/backend/access.log"; }
b0=$(lines)
n=$(measure nginx "$(cat "$work/nginx/logs/nginx.pid")" "$np" /obj)
h=$(measure halo "$(cat "$work/halo/logs/halo.pid")" "$hp" /obj)
b1=$(lines)
echo "server  req/s  cpu-us/req  p99   (proxy_cache HIT of a $size B body, wrk -t1 -c$conns -d${secs}s, 1 worker each)"
echo "$n"
echo "$h"
echo "$n $h" | awk '{ printf "ratio halo/nginx: throughput %.2f, cpu per request %.2f, p99 %s vs %s\n", $6 / $2, $7 / $3, $8, $4 }'
echo "backend requests during the measured runs: $((b1 - b0)) (0: every request was a HIT)"
kill "$(cat "$work/nginx/logs/nginx.pid")" "$(cat "$work/halo/logs/halo.pid")" 2>/dev/null || true
sleep 0.3
