#!/bin/bash
# The failover gaps of anycast (docs/anycast.md), beside the VRRP ones of docs/vrrp.md:
#   bench/anycast_bench.sh [N]        (root; FRR (Debian frr), python3 and curl installed)
# The namespaces of tests/ha (bench/ha_lab.sh: a bridge, nodes 10.77.0.1-3, each with three
# halo backends on 127.0.0.1:8081-8083) plus a router (10.77.0.254, FRR bgpd with ECMP over
# the nodes, flows hashed by ports) and a client behind it (10.77.1.2). Every node runs zebra +
# bgpd (redistribute connected, prefix-list 10.77.0.200/32) and halo with an anycast block
# (track_upstream be with a 100ms health check, track_workers, drain_timeout 1s) proxying to
# its backends. The client (bench/anycast_client.py) opens a new connection every 10ms with a
# 200ms timeout. Node 2 is, N times each:
#   crash     SIGKILL of its halo process group (master, worker, helpers)
#   upstream  SIGKILL of its three backends (the health check sees the group down)
#   graceful  SIGQUIT to its master (`halo -s quit`)
# and is brought back after each run. Printed per scenario (medians): the route gap (the event
# to the router's route without node 2, polled every few ms), the client's failed requests
# and their window (first failed request sent to the last one's end).
set -eu
. "$(dirname "$0")/ha_lab.sh"
runs=${1:-3}
any=10.77.0.200

lab_check
for p in /usr/lib/frr/zebra /usr/lib/frr/bgpd; do
    [ -x "$p" ] || { echo "$0: FRR is missing ($p): apt-get install frr" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "$0: python3 is missing" >&2; exit 1; }
"$halo" -V 2>&1 | grep -q anycast || { echo "$0: $halo is built without the anycast module" >&2; exit 1; }
trap lab_cleanup EXIT

ms() { echo $(($(date +%s%N) / 1000000)); }

frr_start() { # $1 = namespace short name, $2 = bgpd.conf text
    d="$lab_dir/frr-$1"
    mkdir -p "$d"
    chmod 0777 "$d"
    echo "hostname $1" > "$d/zebra.conf"
    printf '%s\n' "$2" > "$d/bgpd.conf"
    for daemon in zebra bgpd; do
        lab_spawn "frr-$1-$daemon" "$1" /usr/lib/frr/$daemon -f "$d/$daemon.conf" \
            -i "$d/$daemon.pid" -z "$d/zserv.api" --vty_socket "$d" -A 127.0.0.1 -P 0 \
            --log "file:$d/$daemon.log"
        if [ $daemon = zebra ]; then
            while [ ! -e "$d/zserv.api" ]; do sleep 0.05; done
        fi
    done
}

