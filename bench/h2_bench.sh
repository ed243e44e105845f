#!/bin/bash
# HTTP/2 side by side (issue 18): halo and Debian's nginx, one worker each, the same config,
# measured one after the other in one run, everything on 127.0.0.1.
#
# Load: h2load (nghttp2-client) with -c10 -m10 (10 connections, 10 streams each: 100 requests
# in flight) and a fixed number of requests, small responses, after a warm-up of its own:
#   static-h2c   a 4-byte file from disk, h2c with prior knowledge (`listen PORT http2;`)
#   static-tls   the same over TLS 1.3, h2 chosen by ALPN (`listen PORT ssl http2;`)
#   proxy-h2c    proxied to a backend (one nginx worker, `return 200 "one\n"`, upstream
#                keepalive 64, proxy_http_version 1.1), h2c
#   proxy-tls    the same over TLS 1.3 + ALPN h2
# Larger bodies (not in the default list: give them a smaller -n, e.g. -n 2000 -w 200):
#   static64k-h2c, static1m-h2c, static1m-tls   a 64 KiB / 1 MiB file from disk
# For each: requests/s (h2load), the worker's CPU µs per request (utime+stime from /proc over
# the measured run, divided by the requests that succeeded), h2load's mean time per request,
# and the ratios halo/nginx.
# Idle connections:
#   idle-h2c     N connections send the client preface and an empty SETTINGS frame, read the
#                server's first frame (which must be SETTINGS), acknowledge it, then stay idle
#   idle-tls     the same after a TLS 1.3 handshake that chose h2 by ALPN
# For each: the worker's RSS and Pss (smaps_rollup) growth divided by N.
# A server that does not speak h2 on a port (h2load did not negotiate h2/h2c with it, or the
# idle client got no SETTINGS frame / no ALPN h2) gets "<server>: no h2" in its row instead
# of numbers: halo accepts `listen ... http2` before it speaks HTTP/2.
#
# Usage: bench/h2_bench.sh [-n requests] [-w requests] [-c conns] [-m streams] [-i idle] [scenario...]
#   -n  requests per measured h2load run (default 40000: 3-6 s each here)
#   -w  requests of the warm-up run before each measure (default 5000)
#   -c  h2load connections (default 10)
#   -m  h2load streams in flight per connection (default 10)
#   -i  connections for the idle scenarios (default 1000)
# Scenarios (default: all, in this order): static-h2c static-tls proxy-h2c proxy-tls idle-h2c
# idle-tls; also static64k-h2c static1m-h2c static1m-tls. HALO_BIN=path runs another halo build. Needs h2load, nginx with http_v2 (Debian's
# nginx 1.22 has it), curl, openssl, python3, and wrk (lib.sh checks for it)
# (apt-get install -y nghttp2-client nginx curl openssl python3 wrk).
set -eu

usage() { sed -n '/^# Usage/,/^# (apt-get/p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
nreq=40000
nwarm=5000
hconns=10
hstreams=10
idle=1000
while getopts n:w:c:m:i:h opt; do
    case $opt in
        n) nreq=$OPTARG ;;
        w) nwarm=$OPTARG ;;
        c) hconns=$OPTARG ;;
        m) hstreams=$OPTARG ;;
        i) idle=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
all="static-h2c static-tls proxy-h2c proxy-tls idle-h2c idle-tls"
scenarios=${*:-$all}
known="$all static64k-h2c static1m-h2c static1m-tls"
for s in $scenarios; do
    case " $known " in *" $s "*) ;; *) echo "h2_bench: unknown scenario '$s' (one of: $known)" >&2; exit 2 ;; esac
done

wconns=$((idle + 1000))
[ "$wconns" -lt 4096 ] && wconns=4096
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
for tool in h2load curl openssl python3; do
    command -v "$tool" >/dev/null || { echo "h2_bench: $tool is missing" >&2; exit 1; }
done
"$nginx" -V 2>&1 | grep -q -- --with-http_v2_module ||
    { echo "h2_bench: $nginx has no http_v2 module" >&2; exit 1; }
ulimit -n $((wconns + 1000)) 2>/dev/null || true

