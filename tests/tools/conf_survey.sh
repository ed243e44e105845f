#!/bin/sh
# tests/tools/conf_survey.sh: how far halo gets on real nginx configs.
#
#   tests/tools/conf_survey.sh [-v] CORPUS_DIR [HALO_BIN]
#
# CORPUS_DIR holds nginx configs (*.conf; third-party files stay out of this repository: collect
# them elsewhere, e.g. with the `search` tool, and list their sources next to them). For each,
# Debian's nginx (`nginx -t`) and halo (`halo -t`, HALO_BIN or objs/halo) check the same prepared
# copy, and the script prints one line per config and a summary: how many nginx accepts, how
# many of those halo accepts, halo's most frequent first errors, and every error halo reports
# on them (halo goes on after an unknown directive, so a config often has several).
#
# The copy is prepared the same way for both, only so that a config written for another machine
# can be checked here (the stubs):
#   - a file with no `http {` is wrapped in `events {} http { ... }` (a conf.d/sites file); one
#     with no `server {` either is wrapped in `server { ... }` too (a snippet of locations);
#   - `include` of a file that does not exist here is commented out, mime.types goes to
#     /etc/nginx/mime.types; `user` becomes `user nobody nogroup;`; `pid`, `error_log` and `access_log`
#     files go to a scratch directory; `load_module` lines are commented out;
#   - ssl_certificate/_key/ssl_trusted_certificate/ssl_client_certificate/ssl_dhparam point to a
#     certificate generated once (also given at http level when `listen ... ssl` has none:
#     it was in a snippet that is not here), ssl_stapling_file/ssl_crl/ssl_password_file lines
#     are dropped;
#   - as root, the commands run in a private mount namespace whose /etc/hosts maps every host
#     name the config's `server`/`proxy_pass` lines use to 127.0.0.1 (docker-compose names).
# -v prints halo's whole first error line for each config.
# POSIX sh; needs nginx, openssl, and (for the hosts stub) unshare.

verbose=
if [ "$1" = "-v" ]; then
    verbose=1
    shift
fi
corpus=$1
halo=${2:-${HALO_BIN:-objs/halo}}
nginx=${HALO_NGINX_BIN:-/usr/sbin/nginx}

if [ -z "$corpus" ] || [ ! -d "$corpus" ]; then
    echo "usage: $0 [-v] CORPUS_DIR [HALO_BIN]" >&2
    exit 2
fi
if [ ! -x "$nginx" ]; then
    echo "$0: $nginx not found (Debian package nginx)" >&2
    exit 2
