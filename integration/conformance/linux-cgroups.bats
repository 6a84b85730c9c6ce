#!/usr/bin/env bats
# config-linux.md: control groups (cgroupsPath, ownership, the device list,
# memory, cpu, blockIO, hugepages, network, pids, rdma, unified). This host
# has cgroup v1 hierarchies: limits are read back from
# /sys/fs/cgroup/CONTROLLER/berth-conf/ID; what only cgroup v2 has is
# checked here for its error and in tests/vm/cgroup-v2.sh for the rest.

# jq filters and the containers' scripts are single-quoted on purpose.
# shellcheck disable=SC2016
load helpers
load linux-helpers

# Every test here reads limits back from cgroup v1 hierarchies.
eval "helpers_$(declare -f setup)"
setup() {
	v1_or_skip
	helpers_setup
}

# A cgroup a test makes by hand (frozen, or a parent with a realtime
# budget) goes after the containers.
eval "helpers_$(declare -f teardown)"
teardown() {
	helpers_teardown
	if [ -d "$(cgdir freezer)" ]; then
		echo THAWED >"$(cgdir freezer)/freezer.state"
		rmdir "$(cgdir freezer)"
	fi
}

@test "config-linux.md control groups: a cgroup that already has processes MUST be refused (fit-for-purpose check)" {
	process sleep 1000
	created "$(cid)"
	pid=$(state_of "$(cid)" pid)
	# The second container of the bundle has the same cgroupsPath.
	run berth create --bundle "$BUNDLE" "$(cid b)"
	[ "$status" -ne 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ $output == *"linux.cgroupsPath: /berth-conf/$(cid)"*"already has 1 process(es)"* ]]
	run ! berth state "$(cid b)"
	# The first container and its cgroup are untouched.
	[ "$(cat "$(cgdir memory)/cgroup.procs")" = "$pid" ]
	[ "$(state_of "$(cid)" status)" = created ]
}

@test "config-linux.md control groups: a frozen cgroup MUST be refused (fit-for-purpose check)" {
	mkdir -p "$(cgdir freezer)"
	echo FROZEN >"$(cgdir freezer)/freezer.state"
	run berth create --bundle "$BUNDLE" "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *"linux.cgroupsPath: /berth-conf/$(cid): the cgroup is frozen"* ]]
	run ! berth state "$(cid)"
	[ ! -e "$(cgdir memory)" ]
}

@test "config-linux.md control groups: exec into a frozen (paused) container MUST be refused" {
	process sleep 1000
	created "$(cid)"
	berth start "$(cid)"
	berth pause "$(cid)"
	run berth exec "$(cid)" true
	[ "$status" -ne 0 ]
	[[ $output == *"it is paused"* ]]
	berth resume "$(cid)"
	berth exec "$(cid)" true
}

@test "config-linux.md cgroups path: an absolute path MUST be taken from the cgroups mount point (each hierarchy), made if missing" {
	config '.linux.cgroupsPath = "/berth-conf/'"$(cid)"'/nested/deeper"'
	process sleep 1000
	created "$(cid)"
	pid=$(state_of "$(cid)" pid)
	n=0
	while IFS=: read -r _ controllers path; do
		case $controllers in "" | name=*) continue ;; esac
		[ "$path" = "/berth-conf/$(cid)/nested/deeper" ]
		grep -qx "$pid" "/sys/fs/cgroup/$controllers$path/cgroup.procs"
		n=$((n + 1))
	done <"/proc/$pid/cgroup"
	[ "$n" -ge 8 ]
	berth delete -f "$(cid)"
	# What create made goes with the container.
	[ ! -e "$(cgdir memory)" ]
}

@test "config-linux.md cgroups path: the same value MUST attach to the same place (each run, and exec)" {
	config '.linux.namespaces |= map(select(.type != "cgroup"))'
	run_in cat /proc/self/cgroup
	[ "$status" -eq 0 ]
	first=$output
	[[ $first == *"memory:/berth-conf/$(cid)"* ]]
	run_in cat /proc/self/cgroup
	[ "$output" = "$first" ]
	process sleep 1000
	created "$(cid)"
	berth start "$(cid)"
	[ "$(berth exec "$(cid)" cat /proc/self/cgroup)" = "$first" ]
}

@test "config-linux.md cgroups path: a value the runtime considers invalid MUST be an error" {
	config '.linux.cgroupsPath = "/berth-conf/../escape"'
	refused "linux.cgroupsPath" '/berth-conf/../escape must not contain ".."'
}

