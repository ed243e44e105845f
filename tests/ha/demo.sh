#!/bin/sh
# The classic three-node cluster, live (issue 6's demo; `make demo-ha` runs it). Network
# namespaces as in tests/ha: a bridge, nodes 10.77.0.1-3, a client 10.77.0.50. Each node runs
# halo (priorities 100/90/80, VIP 10.77.0.100, advert_int $DEMO_ADVERT, default 100ms) in
# front of three backends (halo on 127.0.0.1:8081-8083 answering "nodeN beK"). The client
# curls the VIP in a loop (every 100 ms, 300 ms timeout) and prints the answers, one line per
# run of answers from one node, while the demo stops the master gracefully, starts it again
# (it preempts), then kills it (SIGKILL of all its processes). Everything is removed at exit,
# Ctrl-C included. Needs root. Usage: tests/ha/demo.sh   (HALO_BIN: the halo to run)
set -eu
. "$(dirname "$0")/../../bench/ha_lab.sh"
lab_check
command -v curl >/dev/null || { echo "$0: curl is missing" >&2; exit 1; }
advert=${DEMO_ADVERT:-100ms}
trap lab_cleanup EXIT
trap 'echo; echo "interrupted: cleaning up"; exit 130' INT TERM HUP

now_ms() { echo $(($(date +%s%N) / 1000000)); }
clock() { date +%T.%3N; }

# Curls the VIP for $1 seconds; prints "<time> <node> x<answers> (<backends>)" for each run of
# answers from one node and "<time> no answer x<n>" for each run of failures.
watch_vip() {
    end=$(($(now_ms) + $1 * 1000))
    cur=
    count=0
    since=
    bes=
    while [ "$(now_ms)" -lt "$end" ]; do
        t=$(clock)
        ans=$(lab_get cl "$lab_vip" 0.3 || true)
        node=${ans%% *}
        [ -n "$node" ] || node="no-answer"
        if [ "$node" != "$cur" ]; then
            flush_run
            cur=$node
            since=$t
            count=0
            bes=
        fi
        count=$((count + 1))
        be=${ans#* }
        case " $bes " in *" $be "*) ;; *) [ "$node" = no-answer ] || bes="$bes $be" ;; esac
        sleep 0.1
    done
    flush_run
}
flush_run() {
    [ -n "$cur" ] || return 0
    if [ "$cur" = no-answer ]; then
        printf '    %s  no answer  x%d\n' "$since" "$count"
    else
        printf '    %s  %-9s  x%d  (%s)\n' "$since" "$cur" "$count" "${bes# }"
    fi
}
holders() { echo "    VIP $lab_vip on: $(lab_vip_holders 3)"; }
step() { printf '\n== %s\n' "$*"; }

step "building namespaces $(lab_ns '*'): nodes 10.77.0.1-3, client 10.77.0.50"
lab_up 3
for i in 1 2 3; do
    lab_backends "$i"
    lab_halo_conf "$i" $((110 - 10 * i)) "$advert"
    lab_halo_start "$i"
done
echo "    halo on each node: priority 100/90/80, advert_int $advert, proxy to 3 backends"
n=0
until [ "$(lab_vip_holders 3)" = node1 ]; do
    n=$((n + 1))
    [ $n -lt 300 ] || { echo "node 1 never took the VIP; its log:" >&2; cat "$lab_dir/n1-halo/logs/error.log" >&2; exit 1; }
    sleep 0.1
done
holders
watch_vip 2

step "stopping node 1 gracefully (SIGQUIT, as halo -s quit): it sends priority 0"
kill -QUIT "$halo_pid_1"
watch_vip 3
lab_wait_gone "$halo_pid_1"
holders

step "starting node 1 again: it preempts node 2"
lab_halo_start 1
watch_vip 4
holders

step "killing node 1 (SIGKILL of its master, worker and vrrp helper)"
kill -KILL "-$halo_pid_1"
watch_vip 3
lab_wait_gone "$halo_pid_1"
echo "    (a crashed node's VIP stays on its eth0 until halo starts there again and removes it)"
holders

step "the transitions the nodes logged"
for i in 1 2 3; do
    grep -h -o 'vrrp_instance "VI_1" [A-Z]* -> [A-Z]* ([^)]*)' "$lab_dir/n$i-halo/logs/error.log" |
        sed "s/^/    node$i: /"
done
step "cleaning up"
