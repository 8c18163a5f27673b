#!/usr/bin/env bash
# Runs the whole service in the foreground: the responder and nginx.
#
#   serve.sh CONFIG PREFIX [LISTEN [METRICS_LISTEN]]
#
# The container's default command and `make run` both use it; the Helm chart
# runs the two processes as separate containers instead. LISTEN and
# METRICS_LISTEN (default: LISTEN's port + 1) are nginx's public and metrics
# addresses (start-nginx.sh); without them, listen.conf's and
# metrics-listen.conf's.
#
# - Given LISTEN, an address nginx could not listen on (in use in any way, or
#   not this machine's) stops it at once with exit 69 and a line that says so.
# - One serve.sh per PREFIX: a second one refuses (exit 69) before it touches
#   anything (PREFIX/serve.lock, held while any process of the first lives).
# - If the responder fails at start, nginx is never started and the script
#   exits with the responder's code (65 corrupt counter, 69 in use, 74 counter
#   I/O, 78 config, ...).
# - If either process exits later, the other is stopped and the script exits
#   with the status of the one that exited (1 if that was 0), within seconds.
# - SIGTERM, SIGINT or SIGHUP stop both cleanly: nginx first and gracefully
#   (requests in flight finish), then the responder, which flushes its
#   counter; the exit status is 0 unless one of them failed. Also when it was
#   started with SIGINT or SIGTERM ignored (see below).
set -euo pipefail

usage='usage: serve.sh CONFIG PREFIX [LISTEN [METRICS_LISTEN]]'
config=${1:?$usage}
prefix=${2:?$usage}
listen=${3:-}
metrics_listen=${4:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
responder=${MOSCOW_TIME_BIN:-$here/../build/moscow-time}
[[ -x $responder ]] || responder=$(command -v moscow-time)
start_nginx=$here/start-nginx.sh
[[ -x $start_nginx ]] || start_nginx=$(command -v moscow-time-nginx)
# Seconds each of the two gets to stop once one of them has failed: all is
# over within 5 s (they need well under one).
stop_deadline=2

log() { echo "moscow-time: $*" >&2; }

# Started with SIGINT or SIGTERM ignored (`nohup make run &`, a background job
# of a script, some CI launchers), bash can neither trap nor reset them: a
# Ctrl-C would stop nginx and the responder behind this script's back, and it
# would exit 1 instead of stopping both cleanly. Such a start runs the script
# again with both at their defaults (coreutils' env resets them before its
# exec; the PID stays the same). SIGHUP stays as it came: nohup's own choice.
stop_signals_ignored() {
    local key mask
    while read -r key mask; do
        if [[ $key == SigIgn: ]]; then
            ((16#$mask & (1 << (2 - 1) | 1 << (15 - 1)))) # SIGINT 2, SIGTERM 15
            return
        fi
    done </proc/$$/status
    return 1
}
if stop_signals_ignored; then
    if [[ -z ${MOSCOW_TIME_SIGNALS_RESET:-} ]]; then
        MOSCOW_TIME_SIGNALS_RESET=1 exec env --default-signal=INT,TERM "${BASH_SOURCE[0]}" "$@"
    fi
    log "SIGINT or SIGTERM stays ignored (env did not reset it): they cannot stop this run"
fi
unset MOSCOW_TIME_SIGNALS_RESET

# With a tmpfs over /run (docker run --read-only --tmpfs /run) this starts empty.
mkdir -p "$prefix"
lock=$prefix/serve.lock
# The descriptor is inherited by nginx and the responder: the lock lasts as
# long as any of them, also when this script is killed.
exec {lock_fd}>>"$lock"
if ! flock -n "$lock_fd"; then
    holder=$(cat "$lock" 2>/dev/null || true)
    log "$prefix is in use by another moscow-time (process ${holder:-?}); stop it first or use another folder"
    exit 69 # EX_UNAVAILABLE
fi
echo "$$" >"$lock"
# check_listen ADDRESS HINT: exits 69 with a line that says why, unless nginx
# can listen on ADDRESS (host:port, [v6]:port, *:port or a port). nginx itself
# would retry for 2.5 s, print five "Address already in use" lines and exit.
# The only honest test is nginx's own: bind with SO_REUSEADDR (and
# IPV6_V6ONLY for IPv6, nginx's default), then listen. A connect() misses a
# port bound but not listening, a connection in TIME-WAIT on it, a listener on
# another address that ADDRESS covers, and hangs on a listener whose queue is
# full. perl-base is part of every Debian system (the image's too).
check_listen() {
    local address=$1 hint=$2 host port why rc=0
    case $address in
    unix:*) return 0 ;;
    \[*\]:*) host=${address%]:*} host=${host#[} port=${address##*:} ;;
    *:*) host=${address%:*} port=${address##*:} ;;
    *) host='*' port=$address ;;
    esac
    [[ $host == '*' ]] && host=0.0.0.0
    if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
        log "$address: not a port number in 1-65535"
        exit 64 # EX_USAGE
    fi
    command -v perl >/dev/null || return 0
    why=$(perl -MSocket=:all -MErrno -e '
        my ($host, $port) = @ARGV;
        my ($err, @ai) = getaddrinfo($host, $port,
            {socktype => SOCK_STREAM, flags => AI_PASSIVE | AI_NUMERICSERV});
        if ($err) { print "$err\n"; exit 2 }
        for my $ai (@ai) {
            socket(my $s, $ai->{family}, SOCK_STREAM, 0) or do { print "$!\n"; exit 2 };
            setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1) or do { print "$!\n"; exit 2 };
            if ($ai->{family} == AF_INET6) {
                setsockopt($s, IPPROTO_IPV6, IPV6_V6ONLY, 1) or do { print "$!\n"; exit 2 };
            }
            if (!bind($s, $ai->{addr}) || !listen($s, 1)) {
                print "$!\n";
                exit($!{EADDRINUSE} ? 1 : 2);
            }
            close $s;
        }' -- "$host" "$port" 2>&1) || rc=$?
    case $rc in
    0) return 0 ;;
    1) log "$address is taken by another program; choose another port ($hint)" ;;
    *) log "cannot listen on $address: $why" ;;
    esac
    exit 69 # EX_UNAVAILABLE
}
if [[ -n $listen ]]; then
    if [[ -z $metrics_listen && $listen =~ ^(.*:)?([0-9]+)$ ]]; then
        # start-nginx.sh's default: the same address, the next port.
        metrics_listen=${BASH_REMATCH[1]}$((BASH_REMATCH[2] + 1))
    fi
    if [[ $metrics_listen == "$listen" ]]; then
        log "the metrics need a port of their own, not $listen (make run: METRICS_PORT)"
        exit 64 # EX_USAGE
    fi
    check_listen "$listen" "make run: PORT=8081 make run"
    check_listen "$metrics_listen" "make run: METRICS_PORT=9114 make run"