fi
case "$halo" in /*) ;; *) halo=$(pwd)/$halo ;; esac
if [ ! -x "$halo" ]; then
    echo "$0: $halo not found: build halo first" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/conf-survey.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/logs" "$work/prefix/logs"
chmod 755 "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/stub.key" -out "$work/stub.crt" \
    -days 2 -subj /CN=stub > /dev/null 2>&1

use_ns=
if [ "$(id -u)" = 0 ] && command -v unshare > /dev/null 2>&1; then
    use_ns=1
fi

# prepare FILE OUT: the stubbed copy
prepare() {
    src=$1
    out=$2
    body=$work/body.conf
    # comment out includes of files that are not here; mime.types -> Debian's
    awk -v work="$work" '
    function missing(p,   cmd, r) {
        if (p ~ /[*?]/) { cmd = "ls " p " >/dev/null 2>&1"; return system(cmd) != 0 }
        return system("test -e \"" p "\"") != 0
    }
    {
        line = $0
        if (match(line, /^[ \t]*include[ \t]+[^;]+;/)) {
            p = line; sub(/^[ \t]*include[ \t]+/, "", p); sub(/;.*/, "", p); gsub(/["\047]/, "", p)
            if (p ~ /mime\.types$/) { print "include /etc/nginx/mime.types;"; next }
            if (p !~ /^\// || missing(p)) { print "# (stub) " line; next }
        }
        if (line ~ /^[ \t]*user[ \t]/) { print "user nobody nogroup;"; next }
        if (line ~ /^[ \t]*load_module[ \t]/) { print "# (stub) " line; next }
        if (line ~ /^[ \t]*pid[ \t]/) { print "pid " work "/nginx.pid;"; next }
        if (line ~ /^[ \t]*(error_log|access_log)[ \t]+[^ \t;]*\//) {
            n = split(line, w, /[ \t]+/); i = 1; while (w[i] == "") i++
            f = w[i + 1]; sub(/;$/, "", f); base = f; sub(/.*\//, "", base)
            rest = line; sub(/^[ \t]*[a-z_]+[ \t]+[^ \t;]+/, "", rest)
            print w[i] " " work "/logs/" base rest; next
        }
        if (line ~ /^[ \t]*(ssl_certificate|ssl_trusted_certificate|ssl_client_certificate)[ \t]/) {
            d = line; sub(/^[ \t]*/, "", d); sub(/[ \t].*/, "", d)
            print d " " work "/stub.crt;"; next
        }
        if (line ~ /^[ \t]*ssl_certificate_key[ \t]/) { print "ssl_certificate_key " work "/stub.key;"; next }
        if (line ~ /^[ \t]*(ssl_dhparam|ssl_stapling_file|ssl_crl|ssl_password_file|ssl_session_ticket_key)[ \t]/) {
            print "# (stub) " line; next
        }
        print line
    }' "$src" > "$body"
    if grep -Eq '^[[:space:]]*http[[:space:]]*\{' "$body"; then
        cp "$body" "$out"
    elif grep -Eq '^[[:space:]]*(server|upstream|map)[[:space:]]' "$body"; then
        { echo "events {}"; echo "http {"; echo "include /etc/nginx/mime.types;"; cat "$body"; echo "}"; } > "$out"
    else
        { echo "events {}"; echo "http {"; echo "server {"; cat "$body"; echo "}"; echo "}"; } > "$out"
    fi
    # `listen ... ssl` with its certificate in a snippet that is not here: a stub certificate
    if grep -Eq '^[[:space:]]*listen[[:space:]][^;]*[[:space:]]ssl' "$out" &&
        ! grep -Eq '^[[:space:]]*ssl_certificate[[:space:]]' "$out"; then
        sed -i -E "0,/^[[:space:]]*http[[:space:]]*\{/s||&\nssl_certificate $work/stub.crt; ssl_certificate_key $work/stub.key;|" "$out"
    fi
    # the host names upstreams and proxy_pass use
    grep -Eo '(proxy_pass|server)[[:space:]]+(https?://)?[A-Za-z][A-Za-z0-9_.-]*(:[0-9]+)?' "$out" |
        sed -E 's/^(proxy_pass|server)[[:space:]]+(https?:\/\/)?//; s/:[0-9]+$//' |
        grep -v -E '^(localhost|unix)$' | sort -u > "$work/hosts.names"
}

# check BIN CONF: runs `BIN -t` (in the hosts namespace when root); prints the output
check() {
    bin=$1
    conf=$2
    if [ -n "$use_ns" ]; then
        { echo "127.0.0.1 localhost"; echo "::1 localhost ip6-localhost"
          sed 's/^/127.0.0.1 /' "$work/hosts.names"; } > "$work/hosts"
        unshare --mount sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh \
            "$work/hosts" "$bin" -t -p "$work/prefix/" -c "$conf" 2>&1
    else
        "$bin" -t -p "$work/prefix/" -c "$conf" 2>&1
    fi
}

# the reasons of halo's [emerg] lines, without file:line and values (reason: the first one)
reasons() {
    grep -E '\[emerg\]' | sed -E 's/^[^]]*\] //; s/ in [^ ]+:[0-9]+.*$//' |
        sed -E 's/^invalid (value|parameter|number of arguments) ("[^"]*" )?in ("[^"]*").*/invalid \1 in \3/'
}
reason() {
    reasons | head -n 1
}

total=0
nginx_ok=0
both_ok=0
halo_only=0
: > "$work/reasons"
: > "$work/all-reasons"
printf '%-12s %-6s %-6s %s\n' config nginx halo "halo's first error"
for f in "$corpus"/*.conf; do
    [ -f "$f" ] || continue
    total=$((total + 1))
    name=$(basename "$f")
    prepare "$f" "$work/test.conf"
    n_out=$(check "$nginx" "$work/test.conf")
    n_ok=no
    echo "$n_out" | grep -q 'test is successful' && n_ok=yes
    h_out=$(check "$halo" "$work/test.conf")
    h_ok=no
    echo "$h_out" | grep -q 'test is successful' && h_ok=yes
    why=
    if [ $h_ok = no ]; then
        why=$(echo "$h_out" | reason)
        [ -n "$verbose" ] && why=$(echo "$h_out" | grep -m1 -E '\[emerg\]')
    fi
    if [ $n_ok = no ]; then
        why="(nginx: $(echo "$n_out" | grep -m1 -E '\[emerg\]' | sed -E 's/^[^]]*\] //'))"
    fi
    printf '%-12s %-6s %-6s %s\n' "$name" $n_ok $h_ok "$why"
    if [ $n_ok = yes ]; then
        nginx_ok=$((nginx_ok + 1))
        if [ $h_ok = yes ]; then
            both_ok=$((both_ok + 1))
        else
            echo "$h_out" | reason >> "$work/reasons"
            echo "$h_out" | reasons | sort -u >> "$work/all-reasons"
        fi
    elif [ $h_ok = yes ]; then
        halo_only=$((halo_only + 1))
    fi
done
echo
echo "configs: $total; nginx accepts: $nginx_ok; halo accepts $both_ok of those;" \
    "halo accepts $halo_only that nginx refuses"
echo "halo's first error on the configs nginx accepts (count, reason):"
sort "$work/reasons" | uniq -c | sort -rn
echo "every error halo reports on them (configs, reason):"
sort "$work/all-reasons" | uniq -c | sort -rn
