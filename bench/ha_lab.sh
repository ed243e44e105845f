# Shared by bench/failover_bench.sh and tests/ha/demo.sh: sourced, never run. The network of
# tests/ha: a bridge namespace, one veth per node (10.77.0.N/24 on eth0), a client namespace
# (10.77.0.50); the VIP is 10.77.0.100. Each node runs three backends (halo processes on
# 127.0.0.1:8081..8083 answering "nodeN beK") and either halo or keepalived + nginx in front
# of them. Every process started here runs in its own process group and is recorded by pid;
# lab_cleanup (the exit trap) kills those groups and deletes the namespaces.
top=$(cd "$(dirname "$0")/.." && pwd)
halo=${HALO_BIN:-$top/objs/halo}
lab_vip=10.77.0.100
lab_tag=f$(($$ % 100000))
lab_dir=
lab_pid=

lab_ns() { echo "halo-$lab_tag-$1"; }

lab_check() { # the tools the lab needs, and root
    if [ "$(id -u)" != 0 ]; then
        echo "$0: needs root (it builds network namespaces); run it with sudo" >&2
        exit 1
    fi
    command -v ip >/dev/null || { echo "$0: iproute2 (ip) is missing" >&2; exit 1; }
    [ -x "$halo" ] || { echo "$0: build halo first (./configure && make)" >&2; exit 1; }
    "$halo" -V 2>&1 | grep -q vrrp || { echo "$0: $halo is built without the vrrp module" >&2; exit 1; }
}

lab_cleanup() {
    [ -n "$lab_dir" ] && [ -d "$lab_dir" ] || return 0
    if [ -f "$lab_dir/pids" ]; then
        # Groups first (a node's master, workers and helper at once), then the leaders.
        while read -r name pid; do
            kill -KILL "-$pid" 2>/dev/null || true
        done < "$lab_dir/pids"
        while read -r name pid; do
            kill -KILL "$pid" 2>/dev/null || true
        done < "$lab_dir/pids"
    fi
    if [ -f "$lab_dir/namespaces" ]; then
        while read -r ns; do
            ip netns del "$ns" 2>/dev/null || true
        done < "$lab_dir/namespaces"
    fi
    rm -rf "$lab_dir"
    lab_dir=
}

lab_host() { # $1 = short name, $2 = address
    n=$(lab_ns "$1")
    ip netns add "$n"
    echo "$n" >> "$lab_dir/namespaces"
    port="v$lab_tag$1" # at most 15 characters
    ip -n "$(lab_ns br)" link add "$port" type veth peer name eth0 netns "$n"
    ip -n "$(lab_ns br)" link set "$port" master br0 up
    ip -n "$n" addr add "$2/24" dev eth0
    ip -n "$n" link set eth0 up
    ip -n "$n" link set lo up
}

lab_up() { # $1 = number of nodes
    lab_dir=$(mktemp -d /tmp/halo-lab.XXXXXX)
    chmod 0755 "$lab_dir"
    ip netns add "$(lab_ns br)"
    echo "$(lab_ns br)" >> "$lab_dir/namespaces"
    ip -n "$(lab_ns br)" link add br0 type bridge
    ip -n "$(lab_ns br)" link set br0 up
    i=1
    while [ "$i" -le "$1" ]; do
        lab_host "n$i" "10.77.0.$i"
        i=$((i + 1))
    done
    lab_host cl 10.77.0.50
}

lab_spawn() { # $1 = name (output appended to $lab_dir/$1.out), $2 = namespace short name, command...
    name=$1
    ns=$(lab_ns "$2")
    shift 2
    # Not a group leader here, so setsid makes its own group without forking, and
    # `ip netns exec` execs the command in place: $! is the command's pid and its group.
    setsid ip netns exec "$ns" "$@" >> "$lab_dir/$name.out" 2>&1 < /dev/null &
    lab_pid=$!
    echo "$name $lab_pid" >> "$lab_dir/pids"
}

lab_wait_gone() { # $1 = pid: reaps it if it is ours, else waits until it has gone
    wait "$1" 2>/dev/null || true
    while kill -0 "$1" 2>/dev/null; do sleep 0.02; done
}

# Whether node $1 holds the VIP on eth0.
lab_has_vip() { ip -n "$(lab_ns "n$1")" -4 -o addr show dev eth0 | grep -q " $lab_vip/"; }

lab_vip_holders() { # $1 = number of nodes
    out=
    i=1
    while [ "$i" -le "$1" ]; do
        lab_has_vip "$i" && out="$out node$i"
        i=$((i + 1))
    done
    echo "${out# }"
}

# GET / from inside a namespace: the body's first word or nothing.
lab_get() { # $1 = namespace short name, $2 = address, [$3 = timeout s]
    ip netns exec "$(lab_ns "$1")" curl -s -f -m "${3:-1}" "http://$2/" 2>/dev/null
}

lab_backends() { # $1 = node index: three halo backends on 127.0.0.1:8081..8083
    for k in 1 2 3; do
        d="$lab_dir/n$1-be$k"
        mkdir -p "$d/logs"
        cat > "$d/halo.conf" <<CONF
daemon off;
worker_processes 1;
error_log logs/error.log warn;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:808$k;
        location / { return 200 "node$1 be$k\n"; }
    }
}
CONF
        lab_spawn "n$1-be$k" "n$1" "$halo" -p "$d/" -c "$d/halo.conf"
    done
}

lab_upstream='upstream be {
        server 127.0.0.1:8081;
        server 127.0.0.1:8082;
        server 127.0.0.1:8083;
    }'

# The proxy of every node, halo's and nginx's alike: port 80 to the node's three backends.
lab_proxy_http="http {
    access_log off;
    $lab_upstream
    server {
        listen 80;
        location / { proxy_pass http://be; }
    }
}"

lab_halo_conf() { # $1 = node index, $2 = priority, $3 = advert_int, [$4 = instance extras]
    d="$lab_dir/n$1-halo"
    mkdir -p "$d/logs"
    cat > "$d/halo.conf" <<CONF
daemon off;
worker_processes 1;
error_log logs/error.log notice;
events {}
$lab_proxy_http
vrrp {
    vrrp_instance VI_1 {
        state BACKUP;
        interface eth0;
        virtual_router_id 51;
        priority $2;
        advert_int $3;
        virtual_ipaddress { $lab_vip/24; }
        ${4:-}
    }
}
CONF
}

lab_halo_start() { # $1 = node index; sets halo_pid_N
    d="$lab_dir/n$1-halo"
    lab_spawn "n$1-halo" "n$1" "$halo" -p "$d/" -c "$d/halo.conf"
    eval "halo_pid_$1=$lab_pid"
}

# The node's current workers: children of its master that the master logged as workers.
lab_halo_workers() { # $1 = node index
    eval "m=\$halo_pid_$1"
    for c in $(cat "/proc/$m/task/$m/children" 2>/dev/null); do
        if grep -q "start worker process $c\$" "$lab_dir/n$1-halo/logs/error.log"; then
            echo "$c"
        fi
    done
}