# lib.sh's trap, extended: every server is stopped by its pid file and waited for.
cleanup() {
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
log() { echo "h2_bench: $*" >&2; }

# --- the backend: one nginx worker (HTTP/1.1), `return 200 "one\n"` ------------------------------
mkdir -p "$work/www/s" "$work/backend/logs"
printf 'one\n' > "$work/www/s/one.txt"
head -c 65536 /dev/urandom > "$work/www/s/64k.bin"
head -c 1048576 /dev/urandom > "$work/www/s/1m.bin"
chmod -R a+rX "$work/www"
bp=$(free_port)
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
    keepalive_requests 10000000;
    keepalive_timeout 600s;
    server {
        listen 127.0.0.1:$bp;
        location = / { return 200 "one\n"; }
    }
}
CONF
"$nginx" -p "$work/backend/" -c "$work/backend/nginx.conf"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench -keyout "$work/cert.key" \
    -out "$work/cert.pem" 2>/dev/null

# --- halo and nginx: the same config, an h2c port and a TLS h2 port each ------------------------
servers="halo nginx"
declare -A port tport
server_conf() { # $1 = name
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
    keepalive_requests 10000000;
    upstream be { server 127.0.0.1:$bp; keepalive 64; }
    server {
        listen 127.0.0.1:${port[$1]} http2;
        listen 127.0.0.1:${tport[$1]} ssl http2;
        ssl_certificate $work/cert.pem;
        ssl_certificate_key $work/cert.key;
        ssl_protocols TLSv1.3;
        location /s/ { root $work/www; }
        location = / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
CONF
}
for s in $servers; do
    port[$s]=$(free_port)
    tport[$s]=$(free_port)
    mkdir -p "$work/$s/logs"
done
server_conf halo > "$work/halo/halo.conf"
server_conf nginx > "$work/nginx/nginx.conf"
start_servers() {
    # halo warns today that it accepts `http2` without speaking it: keep that out of the table.
    "$halo" -p "$work/halo/" -c "$work/halo/halo.conf" 2> "$work/halo/start.txt" ||
        { cat "$work/halo/start.txt" >&2; exit 1; }
    [ -n "${warned:-}" ] || ! grep -q . "$work/halo/start.txt" ||
        { warned=1; log "halo at start: $(head -n1 "$work/halo/start.txt")"; }
    "$nginx" -p "$work/nginx/" -c "$work/nginx/nginx.conf"
    sleep 0.5
}
stop_servers() { # by pid, and wait until each is gone
    for s in $servers; do
        p=$(cat "$work/$s/logs/$s.pid")
        kill "$p"
        while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
        rm -f "$work/$s/logs/$s.pid"
    done
}
start_servers

worker() { # the one worker of a server (the master's child)
    m=$(cat "$work/$1/logs/$1.pid")
    tr ' ' '\n' < /proc/"$m"/task/"$m"/children | grep . | head -n1
}
ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; } # utime+stime of a pid, in clock ticks

# --- scenarios ------------------------------------------------------------------------------------
url() { # $1 = scenario, $2 = server
    case $1 in
        static-h2c) echo "http://127.0.0.1:${port[$2]}/s/one.txt" ;;
        static-tls) echo "https://127.0.0.1:${tport[$2]}/s/one.txt" ;;
        static64k-h2c) echo "http://127.0.0.1:${port[$2]}/s/64k.bin" ;;
        static1m-h2c) echo "http://127.0.0.1:${port[$2]}/s/1m.bin" ;;
        static1m-tls) echo "https://127.0.0.1:${tport[$2]}/s/1m.bin" ;;
        proxy-h2c) echo "http://127.0.0.1:${port[$2]}/" ;;
        proxy-tls) echo "https://127.0.0.1:${tport[$2]}/" ;;
    esac
}
# h2load over TLS offers only h2 (its default list ends with http/1.1, which would measure
# HTTP/1.1 without saying so); over plain TCP it sends the h2c preface (prior knowledge).
# The timeouts end a run against a server that answers the preface with nothing.
h2() { h2load --npn-list=h2 -T 10s -N 5s "$@"; }
# proto OUT: the protocol h2load says it negotiated ("h2", "h2c"), empty when none
proto() { echo "$1" | awk '/^Application protocol:/ {print $3}'; }

