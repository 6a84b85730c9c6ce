#!/bin/sh
# After the tests: nothing of any test container may remain: state dirs,
# mounts, cgroups or processes. Removes the (empty) parent cgroups the
# tests share, and fails loudly on anything else.
set -u
cd "$(dirname "$0")/.."
leaks=""
for d in target/tmp/bundles/*/state/*; do
    [ -e "$d" ] && leaks="$leaks\n  state dir $d"
done
# Tests use roots of their own: anything under the default root (a
# container, the seccomp cache) came from a run that did not clean up.
for d in /run/berth/* /run/berth/.[!.]*; do
    [ -e "$d" ] && leaks="$leaks\n  default-root entry $d"
done
if grep -q 'berth' /proc/self/mountinfo; then
    leaks="$leaks\n  mounts: $(grep berth /proc/self/mountinfo | awk '{print $5}' | tr '\n' ' ')"
fi
for parent in /sys/fs/cgroup/*/berth-tests /sys/fs/cgroup/berth-tests; do
    [ -d "$parent" ] || continue
    for child in "$parent"/*/; do
        [ -d "$child" ] && leaks="$leaks\n  cgroup $child"
    done
    rmdir "$parent" 2>/dev/null
done
# The engine and conformance tests' scratch directories and cgroups.
for d in /tmp/berth-it.* /tmp/berth-conf.*; do
    [ -e "$d" ] && leaks="$leaks\n  engine or conformance test directory $d"
done
for d in /sys/fs/cgroup/*/berth-it-* /sys/fs/cgroup/berth-it-* /sys/fs/cgroup/*/berth-conf /sys/fs/cgroup/berth-conf; do
    [ -e "$d" ] && leaks="$leaks\n  engine test cgroup $d"
done
# Killed containers may take a moment to be reaped: look a few times.
for _ in 1 2 3 4 5 6 7 8 9 10; do
    procs=$(pgrep -af 'berth-test-|memfd:berth' | grep -v -e "^$$ " -e pgrep || true)
    [ -z "$procs" ] && break
    sleep 0.2
done
[ -n "$procs" ] && leaks="$leaks\n  processes:\n$procs"
if [ -n "$leaks" ]; then
    printf 'leak check FAILED:%b\n' "$leaks"
    exit 1
fi
echo "leak check: nothing left behind"
