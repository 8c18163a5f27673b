#!/usr/bin/env bash
# `make test`: builds with -Werror and runs every suite, then prints one last
# line "N passed, N failed" (", N skipped" when some were). Exits non-zero if
# anything failed.
#
# A suite is a command that prints TAP-style lines on stdout:
#   ok - name              a pass
#   not ok - name          a failure (details on following "# " lines)
#   ok - name # SKIP why   a skip: counted apart, never as a pass
# A suite that exits non-zero without reporting a failure counts as one.
#
# What a suite writes on stderr (the responder's expected level=error lines
# in the unit tests, for one) is kept in build/test-logs/SUITE.stderr (or
# $TEST_LOGS/) beside SUITE.tap, and shown only when the suite failed. Each suite runs with a TMPDIR of its own,
# which must be empty when it ends: anything left there is a failure.
#
# Under CI=true (or STRICT_SKIPS=1) a SKIP fails the run unless its reason is
# allowed below: as a normal user, a test that says "needs root"; as root,
# nothing (docs/testing.md).
#
#   test.sh [SUITE...]     run only these (lint unit fuzz integration browser chart; tsan tsan-load;
#                          image is not in the default set: `make test-image`)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"

# Debian's python3 and python3-pytest (the python3 first on PATH may be
# another installation without them). One test:
#   /usr/bin/python3 -m pytest -c tests/pytest.ini tests/integration -k NAME
pytest=(/usr/bin/python3 -m pytest -c "$top/tests/pytest.ini")

# Reasons a SKIP may give under CI=true, as extended regular expressions
# matched against the whole reason. Keep this short and say why in
# docs/testing.md; as root the list is empty: every test runs.
allowed_skips=()
if [[ $(id -u) != 0 ]]; then
    allowed_skips+=('needs root: .*')
fi

# suite_cmd SUITE TMP: the suite's command in the array cmd.
suite_cmd() {
    case $1 in
    lint) cmd=(scripts/lint.sh) ;;
    unit) cmd=(env CMOCKA_MESSAGE_OUTPUT=TAP "EXAMPLE_CONFIG=$top/fcgi-app/config.ini" build/unit-tests) ;;
    # Each libFuzzer harness for a short bounded time (make fuzz: minutes).
    fuzz) cmd=(env "FUZZ_SECONDS=${FUZZ_SECONDS:-12}" tests/fuzz/run.sh) ;;
    integration | browser) cmd=("${pytest[@]}" "--basetemp=$2/pytest" "tests/$1") ;;
    chart) cmd=(tests/chart/run.sh) ;;
    image) cmd=(tests/image/run.sh) ;;
    # ThreadSanitizer (make test-tsan): the unit tests stop at their first report; the
    # load test's responders print theirs, which fails the test (tests/conftest.py).
    tsan) cmd=(env TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1
        CMOCKA_MESSAGE_OUTPUT=TAP "EXAMPLE_CONFIG=$top/fcgi-app/config.ini" build/unit-tests-tsan) ;;
    tsan-load) cmd=(env "MOSCOW_TIME_BIN=$top/build/moscow-time-tsan"
        TSAN_OPTIONS=second_deadlock_stack=1 "${pytest[@]}" "--basetemp=$2/pytest"
        tests/integration/test_threads.py tests/integration/test_reload.py
        tests/integration/test_cluster.py tests/integration/test_cluster_discovery.py
        tests/integration/test_parked.py) ;;
    *) return 1 ;;
    esac
}

suites=("$@")
((${#suites[@]})) || suites=(lint unit fuzz integration browser chart)
for suite in "${suites[@]}"; do
    if ! suite_cmd "$suite" /; then
        echo "unknown suite: $suite (lint unit fuzz integration browser chart image)" >&2
        exit 64
    fi
done

# TEST_LOGS: another folder for them (the tests of this script run it nested).
logs=${TEST_LOGS:-$top/build/test-logs}
mkdir -p "$logs"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mt-test.XXXXXX")
chmod 755 "$scratch" # the tests that run a process as nobody reach their folders through it
trap 'rm -rf "$scratch"' EXIT

passed=0 failed=0 skipped=0

# count PATTERN FILE: how many lines match (0 when none). -a: a process's
# output quoted under a failed test may hold bytes that are not text.
count() { LC_ALL=C grep -acE "$1" "$2" || true; }

# The image suite compiles in the image (its own compiler and libraries): it
# needs no build here, nor the packages for one.
if [[ ${suites[*]} != image && ${suites[*]} != "tsan tsan-load" ]]; then
    echo "# building (make build, unit tests under ASan/UBSan)"
    if ! make -s build build/unit-tests build/moscow-time-asan >"$logs/build.log" 2>&1; then
        sed 's/^/# /' "$logs/build.log"
        echo "not ok - build"
        echo "0 passed, 1 failed"
        exit 1
    fi
fi

for suite in "${suites[@]}"; do
    if [[ ($suite == chart || $suite == image) && ! -x tests/$suite/run.sh ]]; then
        echo "ok - $suite # SKIP tests/$suite/run.sh does not exist yet" | tee -a "$scratch/skips"
        skipped=$((skipped + 1))
        continue
    fi
    tmp=$scratch/$suite
    mkdir -m 755 "$tmp"
    suite_cmd "$suite" "$tmp"
    tap=$logs/$suite.tap err=$logs/$suite.stderr
    echo "# suite: $suite"
    start=$SECONDS
    set +e
    TMPDIR=$tmp "${cmd[@]}" 2>"$err" </dev/null | tee "$tap"
    status=${PIPESTATUS[0]}
    set -e
    p=$(count '^ok ' "$tap")
    s=$(count '^ok .*# SKIP' "$tap")
    f=$(count '^not ok ' "$tap")
    if ((status != 0 && f == 0)); then
        echo "not ok - $suite: exited with status $status"
        f=1
    fi
    if ((f)) && [[ -s $err ]]; then
        echo "# --- $suite: the end of what it wrote on stderr (all of it: $err)"
        tail -n 60 "$err" | sed 's/^/# /'
    fi
    # pytest's own temporary folders (tmp_path) are pytest's to remove.
    rm -rf "$tmp/pytest"
    mapfile -t left < <(cd "$tmp" && find . -mindepth 1 -maxdepth 2 -printf '%P\n' | sort | head -n 20)
    if ((${#left[@]})); then
        echo "not ok - $suite: leaves nothing in TMPDIR"
        printf '# left: %s\n' "${left[@]}"
        f=$((f + 1))
    else
        echo "ok - $suite: leaves nothing in TMPDIR"
        p=$((p + 1))
    fi
    rm -rf "$tmp"
    LC_ALL=C grep -aE '^ok .*# SKIP' "$tap" >>"$scratch/skips" || true
    passed=$((passed + p - s))
    skipped=$((skipped + s))
    failed=$((failed + f))
    echo "# $suite: $((p - s)) passed, $f failed, $s skipped in $((SECONDS - start)) s"
done

if [[ ${CI:-} == true || ${STRICT_SKIPS:-} == 1 ]] && [[ -s $scratch/skips ]]; then
    while IFS= read -r line; do
        reason=${line#*# SKIP }
        ok=0
        for re in "${allowed_skips[@]}"; do
            [[ $reason =~ ^($re)$ ]] && ok=1
        done
        if ((!ok)); then
            echo "not ok - no test may SKIP under CI unless it needs root as a normal user: ${line#ok - }"
            failed=$((failed + 1))
        fi
    done <"$scratch/skips"
fi

if ((skipped)); then
    echo "# $skipped skipped (listed above as SKIP)"
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
((failed == 0))
