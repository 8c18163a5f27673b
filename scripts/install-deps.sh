#!/usr/bin/env bash
# Installs the Debian packages a make target needs, only those missing.
#
#   install-deps.sh run|test|bench|image
#
# As root it runs apt-get; otherwise it prints the exact command to run and
# fails. Optional packages (chromium for the browser test) are tried, and
# their tests say SKIP when they could not be installed.
set -euo pipefail

run_pkgs=(gcc make libc6-dev libfcgi-dev libiniparser-dev libcurl4-openssl-dev nginx-light tzdata)
test_pkgs=(libcmocka-dev python3 python3-pytest curl cppcheck clang-format shellcheck yamllint unzip procps prometheus
    clang-14 libclang-rt-14-dev)
bench_pkgs=(wrk apache2-utils curl)
image_pkgs=(podman buildah runc debootstrap uidmap slirp4netns curl golang-github-containernetworking-plugin-dnsname)
optional_test_pkgs=(chromium python3-websocket)

case ${1:-run} in
run) want=("${run_pkgs[@]}") optional=() ;;
test) want=("${run_pkgs[@]}" "${test_pkgs[@]}") optional=("${optional_test_pkgs[@]}") ;;
bench) want=("${run_pkgs[@]}" "${bench_pkgs[@]}") optional=() ;;
image) want=("${image_pkgs[@]}") optional=() ;;
*)
    echo "usage: install-deps.sh run|test|bench|image" >&2
    exit 64
    ;;
esac
# The chart checks need node and npm; any version from any source will do.
if [[ ${1:-} == test ]] && ! command -v npm >/dev/null; then
    want+=(nodejs npm)
fi

missing() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            printf '%s\n' "$p"
    done
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    # Another apt run (a second session, unattended upgrades) may hold the lock.
    local wait=(-o DPkg::Lock::Timeout=300)
    # Fresh machines and containers often have no package lists yet.
    if ! apt-get "${wait[@]}" install -y -q --no-install-recommends "$@" </dev/null; then
        apt-get "${wait[@]}" update -q </dev/null
        apt-get "${wait[@]}" install -y -q --no-install-recommends "$@" </dev/null
    fi
}

mapfile -t need < <(missing "${want[@]}")
mapfile -t maybe < <(missing "${optional[@]}")
if ((${#need[@]} + ${#maybe[@]} == 0)); then
    exit 0
fi
if [[ $(id -u) != 0 ]]; then
    if ((${#need[@]})); then
        echo "missing Debian packages; install them with:" >&2
        echo "  sudo apt-get install -y --no-install-recommends ${need[*]} ${maybe[*]}" >&2
        exit 1
    fi
    echo "note: optional packages missing (their tests will be skipped): ${maybe[*]}" >&2
    exit 0
fi
if ((${#need[@]})); then
    echo "installing: ${need[*]}" >&2
    apt_install "${need[@]}"
fi
if ((${#maybe[@]})); then
    echo "installing (optional): ${maybe[*]}" >&2
    apt_install "${maybe[@]}" || echo "note: could not install ${maybe[*]}; their tests will be skipped" >&2
fi
