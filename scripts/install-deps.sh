#!/usr/bin/env bash
# Installs the Debian packages a make target needs, only those missing.
#
#   install-deps.sh run|test|bench|image   install what TARGET needs (as root)
#   install-deps.sh check build            only say what the build lacks
#
# As root it runs apt-get, one line per step on stderr; apt's own output goes
# to a log file that is shown only when apt fails. As another user it prints
# the exact apt-get command for root and fails. The test packages are
# everything the suites use (strace for the fault injection, chromium for the
# browser suite, mandoc for the man page...): as root, no test says SKIP.
set -euo pipefail

build_pkgs=(gcc make libc6-dev libfcgi-dev libiniparser-dev libcurl4-openssl-dev)
run_pkgs=("${build_pkgs[@]}" nginx-light tzdata)
# prometheus: test_metrics.py runs its own; on a machine with systemd the
# package also enables and starts Debian's prometheus service on :9090
# (`systemctl disable --now prometheus` stops it for good).
test_pkgs=(libcmocka-dev python3 python3-pytest curl cppcheck clang-format shellcheck yamllint unzip procps
    prometheus clang-14 libclang-rt-14-dev strace mandoc util-linux git chromium python3-websocket
    python3-pyflakes dnsmasq-base)
bench_pkgs=(wrk apache2-utils curl)
# catatonit: `podman kube play` (the chart's pod spec in the image suite)
# builds its pod's pause image from it; podman only recommends it.
image_pkgs=(podman buildah runc debootstrap uidmap slirp4netns curl golang-github-containernetworking-plugin-dnsname
    catatonit)

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
case $target in
build) want=("${build_pkgs[@]}") ;;
run) want=("${run_pkgs[@]}") ;;
test) want=("${run_pkgs[@]}" "${test_pkgs[@]}") ;;
bench) want=("${run_pkgs[@]}" "${bench_pkgs[@]}") ;;
image) want=("${image_pkgs[@]}") ;;
*) usage ;;
esac
# The chart checks need node and npm (so does the image suite, which renders
# the chart with the same pinned helm); any version from any source will do.
if [[ $target == test || $target == image ]] && ! command -v npm >/dev/null; then
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
if ((${#need[@]} == 0)); then
    exit 0
fi

say() { echo "deps: $*" >&2; }

# What to do, for a user who cannot install (not root, or `make` alone).
hint() {
    local cmd="apt-get update && apt-get install -y --no-install-recommends"
    say "missing Debian packages: ${need[*]}"
    if ((check_only)); then
        say "install them with: make deps (as root)"
        say "or, as root: $cmd ${need[*]}"
    else
        say "install them as root (e.g. in \`su -\`), then run make again:"
        echo "    $cmd ${need[*]}" >&2
    fi
}

if ((check_only)); then
    hint
    exit 1
fi
if [[ $(id -u) != 0 ]]; then
    hint
    exit 1
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

if ! install "${#need[@]} packages" "${need[@]}"; then
    show_log
    exit 1
fi
# Debian starts the services of packages it installs where systemd runs;
# moscow-time runs its own nginx (and the tests their own prometheus).
if [[ -d /run/systemd/system ]]; then
    for p in "${need[@]}"; do
        case $p in
        nginx-light) say "note: Debian's own nginx service now listens on :80; moscow-time does not use it (systemctl disable --now nginx)" ;;
        prometheus) say "note: Debian's prometheus service now listens on :9090; the tests run their own (systemctl disable --now prometheus)" ;;
        esac
    done
fi
say "done"
rm -f "$log"
