#!/bin/bash
# tests/tools/test_tiers.sh: every test tier, what `make test` runs (from the top directory,
# with the environment the Makefile's TEST_ENV gives: HALO_BIN, HALO_TOP, HALO_BUILDDIR).
#
#   tests/tools/test_tiers.sh BUILDDIR
#
# 1. unit: BUILDDIR/halo_unit_tests (seconds);
# 2. ha: BUILDDIR/halo_ha_tests in HA_JOBS processes (each test has namespaces of its own),
#    then those of HA_SERIAL alone, then tests/ha/run when there is one. Nothing else runs
#    meanwhile: VRRP at advert_int 100ms gives a backup 365ms before it takes over;
# 3. build-test: BUILDDIR/halo_build_tests starts in the background: its ./configure runs and
#    builds use the processors the integration tests leave idle while they wait on their halos,
#    sockets and timers. Not niced: beside six integration processes a niced ./configure was
#    starved past its 120s timeout on a busy machine;
# 4. integration: BUILDDIR/halo_integration_tests, its tests in INTEGRATION_JOBS processes
#    (tests/tools/gtest_parallel.sh), then those of INTEGRATION_SERIAL alone;
# 5. the build-test tier's output, once it is done.
# Every tier runs even when one before it failed; each prints its failures in full (the test, its
# output) and its totals, and the last lines sum up the tiers and their times. Exits 1 when any
# failed. The whole output of each tier is under BUILDDIR/test-logs/.
set -u

b=${1:-objs}
logs=$b/test-logs
mkdir -p "$logs"
: "${INTEGRATION_JOBS:=6}" "${HA_JOBS:=3}" "${INTEGRATION_SERIAL:=}" "${HA_SERIAL:=}"
here=$(dirname "$0")
summary=()
failed=0

# tier NAME SECONDS RC: one line of the summary.
tier() {
    if [ "$3" = 0 ]; then
        summary+=("$(printf '  %-12s ok      %4d s' "$1" "$2")")
    else
        summary+=("$(printf '  %-12s FAILED  %4d s  (%s)' "$1" "$2" "$4")")
        failed=1
    fi
}

t_start=$(date +%s)

echo "== unit: $b/halo_unit_tests"
t0=$(date +%s)
"$b/halo_unit_tests" > "$logs/unit.log" 2>&1 < /dev/null
rc=$?
if [ $rc != 0 ]; then
    cat "$logs/unit.log"
fi
grep -E '^\[  (PASSED|FAILED|SKIPPED) +\] [0-9]+ test' "$logs/unit.log" | sed 's/^/unit: /'
tier unit $(($(date +%s) - t0)) $rc "$logs/unit.log"

echo "== ha: $HA_JOBS processes"
t0=$(date +%s)
"$here/gtest_parallel.sh" -j "$HA_JOBS" -s "$HA_SERIAL" -n ha -o "$logs/ha" "$b/halo_ha_tests"
rc=$?
if [ $rc = 0 ] && [ -f tests/ha/run ] && [ -x tests/ha/run ]; then
    echo "tests/ha/run"
    tests/ha/run
    rc=$?
fi
tier ha $(($(date +%s) - t0)) $rc "$logs/ha"

echo "== build-test (in the background): $b/halo_build_tests > $logs/build-test.log"
bt0=$(date +%s)
rm -f "$logs/build-test.rc" "$logs/build-test.end"
(
    "$b/halo_build_tests" > "$logs/build-test.log" 2>&1 < /dev/null
    echo $? > "$logs/build-test.rc"
    date +%s > "$logs/build-test.end"
) &
build_pid=$!

echo "== integration: $INTEGRATION_JOBS processes"
t0=$(date +%s)
"$here/gtest_parallel.sh" -j "$INTEGRATION_JOBS" -s "$INTEGRATION_SERIAL" -n integration \
    -o "$logs/integration" "$b/halo_integration_tests"
rc=$?
tier integration $(($(date +%s) - t0)) $rc "$logs/integration"

if [ ! -f "$logs/build-test.rc" ]; then
    echo "== build-test: waiting for it"
fi
wait $build_pid
rc=$(cat "$logs/build-test.rc" 2> /dev/null || echo 1)
end=$(cat "$logs/build-test.end" 2> /dev/null || date +%s)
echo "== build-test: its output ($logs/build-test.log)"
cat "$logs/build-test.log"
tier build-test $((end - bt0)) "$rc" "$logs/build-test.log"

echo
echo "make test: $(($(date +%s) - t_start)) s (build-test ran beside integration)"
printf '%s\n' "${summary[@]}"
exit $failed
