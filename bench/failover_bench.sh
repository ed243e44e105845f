#!/bin/sh
# Client-visible failover: halo vs keepalived + nginx, in the namespaces of tests/ha (a bridge,
# three nodes 10.77.0.1-3 with priorities 100/90/80 sharing 10.77.0.100, a client 10.77.0.50).
# Each node runs three backends (halo, 127.0.0.1:8081-8083, answering "nodeN beK") and the
# product under test in front of them: halo (one binary: proxy + vrrp helper) or Debian's
# keepalived (VRRPv3, --vrrp) + nginx (proxy_pass to the same backends). Both are configured
# alike: VRRPv3, every node starts BACKUP, preempt, GARP defaults (5 at once, 5 after 5s).
#
# The client (bench/failover_client.py, in the client namespace) opens a new connection every
# 10 ms (200 ms timeout each) and measures the gap from the last good answer of the old master
# to the first good answer of the new one, and the requests that failed. Scenarios, each
# followed by the old master coming back (measured as "preempt" or "proxy back"):
#   crash      SIGKILL of every process of node 1 (halo: its process group, i.e. master,
#              worker, vrrp helper; keepalived: keepalived and nginx process groups); the
#              link stays up, so the dead node's VIP stays on its eth0
#   graceful   halo: SIGQUIT to the master (what `halo -s quit` sends); keepalived: SIGTERM
#              to keepalived (nginx keeps running)
#   deadproxy  halo: node 1's worker stopped with SIGSTOP, detected by `track_workers`
#              (-> FAULT); keepalived: nginx's process group SIGKILLed, detected by a
#              vrrp_script check_nginx (master pid alive) with interval 1 fall 1 rise 1
#              weight -20 (keepalived's script interval is whole seconds, 1 the least)
#   preempt    node 1 started again (after crash and graceful) while node 2 serves
# at advert_int 1s and 100ms for both, and halo's crash at 20ms.
# Usage: bench/failover_bench.sh [-q] [N]   (N runs of each, default 3; -q: N=1)
#        FB_ADVERTS="100ms" FB_SCENARIOS="crash" bench/failover_bench.sh 10   (a part only)
# Needs root, ip, python3, curl, keepalived and nginx (apt-get install -y keepalived nginx-light).
set -eu
reps=3
if [ "${1:-}" = -q ]; then
    reps=1
    shift
fi
reps=${1:-$reps}
. "$(dirname "$0")/ha_lab.sh"
lab_check
for t in python3 curl keepalived nginx; do
    command -v "$t" >/dev/null || { echo "$0: $t is missing" >&2; exit 1; }
done
trap lab_cleanup EXIT
trap 'exit 130' INT TERM HUP
lab_up 3
for i in 1 2 3; do
    lab_backends "$i"
done
results="$lab_dir/results"
: > "$results"
prio() { echo $((110 - 10 * $1)); }

# ---- halo ----
halo_cluster() { # $1 = advert_int
    for i in 1 2 3; do
        lab_halo_conf "$i" "$(prio "$i")" "$1" "track_workers;"
        lab_halo_start "$i"
    done
}
halo_crash() {
    kill -KILL "-$halo_pid_1"
    lab_wait_gone "$halo_pid_1"
}
halo_graceful() {
    kill -QUIT "$halo_pid_1"
    lab_wait_gone "$halo_pid_1"
}
halo_restart() { lab_halo_start 1; }
halo_kill_proxy() {
    stopped=$(lab_halo_workers 1)
    [ -n "$stopped" ] || { echo "no worker found on node 1" >&2; exit 1; }
    kill -STOP $stopped
}
halo_restore_proxy() { kill -CONT $stopped; }
halo_stop_all() {
    for i in 1 2 3; do
        eval "p=\$halo_pid_$i"
        kill -TERM "$p" 2>/dev/null || true
        lab_wait_gone "$p"
    done
}

