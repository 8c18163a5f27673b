#!/usr/bin/env bash
# Builds the container image from the Dockerfile, with docker when an engine
# answers, else with podman.
#
#   image.sh build          builds localhost/moscow-time:VERSION (docker: also moscow-time:VERSION),
#                           the Helm chart's default image
#   image.sh env            prints the podman settings as shell exports:
#                           eval "$(scripts/image.sh env)" && podman images
#   image.sh podman ARGS... runs podman with those settings (run, save, rmi, ...)
#
# podman keeps its storage and configuration in a scratch folder, never in
# /var/lib/containers: IMAGE_SCRATCH (default .tools/podman in the repository).
# Its containers.conf works around two quirks of the build machines: crun
# fails there ("cgroups in hybrid mode not supported"), so runc with cgroupfs;
# podman's default ulimits are refused, so the host's hard limits.
#
# Where the base image (BASE, default debian:bookworm-slim) cannot be pulled,
# as on machines with no registry, scripts/build-base-image.sh makes one from
# the Debian mirror with debootstrap; it is kept as moscow-time-base:bookworm
# and rebuilt when older than BASE_MAX_AGE_DAYS (7), for security updates.
#
# It prints one line per step; the engine's own output (apt, the compiler, the
# unit tests) goes to build/image-build.log, whose end is shown when a step
# fails. The build stage's image, which a podman build leaves untagged, is
# removed (the project's own podman storage keeps no dangling image). The
# commit in the labels is the Makefile's (`make print-commit`): 12 hex
# digits, -dirty for uncommitted changes, as in a local build.
#
# Environment: IMAGE_ENGINE=docker|podman forces the engine; BASE names the
# base image (then nothing is pulled or made); IMAGE_IIDFILE receives the ID of
# the image built.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
version=$(cat "$top/fcgi-app/VERSION")
scratch=${IMAGE_SCRATCH:-$top/.tools/podman}
log=$top/build/image-build.log

say() { echo "image: $*" >&2; }

# step WHAT COMMAND...: one line, the command's output appended to the log,
# and the log's end shown if it fails.
step() {
    local what=$1
    shift
    say "$what"
    {
        echo "=== $what: $*"
    } >>"$log"
    if ! "$@" >>"$log" 2>&1; then
        say "failed: $what; the end of its output (all of it: $log):"
        tail -n 60 "$log" | sed 's/^/    /' >&2
        exit 1
    fi
}

