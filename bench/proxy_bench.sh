#!/bin/bash
# Side-by-side reverse proxying (issue 17's scenario matrix): halo, Debian's nginx and HAProxy,
# one worker/thread each, in front of one backend (an nginx worker), the same upstream
# keepalive (nginx and halo: `keepalive 64` + proxy_http_version 1.1; HAProxy: http-reuse
# always), measured one after the other in one run, everything on 127.0.0.1.
#
# For every scenario and server: requests/s and p99 (wrk -t1 --latency), the CPU µs per request
# of the proxy's worker (utime+stime from /proc over the wrk run), new upstream connections per
# request (the backend's stub_status "accepts" over the same run), and system calls per request
# (strace -c -f on the worker over a separate run, the requests of the traced window counted by
# the backend; the top 3 calls are listed). Then the memory of idle client connections held
# open against each proxy (the worker's RSS growth). Output: one markdown table per run on
# stdout (progress on stderr), with the ratios halo/nginx and halo/haproxy.
#
# Scenarios (default: all, in this order):
#   small      `return 200 "one\n"` on the backend (4-byte body), 50 connections
#   4k 64k 1m  a static file of 4 KiB / 64 KiB / 1 MiB on the backend, 50 connections
#   c1000      small, 1000 connections
#   close      small, proxied, a new client connection per request (Connection: close)
#   close-ret  `return 200 "one\n"` on the proxy itself, a new connection per request
#   tls        small, proxied, TLS 1.3 only on all three (same RSA-2048 certificate), kept-alive
#   idle       bytes per idle client connection (N connections opened, nothing sent)
#
# Usage: bench/proxy_bench.sh [-s secs] [-w secs] [-t secs] [-i idle] [-c strace|perf] [scenario...]
#   -s  duration of the measured wrk run (default 3)
#   -w  duration of the wrk warm-up before each measure (default 1)
#   -t  duration of the window counted with strace (default 2; longer, up to 3 times, until
#       the proxy has served 3 requests per connection: strace slows it down many times)
#   -i  idle client connections for the idle scenario (default 10000)
#   -c  what counts system calls: strace -c -f (default) or perf trace --summary (tracepoints,
#       no ptrace stop per call: the proxy keeps most of its speed while counted)
# HALO_BIN=path runs another halo build. HALO_KEEPALIVE: halo's `keepalive` parameters (default
# "64 adaptive": nginx's cap of 64 idle connections grown to the recent peak of busy ones, halo's
# extension, closest to HAProxy's http-reuse; "64" gives nginx's behaviour). Needs wrk, nginx,
# haproxy, strace, curl, openssl,
# python3 (apt-get install -y wrk nginx-light haproxy strace curl openssl python3).
set -eu

usage() { sed -n '/^# Usage/,/^# python3/p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
halo_keepalive=${HALO_KEEPALIVE:-64 adaptive}
secs=3
warm=1
tsecs=2
idle=10000
counter=strace
while getopts s:w:t:i:c:h opt; do
    case $opt in
        c) counter=$OPTARG ;;
        s) secs=$OPTARG ;;
        w) warm=$OPTARG ;;
        t) tsecs=$OPTARG ;;
        i) idle=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
all="small 4k 64k 1m c1000 close close-ret tls idle"
scenarios=${*:-$all}
for s in $scenarios; do
    case " $all " in *" $s "*) ;; *) echo "proxy_bench: unknown scenario '$s' (one of: $all)" >&2; exit 2 ;; esac
done

wconns=$((idle + 1000))
[ "$wconns" -lt 4096 ] && wconns=4096
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
case $counter in strace | perf) ;; *) echo "proxy_bench: -c strace or -c perf" >&2; exit 2 ;; esac
for tool in haproxy "$counter" curl openssl python3; do
    command -v "$tool" >/dev/null || { echo "proxy_bench: $tool is missing" >&2; exit 1; }
done
ulimit -n 65536 2>/dev/null || ulimit -n 30000 2>/dev/null || true

