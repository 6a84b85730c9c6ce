# Shared by linux.bats and linux-cgroups.bats (config-linux.md), on top of
# helpers.bash.

# run ! (a command that must fail) needs bats 1.5.
bats_require_minimum_version 1.5.0

# status, lines and output are bats' own, set by run.
# shellcheck disable=SC2154

# cgdir CONTROLLER: the test's cgroup directory in that v1 hierarchy (the
# bundle's cgroupsPath, /berth-conf/$(cid)).
cgdir() {
	echo "/sys/fs/cgroup/$1/berth-conf/$(cid)"
}

# ns_link PID TYPE: the namespace (as readlink shows it) PID is in.
ns_link() {
	readlink "/proc/$1/ns/$2"
}

# userns_config: a new user namespace with container root mapped to host
# uid/gid 100000 (65536 ids). The run's scratch directory (0700) is opened
# to others, so that the mapped root can reach the bundle.
userns_config() {
	needs_ns user
	chmod 755 "$WORK"
	config '.linux.namespaces += [{"type": "user"}]
		| .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]'
}

# What this host offers, probed when a test runs (kernel builds differ in
# their controller files, disks and schedulers): docs/TESTING.md lists who
# asks what.

# v1_file CONTROLLER FILE: whether a cgroup of that v1 hierarchy has FILE
# on this kernel (BFQ's or CFQ's weights, memsw, kmem, cpu burst and idle,
# the realtime budget), probed in a cgroup made and removed for it (some
# files exist only below the root).
v1_file() {
	local probe=/sys/fs/cgroup/$1/berth-probe-$$-${BATS_TEST_NUMBER:-0} found=1
	mkdir "$probe" 2>/dev/null || return 1
	if [ -e "$probe/$2" ]; then found=0; fi
	rmdir "$probe"
	return "$found"
}

# v1_write_holds CONTROLLER FILE VALUE: whether VALUE written to FILE of a
# probe cgroup reads back (6.x kernels keep memory.kmem.limit_in_bytes but
# hold no limit in it).
v1_write_holds() {
	local probe=/sys/fs/cgroup/$1/berth-probe-$$-${BATS_TEST_NUMBER:-0} held=1
	mkdir "$probe" 2>/dev/null || return 1
	if echo "$3" >"$probe/$2" 2>/dev/null && [ "$(cat "$probe/$2")" = "$3" ]; then
		held=0
	fi
	rmdir "$probe"
	return "$held"
}

# disk_dev: MAJOR:MINOR of the whole disk under the run's scratch
# directory (a partition's parent); empty when it is on no block device.
disk_dev() {
	local sys
	sys=$(readlink -f "/sys/dev/block/$(stat -c '%Hd:%Ld' "$WORK")" 2>/dev/null) || return 0
	if [ -e "$sys/partition" ]; then sys=${sys%/*}; fi
	cat "$sys/dev" 2>/dev/null || true
}

# kernel_lacks FIELD VALUE: create refuses FIELD (below linux.resources) set to
# VALUE in one line naming both and that this kernel has no file for it.
kernel_lacks() {
	refused "linux.resources.$1: $2: this kernel has no"
}

# v1_or_skip: the test reads limits back from cgroup v1 hierarchies; a
# unified host runs the same checks in tests/vm/cgroup-v2.sh's VM.
v1_or_skip() {
	if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
		skip "needs cgroup v1 hierarchies: this host is cgroup v2 (tests/vm/cgroup-v2.sh covers it)"
	fi
}

# needs_ns TYPE: skips the test where this kernel has no TYPE namespaces
# (time: Linux 5.6 and CONFIG_TIME_NS; user: also off when
# user.max_user_namespaces is 0). tests/namespaces.rs asserts berth's error
# for the same case.
needs_ns() {
	if [ ! -e "/proc/self/ns/$1" ]; then
		skip "needs $1 namespaces: this kernel has none"
	fi
	if [ "$1" = user ] && [ "$(cat /proc/sys/user/max_user_namespaces)" = 0 ]; then
		skip "needs user namespaces: user.max_user_namespaces is 0 on this host"
	fi
}