# Writes the podman configuration into the scratch folder and exports it.
podman_env() {
    mkdir -p "$scratch"
    scratch=$(cd "$scratch" && pwd)
    local nofile nproc
    nofile=$(ulimit -Hn)
    nproc=$(ulimit -Hu)
    [[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
    local new=$scratch/.new.$$
    cat >"$new.storage" <<EOF
[storage]
driver = "overlay"
graphroot = "$scratch/storage"
runroot = "$scratch/run"
EOF
    cat >"$new.containers" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[network]
network_config_dir = "$scratch/networks"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$scratch/tmp"
EOF
    # Replaced, not rewritten in place: a podman running at the same time
    # never reads half a file.
    mv "$new.storage" "$scratch/storage.conf"
    mv "$new.containers" "$scratch/containers.conf"
    export CONTAINERS_STORAGE_CONF=$scratch/storage.conf
    export CONTAINERS_CONF=$scratch/containers.conf
}

# podman import and build write a blob cache to /var/lib/containers/cache
# whatever the storage settings. It is only a cache: removed when nothing else
# is there, i.e. when nobody uses podman's default storage on this machine.
tidy_system_cache() {
    local d=/var/lib/containers
    [[ -d $d/cache ]] || return 0
    [[ -z $(find "$d" -mindepth 1 -not -path "$d/cache" -not -path "$d/cache/*" -print -quit) ]] || return 0
    [[ -z $(find "$d/cache" -mindepth 1 -not -name blob-info-cache-v1.boltdb -print -quit) ]] || return 0
    rm -rf "$d"
}

pick_engine() {
    if [[ -n ${IMAGE_ENGINE:-} ]]; then
        echo "$IMAGE_ENGINE"
    elif command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; then
        echo docker
    else
        echo podman
    fi
}

# Seconds since the image was created; fails when there is no such image.
image_age() {
    local created
    created=$("$engine" image inspect -f '{{.Created}}' "$1" 2>/dev/null) || return 1
    # podman: "2026-11-25 04:50:00.1 +0000 UTC"; docker: "2026-11-25T04:50:00.1Z"
    echo $(($(date +%s) - $(date -u -d "${created:0:10} ${created:11:8}" +%s)))
}

# The base image to build from: BASE if given; else the official image if it is
# here or can be pulled; else one made with debootstrap.
pick_base() {
    if [[ -n ${BASE:-} ]]; then
        echo "$BASE"
        return
    fi
    local official=docker.io/library/debian:bookworm-slim
    local local_base=moscow-time-base:bookworm age
    [[ $engine == podman ]] && local_base=localhost/$local_base
    if age=$(image_age "$local_base") && ((age < ${BASE_MAX_AGE_DAYS:-7} * 86400)); then
        echo "$local_base"
        return
    fi
    if "$engine" image inspect "$official" >/dev/null 2>&1 ||
        timeout 60 "$engine" pull -q "$official" >/dev/null 2>&1; then
        echo "$official"
        return
    fi
    local tar
    tar=$(mktemp "${TMPDIR:-/tmp}/moscow-time-base.XXXXXX")
    # shellcheck disable=SC2064 # expand now: tar is local
    trap "rm -f '$tar'" EXIT
    step "$official cannot be pulled: making $local_base with debootstrap (about a minute)" \
        "$here/build-base-image.sh" "$tar"
    step "importing $local_base" "$engine" import --change 'CMD ["bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        "$tar" "$local_base"
    rm -f "$tar"
    trap - EXIT
    echo "$local_base"
}

build() {
    local base name=moscow-time:$version revision
    [[ $engine == podman ]] && name=localhost/$name
    base=$(pick_base)
    revision=$(make -s -C "$top" --no-print-directory print-commit)
    local args=(--build-arg "BASE=$base" --build-arg "VERSION=$version"
        --build-arg "REVISION=$revision" -t "$name" -f "$top/Dockerfile")
    # The source label: the repository's public address, when origin has one.
    local source
    source=$(git -C "$top" remote get-url origin 2>/dev/null || true)
    [[ $source == https://* ]] && args+=(--build-arg "SOURCE=${source%.git}")
    [[ -n ${IMAGE_IIDFILE:-} ]] && args+=(--iidfile "$IMAGE_IIDFILE")
    if [[ $engine == podman ]]; then
        args+=(--pull=never --layers)
    fi
    step "building $name from $base with $engine (commit $revision; a few minutes the first time)" \
        "$engine" build "${args[@]}" "$top"
    if [[ $engine == podman ]]; then
        # The build stage, untagged once the final image has its name.
        step "removing the untagged build-stage image" podman image prune -f
    else
        # The name the Helm chart runs by default and the one podman gives: with
        # docker, "moscow-time:1.0.0" would be docker.io/library/moscow-time on a
        # node, which no registry serves.
        step "tagging localhost/$name" "$engine" tag "$name" "localhost/$name"
    fi
    say "built $name ($("$engine" image inspect -f '{{.Size}}' "$name") bytes; log: $log)"
}

case ${1:-} in
build)
    mkdir -p "$top/build"
    : >"$log"
    engine=$(pick_engine)
    if [[ $engine == podman ]]; then
        podman_env
        trap tidy_system_cache EXIT
    fi
    build
    ;;
env)
    podman_env
    printf 'export CONTAINERS_STORAGE_CONF=%q CONTAINERS_CONF=%q\n' \
        "$CONTAINERS_STORAGE_CONF" "$CONTAINERS_CONF"
    ;;
podman)
    shift
    podman_env
    exec podman "$@"
    ;;
*)
    echo "usage: image.sh build | env | podman ARGS..." >&2
    exit 64
    ;;
esac