@test "config-linux.md cgroup ownership: on cgroup v1 the runtime SHOULD NOT change the cgroup's owner" {
	# Everything that would make a v2 runtime delegate: a new user and
	# cgroup namespace, and /sys/fs/cgroup mounted read-write.
	userns_config
	config '.mounts |= map(if .destination == "/sys/fs/cgroup" then .options -= ["ro"] else . end)
		| .mounts |= map(if .destination == "/sys" then .options -= ["ro"] else . end)'
	process sleep 1000
	created "$(cid)"
	for c in memory pids devices; do
		[ "$(stat -c %u:%g "$(cgdir $c)" "$(cgdir $c)/cgroup.procs" | sort -u)" = 0:0 ]
	done
}

# --- Allowed device list --------------------------------------------------------

@test "config-linux.md allowed device list: entries MUST be applied in the listed order" {
	if [ ! -e /sys/dev/block/7:0 ]; then
		skip "needs the block device 7:0 (/dev/loop0, module loop): this host lacks it"
	fi
	# /dev/loop0 (b 7:0): allowed rw, then write denied; the reverse order
	# ends with rw.
	config '.linux.devices = [{"path": "/dev/loop0", "type": "b", "major": 7, "minor": 0}]
		| .linux.resources.devices = [{"allow": false, "access": "rwm"},
			{"allow": true, "type": "b", "major": 7, "minor": 0, "access": "rw"},
			{"allow": false, "type": "b", "major": 7, "minor": 0, "access": "w"}]'
	process sh -c 'head -c 0 /dev/loop0 && echo read=ok; echo -n >/dev/loop0 && echo write=ok; sleep 1000'
	created "$(cid)"
	grep -qx "b 7:0 r" "$(cgdir devices)/devices.list"
	berth start "$(cid)"
	run berth exec "$(cid)" sh -c 'head -c 0 /dev/loop0 && echo read=ok; echo -n >/dev/loop0 && echo write=ok'
	[[ $output == *"read=ok"* ]]
	[[ $output != *"write=ok"* ]]
	[[ $output == *"Operation not permitted"* ]]
	berth delete -f "$(cid)"
	config '.linux.resources.devices = [{"allow": false, "access": "rwm"},
			{"allow": false, "type": "b", "major": 7, "minor": 0, "access": "w"},
			{"allow": true, "type": "b", "major": 7, "minor": 0, "access": "rw"}]'
	created "$(cid)"
	grep -qx "b 7:0 rw" "$(cgdir devices)/devices.list"
	berth start "$(cid)"
	run berth exec "$(cid)" sh -c 'head -c 0 /dev/loop0 && echo read=ok; echo -n >/dev/loop0 && echo write=ok'
	[[ $output == *"write=ok"* ]]
}

@test "config-linux.md allowed device list: allow is REQUIRED (missing is refused)" {
	config '.linux.resources.devices = [{"access": "rwm"}]'
	refused "linux.resources.devices[0].allow" "is required"
}

# --- Memory ------------------------------------------------------------------

@test "config-linux.md memory: limit, reservation, swap, swappiness and disableOOMKiller are set" {
	config '.linux.resources.memory = {"limit": 67108864, "reservation": 33554432, "swap": 134217728,
		"swappiness": 10, "disableOOMKiller": true}'
	process sleep 1000
	# Swap needs swap accounting (memsw): without it, refused naming why.
	memsw=true
	if ! v1_file memory memory.memsw.limit_in_bytes; then
		memsw=false
		kernel_lacks memory.swap 134217728
		config 'del(.linux.resources.memory.swap)'
	fi
	created "$(cid)"
	m=$(cgdir memory)
	[ "$(cat "$m/memory.limit_in_bytes")" = 67108864 ]
	[ "$(cat "$m/memory.soft_limit_in_bytes")" = 33554432 ]
	if $memsw; then [ "$(cat "$m/memory.memsw.limit_in_bytes")" = 134217728 ]; fi
	[ "$(cat "$m/memory.swappiness")" = 10 ]
	grep -qx "oom_kill_disable 1" "$m/memory.oom_control"
}

