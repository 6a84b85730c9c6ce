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
	chmod 755 "$WORK"
	config '.linux.namespaces += [{"type": "user"}]
		| .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]'
}
