#!/bin/bash
# Side-by-side layer-4 proxying (issue 19): halo, Debian's nginx with its stream module
# (libnginx-mod-stream) and HAProxy in `mode tcp`, one worker/thread each, in front of one
# backend, measured one after the other in one run, everything on 127.0.0.1. halo and nginx
# read the same config text (a `stream { upstream be { server ...; } server { listen ...;
# proxy_pass be; } }` block); an nginx binary gets `load_module .../ngx_stream_module.so;` in
# front of it (halo has its modules compiled in and refuses load_module).
#
# The backend and the load come from bench/stream_tool.c (compiled here with cc: one thread,
# epoll): an echo port, and a source port that writes a fixed number of bytes to each
# connection and closes it.
#
# Scenarios (default: all, in this order):
#   conn   short connections: C clients at a time each connect, send P bytes, read the echo,
#          close, for S seconds (after a warm-up): connections/s, the proxy's CPU µs per
#          connection (utime+stime of its worker from /proc over the run), and system calls
#          per connection (strace -c -f on the worker over a separate run of N connections;
#          the top 3 calls listed)
#   bulk   one connection through the proxy reads G GiB from the source port: MB/s, the
#          proxy's CPU ms per GiB, and system calls per MiB (strace over a second transfer)
#   idle   memory per idle proxied connection: I clients connect through the proxy to the
#          echo port, each sends one byte and reads its echo, then all stay open; the growth
#          of the worker's RSS divided by I
# A halo that refuses the config (`halo -t` fails: no stream module yet) gets "halo: no stream"
# in its rows. HALO_BIN=/usr/sbin/nginx puts an nginx in halo's slot, to try the script.
#
# Usage: bench/stream_bench.sh [-r rounds] [-s secs] [-w secs] [-c conc] [-p bytes] [-n conns] [-g GiB] [-i idle] [scenario...]
#   -r  rounds of conn and bulk (default 1): each round measures every proxy once, in an order
#       turned by one each round; the tables show the medians and the range of the CPU figures
#   -s  seconds of the measured conn run (default 5)
#   -w  seconds of the conn warm-up before it (default 1)
#   -c  concurrent clients in conn (default 50)
#   -p  bytes each conn client sends and reads back (default 16)
#   -n  connections counted under strace in conn (default 2000)
#   -g  GiB moved by one bulk transfer (default 1)
#   -i  idle connections (default 5000; each costs the proxy two descriptors)
# HALO_BIN=path runs another halo build; SB_KEEP=dir keeps strace's tables there;
# HAPROXY_SPLICE=1 adds `option splice-auto` to HAProxy's defaults (off by default, as in
# HAProxy). Needs nginx, libnginx-mod-stream, haproxy, strace, cc, python3 and wrk (bench/lib.sh
# checks for it)
# (apt-get install -y nginx libnginx-mod-stream haproxy strace gcc python3 wrk). The module is
# loaded by its path: the link the package adds in /etc/nginx/modules-enabled is not needed
# (and makes halo refuse Debian's stock config, see bench/README.md).
set -eu

usage() { sed -n '/^# Usage/,/^# (apt-get/p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
secs=5
warm=1
conc=50
payload=16
tconns=2000
gib=1
idle=5000
nrounds=1
while getopts s:w:c:p:n:g:i:r:h opt; do
    case $opt in
        s) secs=$OPTARG ;;
        w) warm=$OPTARG ;;
        c) conc=$OPTARG ;;
        p) payload=$OPTARG ;;
        n) tconns=$OPTARG ;;
        g) gib=$OPTARG ;;
        i) idle=$OPTARG ;;
        r) nrounds=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
all="conn bulk idle"
scenarios=${*:-$all}
for s in $scenarios; do
    case " $all " in *" $s "*) ;; *) echo "stream_bench: unknown scenario '$s' (one of: $all)" >&2; exit 2 ;; esac
done

wconns=$((2 * idle + 1000))
[ "$wconns" -lt 4096 ] && wconns=4096
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
stream_so=/usr/lib/nginx/modules/ngx_stream_module.so
[ -f "$stream_so" ] || { echo "stream_bench: $stream_so is missing (apt-get install -y libnginx-mod-stream)" >&2; exit 1; }
for tool in haproxy strace cc python3; do
    command -v "$tool" >/dev/null || { echo "stream_bench: $tool is missing" >&2; exit 1; }
done
ulimit -n 65536 2>/dev/null || ulimit -n 30000 2>/dev/null || true

