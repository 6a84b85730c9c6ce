#!/bin/bash
# What the test suite leaves behind, judged against the machine as it was
# before the suite started (hack/test):
#
#   hack/leakcheck.sh snapshot FILE   record the machine now
#   hack/leakcheck.sh check FILE      fail on what is new since FILE
#
# Looked at: entries of berth's default root (tests never use it, so a new
# one is a leak; what was there before, another user's container or the
# seccomp cache, is not the suite's), mount points, cgroup directories,
# processes whose root lies in the suite's scratch areas, the test bundles'
# state dirs and the engine and conformance scratch directories. The
# suite's shared, empty parent cgroups (berth-tests) are removed first.
set -u
cd "$(dirname "$0")/.."
mode=${1:-} file=${2:-}
if [ -z "$file" ] || { [ "$mode" != snapshot ] && [ "$mode" != check ]; }; then
	echo "usage: hack/leakcheck.sh snapshot|check FILE" >&2
	exit 2
fi
scratch="$PWD/target/tmp /tmp/berth-it. /tmp/berth-conf. /tmp/berth-v2. /tmp/berth-install. /tmp/berth-systemd."

state() {
	echo "# default root"
	ls -A /run/berth 2>/dev/null | sed 's|^|/run/berth/|'
	echo "# mounts"
	awk '{print $5}' /proc/self/mountinfo | sort -u
	echo "# cgroups"
	find /sys/fs/cgroup -mindepth 1 -maxdepth 4 -type d 2>/dev/null | sort
	echo "# scratch"
	ls -d target/tmp/bundles/*/state/* /tmp/berth-it.* /tmp/berth-conf.* \
		/tmp/berth-v2.* /tmp/berth-install.* /tmp/berth-systemd.* 2>/dev/null
}

# Processes living in a root under the suite's scratch areas: the
# containers' own processes, whatever their names.
processes() {
	local p root s
	for p in /proc/[0-9]*; do
		root=$(readlink "$p/root" 2>/dev/null) || continue
		for s in $scratch; do
			case $root in "$s"*)
				echo "  ${p#/proc/} (root $root): $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null | cut -c1-100)"
				break
				;;
			esac
		done
	done
}

if [ "$mode" = snapshot ]; then
	state >"$file"
	exit 0
fi

for parent in /sys/fs/cgroup/*/berth-tests /sys/fs/cgroup/berth-tests; do
	[ -d "$parent" ] && rmdir "$parent" 2>/dev/null
done
# Killed containers may take a moment to be reaped: look a few times.
for _ in 1 2 3 4 5 6 7 8 9 10; do
	procs=$(processes)
	[ -z "$procs" ] && break
	sleep 0.2
done
# What launched the suite may put each of its commands in a cgroup of its
# own (this machine's agent: memory:/process_api/HASH): those beside our own
# cgroup belong to the launcher's other commands, not to the suite. One
# below ours, or anywhere else, would be the suite's.
launcher_siblings() {
	awk -F: '{print $3}' /proc/self/cgroup | sort -u | while read -r own; do
		parent=${own%/*}
		[ -n "$parent" ] && [ "$parent" != "$own" ] && printf '%s\n' "$parent"
	done
}
siblings=$(launcher_siblings)
is_launchers() {
	local p
	for p in $siblings; do
		case $1 in /sys/fs/cgroup/*"$p"/*/*) ;; /sys/fs/cgroup/*"$p"/*) return 0 ;; esac
	done
	return 1
}
new=$(state | diff "$file" - | sed -n 's/^> //p' | while read -r line; do
	is_launchers "$line" || printf '  %s\n' "$line"
done)
if [ -n "$new$procs" ]; then
	echo "leak check FAILED: new since the suite started:"
	[ -z "$new" ] || echo "$new"
	[ -z "$procs" ] || printf '  processes:\n%s\n' "$procs"
	exit 1
fi
echo "leak check: nothing left behind"
