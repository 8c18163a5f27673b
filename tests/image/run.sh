#!/usr/bin/env bash
# The container image suite (`make test-image`): builds the image from the
# Dockerfile with scripts/image.sh and runs it with podman, on free loopback
# ports, the way docker users and the Helm chart run it.
#
# One line per check: "ok - NAME", or "not ok - NAME" followed by "# " lines,
# or "ok - NAME # SKIP why" (never a pass). Exits non-zero if a check failed.
# Where podman cannot run containers at all, it says so in one SKIP line and
# exits 0. Every container, volume and temporary file it makes carries this
# run's random name and is removed at the end, also on failure.
#
# Single quotes keep many $ here for the shell, awk or Go template in the
# container, hence SC2016 off for the file.
# shellcheck disable=SC2016
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$top"

version=$(cat fcgi-app/VERSION)
run_id=mt-test-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$run_id.XXXXXX")
failed=0

if ! command -v podman >/dev/null; then
    echo "ok - image suite # SKIP podman is not installed (scripts/install-deps.sh image)"
    rm -rf "$tmp"
    exit 0
fi
# Never podman's default storage: stop here if the settings cannot be had.
podman_settings=$(scripts/image.sh env)
eval "$podman_settings"

# --- reporting ---------------------------------------------------------------

# check NAME FUNCTION [ARGS...]: runs FUNCTION in a subshell with errexit, so
# that any failing command fails the check; its output becomes "# " lines.
# Lines it writes with note() follow an "ok" too; skip WHY ends it as a SKIP.
check() {
    local name=$1 status
    shift
    : >"$tmp/notes"
    rm -f "$tmp/skip"
    set +e
    # set -e again inside: the subshell would inherit the set +e above.
    (
        set -e
        "$@"
    ) >"$tmp/out" 2>&1
    status=$?
    set -e
    if ((status == 0)) && [[ -f $tmp/skip ]]; then
        echo "ok - $name # SKIP $(cat "$tmp/skip")"
    elif ((status == 0)); then
        echo "ok - $name"
        sed 's/^/# /' "$tmp/notes"
    else
        echo "not ok - $name"
        failed=$((failed + 1))
        sed 's/^/# /' "$tmp/out" | tail -n 40
    fi
}
note() { echo "$*" >>"$tmp/notes"; }
skip() {
    echo "$*" >"$tmp/skip"
    exit 0
}
fail() {
    echo "$*" >&2
    exit 1
}
# expect WHAT ACTUAL EXPECTED
expect() {
    [[ $2 == "$3" ]] || fail "$1: expected '$3', got '$2'"
}

# --- helpers -----------------------------------------------------------------

# Every container of this run is named $run_id-SOMETHING; its ID is recorded
# for the leftover check.
run() {
    local id
    id=$(podman run -d "$@")
    echo "$id" >>"$tmp/containers"
    echo "$id"
}
# The read-only way the README tells docker users to run the image. docker
# mounts an empty tmpfs over /run, podman one with a copy of the image's /run
# (tmpcopyup); TMPFS_RUN=/run:notmpcopyup has podman do as docker does.
run_readonly() {
    local name=$1 volume=$2
    shift 2
    run --name "$run_id-$name" --read-only --read-only-tmpfs=false --tmpfs /tmp --tmpfs "${TMPFS_RUN:-/run}" \
        -v "$volume:/data" -p 127.0.0.1::8080 "$@" "$image" >/dev/null
}
port_of() { podman port "$run_id-$1" 8080 | sed -n '1s/.*://p'; }
# nginx's metrics server (9113): /metrics and the cluster's detail, never on 8080.
metrics_port_of() { podman port "$run_id-$1" 9113 | sed -n '1s/.*://p'; }
volume_file() { cat "$(podman volume inspect -f '{{.Mountpoint}}' "$run_id-$1")/visits"; }

# get PORT PATH: the body on stdout; fails unless the status is 200.
get() {
    local code
    code=$(curl -sS --max-time 5 -o "$tmp/body" -w '%{http_code}' "http://127.0.0.1:$1$2") ||
        fail "GET $2 on port $1: no answer"
    [[ $code == 200 ]] || fail "GET $2 on port $1: status $code: $(head -c 300 "$tmp/body")"
    cat "$tmp/body"
}
# Waits up to 10 s for /readyz to answer 200 on the container's port.
wait_ready() {
    local port i
    for i in $(seq 100); do
        port=$(port_of "$1" 2>/dev/null) || true
        if [[ -n $port ]] && curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:$port/readyz"; then
            return 0
        fi
        sleep 0.1
    done
    podman logs "$run_id-$1" 2>&1 | tail -n 20
    fail "$1: not ready after 10 s"
}
# visit NAME N: N visits of / on the container; prints the last count shown.
visit() {
    local port i body
    port=$(port_of "$1")
    for i in $(seq "$2"); do
        body=$(get "$port" /)
    done
    sed -n 's/.*<span id="visits">\([0-9]*\)<.*/\1/p' <<<"$body"
}
# PIDs of the processes named NAME (/proc/PID/status) in the container.
pids_of() {
    podman exec "$run_id-$1" bash -c \
        'for f in /proc/[0-9]*/status; do read -r _ n <"$f"; [[ $n == "$0" ]] && echo "${f:6:-7}"; done; true' "$2"
}
# Waits up to $2 s for the container to exit; prints its exit code.
wait_exit() {
    local i
    for i in $(seq $(($2 * 10))); do
        if [[ $(podman inspect -f '{{.State.Status}}' "$run_id-$1") == exited ]]; then
            podman inspect -f '{{.State.ExitCode}}' "$run_id-$1"
            return 0
        fi
        sleep 0.1
    done
    fail "$1 still running after $2 s"
}
# log_has NAME TEXT: the container's log has TEXT (conmon may still be
# writing the last lines when the container is seen to exit: up to 2 s).
log_has() {
    local i log
    for i in $(seq 20); do
        log=$(podman logs "$run_id-$1" 2>&1)
        [[ $log == *"$2"* ]] && return 0
        sleep 0.1
    done
    tail -n 10 <<<"$log"
    fail "no '$2' in the log of $1"
}
# Milliseconds since the epoch.
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# in_image COMMAND...: runs a command in a throwaway container of the image.
in_image() {
    podman run --rm --name "$run_id-x$RANDOM$RANDOM" --network none --read-only \
        --read-only-tmpfs=false "$image" "$@"
}

