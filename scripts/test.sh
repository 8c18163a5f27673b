#!/usr/bin/env bash
# `make test`: builds with -Werror and runs every suite, then prints one last
# line "N passed, N failed". Exits non-zero if anything failed.
#
# A suite is a command that prints TAP-style lines on stdout:
#   ok - name              a pass
#   not ok - name          a failure (details on following "# " lines)
#   ok - name # SKIP why   a skip: counted apart, never as a pass
# A suite that exits non-zero without reporting a failure counts as one.
#
#   test.sh [SUITE...]     run only these (lint unit fuzz integration browser chart;
#                          image is not in the default set: `make test-image`)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top" || exit 1

# Debian's python3 and python3-pytest (the python3 first on PATH may be
# another installation without them). One test: $pytest tests/integration -k NAME
pytest="/usr/bin/python3 -m pytest -c $top/tests/pytest.ini"

suite_cmd() {
    case $1 in
    lint) echo "scripts/lint.sh" ;;
    unit) echo "env CMOCKA_MESSAGE_OUTPUT=TAP EXAMPLE_CONFIG=$top/fcgi-app/config.ini build/unit-tests" ;;
    # Each libFuzzer harness for a short bounded time (make fuzz: minutes).
    fuzz) echo "env FUZZ_SECONDS=${FUZZ_SECONDS:-12} tests/fuzz/run.sh" ;;
    integration | browser) echo "$pytest tests/$1" ;;
    chart) echo "tests/chart/run.sh" ;;
    image) echo "tests/image/run.sh" ;;
    # ThreadSanitizer (make test-tsan): the unit tests stop at their first report; the
    # load test's responders print theirs, which fails the test (tests/conftest.py).
    tsan) echo "env TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1 CMOCKA_MESSAGE_OUTPUT=TAP EXAMPLE_CONFIG=$top/fcgi-app/config.ini build/unit-tests-tsan" ;;
    tsan-load) echo "env MOSCOW_TIME_BIN=$top/build/moscow-time-tsan TSAN_OPTIONS=second_deadlock_stack=1 $pytest tests/integration/test_threads.py tests/integration/test_reload.py tests/integration/test_cluster.py tests/integration/test_cluster_discovery.py tests/integration/test_parked.py" ;;
    esac
}

suites=("$@")
((${#suites[@]})) || suites=(lint unit fuzz integration browser chart)

passed=0 failed=0 skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# The image suite compiles in the image (its own compiler and libraries): it
# needs no build here, nor the packages for one.
if [[ ${suites[*]} != image && ${suites[*]} != "tsan tsan-load" ]]; then
    echo "# building (make build, unit tests under ASan/UBSan)"
    if ! make -s build build/unit-tests build/moscow-time-asan >"$log" 2>&1; then
        cat "$log"
        echo "not ok - build"
        echo "0 passed, 1 failed"
        exit 1
    fi
fi

for suite in "${suites[@]}"; do
    cmd=$(suite_cmd "$suite")
    if [[ -z $cmd ]]; then
        echo "unknown suite: $suite" >&2
        exit 64
    fi
    if [[ ($suite == chart || $suite == image) && ! -x tests/$suite/run.sh ]]; then
        echo "ok - $suite # SKIP tests/$suite/run.sh does not exist yet"
        skipped=$((skipped + 1))
        continue
    fi
    echo "# suite: $suite"
    start=$SECONDS
    $cmd 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    p=$(grep -cE '^ok ' "$log" | tr -d ' ')
    s=$(grep -cE '^ok .*# SKIP' "$log" | tr -d ' ')
    f=$(grep -cE '^not ok ' "$log" | tr -d ' ')
    if ((status != 0 && f == 0)); then
        echo "not ok - $suite: exited with status $status"
        f=1
    fi
    passed=$((passed + p - s))
    skipped=$((skipped + s))
    failed=$((failed + f))
    echo "# $suite: $((p - s)) passed, $f failed, $s skipped in $((SECONDS - start)) s"
done

((skipped)) && echo "# $skipped skipped (listed above as SKIP)"
echo "$passed passed, $failed failed"
((failed == 0))