fi

# The socket as the responder reads it (a bad config.ini stops here: 78).
socket=$("$responder" --print-config "$config" | sed -n 's/^\[server\] socket = //p')
mkdir -p "$(dirname "$socket")" "$prefix/nginx"

# A descriptor that never becomes readable: `read -t` on it sleeps without a
# fork, and a trapped signal is handled at once during it.
exec {tick}<> <(:)
nap() { read -r -t "$1" -u "$tick" || true; }

# Running, not a zombie: inside a trap handler bash reaps no children, and
# kill -0 succeeds on a zombie.
alive() {
    local stat
    [[ -n $1 ]] && read -r stat 2>/dev/null <"/proc/$1/stat" && [[ ${stat##*) } != Z* ]]
}

# The PIDs of a process's descendants, from /proc (no procps in the image).
descendants() {
    local f stat pid ppid rest
    for f in /proc/[0-9]*/stat; do
        read -r stat 2>/dev/null <"$f" || continue
        pid=${stat%% *}
        read -r _ ppid rest <<<"${stat##*) }"
        if [[ $ppid == "$1" ]]; then
            echo "$pid"
            descendants "$pid"
        fi
    done
}

# stop_one PID SIGNAL [SECONDS]: sends SIGNAL, waits up to SECONDS (without
# SECONDS: as long as it takes), then SIGKILLs the process and its
# descendants. Sets `status` to its exit status. Not in $(...): only this
# shell can wait for its children.
stop_one() {
    local pid=$1 sig=$2 limit=${3:-} i=0
    if alive "$pid"; then
        kill "-$sig" "$pid" 2>/dev/null || true
        while alive "$pid"; do
            if [[ -n $limit ]] && ((i >= limit * 10)); then
                log "process $pid did not stop within $limit s; killing it"
                # shellcheck disable=SC2046 # one PID per word
                kill -KILL $(descendants "$pid") "$pid" 2>/dev/null || true
                break
            fi
            nap 0.1
            i=$((i + 1))
        done
    fi
    set +e
    wait "$pid" 2>/dev/null
    status=$?
    set -e
}

responder_pid='' nginx_pid='' stopping=0 status=0
# nginx first and gracefully (start-nginx.sh turns SIGTERM into nginx's
# SIGQUIT: requests in flight finish), then the responder, which finishes
# its own and flushes the counter. Without SECONDS, as long as they take (a
# supervisor sends SIGKILL when it has waited enough).
stop_all() {
    nginx_status=0 responder_status=0
    if [[ -n $nginx_pid ]]; then
        stop_one "$nginx_pid" TERM "$@"
        nginx_status=$status
    fi
    if [[ -n $responder_pid ]]; then
        stop_one "$responder_pid" TERM "$@"
        responder_status=$status
    fi
}
# shellcheck disable=SC2317 # invoked by the trap
on_signal() {
    ((stopping == 0)) || return 0
    stopping=1
    log "stopping"
    stop_all
    if ((responder_status != 0)); then
        exit "$responder_status"
    fi
    exit "$nginx_status"
}
trap on_signal TERM INT HUP

"$responder" --config "$config" &
responder_pid=$!
# nginx could start at once (it answers 502 until the socket exists), but a
# responder that fails at start must not leave an nginx behind, and the first
# requests go better with the responder ready.
for _ in $(seq 100); do
    [[ -S $socket ]] && break
    alive "$responder_pid" || break
    nap 0.05
done
if ! alive "$responder_pid"; then
    set +e
    wait "$responder_pid"
    status=$?
    set -e
    log "the responder exited at start ($status)"
    exit $((status == 0 ? 1 : status))
fi

"$start_nginx" "$prefix" ${listen:+"$listen"} ${metrics_listen:+"$metrics_listen"} &
nginx_pid=$!

# Poll rather than `wait -n`: bash's `wait -n PID...` never returns for a
# process that has already exited.
while alive "$responder_pid" && alive "$nginx_pid"; do
    nap 0.25
done
stopping=1
if alive "$responder_pid"; then
    stop_one "$nginx_pid" KILL # already gone: only its status
    log "nginx exited ($status); stopping the responder"
else
    stop_one "$responder_pid" KILL
    log "the responder exited ($status); stopping nginx"
fi
first=$status
stop_all "$stop_deadline"
exit $((first == 0 ? 1 : first))
