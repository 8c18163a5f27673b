#!/usr/bin/env bash
# Runs nginx in the foreground for moscow-time.
#
#   start-nginx.sh PREFIX [LISTEN]
#
# PREFIX is nginx's prefix and working directory (nginx-conf/nginx.conf explains
# why both). LISTEN (e.g. 127.0.0.1:8080) replaces listen.conf's address: the
# script then links nginx.conf into PREFIX/nginx/conf/ next to a listen.conf of
# its own, so that the configuration itself stays the one file.
# NGINX_CONF names the nginx.conf to use (default: the repository's, or
# /etc/moscow-time/nginx.conf in the image). NGINX_SERVER_EXTRA, with LISTEN,
# adds directives to the server block (the benchmark's reference location).
set -euo pipefail

prefix=$(cd "${1:?usage: start-nginx.sh PREFIX [LISTEN]}" && pwd)
listen=${2:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
conf=${NGINX_CONF:-$here/../nginx-conf/nginx.conf}
[[ -f $conf ]] || conf=/etc/moscow-time/nginx.conf
conf=$(cd "$(dirname "$conf")" && pwd)/$(basename "$conf")

mkdir -p "$prefix/nginx" "$prefix/sock"
if [[ -n $listen ]]; then
    mkdir -p "$prefix/nginx/conf"
    ln -sfn "$conf" "$prefix/nginx/conf/nginx.conf"
    # backlog as in nginx-conf/listen.conf (why: there)
    printf 'listen %s backlog=4096;\n%s\n' "$listen" "${NGINX_SERVER_EXTRA:-}" \
        >"$prefix/nginx/conf/listen.conf"
    conf=$prefix/nginx/conf/nginx.conf
fi

globals='daemon off;'
# A root master would switch its workers to "nobody", who may not connect to
# the responder's 0660 socket owned by root. Only local runs and CI start
# nginx as root; in the container and the pod everything runs as uid 10001.
if [[ $(id -u) == 0 ]]; then
    globals+=' user root root;'
fi

cd "$prefix"
exec nginx -p "$prefix/" -c "$conf" -e stderr -g "$globals"
