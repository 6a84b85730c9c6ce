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
procs=$(pgrep -f 'berth-test-|memfd:berth' | grep -v "^$$\$" || true)
[ -n "$procs" ] && leaks="$leaks\n  processes: $(echo "$procs" | tr '\n' ' ')"
if [ -n "$leaks" ]; then
    printf 'leak check FAILED:%b\n' "$leaks"
    exit 1
fi
echo "leak check: nothing left behind"