@test "config-linux.md memory: -1 is unlimited" {
	config '.linux.resources.memory = {"limit": -1, "swap": -1}'
	process sleep 1000
	memsw=true
	if ! v1_file memory memory.memsw.limit_in_bytes; then
		memsw=false
		kernel_lacks memory.swap -1
		config 'del(.linux.resources.memory.swap)'
	fi
	created "$(cid)"
	unlimited=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
	[ "$(cat "$(cgdir memory)/memory.limit_in_bytes")" = "$unlimited" ]
	if $memsw; then [ "$(cat "$(cgdir memory)/memory.memsw.limit_in_bytes")" = "$unlimited" ]; fi
}

@test "config-linux.md memory: kernel and kernelTCP are NOT RECOMMENDED (accepted; a limit this kernel lacks is ignored with a warning)" {
	config '.linux.resources.memory = {"kernel": 67108864, "kernelTCP": 67108864}'
	process sleep 1000
	# stderr to a file: the init keeps a pipe open.
	created "$(cid)" 2>"$WORK/err-$(cid)"
	err=$(cat "$WORK/err-$(cid)")
	# Each limit is probed: where the kernel holds it, it reads back;
	# where not (6.x keeps the kmem file but no limit), a warning.
	if v1_write_holds memory memory.kmem.limit_in_bytes 67108864; then
		[ "$(cat "$(cgdir memory)/memory.kmem.limit_in_bytes")" = 67108864 ]
		[[ $err != *"memory.kernel:"* ]]
	else
		[[ $err == *"warning: linux.resources.memory.kernel: 67108864 ignored"* ]]
	fi
	if v1_write_holds memory memory.kmem.tcp.limit_in_bytes 67108864; then
		[ "$(cat "$(cgdir memory)/memory.kmem.tcp.limit_in_bytes")" = 67108864 ]
		[[ $err != *"kernelTCP"* ]]
	else
		[[ $err == *"warning: linux.resources.memory.kernelTCP: 67108864 ignored"* ]]
	fi
}

@test "config-linux.md memory: with checkBeforeUpdate a limit below the current usage MUST be rejected" {
	config '.linux.resources.memory = {"limit": 67108864}'
	process sleep 1000
	created "$(cid)"
	echo '{"memory": {"limit": 4096, "checkBeforeUpdate": true}}' >"$WORK/res-$(cid).json"
	run berth update -r "$WORK/res-$(cid).json" "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *"linux.resources.memory.limit: 4096 is below the container's current usage"* ]]
	[ "$(cat "$(cgdir memory)/memory.limit_in_bytes")" = 67108864 ]
}

# --- CPU ---------------------------------------------------------------------

@test "config-linux.md cpu: shares, quota, period, burst, cpus, mems and idle are set" {
	config '.linux.resources.cpu = {"shares": 512, "quota": 20000, "period": 100000, "burst": 1000,
		"cpus": "0", "mems": "0", "idle": 0}'
	process sleep 1000
	# burst (5.14) and idle (5.15) have files only on newer kernels:
	# without them, refused naming why.
	burst=true idle=true
	if ! v1_file cpu cpu.cfs_burst_us; then
		burst=false
		kernel_lacks cpu.burst 1000
		config 'del(.linux.resources.cpu.burst)'
	fi
	if ! v1_file cpu cpu.idle; then
		idle=false
		kernel_lacks cpu.idle 0
		config 'del(.linux.resources.cpu.idle)'
	fi
	created "$(cid)"
	c=$(cgdir cpu)
	[ "$(cat "$c/cpu.shares")" = 512 ]
	[ "$(cat "$c/cpu.cfs_quota_us")" = 20000 ]
	[ "$(cat "$c/cpu.cfs_period_us")" = 100000 ]
	if $burst; then [ "$(cat "$c/cpu.cfs_burst_us")" = 1000 ]; fi
	if $idle; then [ "$(cat "$c/cpu.idle")" = 0 ]; fi
	[ "$(cat "$(cgdir cpuset)/cpuset.cpus")" = 0 ]
	[ "$(cat "$(cgdir cpuset)/cpuset.mems")" = 0 ]
	if $idle; then
		berth delete -f "$(cid)"
		config '.linux.resources.cpu = {"idle": 1}'
		created "$(cid)"
		[ "$(cat "$c/cpu.idle")" = 1 ]
	fi
}

@test "config-linux.md cpu: quota MUST be no smaller than burst (a larger burst is refused)" {
	config '.linux.resources.cpu = {"quota": 1000, "period": 100000, "burst": 5000}'
	refused "linux.resources.cpu.burst" "5000 is larger than cpu.quota 1000"
}

# --- Block IO ------------------------------------------------------------------