# ---- keepalived + nginx ----
ka_conf() { # $1 = node index, $2 = advert_int in seconds
    d="$lab_dir/n$1-nginx"
    mkdir -p "$d/logs"
    cat > "$d/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $d/logs/nginx.pid;
error_log $d/logs/error.log notice;
events {}
$lab_proxy_http
CONF
    d="$lab_dir/n$1-ka"
    mkdir -p "$d"
    # The seed's check_nginx.sh counted nginx processes (`ps -C nginx`); every node shares one
    # pid namespace here, so the check asks whether this node's nginx master is alive.
    cat > "$d/check_nginx.sh" <<CONF
#!/bin/sh
kill -0 "\$(cat $lab_dir/n$1-nginx/logs/nginx.pid 2>/dev/null)" 2>/dev/null
CONF
    chmod 0755 "$d/check_nginx.sh"
    cat > "$d/keepalived.conf" <<CONF
global_defs {
    router_id node$1
    vrrp_version 3
    script_user root
}
vrrp_script check_nginx {
    script "$d/check_nginx.sh"
    interval 1
    fall 1
    rise 1
    weight -20
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority $(prio "$1")
    advert_int $2
    virtual_ipaddress {
        $lab_vip/24
    }
    track_script {
        check_nginx
    }
}
CONF
}
ka_nginx_start() { # $1 = node index; returns once it answers
    d="$lab_dir/n$1-nginx"
    lab_spawn "n$1-nginx" "n$1" nginx -p "$d/" -e "$d/logs/error.log" -c "$d/nginx.conf"
    eval "nginx_pid_$1=$lab_pid"
    n=0
    until lab_get "n$1" 127.0.0.1 >/dev/null; do
        n=$((n + 1))
        [ $n -lt 200 ] || { echo "nginx on node $1 does not answer" >&2; exit 1; }
        sleep 0.05
    done
}
ka_keepalived_start() { # $1 = node index
    d="$lab_dir/n$1-ka"
    lab_spawn "n$1-ka" "n$1" keepalived -n -l -D --vrrp -f "$d/keepalived.conf" \
        -p "$d/k.pid" -r "$d/v.pid" -c "$d/c.pid"
    eval "ka_pid_$1=$lab_pid"
}
ka_cluster() { # $1 = advert_int (1s, 100ms)
    case $1 in
        1s) s=1 ;;
        100ms) s=0.1 ;;
        *) echo "ka_cluster: $1?" >&2; exit 1 ;;
    esac
    for i in 1 2 3; do
        ka_conf "$i" "$s"
        ka_nginx_start "$i"
        ka_keepalived_start "$i"
    done
}
ka_crash() {
    kill -KILL "-$ka_pid_1" "-$nginx_pid_1"
    lab_wait_gone "$ka_pid_1"
    lab_wait_gone "$nginx_pid_1"
}
ka_graceful() {
    kill -TERM "$ka_pid_1"
    lab_wait_gone "$ka_pid_1"
}
ka_restart() {
    kill -0 "$nginx_pid_1" 2>/dev/null || ka_nginx_start 1
    ka_keepalived_start 1
}
ka_kill_proxy() {
    kill -KILL "-$nginx_pid_1"
    lab_wait_gone "$nginx_pid_1"
}
ka_restore_proxy() { ka_nginx_start 1; }
ka_stop_all() {
    for i in 1 2 3; do
        eval "p=\$ka_pid_$i q=\$nginx_pid_$i"
        kill -TERM "$p" "$q" 2>/dev/null || true
        lab_wait_gone "$p"
        lab_wait_gone "$q"
    done
}

# ---- measuring ----
masters() { # transitions to MASTER logged so far by the nodes of $prod
    case $prod in
        halo) cat "$lab_dir"/n[123]-halo/logs/error.log | grep -c -- '-> MASTER (' || true ;;
        ka) cat "$lab_dir"/n[123]-ka.out | grep -c 'Entering MASTER STATE' || true ;;
    esac
}

# Starts the client (old node $2 -> new node $3), runs "$4" once the client is ready, appends
# "<product> <advert> <scenario> <gap> <failed>" to the results.
measure() { # $1 = scenario, $2 = old node, $3 = new node, $4 = trigger
    rm -f "$lab_dir/ready"
    lab_spawn client cl python3 "$top/bench/failover_client.py" --host "$lab_vip" \
        --old "node$2" --new "node$3" --ready-file "$lab_dir/ready" --log "$lab_dir/client.log"
    cpid=$lab_pid
    while [ ! -e "$lab_dir/ready" ] && kill -0 "$cpid" 2>/dev/null; do
        sleep 0.02
    done
    [ -e "$lab_dir/ready" ] && $4
    rc=0
    wait "$cpid" || rc=$?
    out=$(tail -n1 "$lab_dir/client.out")
    if [ $rc = 0 ]; then
        gap=$(echo "$out" | sed 's/.*gap=\([0-9-]*\).*/\1/')
        failed=$(echo "$out" | sed 's/.*failed=\([0-9]*\).*/\1/')
        echo "$prod $adv $1 $gap $failed" >> "$results"
    else
        echo "$prod $adv $1 NA NA" >> "$results"
    fi
    printf '  %-10s %-6s %-10s %s\n' "$prod" "$adv" "$1" "$out"
}