declare -A rps cpu mean note
measure() { # $1 = scenario, $2 = server
    sc=$1 sv=$2 k="$1 $2" u=$(url "$1" "$2")
    # Probe: a few requests. No h2 negotiated (TLS), or none answered (h2c: the server took
    # the preface for HTTP/1.1): the row says "no h2". h2 but not 200 with the 4-byte body
    # (curl over h2 checks the body): the config is wrong, and the run stops.
    out=$(h2 -n 20 -c 1 -m 1 "$u" 2>&1 || true)
    p=$(proto "$out")
    succ=$(echo "$out" | awk '/^requests:/ {print $8}')
    ok=$(echo "$out" | awk '/^status codes:/ {print $3}')
    want=h2c
    case $sc in *-tls) want=h2 ;; esac
    if [ "$p" != "$want" ] || [ "${succ:-0}" = 0 ]; then
        note[$k]="$sv: no h2"
        log "$sc $sv: no h2 (h2load: protocol '${p:-none}', ${succ:-0} of 20 requests succeeded)"
        return 0
    fi
    h2opt=--http2-prior-knowledge
    case $sc in *-tls) h2opt=--http2 ;; esac
    got=$(curl -sk "$h2opt" -o /dev/null -w '%{http_version} %{http_code} %{size_download}' "$u" || true)
    size=4
    case $sc in static64k-*) size=65536 ;; static1m-*) size=1048576 ;; esac
    if [ "$ok" != 20 ] || [ "$got" != "2 200 $size" ]; then
        echo "h2_bench: $sv speaks h2 on $u but does not serve it: h2load ${ok:-0} of 20 2xx," \
            "curl got '$got' (HTTP version, status, bytes), want '2 200 $size'" >&2
        exit 1
    fi
    w=$(worker "$sv")
    h2 -n "$nwarm" -c "$hconns" -m "$hstreams" "$u" > /dev/null || true
    t0=$(ticks "$w")
    out=$(h2 -n "$nreq" -c "$hconns" -m "$hstreams" "$u" || true)
    t1=$(ticks "$w")
    succ=$(echo "$out" | awk '/^requests:/ {print $8}')
    ok=$(echo "$out" | awk '/^status codes:/ {print $3}')
    rps[$k]=$(echo "$out" | awk '/^finished in/ {printf "%d", $4}')
    mean[$k]=$(echo "$out" | awk '/^time for request:/ { v = $6; n = v + 0;
        printf "%.2f", v ~ /us$/ ? n / 1000 : v ~ /ms$/ ? n : n * 1000 }')
    cpu[$k]=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$succ" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    [ "$succ" = "$nreq" ] && [ "$ok" = "$nreq" ] || note[$k]="$sv: $succ of $nreq succeeded, $ok 2xx"
    log "$sc $sv: ${rps[$k]} req/s, ${cpu[$k]} cpu-us/req, mean ${mean[$k]} ms"
}

# Idle h2 connections: the worker's RSS and Pss before and after N connections opened the h2
# way and left idle. The client prints "RSS_KB PSS_KB" once all are open and settled, or
# "no-h2 <why>".
mem_kb() { # RSS and Pss of a pid, kB
    echo "$(awk '/^VmRSS:/ {print $2}' /proc/"$1"/status)" \
        "$(awk '/^Pss:/ {print $2}' /proc/"$1"/smaps_rollup)"
}
declare -A idle_line
idle_cost() { # $1 = scenario, $2 = server
    sc=$1 sv=$2 k="$1 $2" w=$(worker "$2") mode=h2c p=${port[$2]}
    [ "$sc" = idle-tls ] && mode=tls p=${tport[$2]}
    read -r r0 s0 <<< "$(mem_kb "$w")"
    res=$(python3 - "$mode" "$p" "$idle" "$w" <<'PY'
import resource, socket, ssl, struct, sys, time
mode, port, n, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 100, n + 100))
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
def frame(ftype, flags, payload=b""):  # RFC 9113 §4.1: length(24) type flags stream(31)
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", 0) + payload
SETTINGS, ACK = 0x4, 0x1
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.set_alpn_protocols(["h2"])
def recv_exact(s, k):
    b = b""
    while len(b) < k:
        c = s.recv(k - len(b))
        if not c:
            break
        b += c
    return b
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(5)
    if mode == "tls":
        s = ctx.wrap_socket(s)
        if s.selected_alpn_protocol() != "h2":
            print("no-h2 ALPN chose", s.selected_alpn_protocol())
            sys.exit(0)
    s.sendall(PREFACE + frame(SETTINGS, 0))
    socks.append(s)
    if i == 0:  # the first connection tells whether the server speaks h2 at all
        try:
            head = recv_exact(s, 9)
        except OSError as e:
            head = repr(e).encode()
        if len(head) < 9 or head[3] != SETTINGS or head[4] & ACK:
            print("no-h2 first bytes", head[:16])
            sys.exit(0)
        recv_exact(s, int.from_bytes(head[:3], "big"))
        s.sendall(frame(SETTINGS, ACK))
