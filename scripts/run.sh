#!/usr/bin/env bash
# `make run`: the service on http://127.0.0.1:${PORT:-8080}/ and its metrics
# on http://127.0.0.1:${METRICS_PORT:-PORT + 1}/metrics, with its state in
# ${RUN_DIR:-./run}: config.ini, data/visits (the counter), sock/, nginx/.
# A second run continues the count. Ctrl-C stops everything.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
port=${PORT:-8080}
if ! [[ $port =~ ^[0-9]{1,5}$ ]]; then
    echo "moscow-time: PORT=$port is not a port number" >&2
    exit 64 # EX_USAGE
fi
metrics_port=${METRICS_PORT:-$((10#$port + 1))}
if ! [[ $metrics_port =~ ^[0-9]{1,5}$ ]]; then
    echo "moscow-time: METRICS_PORT=$metrics_port is not a port number" >&2
    exit 64 # EX_USAGE
fi
run_dir=${RUN_DIR:-$top/run}
mkdir -p "$run_dir/data" "$run_dir/sock" "$run_dir/nginx"
run_dir=$(cd "$run_dir" && pwd)
config=$run_dir/config.ini

# The example config with this run's paths; kept across runs so edits stick.
if [[ ! -f $config ]]; then
    sed -e "s|^socket = .*|socket = $run_dir/sock/fcgi.sock|" \
        -e "s|^path = .*|path = $run_dir/data/visits|" \
        "$top/fcgi-app/config.ini" >"$config"
fi
"$top/build/moscow-time" --check-config "$config" >/dev/null

echo "moscow-time: http://127.0.0.1:$port/ (metrics: http://127.0.0.1:$metrics_port/metrics;" \
    "config $config, counter $run_dir/data/visits); Ctrl-C stops" >&2
exec "$here/serve.sh" "$config" "$run_dir" "127.0.0.1:$port" "127.0.0.1:$metrics_port"
