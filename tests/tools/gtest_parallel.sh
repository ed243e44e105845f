#!/bin/bash
# tests/tools/gtest_parallel.sh: run a GoogleTest program's tests in parallel processes.
#
#   tests/tools/gtest_parallel.sh [-j JOBS] [-c CHUNK] [-s SERIAL] [-n NAME] [-o LOGDIR] PROGRAM
#
# The tests (those GTEST_FILTER selects, all by default) are cut into units: the tests of one
# suite, at most CHUNK (default 6) to a unit, biggest suites first. JOBS processes (default
# 4) take the units one after the other (xargs -P), each unit in its own run of PROGRAM
# (--gtest_filter naming its tests), its output in LOGDIR/<n>.log. The tests matching SERIAL (a
# gtest filter, e.g. 'A.*:B.C') then run alone, in one process, after every unit is done:
# those that share something fixed with each other or need the whole machine.
#
# Prints one line a unit as it ends, then, for every unit that failed, its whole output (the
# failing test, its assertions, the halo logs the harness prints), then the totals: passed,
# failed and skipped tests, and the failed tests by name. Exits 1 when a test failed, or a unit
# ended without reporting every test it was given (a crash, a timeout): that unit's output is
# printed too.
#
# GoogleTest's flags come from its variables (GTEST_FILTER, GTEST_REPEAT, ...).
# JOBS can also come from HALO_TEST_JOBS; -j 1 runs the units one after the other.
# The slowest units are listed at the end (LOGDIR/times holds them all), to tune CHUNK and SERIAL.
set -u

jobs=${HALO_TEST_JOBS:-4}
chunk=6
serial=
name=tests
logdir=
while getopts 'j:c:s:n:o:' opt; do
    case $opt in
    j) jobs=$OPTARG ;;
    c) chunk=$OPTARG ;;
    s) serial=$OPTARG ;;
    n) name=$OPTARG ;;
    o) logdir=$OPTARG ;;
    *)
        echo "usage: $0 [-j JOBS] [-c CHUNK] [-s SERIAL] [-n NAME] [-o LOGDIR] PROGRAM" >&2
        exit 2
        ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -ne 1 ]; then
    echo "$0: one test program, no arguments (GTEST_* variables give gtest's flags)" >&2
    exit 2
fi
prog=$1
[ -n "$logdir" ] || logdir=objs/test-logs/$name
case $jobs in '' | *[!0-9]* | 0) jobs=1 ;; esac
case $chunk in '' | *[!0-9]* | 0) chunk=1 ;; esac

rm -rf "$logdir"
mkdir -p "$logdir" || exit 2
logdir=$(cd "$logdir" && pwd)