node_conf() { # $1 = node index
    d="$lab_dir/n$1-halo"
    mkdir -p "$d/logs"
    cat > "$d/halo.conf" <<CONF
daemon off;
worker_processes 1;
error_log logs/error.log notice;
events {}
http {
    access_log off;
    upstream be {
        server 127.0.0.1:8081;
        server 127.0.0.1:8082;
        server 127.0.0.1:8083;
        health_check interval=100ms timeout=1s fall=1 rise=1;
    }
    server {
        listen 80;
        location / { proxy_pass http://be; }
    }
}
anycast {
    address $any/32;
    track_upstream be;
    track_workers;
    drain_timeout 1s;
}
CONF
}

paths() { ip -n "$(lab_ns rt)" route show "$any" | grep -o 'via 10\.77\.0\.[0-9]*' | sort | tr '\n' ' '; }
has_node2() { paths | grep -q 'via 10.77.0.2 '; }
wait_paths3() {
    for _ in $(seq 600); do
        [ "$(paths)" = "via 10.77.0.1 via 10.77.0.2 via 10.77.0.3 " ] && return 0
        sleep 0.05
    done
    echo "$0: the router has no path to every node: $(paths)" >&2
    exit 1
}

lab_up 3
lab_host rt 10.77.0.254
ip netns add "$(lab_ns rc)"
echo "$(lab_ns rc)" >> "$lab_dir/namespaces"
ip -n "$(lab_ns rt)" link add eth1 type veth peer name eth0 netns "$(lab_ns rc)"
ip -n "$(lab_ns rt)" addr add 10.77.1.1/24 dev eth1
ip -n "$(lab_ns rt)" link set eth1 up
ip -n "$(lab_ns rc)" addr add 10.77.1.2/24 dev eth0
ip -n "$(lab_ns rc)" link set eth0 up
ip -n "$(lab_ns rc)" link set lo up
ip -n "$(lab_ns rc)" route add default via 10.77.1.1
ip netns exec "$(lab_ns rt)" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1

frr_start rt "frr defaults datacenter
hostname rt
router bgp 65000
 bgp router-id 10.77.0.254
 no bgp ebgp-requires-policy
 neighbor NODES peer-group
 neighbor NODES remote-as external
 neighbor NODES timers 1 3
 bgp listen range 10.77.0.0/24 peer-group NODES
 address-family ipv4 unicast
  maximum-paths 16
 exit-address-family"
for i in 1 2 3; do
    ip -n "$(lab_ns "n$i")" route add 10.77.1.0/24 via 10.77.0.254
    frr_start "n$i" "frr defaults datacenter
hostname n$i
ip prefix-list ANYCAST seq 10 permit $any/32
route-map ANYCAST permit 10
 match ip address prefix-list ANYCAST
router bgp 65100
 bgp router-id 10.77.0.$i
 no bgp ebgp-requires-policy
 neighbor 10.77.0.254 remote-as 65000
 neighbor 10.77.0.254 timers 1 3
 neighbor 10.77.0.254 timers connect 1
 address-family ipv4 unicast
  redistribute connected route-map ANYCAST
 exit-address-family"
    lab_backends "$i"
    node_conf "$i"
    lab_halo_start "$i"
done
wait_paths3
echo "anycast lab up: $(paths)"

results="$lab_dir/results"
: > "$results"
for scenario in crash upstream graceful; do
    for run in $(seq "$runs"); do
        log="$lab_dir/client-$scenario-$run.log"
        ip netns exec "$(lab_ns rc)" python3 "$top/bench/anycast_client.py" --duration 3000 \
            --log "$log" > "$lab_dir/client.out" &
        client=$!
        sleep 1
        t0=$(ms)
        case $scenario in
            crash) kill -KILL "-$halo_pid_2" ;;
            upstream)
                grep '^n2-be' "$lab_dir/pids" | while read -r _ pid; do kill -KILL "-$pid" 2>/dev/null || true; done ;;
            graceful) kill -QUIT "$halo_pid_2" ;;
        esac
        gap=-1
        for _ in $(seq 2000); do
            if ! has_node2; then gap=$(($(ms) - t0)); break; fi
            sleep 0.002
        done
        wait "$client"
        line=$(cat "$lab_dir/client.out")
        echo "$scenario run $run: route gap ${gap}ms; client: $line"
        echo "$scenario $gap $line" >> "$results"
        # Node 2 back for the next run.
        case $scenario in
            crash) lab_wait_gone "$halo_pid_2"; lab_halo_start 2 ;;
            upstream) sed -i '/^n2-be/d' "$lab_dir/pids"; lab_backends 2 ;;
            graceful) lab_wait_gone "$halo_pid_2"; lab_halo_start 2 ;;
        esac
        wait_paths3
    done
done

python3 - "$results" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    w = line.split()
    kv = dict(re.findall(r"(\w+)=(-?\d+)", line))
    rows.setdefault(w[0], []).append((int(w[1]), int(kv["failed"]), int(kv["window"])))
vrrp = {"crash": "349 / 34 (crash, advert 100ms)",
        "upstream": "291 / 28 (dead proxy, advert 100ms)",
        "graceful": "12 / 0 (graceful stop, advert 100ms)"}
print("anycast failover, median of %d run(s); VRRP beside it from docs/vrrp.md (gap ms / failed)"
      % max(len(v) for v in rows.values()))
print("    %-10s %-16s %-22s %s" % ("scenario", "route gap ms", "failed / window ms", "VRRP"))
for s in ("crash", "upstream", "graceful"):
    v = rows.get(s, [])
    if not v:
        continue
    med = lambda i: statistics.median(x[i] for x in v)
    print("    %-10s %-16s %-22s %s" % (s, "%g" % med(0), "%g / %g" % (med(1), med(2)), vrrp[s]))
PY
