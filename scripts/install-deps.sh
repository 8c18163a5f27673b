#!/usr/bin/env bash
# Installs the Debian packages a make target needs, only those missing.
#
#   install-deps.sh run|test|bench|image   install what TARGET needs (as root)
#   install-deps.sh check build            only say what the build lacks
#
# As root it runs apt-get, one line per step on stderr; apt's own output goes
# to a log file that is shown only when apt fails. As another user it prints
# the exact apt-get command for root and fails. Optional packages (chromium
# for the browser test) are tried; their tests say SKIP when they are absent.
set -euo pipefail

build_pkgs=(gcc make libc6-dev libfcgi-dev libiniparser-dev libcurl4-openssl-dev)
run_pkgs=("${build_pkgs[@]}" nginx-light tzdata)
test_pkgs=(libcmocka-dev python3 python3-pytest curl cppcheck clang-format shellcheck yamllint unzip procps
    prometheus clang-14 libclang-rt-14-dev dnsmasq-base)
bench_pkgs=(wrk apache2-utils curl)
image_pkgs=(podman buildah runc debootstrap uidmap slirp4netns curl golang-github-containernetworking-plugin-dnsname)
optional_test_pkgs=(chromium python3-websocket)

usage() {
    echo "usage: install-deps.sh run|test|bench|image | check build" >&2
    exit 64
}

check_only=0
if [[ ${1:-} == check ]]; then
    check_only=1
    shift
    [[ ${1:-} == build ]] || usage
fi
target=${1:-run}
optional=()
case $target in
build) want=("${build_pkgs[@]}") ;;
run) want=("${run_pkgs[@]}") ;;
test) want=("${run_pkgs[@]}" "${test_pkgs[@]}") optional=("${optional_test_pkgs[@]}") ;;
bench) want=("${run_pkgs[@]}" "${bench_pkgs[@]}") ;;
image) want=("${image_pkgs[@]}") ;;
*) usage ;;
esac
# The chart checks need node and npm; any version from any source will do.
if [[ $target == test ]] && ! command -v npm >/dev/null; then
    want+=(nodejs npm)
fi

# Not Debian (no dpkg): nothing to check; the build says what it lacks.
command -v dpkg-query >/dev/null || exit 0

missing() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            printf '%s\n' "$p"
    done
}

mapfile -t need < <(missing "${want[@]}")
mapfile -t maybe < <(missing "${optional[@]}")
if ((${#need[@]} + ${#maybe[@]} == 0)); then
    exit 0
fi

say() { echo "deps: $*" >&2; }

# What to do, for a user who cannot install (not root, or `make` alone).
hint() {
    local cmd="apt-get update && apt-get install -y --no-install-recommends"
    if ((${#need[@]})); then
        say "missing Debian packages: ${need[*]}"
        if ((check_only)); then
            say "install them with: make deps (as root)"
            say "or, as root: $cmd ${need[*]}"
        else
            say "install them as root (e.g. in \`su -\`), then run make again:"
            echo "    $cmd ${need[*]}" >&2
        fi
    fi
    if ((${#maybe[@]})); then
        say "optional, for the browser test (it says SKIP without them): ${maybe[*]}"
        ((check_only)) || echo "    $cmd ${maybe[*]}" >&2
    fi
}

if ((check_only)); then
    hint
    exit 1
fi
if [[ $(id -u) != 0 ]]; then
    hint
    if ((${#need[@]})); then
        exit 1
    fi
    exit 0 # only optional ones are missing: carry on
fi

log=$(mktemp "${TMPDIR:-/tmp}/moscow-time-apt.XXXXXX.log")
apt() {
    # Another apt run (a second session, unattended upgrades) may hold the lock.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q "$@" </dev/null >>"$log" 2>&1
}
updated=0
# install WHAT PACKAGE...: one line, apt's output in the log.
install() {
    local what=$1
    shift
    say "installing $what: $*"
    apt install -y --no-install-recommends "$@" && return 0
    if ((updated == 0)); then
        # Fresh machines and containers often have no package lists yet.
        say "updating the package lists (apt-get update)"
        updated=1
        apt update && apt install -y --no-install-recommends "$@" && return 0
    fi
    return 1
}
show_log() {
    say "apt-get failed; the end of its output (all of it: $log):"
    tail -n 40 "$log" | sed 's/^/    /' >&2
}

if ((${#need[@]})); then
    if ! install "${#need[@]} packages" "${need[@]}"; then
        show_log
        exit 1
    fi
fi
if ((${#maybe[@]})); then
    if ! install "optional" "${maybe[@]}"; then
        show_log
        say "carrying on without ${maybe[*]}: their tests will say SKIP"
        exit 0
    fi
fi
say "done"
rm -f "$log"