# list_tests [FILTER]: Suite.Test, one a line (GTEST_FILTER applies when no FILTER is given).
list_tests() {
    local filter=()
    [ $# -gt 0 ] && filter=("--gtest_filter=$1")
    "$prog" "${filter[@]}" --gtest_list_tests | awk '
        /^[^ ]/ { suite = $1; next }
        /^  [^ ]/ { print suite $1 }'
}

if ! list_tests > "$logdir/all.list"; then
    echo "$name: $prog --gtest_list_tests failed" >&2
    exit 2
fi
: > "$logdir/serial.list"
if [ -n "$serial" ]; then
    # Only the serial tests the overall filter selects.
    list_tests "$serial" | grep -Fxf - "$logdir/all.list" > "$logdir/serial.list"
fi
grep -Fxvf "$logdir/serial.list" "$logdir/all.list" > "$logdir/parallel.list"

# Units: suites with the most tests first, then cut into CHUNKs; a unit is a line
# "<n> <Suite.A:Suite.B:...>".
awk -v chunk="$chunk" '
    {
        s = $0; sub(/\.[^.]*$/, "", s)
        if (!(s in count)) { order[++n] = s }
        tests[s, ++count[s]] = $0
    }
    END {
        for (i = 1; i <= n; i++) { print count[order[i]], i, order[i] }
    }' "$logdir/parallel.list" | sort -k1,1nr -k2,2n | while read -r _ _ suite; do
    grep -F "$suite." "$logdir/parallel.list" | awk -v s="$suite." 'index($0, s) == 1'
done | awk -v chunk="$chunk" '
    {
        s = $0; sub(/\.[^.]*$/, "", s)
        if (s != prev || k == chunk) {
            if (line != "") print ++u, line
            line = ""; k = 0
        }
        line = line (k ? ":" : "") $0; k++; prev = s
    }
    END { if (line != "") print ++u, line }' > "$logdir/units"

units=$(wc -l < "$logdir/units")
tests_parallel=$(wc -l < "$logdir/parallel.list")
tests_serial=$(wc -l < "$logdir/serial.list")
echo "$name: $tests_parallel tests in $units units on $jobs processes, then $tests_serial alone" \
    "(logs in $logdir)"

start=$(date +%s)

# Ports: each process running takes a slot (a directory made atomically) and, with it, a range of
# ports of its own for free_port() (HALO_TEST_PORTS, tests/support/harness.cc), from 20000 up to
# the kernel's ephemeral ports (32768).
port_span=$((12000 / jobs))
[ $port_span -le 1000 ] || port_span=1000

# run_unit N FILTER: one unit; its output in N.log, its exit status in N.rc, its time in times.
run_unit() {
    local n=$1 filter=$2 t0 t1 rc first slot=0
    until mkdir "$logdir/slot.$slot" 2> /dev/null; do
        slot=$(((slot + 1) % jobs))
    done
    t0=$(date +%s)
    env -u GTEST_FILTER -u GTEST_TOTAL_SHARDS -u GTEST_SHARD_INDEX \
        HALO_TEST_PORTS="$((20000 + slot * port_span))-$((20000 + (slot + 1) * port_span - 1))" \
        "$prog" "--gtest_filter=$filter" > "$logdir/$n.log" 2>&1 < /dev/null
    rc=$?
    rmdir "$logdir/slot.$slot"
    t1=$(date +%s)
    echo "$rc" > "$logdir/$n.rc"
    first=${filter%%:*}
    echo "$((t1 - t0)) $n ${first%.*}" >> "$logdir/times"
    if [ "$rc" = 0 ]; then
        printf '%s: ok   %-40s %3d tests %4d s\n' "$name" "${first%.*}" \
            "$(tr ':' '\n' <<< "$filter" | wc -l)" $((t1 - t0))
    else
        printf '%s: FAIL %-40s exit %d, %d s (%s)\n' "$name" "${first%.*}" "$rc" \
            $((t1 - t0)) "$logdir/$n.log"
    fi
}
export -f run_unit
export prog name logdir jobs port_span

if [ "$units" -gt 0 ]; then
    tr ' ' '\n' < "$logdir/units" | xargs -d '\n' -n 2 -P "$jobs" bash -c 'run_unit "$1" "$2"' _
fi
if [ "$tests_serial" -gt 0 ]; then
    n=$((units + 1))
    echo "$n $(paste -sd: "$logdir/serial.list")" >> "$logdir/units"
    echo "$name: $tests_serial tests alone ($serial)"
    run_unit "$n" "$(paste -sd: "$logdir/serial.list")"
fi
end=$(date +%s)

# Results: gtest's "[       OK ] A.B (12 ms)", "[  FAILED  ] A.B (12 ms)" (", where
# GetParam() = ..." before the time for a parameterized test) and "[  SKIPPED ] A.B (12 ms)" lines;
# a test given to a unit and in none of them did not finish. One awk reads every unit's log and
# prints "S test" (skipped), "F test" (failed), "U test rc" (did not finish), "B unit" (a unit
# to print) and last "T passed failed skipped unfinished".
passed=0 failed=0 skipped=0 unfinished=0
failed_names=() skipped_names=() bad_units=()
while read -r kind a b c d; do
    case $kind in
    S) skipped_names+=("$a") ;;
    F) failed_names+=("$a") ;;
    U) failed_names+=("$a (did not finish: exit $b)") ;;
    B) bad_units+=("$a") ;;
    T) passed=$a failed=$b skipped=$c unfinished=$d ;;
    esac
done < <(awk -v dir="$logdir" '
    {
        n = $1; rc = "?"
        f = dir "/" n ".rc"
        if ((getline line < f) > 0) rc = line
        close(f)
        split("", st)
        f = dir "/" n ".log"
        while ((getline line < f) > 0) {
            if (line !~ /^\[ +(OK|FAILED|SKIPPED) +\] .* \([0-9]+ ms\)$/) continue
            sub(/^\[ +/, "", line)
            status = line; sub(/ .*/, "", status)
            sub(/^[A-Z]+ +\] /, "", line); sub(/ \([0-9]+ ms\)$/, "", line)
            sub(/, where GetParam\(\) = .*/, "", line)
            if (!(line in st)) st[line] = status
        }
        close(f)
        bad = rc != "0"
        k = split($2, t, ":")
        for (i = 1; i <= k; i++) {
            s = (t[i] in st) ? st[t[i]] : ""
            if (s == "OK") passed++
            else if (s == "SKIPPED") { skipped++; print "S", t[i] }
            else if (s == "FAILED") { failed++; bad = 1; print "F", t[i] }
            else { unfinished++; bad = 1; print "U", t[i], rc }
        }
        if (bad) print "B", n
    }
    END { print "T", passed + 0, failed + 0, skipped + 0, unfinished + 0 }' "$logdir/units")

for n in "${bad_units[@]}"; do
    echo
    echo "======== $name: FAILED unit $n: $logdir/$n.log ========"
    cat "$logdir/$n.log"
    echo "======== end of $logdir/$n.log ========"
done

echo
if [ -s "$logdir/times" ]; then
    echo "$name: slowest units (seconds, unit, suite):" \
        "$(sort -k1,1nr "$logdir/times" | head -5 | awk '{printf "%s%s s %s #%s", (NR > 1 ? "; " : ""), $1, $3, $2}')"
fi
if [ ${#skipped_names[@]} -gt 0 ]; then
    echo "$name: skipped: ${skipped_names[*]}"
fi
for t in "${failed_names[@]}"; do
    echo "$name: FAILED: $t"
done
total=$((passed + failed + skipped + unfinished))
echo "$name: $total tests, $passed passed, $((failed + unfinished)) failed, $skipped skipped" \
    "in $((end - start)) s ($jobs processes)"
[ $((failed + unfinished)) -eq 0 ] && [ ${#bad_units[@]} -eq 0 ]
