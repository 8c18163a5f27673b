#!/usr/bin/env bash
# Runs nginx in the foreground for moscow-time (the image's moscow-time-nginx,
# the chart's nginx container).
#
#   start-nginx.sh PREFIX [LISTEN [METRICS_LISTEN]]
#
# PREFIX is nginx's prefix and working directory (nginx-conf/nginx.conf explains
# why both). LISTEN (e.g. 127.0.0.1:8080) replaces listen.conf's address, and
# METRICS_LISTEN (default: LISTEN's port + 1) metrics-listen.conf's: the
# script then links nginx.conf into PREFIX/nginx/conf/ next to a listen.conf
# and a metrics-listen.conf of its own, so that the configuration itself stays
# the one file. Without LISTEN, nginx reads both files next to nginx.conf.
# NGINX_CONF names the nginx.conf to use (default: the repository's, or
# /etc/moscow-time/nginx.conf in the image). NGINX_SERVER_EXTRA, with LISTEN,
# adds directives to the server block (the benchmark's reference location).
#
# Stopping: SIGTERM (what Kubernetes and docker send), SIGINT and SIGQUIT all
# become nginx's graceful stop, SIGQUIT: it closes its listening socket and
# idle connections and finishes every request in flight, also on kept-alive
# connections. nginx's own SIGTERM is a fast stop that drops them. The script
# exits with nginx's status.
#
# The access log: nginx.conf writes it to PREFIX/nginx/access.log, which this
# script makes a pipe (a FIFO) read by a `cat` that copies it to the script's
# standard output. nginx never reopens /dev/stdout by path: that gets EACCES
# whenever the output belongs to another user (a terminal after `su - alice`,
# a file root redirected to, a container runtime's pipe), and nginx would not
# start. The reader ignores the signals that stop nginx, copies nginx's last
# lines and ends when the last nginx process has closed the pipe; the script
# exits after it.
set -euo pipefail

usage='usage: start-nginx.sh PREFIX [LISTEN [METRICS_LISTEN]]'
prefix=$(cd "${1:?$usage}" && pwd)
listen=${2:-}
metrics_listen=${3:-}
if [[ -n $listen && -z $metrics_listen ]]; then
    # The same address, the next port.
    if ! [[ $listen =~ ^(.*:)?([0-9]+)$ ]]; then
        echo "start-nginx.sh: $listen: no port to put the metrics on the next of; $usage" >&2
        exit 64 # EX_USAGE
    fi
    metrics_listen=${BASH_REMATCH[1]}$((BASH_REMATCH[2] + 1))
fi
if [[ -n $listen && $metrics_listen == "$listen" ]]; then
    echo "start-nginx.sh: the metrics server needs an address of its own, not $listen" >&2
    exit 64 # EX_USAGE
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
conf=${NGINX_CONF:-$here/../nginx-conf/nginx.conf}
[[ -f $conf ]] || conf=/etc/moscow-time/nginx.conf
conf=$(cd "$(dirname "$conf")" && pwd)/$(basename "$conf")

# Debian installs nginx in /usr/sbin, which is not on a normal user's PATH.
nginx=$(PATH=$PATH:/usr/sbin:/sbin type -P nginx || true)
if [[ -z $nginx ]]; then
    echo "start-nginx.sh: nginx is not installed (not on PATH nor in /usr/sbin); run: make deps" >&2
    exit 69 # EX_UNAVAILABLE
fi

mkdir -p "$prefix/nginx" "$prefix/sock"
if [[ -n $listen ]]; then
    mkdir -p "$prefix/nginx/conf"
    ln -sfn "$conf" "$prefix/nginx/conf/nginx.conf"
    # backlog as in nginx-conf/listen.conf (why: there)
    printf 'listen %s backlog=4096;\n%s\n' "$listen" "${NGINX_SERVER_EXTRA:-}" \
        >"$prefix/nginx/conf/listen.conf"
    printf 'listen %s;\n' "$metrics_listen" >"$prefix/nginx/conf/metrics-listen.conf"
    conf=$prefix/nginx/conf/nginx.conf
fi

# A fresh pipe each time: a regular file left there by an nginx started by
# hand would never be read.
access_log=$prefix/nginx/access.log
rm -f "$access_log"
mkfifo -m 600 "$access_log"

globals='daemon off;'
# A root master would switch its workers to "nobody", who may not connect to
# the responder's 0660 socket owned by root. Only local runs and CI start
# nginx as root; in the container and the pod everything runs as uid 10001.
if [[ $(id -u) == 0 ]]; then
    globals+=' user root root;'
fi

# A descriptor that never becomes readable: `read -t` on it sleeps without a
# fork, and a trapped signal is handled at once during it.
exec {tick}<> <(:)
nap() { read -r -t "$1" -u "$tick" || true; }
# Running, not a zombie: inside a trap handler bash reaps no children, and
# kill -0 succeeds on a zombie.
alive() {
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" && [[ ${stat##*) } != Z* ]]
}

nginx_pid='' reader_pid='' stopping=0
# After nginx has exited with STATUS: the reader copies what is left and ends
# (opening the pipe for a moment lets go of a reader still waiting in open()
# for an nginx that never opened it), then the script exits with STATUS.
# shellcheck disable=SC2317 # invoked via the trap too
finish() {
    local i=0
    true <>"$access_log" || true
    while alive "$reader_pid" && ((i < 50)); do
        nap 0.1
        i=$((i + 1))
    done
    if alive "$reader_pid"; then
        echo "start-nginx.sh: the access log's reader did not end; killing it" >&2
        kill -KILL "$reader_pid" 2>/dev/null || true
    fi
    wait "$reader_pid" 2>/dev/null || true
    exit "$1"
}
# The whole stop happens in the handler, which exits. Nothing here waits in
# `wait` for a running nginx: bash 5.2 loses the status of a child that exits
# while such a `wait` is interrupted by a trap (it reports -1).
# SIGQUIT is sent again until nginx is gone: harmless to a stopping nginx,
# and it covers one that came before nginx could take it.
# shellcheck disable=SC2317 # invoked by the trap
graceful() {
    ((stopping == 0)) || return 0
    stopping=1
    [[ -n $nginx_pid ]] || return 0
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    while alive "$nginx_pid"; do
        nap 0.5
        kill -QUIT "$nginx_pid" 2>/dev/null || true
    done
    set +e
    wait "$nginx_pid"
    finish $?
}
trap graceful TERM INT QUIT

cd "$prefix"
(
    trap '' INT TERM HUP QUIT
    exec cat -- "$access_log"
) &
reader_pid=$!
# A background job of a script starts with SIGINT and SIGQUIT ignored; nginx
# installs its own handlers, but a SIGQUIT before it has would be lost. The
# subshell restores them first.
(
    trap - INT QUIT
    exec "$nginx" -p "$prefix/" -c "$conf" -e stderr -g "$globals"
) &
nginx_pid=$!
if ((stopping)); then # a signal came before nginx_pid was set
    stopping=0
    graceful
fi
said=0
while alive "$nginx_pid"; do
    if ((said == 0)) && ! alive "$reader_pid"; then
        # nginx goes on; its writes fail (EPIPE) and it says so once a minute.
        echo "start-nginx.sh: the access log's reader exited; nginx serves without an access log" >&2
        said=1
    fi
    nap 0.5
done
set +e
wait "$nginx_pid"
finish $?