@test "config-linux.md block IO: the throttle limits are set" {
	# On the disk under the scratch directory (254:0, vda, on the machine
	# the suite was written on).
	dev=$(disk_dev)
	if [ -z "$dev" ]; then
		skip "needs the scratch directory on a block device: it is on none here"
	fi
	config --argjson ma "${dev%:*}" --argjson mi "${dev#*:}" '.linux.resources.blockIO = {
		"throttleReadBpsDevice": [{"major": $ma, "minor": $mi, "rate": 1048576}],
		"throttleWriteBpsDevice": [{"major": $ma, "minor": $mi, "rate": 2097152}],
		"throttleReadIOPSDevice": [{"major": $ma, "minor": $mi, "rate": 100}],
		"throttleWriteIOPSDevice": [{"major": $ma, "minor": $mi, "rate": 200}]}'
	process sleep 1000
	created "$(cid)"
	b=$(cgdir blkio)
	[ "$(cat "$b/blkio.throttle.read_bps_device")" = "$dev 1048576" ]
	[ "$(cat "$b/blkio.throttle.write_bps_device")" = "$dev 2097152" ]
	[ "$(cat "$b/blkio.throttle.read_iops_device")" = "$dev 100" ]
	[ "$(cat "$b/blkio.throttle.write_iops_device")" = "$dev 200" ]
}

@test "config-linux.md block IO: weight is set where the kernel has a weight (BFQ or CFQ), refused naming why where not" {
	config '.linux.resources.blockIO = {"weight": 300}'
	process sleep 1000
	for f in blkio.weight blkio.bfq.weight; do
		if v1_file blkio "$f"; then
			created "$(cid)"
			[ "$(cat "$(cgdir blkio)/$f")" = 300 ]
			return
		fi
	done
	kernel_lacks blockIO.weight 300
}

@test "config-linux.md block IO: a weightDevice entry MUST set weight or leafWeight (neither is refused)" {
	config '.linux.resources.blockIO = {"weightDevice": [{"major": 254, "minor": 0}]}'
	refused "linux.resources.blockIO.weightDevice[0]" "254:0 sets neither weight nor leafWeight"
}

@test "config-linux.md block IO: major, minor and rate are REQUIRED (missing ones are refused)" {
	for key in major minor rate; do
		config --arg k "$key" '.linux.resources.blockIO = {"throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 5} | del(.[$k])]}'
		refused "linux.resources.blockIO.throttleWriteIOPSDevice[0].$key" "is required"
	done
	config '.linux.resources.blockIO = {"weightDevice": [{"minor": 0, "weight": 10}]}'
	refused "linux.resources.blockIO.weightDevice[0].major" "is required"
}

# --- Huge page limits -------------------------------------------------------------

@test "config-linux.md huge page limits: with a v1 hugetlb hierarchy the limit is set" {
	if [ ! -d /sys/fs/cgroup/hugetlb ]; then
		skip "needs a v1 hugetlb hierarchy: this host has none (hugetlb is on its cgroup2 mount)"
	fi
	# The smallest page size this kernel has, as the spec writes it.
	kb=$(find /sys/kernel/mm/hugepages -maxdepth 1 -name 'hugepages-*kB' -printf '%f\n' |
		sed 's/hugepages-//; s/kB//' | sort -n | head -1)
	if [ "$kb" -ge 1048576 ]; then size=$((kb >> 20))GB; else size=$((kb >> 10))MB; fi
	config --arg s "$size" --argjson l "$((kb * 2048))" \
		'.linux.resources.hugepageLimits = [{"pageSize": $s, "limit": $l}]'
	process sleep 1000
	created "$(cid)"
	[ "$(cat "$(cgdir hugetlb)/hugetlb.$size.limit_in_bytes")" = "$((kb * 2048))" ]
}

@test "config-linux.md huge page limits: without a v1 hugetlb hierarchy (this machine) the limit is refused" {
	if [ -d /sys/fs/cgroup/hugetlb ]; then
		skip "needs a host without a v1 hugetlb hierarchy: this one has it"
	fi
	config '.linux.resources.hugepageLimits = [{"pageSize": "2MB", "limit": 4194304}]'
	refused "linux.resources.hugepageLimits" "this host has no hugetlb hierarchy"
}

@test "config-linux.md huge page limits: pageSize and limit are REQUIRED (missing ones are refused)" {
	for key in pageSize limit; do
		config --arg k "$key" '.linux.resources.hugepageLimits = [{"pageSize": "2MB", "limit": 4194304} | del(.[$k])]'
		refused "linux.resources.hugepageLimits[0].$key" "is required"
	done
}

