#!/usr/bin/env bash
# The libFuzzer harnesses as a test suite (TAP lines: "ok - fuzz: NAME ...").
#
#   tests/fuzz/run.sh [NAME...]      every harness, or these
#
# A harness is a directory tests/fuzz/NAME/ with fuzz.c (make builds it as
# build/fuzz/NAME), corpus/ (committed seed inputs), and optionally dict (a
# libFuzzer dictionary) and flags (more libFuzzer flags, one per line). Each
# runs FUZZ_SECONDS (default 12), one at a time under nice, and fails on any
# crash, sanitizer report, leak, timeout (one input over FUZZ_TIMEOUT s) or
# slow unit (one input over FUZZ_SLOW s). New inputs collect in
# build/fuzz/corpus/NAME and are kept across runs; a failing input is left in
# build/fuzz/artifacts/NAME/, and the failure says how to replay it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
seconds=${FUZZ_SECONDS:-12}
timeout=${FUZZ_TIMEOUT:-10}
slow=${FUZZ_SLOW:-5}

if (($#)); then
    names=("$@")
else
    names=()
    for f in tests/fuzz/*/fuzz.c; do
        names+=("$(basename "$(dirname "$f")")")
    done
fi

log=$(mktemp)
# The harnesses' own files (a counter, a config.ini) go to memory when it can:
# fsync there costs nothing, so the fuzzers spend their time on parsing.
scratch=$(mktemp -d "$( [[ -w /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/mt-fuzz.XXXXXX")
trap 'rm -rf "$log" "$scratch"' EXIT

if ! make -s "${names[@]/#/build/fuzz/}" >"$log" 2>&1; then
    echo "not ok - fuzz: the harnesses build (clang-14, libclang-rt-14-dev)"
    sed 's/^/# /' "$log" | tail -n 40
    exit 1
fi

# "ok" or the reason this run failed, from libFuzzer's exit status, output and artifacts.
verdict() {
    local status=$1 artifacts=$2
    local found
    found=$(find "$artifacts" -type f | head -n 1)
    if [[ -n $found ]]; then
        echo "left $found"
    elif grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|Slowest unit:' "$log"; then
        echo "sanitizer or libFuzzer report"
    elif ((status != 0)); then
        echo "exit status $status"
    else
        echo ok
    fi
}

failed=0
for name in "${names[@]}"; do
    dir=tests/fuzz/$name
    corpus=build/fuzz/corpus/$name
    artifacts=build/fuzz/artifacts/$name
    rm -rf "$artifacts"
    mkdir -p "$corpus" "$artifacts"
    flags=(-max_total_time="$seconds" -timeout="$timeout" -report_slow_units="$slow"
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/")
    [[ -f $dir/dict ]] && flags+=(-dict="$dir/dict")
    if [[ -f $dir/flags ]]; then
        mapfile -t more < <(grep -v '^#' "$dir/flags")
        flags+=("${more[@]}")
    fi
    status=0
    env TMPDIR="$scratch" ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        nice -n "${FUZZ_NICE:-10}" "build/fuzz/$name" "${flags[@]}" "$corpus" "$dir/corpus" \
        >"$log" 2>&1 || status=$?
    result=$(verdict "$status" "$artifacts")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
    if [[ $result == ok ]]; then
        echo "ok - fuzz: $name: ${runs:-?} inputs in $seconds s, coverage ${cov:-?}, no finding"
    else
        failed=1
        echo "not ok - fuzz: $name: $result"
        grep -vE '^(#[0-9]+|INFO:)' "$log" | head -n 40 | sed 's/^/# /'
        echo "# replay: build/fuzz/$name $artifacts/<file>; then add the input as a unit test"
    fi
done
exit "$failed"
