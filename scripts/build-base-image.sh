#!/usr/bin/env bash
# Makes a Debian bookworm base image like debian:bookworm-slim, from the Debian
# mirror, for machines where no image registry can be reached:
#
#   build-base-image.sh TARFILE     (root; needs debootstrap)
#
# TARFILE receives the root file system; import it with
#   podman import --change 'CMD ["bash"]' TARFILE NAME   (or docker import).
#
# debootstrap --variant=minbase, then what the official slim images do
# (debuerreotype): apt sources for bookworm, -updates and -security, the
# updates applied, no documentation, man pages or locales (kept out of later
# installs too by a dpkg filter), no apt lists, caches or logs. The mirror is
# the host's (/etc/apt/sources.list.d/*.sources or sources.list) unless
# DEBIAN_MIRROR / DEBIAN_SECURITY_MIRROR name one.
set -euo pipefail

out=${1:?usage: build-base-image.sh TARFILE}
suite=bookworm

# The first URI of the host's apt sources for a suite; $2 when there is none.
host_mirror() {
    local suite=$1 fallback=$2 uri f files=()
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
        [[ -f $f ]] && files+=("$f")
    done
    ((${#files[@]})) || { echo "$fallback" && return; }
    uri=$(awk -v s="$suite" '
        function check() {
            if (u != "" && (" " suites " ") ~ (" " s " ")) { print u; found = 1; exit }
            u = suites = ""
        }
        FNR == 1 || /^[[:space:]]*$/ { check() }
        /^URIs:/ { u = $2 }
        /^Suites:/ { suites = $0; sub(/^Suites:/, "", suites); gsub(/[[:space:]]+/, " ", suites) }
        /^deb[[:space:]]/ { sub(/\[[^]]*\][[:space:]]*/, ""); if ($3 == s) { print $2; found = 1; exit } }
        END { if (!found) check() }
    ' "${files[@]}")
    echo "${uri:-$fallback}"
}
mirror=${DEBIAN_MIRROR:-$(host_mirror "$suite" http://deb.debian.org/debian)}
security=${DEBIAN_SECURITY_MIRROR:-$(host_mirror "$suite-security" http://deb.debian.org/debian-security)}

if [[ $(id -u) != 0 ]]; then
    echo "build-base-image.sh: must run as root (debootstrap, chroot)" >&2
    exit 1
fi
command -v debootstrap >/dev/null || {
    echo "build-base-image.sh: debootstrap is missing (apt-get install debootstrap)" >&2
    exit 1
}

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/moscow-time-rootfs.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT

echo "# debootstrap $suite from $mirror" >&2
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    tail -n 30 "$rootfs.log" >&2
    rm -f "$rootfs.log"
    exit 1
}
rm -f "$rootfs.log"

cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
rm -f "$rootfs/etc/apt/sources.list"

# What the official images add (debuerreotype's slimify and apt settings).
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
printf 'Apt::AutoRemove::SuggestsImportant "false";\n' >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"
# Packages installed in a container start no services.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 755 "$rootfs/usr/sbin/policy-rc.d"

echo "# apt-get upgrade ($suite-updates, $suite-security)" >&2
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
# /proc for apt, in a private mount namespace: gone with it, even on failure.
# shellcheck disable=SC2016 # $1 is expanded by the inner sh
unshare --mount --propagation private -- sh -ec '
    mount -t proc proc "$1/proc"
    chroot "$1" sh -ec "
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get upgrade -y -q
        apt-get clean
    "
' sh "$rootfs" >&2

# Strip what the filters above keep out of later installs, and the state of
# this build.
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "${rootfs:?}"/usr/share/{groff,info,linda,lintian/overrides,locale,man}/* \
    "${rootfs:?}"/var/lib/apt/lists/* "${rootfs:?}"/var/cache/ldconfig/* \
    "${rootfs:?}"/tmp/* "${rootfs:?}"/var/tmp/* "${rootfs:?}"/dev/* \
    "${rootfs:?}"/proc/* "${rootfs:?}"/sys/* \
    "${rootfs:?}"/var/cache/debconf/*-old "${rootfs:?}"/var/lib/dpkg/*-old
find "$rootfs/var/log" "$rootfs/var/cache/apt" -type f -delete
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"
[[ ! -e $rootfs/etc/machine-id ]] || : >"$rootfs/etc/machine-id"

tar -C "$rootfs" --numeric-owner -cf "$out" .
echo "# base root file system: $(du -sh "$rootfs" | cut -f1)" >&2
