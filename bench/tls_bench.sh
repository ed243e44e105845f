#!/bin/sh
# Side-by-side over TLS 1.3 (`ssl_protocols TLSv1.3;` on both: Debian's nginx 1.22 stops at
# 1.2 by default): halo vs nginx, the same config and certificate, an RSA-2048 and an ECDSA
# P-256 one in turn. For each: kept-alive requests (wrk: a `return 200` and a 64 KiB static
# file; CPU µs per request of the worker), a new connection per request (wrk with
# `Connection: close`: wrk resumes its session, so a resumed handshake each), and openssl
# s_time -new / -reuse with a request each (without one, TLS 1.3 tickets are never read and
# -reuse does not resume): the server's CPU µs per full and per resumed handshake (s_time
# itself bounds the handshakes/s). With STRACE=1, syscalls per request of each
# worker over a second wrk run. Needs wrk, nginx, openssl (strace for STRACE=1).
# Usage: bench/tls_bench.sh [seconds] [connections]
secs=${1:-5}
conns=${2:-50}
tls=1
. "$(dirname "$0")/lib.sh"
mkdir -p "$work/www"
head -c 65536 /dev/zero | tr '\0' x > "$work/www/64k.txt"
chmod -R a+rX "$work/www"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench \
    -keyout "$work/ec.key" -out "$work/ec.pem" 2>/dev/null
hz=$(getconf CLK_TCK)

# run_wrk NAME MASTER PORT PATH [wrk args]: "req/s cpu-us/req"
run_wrk() {
    name=$1 pid=$2 port=$3 path=$4
    shift 4
    before=$(child_ticks "$pid")
    out=$(wrk -t1 -c"$conns" -d"${secs}s" "$@" "https://127.0.0.1:$port$path")
    after=$(child_ticks "$pid")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    awk -v t=$((after - before)) -v hz="$hz" -v n="$reqs" -v r="$rps" \
        'BEGIN { printf "%s %.1f", r, t / hz * 1e6 / n }'
}

# run_stime MASTER PORT -new|-reuse: "handshakes/s cpu-us/handshake" (the server's CPU)
run_stime() {
    before=$(child_ticks "$1")
    out=$(openssl s_time -connect "127.0.0.1:$2" "$3" -www / -time "$secs" 2>&1 |
        awk '/connections in [0-9.]+s;/ { print $1, $4; exit }')
    after=$(child_ticks "$1")
    echo "$out" | awk -v t=$((after - before)) -v hz="$hz" \
        '{ sub("s;", "", $2); printf "%.0f %.1f", $1 / '"$secs"', t / hz * 1e6 / $1 }'
}

# syscalls NAME MASTER PORT PATH [wrk args]: per request, the five most frequent
syscalls() {
    name=$1 pid=$2 port=$3 path=$4
    shift 4
    w=$(cat /proc/"$pid"/task/"$pid"/children)
    strace -c -f -o "$work/strace.$name" -p "$w" 2>/dev/null &
    sp=$!
    sleep 0.5
    out=$(wrk -t1 -c"$conns" -d2s "$@" "https://127.0.0.1:$port$path")
    kill -INT $sp
    wait $sp 2>/dev/null || true
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    awk -v n="$reqs" '$NF ~ /^[a-z_0-9]+$/ && $4 + 0 > 0 && $NF != "total" { print $4 / n, $NF }' \
        "$work/strace.$name" | sort -rn | head -5 | awk '{ printf "%s=%.2f ", $2, $1 }'
}

for cert in rsa ec; do
    if [ $cert = rsa ]; then
        ssl_conf="ssl_protocols TLSv1.3; ssl_certificate $work/cert.pem; ssl_certificate_key $work/cert.key;"
    else
        ssl_conf="ssl_protocols TLSv1.3; ssl_certificate $work/ec.pem; ssl_certificate_key $work/ec.key;"
    fi
    np=$(free_port)
    hp=$(free_port)
    loc="return 200 \"one\\n\"; } location /f/ { alias $work/www/;"
    bench_conf "$work/nginx/logs/nginx.pid" "$np" "$loc" > "$work/nginx/nginx.conf"
    bench_conf "$work/halo/logs/halo.pid" "$hp" "$loc" > "$work/halo/halo.conf"
    "$nginx" -p "$work/nginx/" -c "$work/nginx/nginx.conf"
    "$halo" -p "$work/halo/" -c "$work/halo/halo.conf"
    sleep 0.5
    echo "== $cert certificate, TLS 1.3, 1 worker each, wrk -t1 -c$conns -d${secs}s; $(uptime | sed 's/.*load/load/')"
    echo "server  keepalive(req/s cpu-us)  64KiB(req/s cpu-us)  conn-close(req/s cpu-us)  s_time-new(hs/s cpu-us)  s_time-reuse(hs/s cpu-us)"
    for s in nginx halo; do
        if [ $s = nginx ]; then pid=$(cat "$work/nginx/logs/nginx.pid") port=$np; else pid=$(cat "$work/halo/logs/halo.pid") port=$hp; fi
        echo "$s  $(run_wrk $s "$pid" $port /)  $(run_wrk $s "$pid" $port /f/64k.txt)" \
            " $(run_wrk $s "$pid" $port / -H 'Connection: close')  $(run_stime "$pid" $port -new)" \
            " $(run_stime "$pid" $port -reuse)"
    done
    if [ "${STRACE:-0}" = 1 ]; then
        for s in nginx halo; do
            if [ $s = nginx ]; then pid=$(cat "$work/nginx/logs/nginx.pid") port=$np; else pid=$(cat "$work/halo/logs/halo.pid") port=$hp; fi
            echo "$s syscalls/request: keepalive: $(syscalls $s "$pid" $port /)"
            echo "$s syscalls/request: 64KiB: $(syscalls $s "$pid" $port /f/64k.txt)"
            echo "$s syscalls/request: conn-close: $(syscalls $s "$pid" $port / -H 'Connection: close')"
        done
    fi
    kill "$(cat "$work/nginx/logs/nginx.pid")" "$(cat "$work/halo/logs/halo.pid")" 2>/dev/null || true
    sleep 0.3
done
