#!/bin/sh
# Seeds built at run time for a fuzz target (nothing third-party is copied into the tree):
#   tests/fuzz/seeds.sh conf_parser_fuzz DIR
# fills DIR with real configurations: Debian's /etc/nginx when installed, halo's conf/, and
# h5bp/server-configs-nginx when a checkout is named by $HALO_FUZZ_EXTRA_CONFS.
name=$1
dir=$2
mkdir -p "$dir" || exit 1
case $name in
conf_parser_fuzz)
    for src in /etc/nginx conf $HALO_FUZZ_EXTRA_CONFS; do
        [ -d "$src" ] || continue
        find "$src" -type f \( -name '*.conf' -o -name 'nginx.conf' -o -name 'default' \
            -o -name '*params' -o -name 'mime.types' \) -size -256k 2>/dev/null |
        while read -r f; do
            cp "$f" "$dir/$(echo "$f" | tr '/' '_')" 2>/dev/null
        done
    done
    ;;
esac
exit 0
