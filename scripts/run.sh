#!/usr/bin/env bash
# `make run`: the service on http://127.0.0.1:${PORT:-8080}/ with its state in
# ${RUN_DIR:-./run}: config.ini, data/visits (the counter), sock/, nginx/.
# A second run continues the count. Ctrl-C stops everything.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
port=${PORT:-8080}
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

echo "moscow-time: http://127.0.0.1:$port/ (config $config, counter $run_dir/data/visits); Ctrl-C stops" >&2
exec "$here/serve.sh" "$config" "$run_dir" "127.0.0.1:$port"
