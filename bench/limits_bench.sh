#!/bin/sh
# The cost of request limits (issue 20): CPU µs per request of one worker serving a small
# static file from a location with one `limit_req` and one `limit_conn` (limits high enough
# that nothing is delayed or refused: what is measured is the bookkeeping, the key's lookup
# and update in the shared zones), against the same file from a location without limits. The
# two locations are loaded in turn on the same server, `rounds` times each, so both see the
# same machine; halo and Debian's nginx each, for reference. Issue 20 asks for an overhead
# under 5%; run it on a quiet machine.
# Needs wrk and nginx (apt-get install -y wrk nginx-light).
# Usage: bench/limits_bench.sh [seconds per run] [connections] [rounds]
secs=${1:-5}
conns=${2:-50}
rounds=${3:-3}
. "$(dirname "$0")/lib.sh"
mkdir -p "$work/www/limited" "$work/www/unlimit"
printf 'hello, limits\n' > "$work/www/unlimit/x"
cp "$work/www/unlimit/x" "$work/www/limited/x"
chmod -R a+rX "$work/www"

zones='limit_req_zone $binary_remote_addr zone=rq:10m rate=100000000r/s;
    limit_conn_zone $binary_remote_addr zone=cn:10m;'
body="root $work/www;
        location /unlimit/ {
        }
        location /limited/ {
            limit_req zone=rq burst=100000 nodelay;
            limit_conn cn 65535;
        }"

# run NAME PID PORT: loads /unlimit/x and /limited/x in turn (two prefix locations with URIs
# of one length, so that only the limits differ), `rounds` times; prints the µs per
# request of each and the overhead.
run() {
    plain=0
    limited=0
    i=0
    while [ $i -lt "$rounds" ]; do
        p=$(measure "$1" "$2" "$3" /unlimit/x)
        l=$(measure "$1" "$2" "$3" /limited/x)
        echo "  round $((i + 1)): none $(echo "$p" | cut -d' ' -f2-3) | limits $(echo "$l" | cut -d' ' -f2-3)   (req/s cpu-us/req)"
        plain=$(echo "$plain $p" | awk '{ printf "%.2f", $1 + $4 }')
        limited=$(echo "$limited $l" | awk '{ printf "%.2f", $1 + $4 }')
        i=$((i + 1))
    done
    echo "$1 $plain $limited $rounds" | awk '{ printf "%s: cpu-us/req none %.2f, limit_req+limit_conn %.2f, overhead %+.1f%%\n", $1, $2 / $4, $3 / $4, ($3 / $2 - 1) * 100 }'
}

hp=$(free_port)
np=$(free_port)
bench_conf "$work/halo/logs/halo.pid" "$hp" "$body" "$zones" > "$work/halo/halo.conf"
bench_conf "$work/nginx/logs/nginx.pid" "$np" "$body" "$zones" > "$work/nginx/nginx.conf"
"$halo" -p "$work/halo/" -c "$work/halo/halo.conf"
"$nginx" -p "$work/nginx/" -c "$work/nginx/nginx.conf"
sleep 0.5
for port in "$hp" "$np"; do
    for path in /unlimit/x /limited/x; do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$path" || echo 000)
        [ "$code" = 200 ] || { echo "bench: $path on port $port answers $code"; exit 1; }
    done
done
echo "static 14 B file, wrk -t1 -c$conns -d${secs}s per run, 1 worker each, $rounds rounds"
run halo "$(cat "$work/halo/logs/halo.pid")" "$hp"
run nginx "$(cat "$work/nginx/logs/nginx.pid")" "$np"
# Nothing may have been refused: the limits are there to be checked, not to bite.
if grep -q "limiting" "$work/err.log" 2>/dev/null; then
    echo "bench: some requests were limited (see the error log): the numbers are not comparable"
fi