# The server's SETTINGS on every other connection, acknowledged: an idle client as a browser
# leaves it (what follows it, SETTINGS ACK and WINDOW_UPDATE, stays unread in our buffers).
for s in socks[1:]:
    head = recv_exact(s, 9)
    if len(head) < 9 or head[3] != SETTINGS:
        print("no-h2 a later connection got", head[:16])
        sys.exit(0)
    recv_exact(s, int.from_bytes(head[:3], "big"))
    s.sendall(frame(SETTINGS, ACK))
time.sleep(1.5)
rss = [l.split()[1] for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS:")][0]
pss = [l.split()[1] for l in open("/proc/%s/smaps_rollup" % pid) if l.startswith("Pss:")][0]
print(rss, pss)
PY
)
    if [ "${res%% *}" = no-h2 ]; then
        idle_line[$k]=$(printf '| %-8s | %-5s | %s |' "$sc" "$sv" "$sv: no h2")
        log "$sc $sv: no h2 (${res#no-h2 })"
        return 0
    fi
    read -r r1 s1 <<< "$res"
    idle_line[$k]=$(printf '| %-8s | %-5s | %5d | %5d | %5d | %6d | %6d | %6d | %6d |' "$sc" "$sv" \
        $(((r1 - r0) * 1024 / idle)) $(((s1 - s0) * 1024 / idle)) "$idle" \
        "$r0" "$r1" "$s0" "$s1")
    log "$sc $sv: RSS $r0 -> $r1 kB, Pss $s0 -> $s1 kB for $idle connections"
}

started=$(date +%s)
load_before=$(uptime | sed 's/.*load average: //')
# The idle scenarios first, each on fresh workers (memory freed by earlier connections would
# hide growth) that have answered one request.
for sc in $scenarios; do
    case $sc in idle-*) ;; *) continue ;; esac
    stop_servers
    start_servers
    for sv in $servers; do
        curl -sk -o /dev/null "http://127.0.0.1:${port[$sv]}/s/one.txt" --http2-prior-knowledge || true
    done
    for sv in $servers; do idle_cost "$sc" "$sv"; done
done
for sc in $scenarios; do
    case $sc in idle-*) ;; *) for sv in $servers; do measure "$sc" "$sv"; done ;; esac
done

# --- the tables -----------------------------------------------------------------------------------
echo "h2_bench $(date -u '+%Y-%m-%d %H:%M') UTC, halo $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo ?)" \
    "($halo), nginx $("$nginx" -v 2>&1 | sed 's|.*/||'), $(h2load --version | sed 's|.*/|nghttp2 |')"
echo "h2load -c$hconns -m$hstreams -n$nreq (warm-up -n$nwarm), 1 worker each; $(($(date +%s) - started)) s;" \
    "load before: $load_before"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
row() { printf '| %-10s | %-10s | %7s | %7s | %7s |\n' "$@"; }
had=
for sc in $scenarios; do case $sc in idle-*) ;; *) had=1 ;; esac; done
if [ -n "$had" ]; then
    echo
    row scenario server req/s cpu-us mean-ms
    row ---------- ---------- ------- ------- -------
    for sc in $scenarios; do
        case $sc in idle-*) continue ;; esac
        for sv in $servers; do
            k="$sc $sv"
            if [ -z "${rps[$k]:-}" ]; then
                printf '| %-10s | %-10s | %s |\n' "$sc" "$sv" "${note[$k]}"
            else
                row "$sc" "$sv" "${rps[$k]}" "${cpu[$k]}" "${mean[$k]}"
            fi
        done
        row "$sc" halo/nginx "$(ratio "${rps[$sc halo]:-}" "${rps[$sc nginx]:-}")" \
            "$(ratio "${cpu[$sc halo]:-}" "${cpu[$sc nginx]:-}")" \
            "$(ratio "${mean[$sc halo]:-}" "${mean[$sc nginx]:-}")"
    done
    for sc in $scenarios; do
        for sv in $servers; do
            [ -n "${rps[$sc $sv]:-}" ] && [ -n "${note[$sc $sv]:-}" ] && echo "note: $sc: ${note[$sc $sv]}"
        done
    done
fi
if [ -n "${idle_line[*]:-}" ]; then
    echo
    echo "| idle     | server | RSS B/conn | Pss B/conn | conns | RSS kB before | after | Pss kB before | after |"
    echo "|----------|--------|------:|------:|------:|-------:|-------:|-------:|-------:|"
    for sc in $scenarios; do
        case $sc in idle-*) for sv in $servers; do echo "${idle_line[$sc $sv]}"; done ;; esac
    done
fi
