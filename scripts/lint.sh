#!/usr/bin/env bash
# Static checks as a test suite (TAP lines): clang-format, cppcheck, shellcheck,
# pyflakes, the man page (mandoc -T lint). (The ASan/UBSan build is scripts/test.sh's
# "build" step; the docs' links and key tables: tests/integration/test_docs.py.)
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
out=$(mktemp)
trap 'rm -f "$out"' EXIT

check() {
    local name=$1
    shift
    if "$@" >"$out" 2>&1; then
        echo "ok - $name"
    else
        echo "not ok - $name"
        sed 's/^/# /' "$out" | head -n 40
    fi
}

mapfile -t c_files < <(git ls-files -co --exclude-standard -- 'fcgi-app/*.[ch]' 'tests/*.[ch]')
mapfile -t sh_files < <(git ls-files -co --exclude-standard -- '*.sh' .ci/run)
mapfile -t py_files < <(git ls-files -co --exclude-standard -- '*.py')

check "clang-format: C sources match .clang-format" clang-format --dry-run --Werror "${c_files[@]}"
check "cppcheck: no findings in fcgi-app/src" \
    cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,style,performance,portability \
    --inline-suppr --suppress=missingIncludeSystem -I fcgi-app/src fcgi-app/src
check "shellcheck: every shell script" shellcheck -x "${sh_files[@]}"
check "layers: the responder's includes point down (README's module table)" \
    python3 scripts/check-layers.py
check "layers: the check names each kind of break in a tree made to break it" \
    python3 scripts/check-layers.py --self-test
check "pyflakes: every Python file" /usr/bin/python3 -m pyflakes "${py_files[@]}"
check "mandoc -T lint: docs/moscow-time.8" mandoc -T lint -W warning docs/moscow-time.8
