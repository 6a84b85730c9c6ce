#!/bin/sh
# Installs the Debian packages berth's build, demo and tests need, running
# apt only when one is missing. Debian bookworm, as root.
set -eu
cd "$(dirname "$0")/.."
pkgs="busybox-static pkg-config gcc make libc6-dev libseccomp-dev libelf-dev zlib1g-dev iproute2 procps util-linux uidmap"
# The static release build (hack/build) is linked against musl; libbpf is
# compiled for it with musl-gcc.
pkgs="$pkgs musl-tools"
# The fuzzers (hack/fuzz): libFuzzer is C++, built by libfuzzer-sys.
pkgs="$pkgs g++"
# The engine tests (integration/): the engines, bats, a pty (tmux), an
# init for their sandboxes (tini), curl, socat, jq, iptables, and systemd's
# notify and socket-activation tools.
pkgs="$pkgs docker.io podman containerd bats tmux tini curl socat jq iptables systemd"
# The CRI tests (integration/cri/): containerd's CRI plugin with the CNI
# plugins for its pod network, and the client side: gRPC for Python and its
# code generator (stubs from the CRI's api.proto at test time) and a
# websocket client for the exec stream.
pkgs="$pkgs containernetworking-plugins python3-grpcio python3-grpc-tools python3-websocket"
missing=""
for p in $pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: apt-get update, then installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086 # word splitting of the package list is meant
    apt-get install -y -q $missing
fi
# The default seccomp profiles docker (moby 20.10, as Debian's docker.io) and
# podman (containers-common) generate configs from, for the seccomp tests.
# Only the files are taken from the packages, not their dependencies.
fetch_profile() { # PACKAGE PATH-IN-PACKAGE DEST
    [ -s "$3" ] && return 0
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download -qq "$1" >/dev/null 2>&1) || {
        apt-get update -qq && (cd "$tmp" && apt-get download -qq "$1")
    }
    dpkg-deb -x "$tmp/$1"_*.deb "$tmp/x"
    mkdir -p "$(dirname "$3")"
    cp "$tmp/x/$2" "$3"
    rm -rf "$tmp"
}
fetch_profile golang-github-containers-common usr/share/containers/seccomp.json hack/.cache/containers-seccomp.json
fetch_profile golang-github-docker-docker-dev usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json hack/.cache/docker-seccomp.json
# CRIU 4.x for checkpoint/restore (tests/checkpoint.rs): Debian 12's does not
# start on current kernels; hack/criu unpacks a newer one under hack/.cache.
hack/criu >/dev/null
if ! command -v cargo >/dev/null 2>&1; then
    echo "deps: cargo is missing: install a Rust toolchain (rustup) first" >&2
    exit 1
fi