cleanup() {
    local ids
    mapfile -t ids < <(podman pod ls -q --filter "name=^$run_id-" 2>/dev/null)
    ((${#ids[@]} == 0)) || podman pod rm -f -t 0 "${ids[@]}" >/dev/null 2>&1 || true
    # The name only (untag with no name would drop every name of the image).
    [[ -z ${image:-} ]] || podman untag "$image" "localhost/$run_id:kube" >/dev/null 2>&1 || true
    mapfile -t ids < <(podman ps -aq --filter "name=^$run_id-" 2>/dev/null)
    ((${#ids[@]} == 0)) || podman rm -f -v -t 0 "${ids[@]}" >/dev/null 2>&1 || true
    mapfile -t ids < <(podman volume ls -q --filter "name=^$run_id-" 2>/dev/null)
    ((${#ids[@]} == 0)) || podman volume rm -f "${ids[@]}" >/dev/null 2>&1 || true
    mapfile -t ids < <(podman network ls -q --filter "name=^$run_id-" 2>/dev/null)
    ((${#ids[@]} == 0)) || podman network rm -f "${ids[@]}" >/dev/null 2>&1 || true
}
trap 'cleanup; rm -rf "$tmp"' EXIT

# --- can podman run containers here? ------------------------------------------

# A root file system of the host's /usr/bin/true and its libraries: it needs
# no image, no registry and no build.
probe_podman() {
    local libs
    libs=$(ldd /usr/bin/true | grep -o '/[^ ]*' | sed 's|^/||')
    mkdir "$tmp/probe"
    # shellcheck disable=SC2086 # one path per word
    tar -C / -ch usr/bin/true $libs | tar -C "$tmp/probe" -x
    podman run --rm --network none --name "$run_id-probe" --rootfs "$tmp/probe" /usr/bin/true
}
if ! probe_podman >"$tmp/probe.log" 2>&1; then
    echo "ok - image suite # SKIP podman cannot run containers on this machine: $(tail -n1 "$tmp/probe.log")"
    exit 0
fi

# --- the image -----------------------------------------------------------------

start=$(now_ms)
if ! IMAGE_IIDFILE=$tmp/iid IMAGE_ENGINE=podman scripts/image.sh build >"$tmp/build.log" 2>&1; then
    echo "not ok - image builds (scripts/image.sh build)"
    sed 's/^/# /' "$tmp/build.log" | tail -n 40
    exit 1
fi
# Used by ID: a build from another checkout may retag the name meanwhile.
image=$(cat "$tmp/iid")
echo "ok - image builds (scripts/image.sh build)"
echo "# $((($(now_ms) - start) / 1000)) s, image ${image:0:12} (localhost/moscow-time:$version)"

t_size() {
    local size
    size=$(podman image inspect -f '{{.Size}}' "$image")
    ((size <= 100000000)) || fail "image is $size bytes, more than 100 MB"
    note "$size bytes ($((size / 1000000)) MB)"
}
check "image is at most 100 MB" t_size

t_metadata() {
    f() { podman image inspect -f "$1" "$image"; }
    expect user "$(f '{{.Config.User}}')" 10001:10001
    expect "exposed ports" "$(f '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}')" "8080/tcp "
    expect volumes "$(f '{{range $v, $_ := .Config.Volumes}}{{$v}} {{end}}')" "/data "
    expect command "$(f '{{json .Config.Cmd}}')" \
        '["moscow-time-serve","/etc/moscow-time/config.ini","/run/moscow-time"]'
    local entrypoint
    entrypoint=$(f '{{json .Config.Entrypoint}}')
    [[ $entrypoint == null || $entrypoint == "[]" ]] || fail "entrypoint $entrypoint is set"
    expect "version label" "$(f '{{index .Config.Labels "org.opencontainers.image.version"}}')" "$version"
    local label
    for label in source licenses revision title; do
        [[ -n $(f "{{index .Config.Labels \"org.opencontainers.image.$label\"}}") ]] ||
            fail "label org.opencontainers.image.$label is missing"
    done
    expect "responder version" "$(in_image moscow-time --version)" "moscow-time $version"
}
check "metadata: user 10001:10001, port 8080, volume /data, default command, OCI labels" t_metadata

t_layout() {
    local out
    out=$(in_image stat -c '%n %u:%g %A' /run /usr/local/bin/moscow-time /usr/local/bin/moscow-time-serve \
        /usr/local/bin/moscow-time-nginx /etc/moscow-time/config.ini /etc/moscow-time/nginx.conf \
        /etc/moscow-time/listen.conf /data /run/moscow-time /run/moscow-time/sock /run/moscow-time/nginx)
    expect "owners and modes" "$out" "$(
        cat <<'EOF'
/run 0:0 drwxrwxrwt
/usr/local/bin/moscow-time 0:0 -rwxr-xr-x
/usr/local/bin/moscow-time-serve 0:0 -rwxr-xr-x
/usr/local/bin/moscow-time-nginx 0:0 -rwxr-xr-x
/etc/moscow-time/config.ini 0:0 -rw-r--r--
/etc/moscow-time/nginx.conf 0:0 -rw-r--r--
/etc/moscow-time/listen.conf 0:0 -rw-r--r--
/data 10001:0 drwxrwxr-x
/run/moscow-time 10001:0 drwxrwxr-x
/run/moscow-time/sock 10001:0 drwxrwxr-x
/run/moscow-time/nginx 10001:0 drwxrwxr-x
EOF
    )"
    in_image cat /etc/moscow-time/config.ini | cmp - fcgi-app/config.ini
    in_image cat /etc/moscow-time/nginx.conf | cmp - nginx-conf/nginx.conf
    in_image cat /etc/moscow-time/listen.conf | cmp - nginx-conf/listen.conf
    in_image cat /usr/local/bin/moscow-time-serve | cmp - scripts/serve.sh
    in_image cat /usr/local/bin/moscow-time-nginx | cmp - scripts/start-nginx.sh
    expect "config check" "$(in_image moscow-time --check-config /etc/moscow-time/config.ini)" \
        "/etc/moscow-time/config.ini: ok"
}
check "layout: the binaries, the repository's config files, writable folders owned by 10001 and group 0, group-writable" t_layout

# The image keeps Debian's shell and coreutils: the run scripts are bash, the
# chart's preStop runs sleep, and kubectl exec works. It has no compiler.
t_tools() {
    local found
    in_image bash -c 'command -v bash env sleep sh nginx' >/dev/null ||
        fail "bash, env, sleep, sh or nginx is missing"
    in_image sleep 0
    found=$(in_image bash -c 'for c in gcc cc c89 c99 c++ g++ cpp clang tcc as ld make; do
        command -v "$c"; done; true')
    [[ -z $found ]] || fail "build tools in the image: $found"
    found=$(in_image dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' |
        awk '$1 == "ii" && $2 ~ /^(gcc(-[0-9]+)?|cpp(-[0-9]+)?|binutils.*|make|.*-dev)(:.*)?$/ { print $2 }')
    [[ -z $found ]] || fail "build packages in the image: $found"
    found=$(podman run --rm --name "$run_id-find" --network none --user 0 "$image" \
        find / -xdev -type f -perm /6000)
    [[ -z $found ]] || fail "set-uid/set-gid files: $found"
}
check "no compiler or build packages; bash, env, sleep present; no set-uid files" t_tools

# --- the default command: docker run --read-only ... IMAGE --------------------

t_serves() {
    podman volume create "$run_id-data" >/dev/null
    TMPFS_RUN=/run:notmpcopyup run_readonly main "$run_id-data"
    wait_ready main
    local port body iso
    port=$(port_of main)
    body=$(get "$port" /)
    grep -q '<h1>Current time in Moscow</h1>' <<<"$body" || fail "/ has no heading: $body"
    grep -q '<span id="visits">1</span>' <<<"$body" || fail "/ does not show visit 1: $body"
    # The time is Moscow's (UTC+3, tzdata in the image) and now.
    iso=$(sed -n 's/.*<time id="time" datetime="\([^"]*\)".*/\1/p' <<<"$body")
    [[ $iso == *+03:00 ]] || fail "time $iso is not in UTC+3"
    (($(date +%s) - $(date -d "$iso" +%s) < 60)) || fail "time $iso is not now"
    expect "/ again shows" "$(visit main 2)" 3
    expect /visits "$(get "$port" /visits)" 3
    expect /healthz "$(get "$port" /healthz)" ok
    expect /readyz "$(get "$port" /readyz)" ready
    expect "/visits after the probes" "$(get "$port" /visits)" 3
    expect "counter file on the volume" "$(volume_file data)" 3
}
check "default command, --read-only, empty tmpfs /tmp and /run (as docker), a volume: / /visits /healthz /readyz" t_serves

t_read_only() {
    local out
    out=$(podman exec "$run_id-main" bash -c 'touch /etc/moscow-time/x /usr/local/bin/x 2>&1; true')
    expect "writing to the image" "$(grep -c 'Read-only file system' <<<"$out")" 2
    podman exec "$run_id-main" touch /data/.probe /tmp/.probe /run/moscow-time/.probe
    podman exec "$run_id-main" rm /data/.probe
}
check "root file system read-only; /data, /tmp, /run writable" t_read_only

t_uids() {
    local table
    # PID, name, then the real/effective/saved/fs uids and gids, from /proc.
    table=$(podman exec "$run_id-main" bash -c 'for f in /proc/[0-9]*/status; do
        awk -v pid="${f:6:-7}" "/^Name:/ { n = \$2 } /^Uid:/ { u = \$2\" \"\$3\" \"\$4\" \"\$5 }
            /^Gid:/ { g = \$2\" \"\$3\" \"\$4\" \"\$5 } END { print pid, n, u, g }" "$f"; done')
    echo "$table"
    local bad
    bad=$(awk '$3 $4 $5 $6 $7 $8 $9 $10 != "1000110001100011000110001100011000110001"' <<<"$table")
    [[ -z $bad ]] || fail "processes not running as 10001:10001: $bad"
    expect "PID 1" "$(awk '$1 == 1 { print $2 }' <<<"$table")" bash
    expect "responder processes" "$(awk '$2 == "moscow-time"' <<<"$table" | wc -l)" 1
    # nginx.conf: worker_processes 2, plus the master.
    expect "nginx processes" "$(awk '$2 == "nginx"' <<<"$table" | wc -l)" 3
    expect "PID 1 command" "$(podman exec "$run_id-main" cat /proc/1/cmdline | tr '\0' ' ')" \
        "bash /usr/local/bin/moscow-time-serve /etc/moscow-time/config.ini /run/moscow-time "
}
check "every process runs as uid/gid 10001 (/proc in the container)" t_uids

t_replace() {
    podman stop -t 10 "$run_id-main" >/dev/null
    podman rm "$run_id-main" >/dev/null
    run_readonly main2 "$run_id-data"
    wait_ready main2
    expect "/visits in the new container" "$(get "$(port_of main2)" /visits)" 3
    expect "next visit" "$(visit main2 1)" 4
}
check "count continues in a new container on the same volume (delete the pod, the data stays)" t_replace

t_sigkill() {
    podman kill -s KILL "$run_id-main2" >/dev/null
    expect "exit code" "$(wait_exit main2 5)" 137
    run_readonly main3 "$run_id-data"
    wait_ready main3
    expect "/visits after SIGKILL" "$(get "$(port_of main3)" /visits)" 4
}
check "no visit lost when the container is killed (SIGKILL)" t_sigkill

t_sigterm() {
    expect "visits" "$(visit main3 2)" 6
    local t0 ms
    t0=$(now_ms)
    podman stop -t 10 "$run_id-main3" >/dev/null
    ms=$(($(now_ms) - t0))
    note "stopped in $ms ms"
    ((ms <= 5000)) || fail "podman stop took $ms ms"
    expect "exit code" "$(podman inspect -f '{{.State.ExitCode}}' "$run_id-main3")" 0
    expect "counter file" "$(volume_file data)" 6
    log_has main3 'flushed at 6'
}
check "SIGTERM stops nginx and the responder within 5 s, exit 0, count flushed" t_sigterm

t_responder_exits() {
    run_readonly main4 "$run_id-data"
    wait_ready main4
    local pid
    pid=$(pids_of main4 moscow-time)
    [[ $pid =~ ^[0-9]+$ ]] || fail "responder PID: '$pid'"
    podman exec "$run_id-main4" bash -c "kill -TERM $pid"
    expect "exit code" "$(wait_exit main4 5)" 1
    log_has main4 'the responder exited'
}
check "the responder exits: nginx is stopped, the container exits 1" t_responder_exits

t_nginx_exits() {
    run_readonly main5 "$run_id-data"
    wait_ready main5
    expect "visits" "$(visit main5 1)" 7
    podman exec "$run_id-main5" bash -c 'read -r pid </run/moscow-time/nginx/nginx.pid; kill -TERM "$pid"'
    expect "exit code" "$(wait_exit main5 5)" 1
    log_has main5 'nginx exited'
    expect "counter file" "$(volume_file data)" 7
}
check "nginx exits: the responder is stopped, count flushed, the container exits 1" t_nginx_exits

t_plain() {
    run --name "$run_id-plain" -p 127.0.0.1::8080 "$image" >/dev/null
    wait_ready plain
    expect "first visit" "$(visit plain 1)" 1
}
check "plain 'docker run -p 8080:8080 IMAGE' (image's own folders, anonymous volume) serves /" t_plain

# OpenShift runs a container with a uid of the namespace's range, unknown to
# the image's /etc/passwd, and group 0: the image's writable places must be
# group-0 writable. The image's own folders (no tmpfs over /run), as plain
# `docker run` has them, under such a uid.
t_arbitrary_uid() {
    local uid=$((1000000000 + RANDOM * 32768 + RANDOM)) table
    run --name "$run_id-anyuid" --user "$uid:0" -p 127.0.0.1::8080 "$image" >/dev/null
    wait_ready anyuid
    expect "count after two visits" "$(visit anyuid 2)" 2
    table=$(podman exec "$run_id-anyuid" bash -c 'for f in /proc/[0-9]*/status; do
        awk "/^Name:/ { n = \$2 } /^Uid:/ { u = \$2 } /^Gid:/ { g = \$2 } END { print n, u, g }" "$f"; done')
    [[ -z $(awk -v want="$uid 0" '$2 " " $3 != want' <<<"$table") ]] || fail "processes not as $uid:0: $table"
    [[ $(awk '$1 == "nginx" || $1 == "moscow-time"' <<<"$table" | wc -l) -ge 2 ]] || fail "no nginx or responder: $table"
    note "uid $uid, group 0: $(podman exec "$run_id-anyuid" stat -c '/data/visits %u:%g %a' /data/visits)"
}
check "OpenShift: the image runs under an arbitrary uid in group 0 (image's own folders, anonymous volume) and counts" t_arbitrary_uid

# --- the chart's layout: two containers of the image --------------------------

# As the Helm chart runs it: the responder with the chart's config file, nginx
# with its own command, sharing only the socket folder; read-only, no
# capabilities, each its own /tmp. emptyDirs are world-writable folders of the
# host, as in Kubernetes (a tmpfs over a folder of the image would keep its
# mode 0755). start_pod POD VOLUME: containers POD-responder and POD-nginx.
start_pod() {
    local pod=$1 volume=$2 d
    for d in sock nginx tmp-responder tmp-nginx; do
        mkdir -p "$tmp/$pod/$d"
        chmod 1777 "$tmp/$pod/$d"
    done
    local secure=(--read-only --read-only-tmpfs=false --cap-drop=all
        --security-opt=no-new-privileges -v "$tmp/$pod/sock:/run/moscow-time/sock")
    mkdir -p "$tmp/$pod/config"
    sed 's/^workers = .*/workers = 3/' fcgi-app/config.ini >"$tmp/$pod/config/config.ini"
    chmod 755 "$tmp/$pod" "$tmp/$pod/config"
    chmod 644 "$tmp/$pod/config/config.ini"
    podman volume create "$run_id-$volume" >/dev/null
    run --name "$run_id-$pod-responder" --network none "${secure[@]}" \
        -v "$tmp/$pod/tmp-responder:/tmp" -v "$run_id-$volume:/data" \
        -v "$tmp/$pod/config:/etc/moscow-time/config:ro" \
        "$image" moscow-time --config /etc/moscow-time/config/config.ini >/dev/null
    run --name "$run_id-$pod-nginx" "${secure[@]}" -v "$tmp/$pod/tmp-nginx:/tmp" \
        -v "$tmp/$pod/nginx:/run/moscow-time/nginx" -p 127.0.0.1::8080 \
        "$image" moscow-time-nginx /run/moscow-time >/dev/null
    wait_ready "$pod-nginx"
}
# The chart's exec liveness probe of the responder container.
probe_responder() {
    podman exec "$run_id-$1-responder" moscow-time --probe /etc/moscow-time/config/config.ini
}

t_chart() {
    start_pod chart chart
    expect "first visit" "$(visit chart-nginx 1)" 1
    expect "/visits" "$(get "$(port_of chart-nginx)" /visits)" 1
    log_has chart-responder '(of 3)' # the chart's config.ini: [server] workers = 3
    expect "responder uid" "$(podman exec "$run_id-chart-responder" awk '/^Uid:/ { print $2 }' /proc/1/status)" 10001
    expect "nginx uid" "$(podman exec "$run_id-chart-nginx" awk '/^Uid:/ { print $2 }' /proc/1/status)" 10001
    probe_responder chart
    podman exec "$run_id-chart-nginx" sleep 0.1 # the chart's preStop
    # The pod stops: nginx, then the responder; both cleanly and at once.
    local t0 ms
    t0=$(now_ms)
    podman stop -t 10 "$run_id-chart-nginx" >/dev/null
    probe_responder chart # nginx gone, the responder alive: liveness holds
    podman stop -t 10 "$run_id-chart-responder" >/dev/null
    ms=$(($(now_ms) - t0))
    ((ms <= 5000)) || fail "stopping took $ms ms"
    expect "nginx exit code" "$(podman inspect -f '{{.State.ExitCode}}' "$run_id-chart-nginx")" 0
    expect "responder exit code" "$(podman inspect -f '{{.State.ExitCode}}' "$run_id-chart-responder")" 0
    expect "counter file" "$(volume_file chart)" 1
}
check "chart layout: moscow-time and moscow-time-nginx as two containers sharing the socket; moscow-time --probe" t_chart

# --- the chart's own pod spec under podman kube play ------------------------

# The chart as `helm template` renders it (the chart suite's pinned helm:
# tests/chart/run.sh --tools), its StatefulSet's pod template made pod 0 by
# tests/image/pod-from-chart.mjs (which says what it changes, and why), run
# with `podman kube play`. kube play builds its pod's pause image from
# catatonit, which podman only recommends: scripts/install-deps.sh image
# installs it.
chart_tools() {
    helm=$top/.tools/chart/bin/helm
    node_modules=$top/.tools/chart/node/node_modules
    [[ -x $helm && -d $node_modules ]] && return 0
    tests/chart/run.sh --tools >"$tmp/tools.log" 2>&1 || {
        tail -n 20 "$tmp/tools.log"
        fail "the chart's tools (tests/chart/run.sh --tools) could not be installed"
    }
}
free_port() {
    node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}
# kube_pod NAME CLAIM_DIR [--set ...]: renders the chart (one replica, this
# run's image) and plays its pod $run_id-NAME with the host folder CLAIM_DIR
# as its claim; nginx's port on 127.0.0.1:$(cat $tmp/NAME.port). The release
# is named after the run: kube play makes the ConfigMap a named volume (of
# the ConfigMap's name, which kube down keeps), and so it is this run's.
kube_pod() {
    local name=$1 claim=$2
    shift 2
    command -v catatonit >/dev/null ||
        fail "catatonit is not installed: podman kube play builds its pause image from it (scripts/install-deps.sh image installs it)"
    chart_tools
    podman image exists "localhost/$run_id:kube" || podman tag "$image" "localhost/$run_id:kube"
    free_port >"$tmp/$name.port"
    "$helm" template "$run_id" helm-chart/moscow-time --set replicaCount=1 --set cluster.enabled=false \
        --set image.registry=localhost --set "image.repository=$run_id" --set image.tag=kube "$@" |
        node tests/image/pod-from-chart.mjs "$node_modules" "$run_id-$name" "$claim" "$tmp/$name-empty" \
            "$(cat "$tmp/$name.port")" >"$tmp/$name.yaml"
    podman kube play "$tmp/$name.yaml" >"$tmp/$name.play" 2>&1 || {
        grep -v systemd "$tmp/$name.play"
        fail "podman kube play $name"
    }
}
kube_get() { curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(cat "$tmp/$1.port")$2" || true; }

# A volume that ignores fsGroup, as a hand-made hostPath PersistentVolume or
# an NFS export: a root-owned 0755 folder. Without volumePermissions the
# responder cannot create its counter and exits 74 (Kubernetes would restart
# it for ever: CrashLoopBackOff, never ready); with it, the init container
# hands the folder to 10001 and the pod serves and counts.
t_volume_permissions() {
    [[ $(id -u) == 0 ]] || skip "needs root: a root-owned folder as the volume"
    local data=$tmp/kube-claim i code
    mkdir "$data"
    chown 0:0 "$data"
    chmod 0755 "$data"
    kube_pod nofix "$data"
    expect "responder exit code without volumePermissions" "$(wait_exit nofix-responder 20)" 74
    log_has nofix-responder 'Permission denied'
    code=$(kube_get nofix /readyz)
    [[ $code != 200 ]] || fail "/readyz answered 200 without a counter"
    expect "the folder, untouched" "$(stat -c '%u:%g %a' "$data")" "0:0 755"
    podman kube down "$tmp/nofix.yaml" >/dev/null 2>&1
    kube_pod fix "$data" --set volumePermissions.enabled=true
    for i in $(seq 100); do
        code=$(kube_get fix /readyz)
        [[ $code == 200 ]] && break
        sleep 0.1
    done
    [[ $code == 200 ]] || { podman logs "$run_id-fix-responder" 2>&1 | tail -n 5; fail "with volumePermissions: /readyz $code after 10 s"; }
    expect "volume-permissions exit code" "$(podman inspect -f '{{.State.ExitCode}}' "$run_id-fix-volume-permissions")" 0
    curl -s --max-time 5 "http://127.0.0.1:$(cat "$tmp/fix.port")/" | grep -q '<span id="visits">1</span>' || fail "GET / is not visit 1"
    expect "the folder after volume-permissions" "$(stat -c '%u:%g %a' "$data")" "10001:10001 775"
    for i in $(seq 30); do
        [[ $(cat "$data/visits" 2>/dev/null) == 1 ]] && break
        sleep 0.1
    done
    expect "the counter file in the folder" "$(cat "$data/visits")" 1
    podman kube down "$tmp/fix.yaml" >/dev/null 2>&1
    note "without: the responder exits 74 (Permission denied); with: the init container chowns, the pod serves"
}
check "volumePermissions (podman kube play of the chart's pod; catatonit): a root-owned 0755 folder as /data: exit 74 without, serves and counts with it" t_volume_permissions

# load PORT CLIENTS URLS: CLIENTS curls on kept-alive connections, each
# GETting / URLS times; one line "HTTP_CODE CURL_EXIT" per request in
# $tmp/load.N. Runs in the background; wait for it.
load() {
    local port=$1 clients=$2 n=$3 i j args=()
    for ((j = 0; j < n; j++)); do args+=(-o /dev/null "http://127.0.0.1:$port/"); done
    for ((i = 0; i < clients; i++)); do
        curl -s --max-time 30 -w '%{http_code} %{exitcode}\n' "${args[@]}" >"$tmp/load.$i" 2>&1 &
    done
}

# A pod's termination under load: Kubernetes sends SIGTERM to both containers
# (the responder's later, its preStop is longer). Requests in flight, also on
# kept-alive connections, must all be answered: the nginx entry point turns
# SIGTERM into nginx's graceful stop. The responder is held still (SIGSTOP)
# while nginx is told to stop, so that requests are certainly in flight then.
t_stop_under_load() {
    start_pod load load
    local port pids
    port=$(port_of load-nginx)
    load "$port" 8 3000 # more than can be sent before nginx has stopped
    sleep 0.5
    podman kill -s STOP "$run_id-load-responder" >/dev/null
    sleep 0.3
    podman stop -t 20 "$run_id-load-nginx" >/dev/null &
    pids=$!
    sleep 1
    podman kill -s CONT "$run_id-load-responder" >/dev/null
    wait "$pids"
    wait
    expect "nginx exit code" "$(podman inspect -f '{{.State.ExitCode}}' "$run_id-load-nginx")" 0
    podman stop -t 10 "$run_id-load-responder" >/dev/null
    local ok refused failed
    ok=$(cat "$tmp"/load.* | grep -c '^200 0$' || true)
    # curl exit 7: could not connect, i.e. after nginx had closed its port:
    # never sent (in a pod, the endpoints had dropped it before).
    refused=$(cat "$tmp"/load.* | grep -c '^000 7$' || true)
    failed=$(cat "$tmp"/load.* | grep -v -e '^200 0$' -e '^000 7$' || true)
    note "$ok answered 200, $refused not sent (nginx had closed its port)"
    [[ -z $failed ]] || fail "failed requests: $(sort <<<"$failed" | uniq -c | tr '\n' ' ')"
    ((ok > 0)) || fail "no request was answered"
    # The load outlasted nginx: requests were in flight when it was told to stop.
    ((refused > 0)) || fail "the load ended before nginx stopped: nothing was tested"
    expect "counter file (every 200 is a visit)" "$(volume_file load)" "$ok"
}
check "pod termination under load: no request in flight fails while nginx stops (SIGTERM -> graceful)" t_stop_under_load

# The default command exits at once with the responder's code when it
# cannot start: 65 corrupt counter, 74 counter not a file, 69 counter held
# by another container's responder, 78 bad config.ini.
# exits_with NAME CODE RUN-ARGS...: the container exits with CODE within 5 s.
exits_with() {
    local name=$1 code=$2
    shift 2
    run_readonly "$name" "$@"
    expect "$name exit code" "$(wait_exit "$name" 5)" "$code"
}
t_exit_codes() {
    local mp
    podman volume create "$run_id-bad" >/dev/null
    mp=$(podman volume inspect -f '{{.Mountpoint}}' "$run_id-bad")
    printf 'garbage\n' >"$mp/visits"
    chown 10001:10001 "$mp" "$mp/visits"
    exits_with corrupt 65 "$run_id-bad"
    log_has corrupt 'is corrupt'
    expect "corrupt file untouched" "$(cat "$mp/visits")" garbage
    rm "$mp/visits"
    mkdir "$mp/visits"
    chown 10001:10001 "$mp/visits"
    exits_with unopenable 74 "$run_id-bad"
    rmdir "$mp/visits"
    run_readonly holder "$run_id-bad"
    wait_ready holder
    exits_with busy 69 "$run_id-bad"
    log_has busy 'flock held'
    podman stop -t 10 "$run_id-holder" >/dev/null
    sed 's/^workers = .*/workers = 0/' fcgi-app/config.ini >"$tmp/bad.ini"
    chmod 644 "$tmp/bad.ini"
    exits_with badconfig 78 "$run_id-bad" -v "$tmp/bad.ini:/etc/moscow-time/config.ini:ro"
    log_has badconfig '[server] workers'
}
check "a responder that cannot start ends the container at once with its code (65, 74, 69, 78)" t_exit_codes

# --- a fresh Debian and a normal user: the README's commands -------------------

# The Debian base the image is built from, as a fresh machine: the
# repository's files (tracked and new, not ignored: a fresh clone of this
# tree) and a user "tester" with a normal user's PATH (no /usr/sbin). Only
# make is installed first, as the README says.
debian_base() {
    local b
    for b in localhost/moscow-time-base:bookworm docker.io/library/debian:bookworm-slim; do
        podman image exists "$b" && echo "$b" && return 0
    done
    fail "no Debian base image (scripts/image.sh build makes one)"
}
clone_tar() {
    [[ -f $tmp/clone.tar ]] && return 0
    git ls-files -co --exclude-standard -z | tar --null -T - -cf "$tmp/clone.tar"
    chmod 644 "$tmp/clone.tar"
}
as_tester() {
    podman exec --user tester --workdir /home/tester/moscow-time "$run_id-debian" \
        env -i HOME=/home/tester PATH=/usr/local/bin:/usr/bin:/bin "$@"
}

# Without the network apt fails: its output is shown then, and only then.
t_deps_failure() {
    local base out
    base=$(debian_base)
    clone_tar
    out=$(podman run --rm --name "$run_id-offline" --network none -v "$tmp/clone.tar:/clone.tar:ro" \
        "$base" bash -c 'mkdir /r && tar -xf /clone.tar -C /r && /r/scripts/install-deps.sh run' 2>&1) &&
        fail "install-deps.sh succeeded offline: $out"
    echo "$out"
    grep -Eq '^deps: installing [0-9]+ packages: gcc .*nginx-light' <<<"$out" || fail "no install step line"
    grep -q '^deps: apt-get failed; the end of its output' <<<"$out" || fail "no failure line"
    grep -q '^    E: ' <<<"$out" || fail "apt's own errors are not shown"
}
check "install-deps.sh: when apt fails (offline), its output is shown" t_deps_failure

t_fresh_debian() {
    local base out
    base=$(debian_base)
    clone_tar
    run --name "$run_id-debian" -v "$tmp/clone.tar:/clone.tar:ro" "$base" sleep infinity >/dev/null
    podman exec "$run_id-debian" bash -c 'apt-get update -qq && apt-get install -qq -y make' \
        >"$tmp/make.log" 2>&1 || { tail -n 20 "$tmp/make.log"; fail "apt-get install make"; }
    podman exec "$run_id-debian" useradd -m -s /bin/bash tester
    podman exec --user tester "$run_id-debian" bash -c \
        'mkdir ~/moscow-time && tar -xf /clone.tar -C ~/moscow-time'
    # Nothing installed yet: each command says what to do, and none says sudo.
    out=$(as_tester make 2>&1) && fail "make succeeded without a compiler: $out"
    grep -q 'install them with: make deps (as root)' <<<"$out" || fail "make: $out"
    out=$(as_tester make run 2>&1) && fail "make run succeeded: $out"
    grep -q '^    apt-get update && apt-get install -y --no-install-recommends gcc .*nginx-light' \
        <<<"$out" || fail "make run: $out"
    out+=$(as_tester make test 2>&1) && fail "make test succeeded: $out"
    grep -q '^    apt-get update && apt-get install .*strace .*chromium python3-websocket' <<<"$out" ||
        fail "make test: $out"
    ! grep -qi sudo <<<"$out" || fail "a hint says sudo: $out"
    # As root: one line per step.
    out=$(podman exec --workdir /home/tester/moscow-time "$run_id-debian" make -s deps 2>&1) ||
        fail "make deps as root: $out"
    echo "$out"
    expect "make deps output" "$(grep -vc '^deps: ' <<<"$out")" 0
    (($(wc -l <<<"$out") <= 4)) || fail "make deps printed $(wc -l <<<"$out") lines"
    # The normal user's make run, as the README says.
    podman exec -d --user tester --workdir /home/tester/moscow-time "$run_id-debian" \
        env -i HOME=/home/tester PATH=/usr/local/bin:/usr/bin:/bin PORT=8080 \
        bash -c 'make run >/tmp/run.log 2>&1'
    local i body
    for i in $(seq 120); do
        body=$(debian_get /readyz) && [[ $body == *"200 OK"* ]] && break
        sleep 0.5
    done
    [[ $body == *"200 OK"* ]] || fail "make run as tester does not serve: $(debian_log)"
    body=$(debian_get /)
    [[ $body == *'<span id="visits">1</span>'* ]] || fail "GET /: $body"
    expect "users of nginx and moscow-time" "$(debian_procs | awk '{ print $2 }' | sort -u)" tester
    podman exec "$run_id-debian" bash -c 'kill -TERM "$(cat ~tester/moscow-time/run/serve.lock)"'
    for i in $(seq 50); do
        [[ -z $(debian_procs) ]] && break
        sleep 0.1
    done
    [[ -z $(debian_procs) ]] || fail "still running: $(debian_procs)"
    debian_log | grep -q 'moscow-time: stopping' || fail "no clean stop: $(debian_log)"
}
# In the fresh Debian (no curl, no procps there): GET PATH on 127.0.0.1:8080,
# the nginx and moscow-time processes as "NAME USER", make run's output.
debian_get() {
    podman exec "$run_id-debian" bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080 &&
        printf "GET %s HTTP/1.0\r\n\r\n" "$0" >&3 && cat <&3' "$1"
}
debian_procs() {
    podman exec "$run_id-debian" bash -c 'for f in /proc/[0-9]*/status; do
        awk "/^Name:/ { n = \$2 } /^Uid:/ { u = \$2 } END { if (n == \"nginx\" || n == \"moscow-time\") print n, u }" "$f" 2>/dev/null
        done' | while read -r name uid; do
        echo "$name $(podman exec "$run_id-debian" id -nu "$uid")"
    done
}
debian_log() { podman exec "$run_id-debian" cat /tmp/run.log; }
check "a fresh Debian, a normal user: make, make run, make test say what to do; make deps (root) is quiet; then make run serves" t_fresh_debian

# --- three "pods", three volumes, one nginx upstream (the lab's observation) ---

# nginx from the image in front of three containers, round robin on their
# addresses in podman's network, as a Service in front of a StatefulSet.
# front_conf IP...: its configuration (the Service's endpoints).
front_conf() {
    local ip
    {
        echo 'worker_processes 1; pid /tmp/nginx.pid; error_log stderr warn;'
        echo 'events { worker_connections 64; }'
        echo 'http { access_log off; client_body_temp_path /tmp/body; proxy_temp_path /tmp/proxy;'
        echo '  fastcgi_temp_path /tmp/fastcgi; uwsgi_temp_path /tmp/uwsgi; scgi_temp_path /tmp/scgi;'
        echo '  upstream pods {'
        for ip in "$@"; do echo "    server $ip:8080;"; done
        echo '  }'
        echo '  server { listen 8080; location / { proxy_pass http://pods; } } }'
    } >"$tmp/front.conf"
}
start_front() {
    front_conf "$@"
    chmod 644 "$tmp/front.conf"
    run --name "$run_id-front" --read-only --read-only-tmpfs=false --tmpfs /tmp -p 127.0.0.1::8080 \
        -v "$tmp/front.conf:/etc/front.conf:ro" "$image" \
        nginx -p /tmp/ -c /etc/front.conf -e stderr -g 'daemon off;' >/dev/null
    local i port
    for i in $(seq 50); do
        port=$(port_of front 2>/dev/null) || true
        [[ -n $port ]] && curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$port/healthz" && return 0
        sleep 0.1
    done
    fail "the front nginx does not answer"
}
ip_of() { podman inspect -f '{{.NetworkSettings.IPAddress}}' "$run_id-$1"; }
# /visits through the front, six times: each pod answers twice in turn.
front_visits() {
    local port i
    port=$(port_of front)
    for i in 1 2 3 4 5 6; do get "$port" /visits; done | sort -n | paste -sd ' '
}

t_three_pods() {
    local i ips=()
    for i in 0 1 2; do
        podman volume create "$run_id-pod$i" >/dev/null
        run_readonly "pod$i" "$run_id-pod$i"
    done
    for i in 0 1 2; do
        wait_ready "pod$i"
        visit "pod$i" $((i + 1)) >/dev/null # pod-0 1 visit, pod-1 2, pod-2 3
        ips+=("$(ip_of "pod$i")")
    done
    start_front "${ips[@]}"
    expect "/visits through the upstream" "$(front_visits)" "1 1 2 2 3 3"
    local port
    port=$(port_of front)
    for i in 1 2 3; do get "$port" / >/dev/null; done # one more visit on each pod
    expect "counter files" "$(volume_file pod0) $(volume_file pod1) $(volume_file pod2)" "2 3 4"
}
check "three pods with three volumes behind one nginx upstream: each pod its own count" t_three_pods

t_delete_pod() {
    podman stop -t 10 "$run_id-pod1" >/dev/null
    podman rm "$run_id-pod1" >/dev/null
    # Recreated with the same name and volume (a StatefulSet's identity);
    # its new address replaces the old in the upstream, as the endpoints of
    # a Service would.
    run_readonly pod1 "$run_id-pod1"
    wait_ready pod1
    expect "recreated pod's /visits" "$(get "$(port_of pod1)" /visits)" 3
    front_conf "$(ip_of pod0)" "$(ip_of pod1)" "$(ip_of pod2)"
    podman exec "$run_id-front" nginx -p /tmp/ -c /etc/front.conf -s reload
    # The old worker finishes; the new one has the new address.
    local i visits
    for i in $(seq 20); do
        visits=$(front_visits 2>&1) || true
        [[ $visits == "2 2 3 3 4 4" ]] && break
        sleep 0.1
    done
    expect "/visits through the upstream" "$visits" "2 2 3 3 4 4"
}
check "deleting one pod keeps its count; the others keep theirs" t_delete_pod

# --- the service's total: three containers that find and poll each other ---------

# cluster_config DIR KEY VALUE: config.ini for a container of the cluster, in DIR
# (mounted read-only at /etc/moscow-time/cluster, so that a change of it is a
# reload), with [cluster] KEY = VALUE (discover or peers).
cluster_config() {
    mkdir -p "$1"
    chmod 755 "$1"
    sed -e "s/^$2 =.*/$2 = $3/" -e 's/^poll_interval_ms = .*/poll_interval_ms = 300/' \
        fcgi-app/config.ini >"$1/config.ini.new"
    chmod 644 "$1/config.ini.new"
    mv "$1/config.ini.new" "$1/config.ini"
}
# cluster_total NAME: the container's /visits?scope=cluster total and whether it is partial.
cluster_total() {
    get "$(port_of "$1")" '/visits?scope=cluster' | sed -n '1p;2s/:.*//p' | paste -sd ' '
}
# wait_total NAME WANT: waits up to 15 s for "TOTAL complete" on the container.
wait_total() {
    local i got=''
    for i in $(seq 150); do
        got=$(cluster_total "$1") || true
        [[ $got == "$2" ]] && return 0
        sleep 0.1
    done
    get "$(port_of "$1")" '/visits?scope=cluster' | sed 's/^/  /'
    fail "$1: cluster total \"$got\", expected \"$2\""
}
# cluster_pod NAME I: runs container cI of the cluster, pod moscow-time-I, on the network.
cluster_pod() {
    podman volume create "$run_id-c$2" >/dev/null
    run --name "$run_id-c$2" --read-only --read-only-tmpfs=false --tmpfs /tmp \
        --tmpfs "${TMPFS_RUN:-/run}" -v "$run_id-c$2:/data" -p 127.0.0.1::8080 \
        -p 127.0.0.1::9113 \
        --network "$1" --network-alias moscow-time-headless --hostname "moscow-time-$2" \
        -v "$tmp/cluster$2:/etc/moscow-time/cluster:ro" "$image" \
        moscow-time-serve /etc/moscow-time/cluster/config.ini /run/moscow-time >/dev/null
}

# Containers on a network of their own, each with its volume and its hostname
# (a pod's name), sharing the network alias moscow-time-headless: podman's DNS
# (the dnsname CNI plugin) answers one A record per container for it, as
# Kubernetes does for a headless Service, so each finds the others with
# [cluster] discover = moscow-time-headless:8080, as the chart's pods do (the
# chart uses the Service's SRV records, which dnsname does not serve). Where
# podman's network has no DNS, the fallback lists the addresses in [cluster]
# peers instead, and says so.
t_cluster_by_discovery() {
    local i net=$run_id-net peers='' by=discovery
    podman network create "$net" >/dev/null
    for i in 0 1 2; do
        cluster_config "$tmp/cluster$i" discover moscow-time-headless:8080
        cluster_pod "$net" "$i"
    done
    for i in 0 1 2; do
        wait_ready "c$i"
        visit "c$i" $((i + 1)) >/dev/null # 1 + 2 + 3
    done
    # IMAGE_CLUSTER_BY=address tries the fallback where the alias would resolve.
    if [[ ${IMAGE_CLUSTER_BY:-} == address ]] ||
        ! podman exec "$run_id-c0" getent hosts moscow-time-headless >/dev/null 2>&1; then
        by=address
        for i in 0 1 2; do
            peers+="${peers:+,}$(podman inspect -f "{{(index .NetworkSettings.Networks \"$net\").IPAddress}}" "$run_id-c$i"):8080"
        done
        for i in 0 1 2; do cluster_config "$tmp/cluster$i" peers "$peers"; done
        note "podman's DNS does not resolve the alias here: peers listed by address ($peers)"
    else
        note "pods found by discovery: $(podman exec "$run_id-c0" getent ahostsv4 moscow-time-headless |
            awk '$2 == "STREAM" { print $1 }' | paste -sd ' ')"
    fi
    for i in 0 1 2; do wait_total "c$i" "6 complete"; done
    expect "c1's own answer" "$(curl -s -H 'Accept: application/json' \
        "http://127.0.0.1:$(port_of c1)/visits")" '{"visits":2,"pod":"moscow-time-1"}'
    if [[ $by == discovery ]]; then
        # Scaled up: a fourth container with the alias is in every total, no config changed.
        cluster_config "$tmp/cluster3" discover moscow-time-headless:8080
        cluster_pod "$net" 3
        wait_ready c3
        visit c3 4 >/dev/null
        for i in 0 1 2 3; do wait_total "c$i" "10 complete"; done
        # Scaled down: c3 stopped leaves podman's DNS; its count stays, the total complete.
        podman stop -t 10 "$run_id-c3" >/dev/null
        visit c0 1 >/dev/null
        wait_total c0 "11 complete"
        get "$(port_of c0)" '/visits?scope=cluster' | grep -q '^moscow-time-3 4 left' ||
            fail "c3 is not shown as left with its 4 visits"
        get "$(metrics_port_of c0)" /metrics | grep -q '^moscow_time_cluster_visits 11$' ||
            fail "/metrics: moscow_time_cluster_visits is not 11"
    else
        # Listed, a stopped pod stays listed: its count stays, marked stale.
        podman stop -t 10 "$run_id-c2" >/dev/null
        visit c0 1 >/dev/null
        for i in $(seq 100); do
            [[ $(cluster_total c0) == "7 partial" ]] && break
            sleep 0.1
        done
        expect "c0's total with c2 stopped" "$(cluster_total c0)" "7 partial"
        get "$(metrics_port_of c0)" /metrics | grep -q '^moscow_time_cluster_visits 7$' ||
            fail "/metrics: moscow_time_cluster_visits is not 7"
    fi
}
check "containers sharing a network alias find and poll each other ([cluster] discover): the service's total" t_cluster_by_discovery

# --- leftovers --------------------------------------------------------------------

t_cleanup() {
    cleanup
    local left
    left=$(podman ps -aq --filter "name=^$run_id-")$(podman volume ls -q --filter "name=^$run_id-")
    left+=$(podman pod ls -q --filter "name=^$run_id-")$(podman images -q "localhost/$run_id")
    [[ -z $left ]] || fail "left behind: $left"
    if command -v iptables-save >/dev/null; then
        left=$(iptables-save 2>/dev/null | grep -F -f "$tmp/containers" || true)
        [[ -z $left ]] || fail "iptables rules left: $left"
    fi
}
check "removes its containers, pods, volumes and image names; no firewall rules of them remain" t_cleanup

((failed == 0))