# lib.sh's trap, replaced: the backend, the tracer and every server (by pid file), each waited
# for before $work goes.
bgpids=
cleanup() {
    for p in $bgpids; do kill "$p" 2>/dev/null || true; done
    pids=
    for f in "$work"/*/logs/*.pid; do [ -f "$f" ] && pids="$pids $(cat "$f")"; done
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        alive=
        for p in $pids $bgpids; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ -z "$alive" ] && break
        sleep 0.3
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
hz=$(getconf CLK_TCK)
log() { echo "stream_bench: $*" >&2; }
bytes=$((gib * 1073741824))

# --- the backend --------------------------------------------------------------------------------
tool=$work/stream_tool
cc -O2 -Wall -o "$tool" "$(dirname "$0")/stream_tool.c"
echo_port=$(free_port)
source_port=$(free_port)
"$tool" serve "$echo_port" "$source_port" "$bytes" &
backend=$!
bgpids=$backend
for _ in $(seq 50); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $echo_port)).close()" 2>/dev/null && break
    sleep 0.1
done

# --- the three proxies: an echo port and a bulk port each ---------------------------------------
servers="halo nginx haproxy"
declare -A port bport
for s in $servers; do
    port[$s]=$(free_port)
    bport[$s]=$(free_port)
    mkdir -p "$work/$s/logs"
done
is_nginx() { "$1" -v 2>&1 | grep -q 'nginx/'; }
stream_conf() { # $1 = name, $2 = binary
    is_nginx "$2" && echo "load_module $stream_so;"
    cat <<CONF
worker_processes 1;
daemon on;
pid $work/$1/logs/$1.pid;
error_log $work/$1/err.log error;
worker_rlimit_nofile $((wconns + 100));
events { worker_connections $wconns; }
stream {
    upstream be { server 127.0.0.1:$echo_port; }
    upstream src { server 127.0.0.1:$source_port; }
    server { listen 127.0.0.1:${port[$1]}; proxy_pass be; }
    server { listen 127.0.0.1:${bport[$1]}; proxy_pass src; }
}
CONF
}
stream_conf halo "$halo" > "$work/halo/halo.conf"
stream_conf nginx "$nginx" > "$work/nginx/nginx.conf"
# HAProxy wants two descriptors per connection (and, splicing, a pipe per 4): stay under this
# shell's limit.
hap_max=$((($(ulimit -n) - 100) / 2))
[ "${HAPROXY_SPLICE:-0}" = 1 ] && hap_max=$((($(ulimit -n) - 100) * 2 / 5))
[ "$hap_max" -gt "$wconns" ] && hap_max=$wconns
cat > "$work/haproxy/haproxy.cfg" <<CONF
global
    nbthread 1
    daemon
    pidfile $work/haproxy/logs/haproxy.pid
    maxconn $hap_max
defaults
    mode tcp
    maxconn $hap_max
    timeout connect 5s
    timeout client 10m
    timeout server 10m
    $([ "${HAPROXY_SPLICE:-0}" = 1 ] && echo "option splice-auto")
frontend echo
    bind 127.0.0.1:${port[haproxy]}
    default_backend be
frontend bulk
    bind 127.0.0.1:${bport[haproxy]}
    default_backend src
backend be
    server s1 127.0.0.1:$echo_port
backend src
    server s1 127.0.0.1:$source_port
CONF

# halo without a stream module refuses the config: its rows say so, and it is not started.
live="nginx haproxy"
if "$halo" -t -q -p "$work/halo/" -c "$work/halo/halo.conf" > "$work/halo/t.txt" 2>&1; then
    live="halo $live"
    halo_note=
else
    halo_note="halo: no stream"
    log "halo -t refuses the config: $(grep -m1 . "$work/halo/t.txt")"
fi
start_proxies() {
    case " $live " in *" halo "*) "$halo" -p "$work/halo/" -c "$work/halo/halo.conf" ;; esac
    "$nginx" -p "$work/nginx/" -c "$work/nginx/nginx.conf"
    haproxy -f "$work/haproxy/haproxy.cfg" > "$work/haproxy/start.txt" 2>&1 ||
        { echo "stream_bench: haproxy does not start:" >&2; cat "$work/haproxy/start.txt" >&2; exit 1; }
    sleep 0.5
}
stop_proxies() { # by pid, and wait until each is gone
    for s in $live; do
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

# Every live proxy must echo, before anything is measured.
for sv in $live; do
    got=$("$tool" conn "${port[$sv]}" 1 -3 "$payload")
    [ "${got% seconds*}" = "conns 3 errors 0" ] ||
        { echo "stream_bench: $sv does not proxy the echo port: $got" >&2; exit 1; }
done

# --- system calls --------------------------------------------------------------------------------
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
trace_start() { # PID...: count the system calls of these processes (all threads) from now on
    pargs=()
    for p in "$@"; do pargs+=(-p "$p"); done
    strace -c -f -o "$work/trace.txt" "${pargs[@]}" 2>/dev/null &
    tracer=$!
    bgpids="$backend $tracer"
    wait_traced "$@" || { echo "stream_bench: strace did not attach to $*" >&2; exit 1; }
}
trace_stop() {
    kill -INT "$tracer"
    wait "$tracer" || true
    bgpids=$backend
}
# trace_sum FILE UNITS: "TOTAL_PER_UNIT|name per-unit name per-unit name per-unit"
trace_sum() {
    # strace -c: % time, seconds, usecs/call, calls, [errors], syscall
    awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { print $4, $NF }' "$1" |
        awk '{ c[$2] += $1; t += $1 } END { print t; for (k in c) print c[k], k }' |
        { read -r total; sort -rn | head -3 |
            awk -v n="$2" -v t="$total" '
                { s = s sprintf("%s%s %.2f", NR > 1 ? " " : "", $2, $1 / n) }
                END { printf "%.2f|%s\n", t / n, s }'; }
}

keep_trace() { # $1 = scenario, $2 = server, $3 = what the trace counted: with SB_KEEP=dir,
    # strace's whole table is kept there as <scenario>-<server>.txt
    [ -z "${SB_KEEP:-}" ] && return 0
    { cat "$work/trace.txt"; echo "over $3"; } > "$SB_KEEP/$1-$2.txt"
}

# --- measures -------------------------------------------------------------------------------------
declare -A rate cpu spread rates cpus sys topsys note
# median of the numbers in $1; spread "min-max"
median() { echo "$1" | tr ' ' '\n' | grep . | sort -g |
    awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
range() { echo "$1" | tr ' ' '\n' | grep . | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }
# rounds: every live server once per round, the order turned by one each round
rounds() { # $1 = scenario, $2 = function
    for round in $(seq "$nrounds"); do
        order=$(echo "$live" | awk -v r="$round" '{ for (i = 0; i < NF; i++) printf "%s ", $((i + r - 1) % NF + 1) }')
        for sv in $order; do "$2" "$sv" "$round"; done
    done
    for sv in $live; do
        k="$1 $sv"
        rate[$k]=$(median "${rates[$k]}")
        cpu[$k]=$(median "${cpus[$k]}")
        spread[$k]=$(range "${cpus[$k]}")
    done
}
field() { echo "$1" | awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'; }

measure_conn() { # $1 = server, $2 = round (strace in round 1 only)
    sv=$1 k="conn $1"
    read -r -a w <<< "$(workers "$sv" | tr '\n' ' ')"
    "$tool" conn "${port[$sv]}" "$conc" "$warm" "$payload" > /dev/null
    t0=$(ticks "${w[@]}")
    out=$("$tool" conn "${port[$sv]}" "$conc" "$secs" "$payload")
    t1=$(ticks "${w[@]}")
    n=$(field "$out" conns)
    errs=$(field "$out" errors)
    el=$(field "$out" seconds)
    r=$(awk -v n="$n" -v s="$el" 'BEGIN { printf "%d", n / s }')
    c=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$n" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    rates[$k]="${rates[$k]:-} $r"
    cpus[$k]="${cpus[$k]:-} $c"
    [ "$errs" = 0 ] || note[$k]="${note[$k]:-}round $2: $errs failed connections of $((n + errs)); "
    log "conn $sv round $2: $r conns/s, $c cpu-us/conn"
    [ "$2" = 1 ] || return 0
    trace_start "${w[@]}"
    out=$("$tool" conn "${port[$sv]}" "$conc" "-$tconns" "$payload")
    trace_stop
    summary=$(trace_sum "$work/trace.txt" "$(field "$out" conns)")
    keep_trace conn "$sv" "$(field "$out" conns) connections"
    sys[$k]=${summary%%|*}
    topsys[$k]=${summary#*|}
    log "conn $sv: ${sys[$k]} syscalls/conn (${topsys[$k]})"
}

measure_bulk() { # $1 = server, $2 = round (strace in round 1 only)
    sv=$1 k="bulk $1"
    read -r -a w <<< "$(workers "$sv" | tr '\n' ' ')"
    t0=$(ticks "${w[@]}")
    out=$("$tool" bulk "${bport[$sv]}" "$bytes") ||
        { echo "stream_bench: bulk through $sv moved $(field "$out" bytes) of $bytes bytes" >&2; exit 1; }
    t1=$(ticks "${w[@]}")
    el=$(field "$out" seconds)
    r=$(awk -v b="$bytes" -v s="$el" 'BEGIN { printf "%d", b / s / 1e6 }')
    c=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v g="$gib" 'BEGIN { printf "%.0f", t / hz * 1e3 / g }')
    rates[$k]="${rates[$k]:-} $r"
    cpus[$k]="${cpus[$k]:-} $c"
    log "bulk $sv round $2: $r MB/s, $c cpu-ms/GiB"
    [ "$2" = 1 ] || return 0
    trace_start "${w[@]}"
    "$tool" bulk "${bport[$sv]}" "$bytes" > /dev/null
    trace_stop
    summary=$(trace_sum "$work/trace.txt" $((gib * 1024)))
    keep_trace bulk "$sv" "$((gib * 1024)) MiB"
    sys[$k]=${summary%%|*}
    topsys[$k]=${summary#*|}
    log "bulk $sv: ${sys[$k]} syscalls/MiB (${topsys[$k]})"
}

# Idle proxied connections: RSS of the proxy's worker before and after N connections each
# exchanged one byte with the echo backend and were left open.
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
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"x")
    if s.recv(1) != b"x":
        sys.exit("no echo")
    socks.append(s)
time.sleep(1.5)
print([l.split()[1] for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS:")][0])
PY
)
    idle_line[$1]=$(printf '| %-7s | %6d | %6d | %6d KiB | %6d KiB |' "$1" \
        $(((after - before) * 1024 / $2)) "$2" "$before" "$after")
    log "idle $1: RSS $before -> $after kB for $2 connections"
}

started=$(date +%s)
load_before=$(uptime | sed 's/.*load average: //')
for sc in $scenarios; do
    case $sc in
        conn) rounds conn measure_conn ;;
        bulk) rounds bulk measure_bulk ;;
        idle)
            # fresh processes (memory freed by the scenarios before would hide the growth)
            stop_proxies
            start_proxies
            for sv in $live; do
                n=$idle
                [ "$sv" = haproxy ] && [ "$n" -gt $((hap_max - 100)) ] && n=$((hap_max - 100))
                idle_cost "$sv" "$n"
            done
            ;;
    esac
done

# --- the tables -----------------------------------------------------------------------------------
echo "stream_bench $(date -u '+%Y-%m-%d %H:%M') UTC, halo $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo ?)" \
    "($halo$(is_nginx "$halo" && echo ": $("$halo" -v 2>&1 | sed 's|.*/|nginx |')")), nginx $("$nginx" -v 2>&1 | sed 's|.*/||')," \
    "HAProxy $(haproxy -v | awk 'NR == 1 {print $3}')$([ "${HAPROXY_SPLICE:-0}" = 1 ] && echo ' (splice-auto)')"
echo "1 worker/thread each; $nrounds round(s) of conn and bulk (medians); conn: $conc clients, $payload bytes each way, warm-up ${warm}s," \
    "measure ${secs}s, strace over $tconns; bulk: $gib GiB; idle: $idle; $(($(date +%s) - started)) s;" \
    "load before: $load_before"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
table() { # $1 = scenario, $2..$5 = column titles
    printf '\n| %-8s | %-12s | %8s | %10s | %11s | %8s | %s |\n' "$1" server "$2" "$3" "cpu range" "$4" "$5"
    printf '| %-8s | %-12s | %8s | %10s | %11s | %8s | %s |\n' -------- ------------ -------- ---------- ----------- -------- ------------------------
    for sv in $servers; do
        k="$1 $sv"
        if [ "$sv" = halo ] && [ -n "$halo_note" ]; then
            printf '| %-8s | %-12s | %s |\n' "$1" halo "$halo_note"
        else
            printf '| %-8s | %-12s | %8s | %10s | %11s | %8s | %s |\n' "$1" "$sv" "${rate[$k]}" "${cpu[$k]}" "${spread[$k]}" "${sys[$k]}" "${topsys[$k]}"
        fi
    done
    for other in nginx haproxy; do
        printf '| %-8s | %-12s | %8s | %10s | %11s | %8s | %s |\n' "$1" "halo/$other" \
            "$(ratio "${rate[$1 halo]:-}" "${rate[$1 $other]:-}")" \
            "$(ratio "${cpu[$1 halo]:-}" "${cpu[$1 $other]:-}")" '' \
            "$(ratio "${sys[$1 halo]:-}" "${sys[$1 $other]:-}")" ''
    done
}
for sc in $scenarios; do
    case $sc in
        conn) table conn conns/s cpu-us/conn sys/conn 'top syscalls per connection' ;;
        bulk) table bulk MB/s cpu-ms/GiB sys/MiB 'top syscalls per MiB' ;;
        idle)
            echo
            echo "| server  | bytes per idle conn | conns | worker RSS before | after |"
            echo "|---------|-------:|-------:|-----------:|-----------:|"
            for sv in $servers; do
                if [ "$sv" = halo ] && [ -n "$halo_note" ]; then
                    echo "| halo    | $halo_note |"
                else
                    echo "${idle_line[$sv]}"
                fi
            done
            ;;
    esac
done
for k in "${!note[@]}"; do echo "note: $k: ${note[$k]}"; done
