#!/bin/sh
# Reloads under keep-alive load, side by side: halo (and a second halo build, HALO_B) and
# Debian's nginx each serve `return 200` from 2 workers while wrk keeps 50 keep-alive
# connections busy and the server is reloaded 20 times (one HUP a second). Reports the
# requests wrk completed and its errors (connect/read/write/timeout: a read error is a
# request lost on a reused connection).
# Usage: bench/reload_bench.sh [reloads] [connections]
reloads=${1:-20}
conns=${2:-50}
secs=$((reloads + 4))
. "$(dirname "$0")/lib.sh"

run_one() { # $1 = label, $2 = binary, $3 = kind (halo|nginx)
    d="$work/$1"
    mkdir -p "$d/logs"
    port=$(free_port)
    bench_conf "$d/logs/server.pid" "$port" 'return 200 "one\n";' \
        | sed 's/^worker_processes 1;/worker_processes 2;/' > "$d/server.conf"
    "$2" -p "$d/" -c "$d/server.conf"
    sleep 0.5
    wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$port/" > "$d/wrk.out" &
    wrk_pid=$!
    sleep 2
    i=0
    while [ $i -lt "$reloads" ]; do
        kill -HUP "$(cat "$d/logs/server.pid")"
        sleep 1
        i=$((i + 1))
    done
    wait $wrk_pid
    kill -QUIT "$(cat "$d/logs/server.pid")" 2>/dev/null || true
    reqs=$(awk '/requests in/ {print $1}' "$d/wrk.out")
    errs=$(awk '/Socket errors/ {print $0}' "$d/wrk.out")
    printf '%-8s %9s requests  %s\n' "$1" "$reqs" "${errs:-Socket errors: none}"
}

echo "$reloads reloads under wrk -c$conns (keep-alive), 2 workers"
run_one halo "$halo" halo
[ -n "${HALO_B:-}" ] && run_one halo_b "$HALO_B" halo
run_one nginx "$nginx" nginx