# lib.sh's trap, extended: also the tracer and the load generator this script runs in the
# background; every server is stopped by its pid file and waited for before $work goes.
bgpids=
cleanup() {
    for p in $bgpids; do { kill "$p"; kill -CONT "$p"; } 2>/dev/null || true; done
    pids=
    for f in "$work"/*/logs/*.pid; do [ -f "$f" ] && pids="$pids $(cat "$f")"; done
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        alive=
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ -z "$alive" ] && break
        sleep 0.3
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
hz=$(getconf CLK_TCK)
log() { echo "proxy_bench: $*" >&2; }

# --- the backend: one nginx worker, stub_status for the accepted-connection count ----------------
mkdir -p "$work/www/f" "$work/backend/logs"
head -c 4096 /dev/zero | tr '\0' x > "$work/www/f/4k"
head -c 65536 /dev/zero | tr '\0' x > "$work/www/f/64k"
head -c 1048576 /dev/zero | tr '\0' x > "$work/www/f/1m"
chmod -R a+rX "$work/www"
bp=$(free_port)
# keepalive_requests raised so the backend never closes a proxy's idle connection: the
# upstream connection count is then the proxy's own doing.
cat > "$work/backend/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $work/backend/logs/nginx.pid;
error_log $work/backend/err.log error;
worker_rlimit_nofile 4200;
events { worker_connections 4096; }
http {
    default_type text/plain;
    access_log off;
    sendfile on;
    keepalive_requests 10000000;
    keepalive_timeout 600s;
    server {
        listen 127.0.0.1:$bp;
        location = / { return 200 "one\n"; }
        location /f/ { root $work/www; }
        location = /stub { stub_status; }
    }
}
CONF
"$nginx" -p "$work/backend/" -c "$work/backend/nginx.conf"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench -keyout "$work/cert.key" \
    -out "$work/cert.pem" 2>/dev/null
cat "$work/cert.pem" "$work/cert.key" > "$work/cert-key.pem"

# --- the three proxies: a plain port and a TLS port each ------------------------------------------
servers="halo nginx haproxy"
declare -A port tport
proxy_conf() { # $1 = name
    cat <<CONF
worker_processes 1;
daemon on;
pid $work/$1/logs/$1.pid;
error_log $work/$1/err.log error;
worker_rlimit_nofile $((wconns + 100));
events { worker_connections $wconns; }
http {
    default_type text/plain;
    access_log off;
    sendfile on;
    upstream be { server 127.0.0.1:$bp; keepalive $([ "$1" = halo ] && echo "$halo_keepalive" || echo 64); }
    server {
        listen 127.0.0.1:${port[$1]};
        listen 127.0.0.1:${tport[$1]} ssl;
        ssl_certificate $work/cert.pem;
        ssl_certificate_key $work/cert.key;
        ssl_protocols TLSv1.3;
        location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location = /ret { return 200 "one\n"; }
    }
}
CONF
}
for s in $servers; do
    port[$s]=$(free_port)
    tport[$s]=$(free_port)
    mkdir -p "$work/$s/logs"
done
proxy_conf halo > "$work/halo/halo.conf"
proxy_conf nginx > "$work/nginx/nginx.conf"
# HAProxy wants two descriptors per connection: stay under this shell's limit.
hap_max=$((($(ulimit -n) - 100) / 2))
[ "$hap_max" -gt "$wconns" ] && hap_max=$wconns
cat > "$work/haproxy/haproxy.cfg" <<CONF
global
    nbthread 1
    daemon
    pidfile $work/haproxy/logs/haproxy.pid
    maxconn $hap_max
defaults
    mode http
    maxconn $hap_max
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    http-reuse always
frontend f
    bind 127.0.0.1:${port[haproxy]}
    bind 127.0.0.1:${tport[haproxy]} ssl crt $work/cert-key.pem ssl-min-ver TLSv1.3
    http-request return status 200 content-type text/plain string "one\n" if { path /ret }
    default_backend b
backend b
    server s1 127.0.0.1:$bp
CONF
start_proxies() {
    "$halo" -p "$work/halo/" -c "$work/halo/halo.conf"
    "$nginx" -p "$work/nginx/" -c "$work/nginx/nginx.conf"
    haproxy -q -f "$work/haproxy/haproxy.cfg"
    sleep 0.5
}
stop_proxies() { # by pid, and wait until each is gone
    for s in $servers; do
        p=$(cat "$work/$s/logs/$s.pid")
        kill "$p"
        while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
        rm -f "$work/$s/logs/$s.pid"
    done
}
start_proxies

# The processes whose CPU and system calls count: the workers of halo and nginx (children of
# the master), HAProxy's only process.
workers() {
    m=$(cat "$work/$1/logs/$1.pid")
    if [ "$1" = haproxy ]; then echo "$m"; else tr ' ' '\n' < /proc/"$m"/task/"$m"/children | grep .; fi
}
ticks() { # utime+stime of the given pids, in clock ticks
    t=0
    for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/"$p"/stat))); done
    echo $t
}
sticks() { # stime alone (the kernel's part) of the given pids, in clock ticks
    t=0
    for p in "$@"; do t=$((t + $(awk '{print $15}' /proc/"$p"/stat))); done
    echo $t
}
stub() { # the backend's accepted connections and requests so far: "ACCEPTS REQUESTS"
    curl -s "http://127.0.0.1:$bp/stub" | awk 'NR == 3 {print $1, $3}'
}

# --- scenarios: URL path, connections, Connection: close?, TLS?, body size, proxied? ------------
declare -A s_path s_conns s_close s_tls s_size s_proxied
scen() { s_path[$1]=$2 s_conns[$1]=$3 s_close[$1]=$4 s_tls[$1]=$5 s_size[$1]=$6 s_proxied[$1]=$7; }
scen small / 50 0 0 4 1
scen 4k /f/4k 50 0 0 4096 1
scen 64k /f/64k 50 0 0 65536 1
scen 1m /f/1m 50 0 0 1048576 1
scen c1000 / 1000 0 0 4 1
scen close / 50 1 0 4 1
scen close-ret /ret 50 1 0 4 0
scen tls / 50 0 1 4 1

url() { # $1 = scenario, $2 = server
    if [ "${s_tls[$1]}" = 1 ]; then
        echo "https://127.0.0.1:${tport[$2]}${s_path[$1]}"
    else
        echo "http://127.0.0.1:${port[$2]}${s_path[$1]}"
    fi
}
wrk_args() { # $1 = scenario, $2 = server, $3 = seconds: sets W, wrk's arguments
    W=(-t1 -c"${s_conns[$1]}" -d"${3}s")
    if [ "${s_close[$1]}" = 1 ]; then W+=(-H 'Connection: close'); fi
    W+=("$(url "$1" "$2")")
}
load() { # $1 = scenario, $2 = server, $3 = seconds, [wrk options...]: wrk's output
    wrk_args "$1" "$2" "$3"
    shift 3
    wrk "$@" "${W[@]}"
}

# Every server must answer every chosen scenario with 200 and the right body size.
for sc in $scenarios; do
    [ "$sc" = idle ] && continue
    for sv in $servers; do
        hdr=()
        [ "${s_close[$sc]}" = 1 ] && hdr=(-H 'Connection: close')
        got=$(curl -sk -o /dev/null -w '%{http_code} %{size_download}' "${hdr[@]}" \
            "$(url "$sc" "$sv")" || true)
        if [ "$got" != "200 ${s_size[$sc]}" ]; then
            echo "proxy_bench: $sv does not serve scenario $sc ($(url "$sc" "$sv")):" \
                "got '$got', want '200 ${s_size[$sc]}'" >&2
            exit 1
        fi
    done
    if [ "$sc" = tls ]; then
        tlsinfo=
        for sv in $servers; do
            if curl -sk --tls-max 1.2 -o /dev/null "$(url tls "$sv")"; then
                echo "proxy_bench: $sv accepts TLS 1.2; the tls scenario wants 1.3 only" >&2
                exit 1
            fi
            tlsinfo="$tlsinfo $sv $(openssl s_client -connect "127.0.0.1:${tport[$sv]}" </dev/null \
                2>/dev/null | awk '/^New, / {print $2, $NF; exit}')"
        done
    fi
done

# --- measures -------------------------------------------------------------------------------------
declare -A rps cpu kcpu p99 sys upc topsys note
to_ms() { # wrk's "3.05ms" / "512.00us" / "1.02s" in ms
    awk -v v="$1" 'BEGIN { u = v; sub(/^[0-9.]+/, "", u); n = v + 0;
        printf "%.2f", u == "us" ? n / 1000 : u == "s" ? n * 1000 : u == "m" ? n * 60000 : n }'
}
# trace_start PID...: count the system calls of these processes (all threads) from now on
trace_start() {
    if [ "$counter" = strace ]; then
        pargs=()
        for p in "$@"; do pargs+=(-p "$p"); done
        strace -c -f -o "$work/trace.txt" "${pargs[@]}" 2>/dev/null &
        tracer=$!
        bgpids="$bgpids $tracer"
        wait_traced "$@" || { echo "proxy_bench: strace did not attach to $*" >&2; exit 1; }
    else
        perf trace --summary -o "$work/trace.txt" -p "$(echo "$@" | tr ' ' ,)" 2>/dev/null &
        tracer=$!
        bgpids="$bgpids $tracer"
        sleep 1  # perf has no sign of being attached
    fi
}
trace_stop() {
    kill -INT "$tracer"
    wait "$tracer" || true
    bgpids=
}
# trace_sum FILE REQUESTS: "TOTAL_PER_REQUEST|name per-request name per-request name per-request";
# REQUESTS "accepts": the connections accepted in the trace (one request each)
trace_sum() {
    if [ "$counter" = strace ]; then
        # % time, seconds, usecs/call, calls, [errors], syscall
        awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { print $4, NF == 6 ? $5 : 0, $NF }' "$1"
    else
        # one table per thread: syscall, calls, errors, total, min, avg, max, stddev
        awk 'NF == 8 && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ { print $2, $3, $1 }' "$1"
    fi | awk '{ c[$3] += $1; t += $1; if ($3 ~ /^accept4?$/) a += $1 - $2 }
            END { print t, a; for (k in c) print c[k], k }' |
        { read -r total accepted; sort -rn | head -3 |
            awk -v n="$2" -v a="$accepted" -v t="$total" '
                BEGIN { if (n == "accepts") n = a }
                { s = s sprintf("%s%s %.1f", NR > 1 ? " " : "", $2, $1 / n) }
                END { printf "%.2f|%s\n", t / n, s }'; }
}
settle() { # with the load stopped, until the backend's request count stands still (the
    # requests in flight are done): sets settled (the last count) and reads (stub reads made)
    read -r _ settled <<< "$(stub)"
    reads=1
    for _ in $(seq 100); do
        sleep 0.2
        read -r _ now <<< "$(stub)"
        reads=$((reads + 1))
        [ "$now" = $((settled + 1)) ] && { settled=$now; return 0; }
        settled=$now
    done
    echo "proxy_bench: the backend's request count does not settle" >&2
    exit 1
}
wait_traced() { # until every pid has a tracer (strace has attached), at most 3 s
    for _ in $(seq 60); do
        all_t=1
        for p in "$@"; do
            [ "$(awk '/^TracerPid:/ {print $2}' /proc/"$p"/status)" != 0 ] || all_t=
        done
        [ -n "$all_t" ] && return 0
        sleep 0.05
    done
    return 1
}

measure() { # $1 = scenario, $2 = server
    sc=$1 sv=$2 k="$1 $2"
    read -r -a w <<< "$(workers "$sv" | tr '\n' ' ')"
    load "$sc" "$sv" "$warm" > /dev/null
    t0=$(ticks "${w[@]}")
    k0=$(sticks "${w[@]}")
    read -r a0 _ <<< "$(stub)"
    out=$(load "$sc" "$sv" "$secs" --latency)
    read -r a1 _ <<< "$(stub)"
    t1=$(ticks "${w[@]}")
    k1=$(sticks "${w[@]}")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps[$k]=$(echo "$out" | awk '/Requests\/sec/ {printf "%d", $2}')
    p99[$k]=$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")
    cpu[$k]=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    kcpu[$k]=$(awk -v t=$((k1 - k0)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    # The second stub read's own connection is in a1.
    upc[$k]=-
    [ "${s_proxied[$sc]}" = 1 ] && upc[$k]=$(awk -v a=$((a1 - a0 - 1)) -v n="$reqs" 'BEGIN { printf "%.3f", a / n }')
    note[$k]=$(echo "$out" | awk '/Socket errors|Non-2xx/ {sub(/^ +/, ""); printf "%s; ", $0}')

    # System calls. Proxied scenarios: strace attaches in the middle of a run (connections
    # already open, so wrk's connection setup does not count), and the backend's request
    # counter gives the requests of the traced window: wrk is stopped (SIGSTOP) and the
    # requests in flight drain before the counter is read and the tracer attaches, and again
    # before the tracer detaches, so both count the same requests. close-ret has no backend
    # request and a connection per request: the trace covers a whole wrk run, and the
    # connections it accepted are its requests.
    if [ "${s_proxied[$sc]}" = 1 ]; then
        wrk_args "$sc" "$sv" $((tsecs * 3 + 30))
        wrk "${W[@]}" > /dev/null &
        loader=$!
        bgpids="$bgpids $loader"
        sleep 0.5
        kill -STOP "$loader"
        settle
        trace_start "${w[@]}"
        read -r _ r0 <<< "$(stub)"
        kill -CONT "$loader"
        sleep "$tsecs"
        # Under strace a proxy is many times slower: the window lasts until it has served
        # 3 requests per connection (at most 3 times -t), so that the burst after the resume
        # is not all it sees.
        extra=0
        read -r _ now <<< "$(stub)"
        while [ $((now - r0 - extra)) -lt $((3 * s_conns[$sc])) ] && [ "$extra" -lt $((4 * tsecs)) ]; do
            sleep 0.5
            extra=$((extra + 1))
            read -r _ now <<< "$(stub)"
        done
        kill -STOP "$loader"
        settle
        trace_stop
        kill "$loader"
        kill -CONT "$loader"
        wait "$loader" 2>/dev/null || true
        # Every stub read after r0 is a request of its own.
        traced=$((settled - r0 - reads - extra - 1))
    else
        trace_start "${w[@]}"
        load "$sc" "$sv" "$tsecs" > /dev/null
        traced=accepts
        trace_stop
    fi
    bgpids=
    summary=$(trace_sum "$work/trace.txt" "$traced")
    sys[$k]=${summary%%|*}
    topsys[$k]=${summary#*|}
    [ -n "${PB_KEEP:-}" ] && cp "$work/trace.txt" "$PB_KEEP/$counter-$sc-$sv.txt" && echo "$traced requests" >> "$PB_KEEP/$counter-$sc-$sv.txt"
    log "$sc $sv: ${rps[$k]} req/s, ${cpu[$k]} cpu-us/req, p99 ${p99[$k]} ms, ${sys[$k]} syscalls/req (${topsys[$k]}), ${upc[$k]} upstream conns/req"
}

# Idle connections: RSS of the proxy's worker before and after N connections are opened and
# left idle (each has sent nothing). The growth per connection is the figure to compare; the
# whole RSS is shown too, since nginx allocates its connection array (worker_connections of
# them) before any connection arrives.
rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status; }
declare -A idle_line
idle_cost() { # $1 = server, $2 = connections
    pid=$(workers "$1" | head -n1)
    before=$(rss_kb "$pid")
    after=$(python3 - "${port[$1]}" "$2" "$pid" <<'PY'
import resource, socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 100, n + 100))
socks = []
for _ in range(n):
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    socks.append(s)
time.sleep(1.5)
print([l.split()[1] for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS:")][0])
PY
)
    idle_line[$1]=$(printf '| %-7s | %5d | %6d | %4d MiB | %4d MiB |' "$1" \
        $(((after - before) * 1024 / $2)) "$2" $((before / 1024)) $((after / 1024)))
}

started=$(date +%s)
for sc in $scenarios; do
    if [ "$sc" = idle ]; then
        # Fresh processes (memory freed by the scenarios before would hide the growth) that
        # have proxied a little, as in the earlier measures of bench/README.md.
        stop_proxies
        start_proxies
        for sv in $servers; do load small "$sv" 1 > /dev/null; done
        idle_cost halo "$idle"
        idle_cost nginx "$idle"
        idle_cost haproxy "$([ "$idle" -lt $((hap_max - 100)) ] && echo "$idle" || echo $((hap_max - 100)))"
        continue
    fi
    for sv in $servers; do measure "$sc" "$sv"; done
done

# --- the table ------------------------------------------------------------------------------------
echo "proxy_bench $(date -u '+%Y-%m-%d %H:%M') UTC, halo $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo ?)" \
    "($halo), nginx $("$nginx" -v 2>&1 | sed 's|.*/||'), HAProxy $(haproxy -v | awk 'NR == 1 {print $3}')"
echo "wrk -t1, warm-up ${warm}s, measure ${secs}s, $counter ${tsecs}s+; $(($(date +%s) - started)) s;" \
    "load before: $(uptime | sed 's/.*load average: //')"
[ -n "${tlsinfo:-}" ] && echo "tls negotiated:$tlsinfo"
echo
row() { printf '| %-9s | %-12s | %6s | %7s | %7s | %7s | %6s | %s |\n' "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
had_scen=
for sc in $scenarios; do [ "$sc" != idle ] && had_scen=1; done
if [ -n "$had_scen" ]; then
    row scenario server req/s cpu-us p99-ms sys/req up/req 'top syscalls per request'
    row --------- ------------ ------ ------- ------- ------- ------ ------------------------
    for sc in $scenarios; do
        [ "$sc" = idle ] && continue
        for sv in $servers; do
            k="$sc $sv"
            row "$sc" "$sv" "${rps[$k]}" "${cpu[$k]}" "${p99[$k]}" "${sys[$k]}" "${upc[$k]}" "${topsys[$k]}"
        done
        for other in nginx haproxy; do
            row "$sc" "halo/$other" "$(ratio "${rps[$sc halo]}" "${rps[$sc $other]}")" \
                "$(ratio "${cpu[$sc halo]}" "${cpu[$sc $other]}")" \
                "$(ratio "${p99[$sc halo]}" "${p99[$sc $other]}")" \
                "$(ratio "${sys[$sc halo]}" "${sys[$sc $other]}")" '' ''
        done
    done
    for sc in $scenarios; do
        for sv in $servers; do
            [ -n "${note[$sc $sv]:-}" ] && echo "note: $sc $sv: wrk reported ${note[$sc $sv]}"
        done
    done
    # The kernel's part of each cpu-us (stime): what no change in user space can take away.
    echo
    echo "| scenario  | kernel cpu-us per request: halo | nginx | haproxy | halo's kernel part / nginx's whole cpu-us |"
    echo "|-----------|------:|------:|------:|------:|"
    for sc in $scenarios; do
        [ "$sc" = idle ] && continue
        printf '| %-9s | %5s | %5s | %5s | %5s |\n' "$sc" "${kcpu[$sc halo]:-}" \
            "${kcpu[$sc nginx]:-}" "${kcpu[$sc haproxy]:-}" "$(ratio "${kcpu[$sc halo]:-}" "${cpu[$sc nginx]:-}")"
    done
fi
if [ -n "${idle_line[halo]:-}" ]; then
    echo
    echo "| server  | bytes per idle conn | conns | worker RSS before | after |"
    echo "|---------|------:|-------:|---------:|---------:|"
    for sv in $servers; do echo "${idle_line[$sv]}"; done
fi
