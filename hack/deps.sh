#!/bin/sh
# Installs the Debian packages berth's build, demo and tests need, running
# apt only when one is missing. Debian bookworm, as root.
set -eu
cd "$(dirname "$0")/.."
pkgs="busybox-static pkg-config gcc libc6-dev libseccomp-dev iproute2 procps util-linux"
missing=""
for p in $pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086 # word splitting of the package list is meant
    apt-get install -y -qq $missing >/dev/null
fi
# The default seccomp profile podman (containers-common) generates configs
# from, for the seccomp tests. Only the file is taken: the package's
# dependencies (a whole container stack) are not needed for it.
profile=hack/.cache/containers-seccomp.json
if [ ! -s "$profile" ]; then
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download -qq golang-github-containers-common >/dev/null 2>&1) || {
        apt-get update -qq && (cd "$tmp" && apt-get download -qq golang-github-containers-common)
    }
    dpkg-deb -x "$tmp"/golang-github-containers-common_*.deb "$tmp/x"
    mkdir -p hack/.cache
    cp "$tmp/x/usr/share/containers/seccomp.json" "$profile"
    rm -rf "$tmp"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "deps: cargo is missing: install a Rust toolchain (rustup) first" >&2
    exit 1
fi
