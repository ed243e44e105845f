#!/bin/sh
# PHP pages through halo and Debian's nginx (issue 21): one PHP-FPM pool (pm static, 2
# children, its own config in the bench's directory, unix socket) behind one worker of each,
# the same fastcgi config (Debian's fastcgi_params, SCRIPT_FILENAME), loaded in turn by wrk
# for `rounds` rounds each. Prints requests/s, CPU µs per request of the proxy's worker alone
# (PHP's time is not counted) and p99. With `keep` as the 4th argument, fastcgi_keep_conn on
# and `keepalive 8` to FPM; else a connection per request, as nginx does by default.
# Needs wrk, nginx and php-fpm (apt-get install -y wrk nginx-light php-fpm).
# Usage: bench/php_bench.sh [seconds per run] [connections] [rounds] [keep]
secs=${1:-5}
conns=${2:-20}
rounds=${3:-3}
keep=${4:-}
. "$(dirname "$0")/lib.sh"
fpm=$(ls /usr/sbin/php-fpm* 2>/dev/null | head -1)
[ -n "$fpm" ] || { echo "bench: php-fpm is missing (apt-get install -y php-fpm)"; exit 1; }
mkdir -p "$work/www" "$work/fpm"
cat > "$work/www/index.php" <<'PHP'
<?php
header('Content-Type: text/plain');
echo "hello from ", PHP_VERSION, " ", $_SERVER['REQUEST_URI'], "\n";
PHP
chmod -R a+rX "$work/www"
cat > "$work/fpm/fpm.conf" <<CONF
[global]
pid = $work/fpm/fpm.pid
error_log = $work/fpm/error.log
daemonize = yes
[bench]
user = www-data
group = www-data
listen = $work/fpm/fpm.sock
listen.mode = 0666
pm = static
pm.max_children = 2
CONF
"$fpm" -y "$work/fpm/fpm.conf" -R
trap 'kill "$(cat "$work/fpm/fpm.pid")" 2>/dev/null; for f in "$work"/*/logs/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done; sleep 0.3; rm -rf "$work"' EXIT
sleep 0.5

upstream="upstream fpm { server unix:$work/fpm/fpm.sock; }"
pass="fastcgi_pass fpm;"
if [ "$keep" = keep ]; then
    upstream="upstream fpm { server unix:$work/fpm/fpm.sock; keepalive 8; }"
    pass="fastcgi_pass fpm; fastcgi_keep_conn on;"
fi
body="root $work/www;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME \$document_root/index.php;
            $pass"

hp=$(free_port)
np=$(free_port)
bench_conf "$work/halo/logs/halo.pid" "$hp" "$body" "$upstream" > "$work/halo/halo.conf"
bench_conf "$work/nginx/logs/nginx.pid" "$np" "$body" "$upstream" > "$work/nginx/nginx.conf"
"$halo" -p "$work/halo/" -c "$work/halo/halo.conf"
"$nginx" -p "$work/nginx/" -c "$work/nginx/nginx.conf"
sleep 0.5
for port in "$hp" "$np"; do
    out=$(curl -s "http://127.0.0.1:$port/x")
    case "$out" in
    "hello from "*) ;;
    *) echo "bench: port $port answers: $out"; exit 1 ;;
    esac
done

echo "PHP page, wrk -t1 -c$conns -d${secs}s per run, 1 worker each, FPM pm static 2, $rounds rounds${keep:+, fastcgi_keep_conn}"
hs=0
ns=0
i=0
while [ $i -lt "$rounds" ]; do
    h=$(measure halo "$(cat "$work/halo/logs/halo.pid")" "$hp" /x)
    n=$(measure nginx "$(cat "$work/nginx/logs/nginx.pid")" "$np" /x)
    echo "  round $((i + 1)): $h | $n   (name req/s cpu-us/req p99)"
    hs=$(echo "$hs $h" | awk '{ printf "%.2f", $1 + $4 }')
    ns=$(echo "$ns $n" | awk '{ printf "%.2f", $1 + $4 }')
    i=$((i + 1))
done
echo "$hs $ns $rounds" | awk '{ printf "cpu-us/req halo %.2f, nginx %.2f, halo/nginx %.2f\n", $1 / $3, $2 / $3, $1 / $2 }'