# --- Network -------------------------------------------------------------------

@test "config-linux.md network: with v1 net_cls and net_prio hierarchies classID and priorities are set" {
	if [ ! -d /sys/fs/cgroup/net_cls ] || [ ! -d /sys/fs/cgroup/net_prio ]; then
		skip "needs v1 net_cls and net_prio hierarchies: this host has none"
	fi
	config '.linux.resources.network = {"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]}'
	process sleep 1000
	created "$(cid)"
	[ "$(cat "$(cgdir net_cls)/net_cls.classid")" = 1048577 ]
	grep -qx "lo 5" "$(cgdir net_prio)/net_prio.ifpriomap"
}

@test "config-linux.md network: without v1 net_cls and net_prio hierarchies (this machine) classID and priorities are refused" {
	if [ -d /sys/fs/cgroup/net_cls ] || [ -d /sys/fs/cgroup/net_prio ]; then
		skip "needs a host without net_cls and net_prio hierarchies: this one has them"
	fi
	config '.linux.resources.network = {"classID": 1048577}'
	refused "linux.resources.network.classID" "this host has no net_cls hierarchy"
	config '.linux.resources.network = {"priorities": [{"name": "lo", "priority": 5}]}'
	refused "linux.resources.network.priorities" "this host has no net_prio hierarchy"
}

@test "config-linux.md network: name and priority are REQUIRED (missing ones are refused)" {
	for key in name priority; do
		config --arg k "$key" '.linux.resources.network = {"priorities": [{"name": "lo", "priority": 5} | del(.[$k])]}'
		refused "linux.resources.network.priorities[0].$key" "is required"
	done
}

# --- PIDs ----------------------------------------------------------------------

@test "config-linux.md pids: 0 SHOULD be treated as a valid limit" {
	config '.linux.resources.pids = {"limit": 0}'
	process sleep 1000
	created "$(cid)"
	[ "$(cat "$(cgdir pids)/pids.max")" = 0 ]
	berth start "$(cid)"
	run berth exec "$(cid)" true
	[ "$status" -ne 0 ]
}

@test "config-linux.md pids: the limit is set, -1 is max" {
	config '.linux.resources.pids = {"limit": 3}'
	process sh -c 'sleep 1000 & sleep 1000 & wait'
	created "$(cid)"
	[ "$(cat "$(cgdir pids)/pids.max")" = 3 ]
	berth start "$(cid)"
	wait_until 10 test "$(cat "$(cgdir pids)/pids.current")" -eq 3
	run berth exec "$(cid)" true
	[ "$status" -ne 0 ]
	berth delete -f "$(cid)"
	config '.linux.resources.pids = {"limit": -1}'
	created "$(cid)"
	[ "$(cat "$(cgdir pids)/pids.max")" = max ]
}

# --- RDMA ------------------------------------------------------------------------

@test "config-linux.md rdma: an entry MUST set hcaHandles or hcaObjects (neither is refused)" {
	config '.linux.resources.rdma = {"mlx5_1": {}}'
	refused "linux.resources.rdma.mlx5_1" "sets neither hcaHandles nor hcaObjects"
}

@test "config-linux.md rdma: with an rdma controller a limit for a device the host lacks is the kernel's refusal, named" {
	if [ ! -d /sys/fs/cgroup/rdma ]; then
		skip "needs a v1 rdma hierarchy: this host has none"
	fi
	config '.linux.resources.rdma = {"berth_none0": {"hcaHandles": 3}}'
	refused "linux.resources.rdma: berth_none0 hca_handle=3: "
}

@test "config-linux.md rdma: without an rdma controller (this machine) a limit is refused" {
	if [ -d /sys/fs/cgroup/rdma ]; then
		skip "needs a host without a v1 rdma hierarchy: this one has it"
	fi
	config '.linux.resources.rdma = {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}}'
	refused "rdma.max" "no rdma controller on this host"
}

# --- Unified -------------------------------------------------------------------

@test "config-linux.md unified: a controller that is not present MUST be an error (v1 host: every key is refused)" {
	if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
		skip "needs cgroup v1: this host is v2 (tests/vm/cgroup-v2.sh covers it)"
	fi
	config '.linux.resources.unified = {"memory.high": "67108864", "io.max": "254:0 rbps=1048576"}'
	refused "linux.resources.unified.io.max" "cgroup v2 files cannot be set on this host's cgroup v1 hierarchies"
}
