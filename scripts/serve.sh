#!/usr/bin/env bash
# Runs the whole service in the foreground: the responder and nginx.
#
#   serve.sh CONFIG PREFIX [LISTEN]
#
# If either process exits, the other is stopped and the script exits non-zero;
# SIGTERM or SIGINT stops both cleanly (the responder flushes its counter).
# The container's default command and `make run` both use it; the Helm chart
# runs the two processes as separate containers instead.
set -euo pipefail

config=${1:?usage: serve.sh CONFIG PREFIX [LISTEN]}
prefix=${2:?usage: serve.sh CONFIG PREFIX [LISTEN]}
listen=${3:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
responder=${MOSCOW_TIME_BIN:-$here/../build/moscow-time}
[[ -x $responder ]] || responder=$(command -v moscow-time)
start_nginx=$here/start-nginx.sh
[[ -x $start_nginx ]] || start_nginx=$(command -v moscow-time-nginx)

socket=$(sed -n 's/^[[:space:]]*socket[[:space:]]*=[[:space:]]*\([^;#[:space:]]*\).*/\1/p' "$config" | head -n1)
[[ -n $socket ]] || socket=/run/moscow-time/sock/fcgi.sock
# With a tmpfs over /run (docker run --read-only --tmpfs /run) these start empty.
mkdir -p "$(dirname "$socket")" "$prefix/nginx"

responder_pid='' nginx_pid=''
# nginx first and gracefully (SIGQUIT: requests in flight finish), then the
# responder, which finishes its own and flushes the counter.
stop() {
    trap - TERM INT
    if [[ -n $nginx_pid ]]; then
        kill -QUIT "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
    fi
    if [[ -n $responder_pid ]]; then
        kill -TERM "$responder_pid" 2>/dev/null || true
        wait "$responder_pid" 2>/dev/null || true
    fi
}
# shellcheck disable=SC2317 # invoked by the trap
on_signal() {
    echo "moscow-time: stopping" >&2
    stop
    exit 0
}
trap on_signal TERM INT

"$responder" --config "$config" &
responder_pid=$!
# nginx may start at once (it answers 502 until the socket exists), but the
# first requests go better with the responder ready.
for _ in $(seq 100); do
    [[ -S $socket ]] && break
    kill -0 "$responder_pid" 2>/dev/null || break
    sleep 0.05
done

"$start_nginx" "$prefix" ${listen:+"$listen"} &
nginx_pid=$!

set +e
wait -n "$responder_pid" "$nginx_pid"
status=$?
set -e
if kill -0 "$responder_pid" 2>/dev/null; then
    echo "moscow-time: nginx exited ($status); stopping the responder" >&2
else
    echo "moscow-time: the responder exited ($status); stopping nginx" >&2
fi
stop
exit $((status == 0 ? 1 : status))