# The cluster of $1 at advert_int $2, the scenarios $3, $reps times; then all stopped.
run() { # $1 = product (halo|ka), $2 = advert_int, $3 = scenarios
    prod=$1
    adv=$2
    ${prod}_cluster "$adv"
    n=0
    until [ "$(lab_vip_holders 3)" = node1 ] && [ "$(lab_get cl "$lab_vip" | cut -d' ' -f1)" = node1 ]; do
        n=$((n + 1))
        [ $n -lt 300 ] || { echo "node 1 never became master ($prod $adv)" >&2; exit 1; }
        sleep 0.1
    done
    before=$(masters)
    r=1
    while [ $r -le "$reps" ]; do
        for s in $3; do
            case $s in
                crash)
                    measure crash 1 2 "${prod}_crash"
                    measure preempt 2 1 "${prod}_restart"
                    ;;
                graceful)
                    measure graceful 1 2 "${prod}_graceful"
                    measure preempt 2 1 "${prod}_restart"
                    ;;
                deadproxy)
                    measure deadproxy 1 2 "${prod}_kill_proxy"
                    measure proxyback 2 1 "${prod}_restore_proxy"
                    ;;
            esac
        done
        r=$((r + 1))
    done
    # Each run moves the VIP to node 2 and back: any other transition to MASTER is a false
    # or extra failover (e.g. node 3 taking the VIP for a moment).
    extra=$(($(masters) - before - 2 * reps * $(echo $3 | wc -w)))
    echo "$prod $adv extra $extra" >> "$lab_dir/extra"
    printf '  %-10s %-6s extra transitions to MASTER: %d\n' "$prod" "$adv" "$extra"
    ${prod}_stop_all
    # What a crashed node left, so that the next cluster starts clean.
    for i in 1 2 3; do
        ip -n "$(lab_ns "n$i")" addr del "$lab_vip/24" dev eth0 2>/dev/null || true
    done
    ip -n "$(lab_ns cl)" neigh flush all
}

echo "failover bench: $reps run(s) of each; each line is one run (gap ms, failed requests)"
started=$(date +%s)
# FB_ADVERTS / FB_SCENARIOS pick a part (e.g. FB_ADVERTS=100ms FB_SCENARIOS=crash with N=10,
# for a median less shaken by where in the advert interval the kill falls).
for adv in ${FB_ADVERTS:-1s 100ms}; do
    run halo "$adv" "${FB_SCENARIOS:-crash graceful deadproxy}"
    run ka "$adv" "${FB_SCENARIOS:-crash graceful deadproxy}"
done
[ -n "${FB_ADVERTS:-}" ] || run halo 20ms crash
echo "($(($(date +%s) - started)) s)"

python3 - "$results" "$reps" "$lab_dir/extra" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def med(prod, adv, scen, col):
    v = [int(r[col]) for r in rows if r[:3] == [prod, adv, scen] and r[col] != "NA"]
    n = sum(1 for r in rows if r[:3] == [prod, adv, scen])
    return (statistics.median(v) if v else None), len(v), n
def cell(prod, adv, scen):
    g, ok, n = med(prod, adv, scen, 3)
    f, _, _ = med(prod, adv, scen, 4)
    if n == 0:
        return "-", None
    if g is None:
        return "no failover", None
    s = "%d / %d" % (g, f)
    if ok < n:
        s += " (%d of %d runs)" % (ok, n)
    return s, g
names = {"crash": "crash (SIGKILL)", "graceful": "graceful stop", "preempt": "preemption",
         "deadproxy": "dead proxy", "proxyback": "proxy back"}
print()
print("client-visible failover, median of %s run(s): gap ms / failed requests "
      "(a request every 10 ms, 200 ms timeout)" % sys.argv[2])
print("%-16s %-6s %-18s %-22s %s" % ("scenario", "advert", "halo", "keepalived+nginx",
                                      "gap halo/keepalived"))
for scen in ["crash", "graceful", "preempt", "deadproxy", "proxyback"]:
    for adv in ["1s", "100ms", "20ms"]:
        h, hg = cell("halo", adv, scen)
        k, kg = cell("ka", adv, scen)
        if h == "-" and k == "-":
            continue
        ratio = "%.2f" % (hg / kg) if hg is not None and kg else "-"
        print("%-16s %-6s %-18s %-22s %s" % (names[scen], adv, h, k, ratio))
extra = [l.split() for l in open(sys.argv[3]) if l.strip()]
print("extra transitions to MASTER (beyond node 2 and back once per run): " +
      ", ".join("%s %s: %s" % ("halo" if p == "halo" else "keepalived", a, n)
                for p, a, _, n in extra))
PY
