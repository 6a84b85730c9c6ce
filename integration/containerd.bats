#!/usr/bin/env bats
# containerd with `ctr run --runc-binary PATH` (its runc v2 shim calling
# berth): a memory limit, task exec, task kill, and berth's reason for a
# failed create in ctr's error.

bats_require_minimum_version 1.5.0
load helpers

C=$WORK/containerd
NS=berth-it-containerd
# The shim passes --root /run/containerd/runc/NAMESPACE (the sandbox's /run).
STATE=/run/containerd/runc/$NS
IMAGE=docker.io/library/busybox:latest

c() {
	in_sandbox ctr -a "$C/containerd.sock" -n "$NS" "$@"
}

# Starts a task with berth: crun_d ID [ctr run options] -- CMD...
crun_d() {
	local id=$1
	shift
	local opts=()
	while [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	c run -d --runc-binary "$BERTH" "${opts[@]}" "$IMAGE" "$id" "$@"
}

# task_status ID STATUS: ctr task ls shows the task in STATUS.
task_status() {
	c task ls | awk -v id="$1" '$1 == id {print $3}' | grep -qx "$2"
}

# Removes a task (after killing it) and its container.
remove() {
	c task kill -s SIGKILL "$1" >/dev/null 2>&1 || true
	wait_until 10 task_status "$1" STOPPED || true
	c task rm "$1" >/dev/null 2>&1 || true
	c container rm "$1"
}

setup_file() {
	mkdir -p "$C"
	# Only what ctr needs: no CRI plugin (and its CNI setup).
	printf 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n' >"$C/config.toml"
	sandbox_start containerd containerd --config "$C/config.toml" \
		--root "$C/root" --state "$C/state" --address "$C/containerd.sock"
	wait_until 30 in_sandbox ctr -a "$C/containerd.sock" version
	c images import "$OCI_TAR"
}

teardown_file() {
	local id leaks=0
	for id in $(c task ls -q 2>/dev/null); do
		c task kill -s SIGKILL "$id" >/dev/null 2>&1 || true
	done
	for id in $(c container ls -q 2>/dev/null); do
		remove "$id" || true
	done
	berth_leaks "$STATE" "$NS" || leaks=1
	sandbox_stop containerd
	cgroup_remove "$NS"
	rm -rf "$C"
	return "$leaks"
}

@test "containerd: ctr run --runc-binary runs the task with berth" {
	crun_d plain -- sleep 1000
	assert_berth_state "$STATE" plain
	run c task exec --exec-id cg plain cat /proc/self/cgroup
	if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
		assert_contains "$output" "0::/$NS/plain"
	else
		assert_contains "$output" "memory:/$NS/plain"
	fi
	remove plain
}

@test "containerd: ctr run with a memory limit sets the task's memory cgroup" {
	v1_or_skip
	crun_d limited --memory-limit 209715200 -- sleep 1000
	assert_eq "$(cat "/sys/fs/cgroup/memory/$NS/limited/memory.limit_in_bytes")" 209715200
	remove limited
}

@test "containerd: ctr task exec runs in the task and returns the process's status" {
	crun_d ex -- sleep 1000
	assert_eq "$(c task exec --exec-id e1 ex sh -c 'echo $((6 * 7)); readlink /proc/1/exe')" "$(printf '42\n/bin/busybox')"
	run -7 c task exec --exec-id e2 ex sh -c 'exit 7'
	remove ex
}

@test "containerd: ctr task kill signals the task" {
	crun_d trapper -- sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done'
	c task kill -s SIGTERM trapper
	wait_until 10 task_status trapper STOPPED
	run c task rm trapper
	[ "$status" -eq 0 ]
	[[ "$output" != *"exit code"* ]] # exited 0, after its trap
	c container rm trapper

	crun_d killed -- sleep 1000
	c task kill -s SIGKILL killed
	wait_until 10 task_status killed STOPPED
	run c task rm killed
	assert_contains "$output" "exit code 137"
	c container rm killed
}

@test "containerd: a failed create reports berth's own reason" {
	run c run --rm --runc-binary "$BERTH" "$IMAGE" failing no-such-program-xyz
	[ "$status" -ne 0 ]
	assert_contains "$output" 'OCI runtime create failed'
	assert_contains "$output" 'process.args[0]: "no-such-program-xyz": executable file not found in $PATH'
	c container rm failing 2>/dev/null || true
}
