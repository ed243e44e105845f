#!/bin/sh
# Side-by-side reverse proxying: halo, Debian's nginx and (when installed) HAProxy in front of
# one backend (an nginx worker answering `return 200 "one\n"`), one worker/thread each, the
# same upstream keepalive, the same run: requests/s, CPU µs per request of the proxy's
# workers, p99 latency (wrk --latency), and the ratios against nginx. Then the memory of
# 10,000 idle client connections held open against each proxy (bytes per connection).
# Needs wrk, nginx, python3; haproxy optional (apt-get install -y wrk nginx-light haproxy).
# Usage: bench/proxy_bench.sh [seconds] [connections] [idle connections]
secs=${1:-5}
conns=${2:-50}
idle=${3:-10000}
wconns=$((idle + 1000))
. "$(dirname "$0")/lib.sh"
ulimit -n 65536 2>/dev/null || ulimit -n 30000 2>/dev/null || true

# The backend: one nginx worker.
proxy_backend
np=$(free_port)
hp=$(free_port)
bench_conf "$work/nginx/logs/nginx.pid" "$np" "$proxy" "$upstream" > "$work/nginx/nginx.conf"
bench_conf "$work/halo/logs/halo.pid" "$hp" "$proxy" "$upstream" > "$work/halo/halo.conf"
"$nginx" -p "$work/nginx/" -c "$work/nginx/nginx.conf"
"$halo" -p "$work/halo/" -c "$work/halo/halo.conf"

hap=
if command -v haproxy >/dev/null; then
    hap=$(free_port)
    # HAProxy wants two descriptors per connection: stay under this shell's limit.
    hap_max=$(( ($(ulimit -n) - 100) / 2 ))
    [ "$hap_max" -gt "$wconns" ] && hap_max=$wconns
    mkdir -p "$work/haproxy/logs"
    cat > "$work/haproxy/haproxy.cfg" <<CONF
global
    nbthread 1
    daemon
    pidfile $work/haproxy/logs/haproxy.pid
    maxconn $hap_max
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    http-reuse always
frontend f
    bind 127.0.0.1:$hap
    default_backend b
backend b
    server s1 127.0.0.1:$bp
CONF
    haproxy -f "$work/haproxy/haproxy.cfg"
fi
sleep 0.5

echo "server  req/s  cpu-us/req  p99   (proxy of 'return 200', wrk -t1 -c$conns -d${secs}s, 1 worker each)"
n=$(measure nginx "$(cat "$work/nginx/logs/nginx.pid")" "$np" /)
h=$(measure halo "$(cat "$work/halo/logs/halo.pid")" "$hp" /)
echo "$n"
echo "$h"
echo "$n $h" | awk '{ printf "ratio halo/nginx: throughput %.2f, cpu per request %.2f, p99 %s vs %s\n", $6 / $2, $7 / $3, $8, $4 }'
if [ -n "$hap" ]; then
    # HAProxy runs one process (no master): measure it directly.
    hpid=$(cat "$work/haproxy/logs/haproxy.pid")
    before=$(cut -d' ' -f14,15 /proc/"$hpid"/stat | awk '{print $1 + $2}')
    out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$hap/")
    after=$(cut -d' ' -f14,15 /proc/"$hpid"/stat | awk '{print $1 + $2}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    us=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$reqs" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    echo "haproxy $rps $us $p99"
    echo "$h $rps" | awk '{ printf "ratio halo/haproxy: throughput %.2f\n", $2 / $5 }'
fi

# Idle connections: RSS of the proxy's worker before and after $idle connections are opened
# and left idle (each has sent nothing).
rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status; }
worker_of() { head -n1 /proc/"$1"/task/"$1"/children | awk '{print $1}'; }
idle_cost() { # $1 = name, $2 = pid to measure, $3 = port, [$4 = connections]
    n=${4:-$idle}
    before=$(rss_kb "$2")
    python3 - "$3" "$n" "$2" <<'PY' > "$work/idle.out"
import resource, socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 100, n + 100))
socks = []
for _ in range(n):
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    socks.append(s)
time.sleep(1.5)
rss = [l.split()[1] for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS:")][0]
print(rss)
PY
    after=$(cat "$work/idle.out")
    # The growth per connection is the number to compare; the worker's whole RSS is shown too,
    # since nginx allocates its connection array (worker_connections of them) before any
    # connection arrives, so that part of its cost is in "before".
    echo "$1 idle: $(( (after - before) * 1024 / n )) bytes per idle connection ($n connections;" \
        "worker RSS $((before / 1024)) MiB before, $((after / 1024)) MiB after)"
}
idle_cost nginx "$(worker_of "$(cat "$work/nginx/logs/nginx.pid")")" "$np"
idle_cost halo "$(worker_of "$(cat "$work/halo/logs/halo.pid")")" "$hp"
[ -n "$hap" ] && idle_cost haproxy "$(cat "$work/haproxy/logs/haproxy.pid")" "$hap" \
    "$([ "$idle" -lt $((hap_max - 100)) ] && echo "$idle" || echo $((hap_max - 100)))"
# lib.sh's exit trap stops every server by its pid file (backend and haproxy included).
