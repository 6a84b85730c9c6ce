#!/usr/bin/env bats
# config-linux.md: namespaces, id mappings, time offsets, devices, network
# devices, seccomp, rootfs propagation, masked and read-only paths, mount
# label, personality, sysctl, memory policy, Intel RDT and the default
# filesystems. The control groups are in linux-cgroups.bats.

# jq filters and the containers' scripts are single-quoted on purpose.
# shellcheck disable=SC2016
load helpers
load linux-helpers

# What a test made on the host besides containers: a veth pair (host end
# vethname h, moved end vethname p), a named network namespace, mounts on
# the bundle's rootfs. The helpers' teardown then deletes the containers
# and the bundle.
eval "helpers_$(declare -f teardown)"
teardown() {
	if [ -n "${BUNDLE:-}" ] && grep -q " $BUNDLE/rootfs" /proc/self/mountinfo; then
		umount -R "$BUNDLE/rootfs"
	fi
	helpers_teardown
	ip link del "$(vethname h)" 2>/dev/null || true
	ip link del "$(vethname p)" 2>/dev/null || true
	if [ -e "/var/run/netns/$(netns_name)" ]; then
		ip netns del "$(netns_name)"
	fi
}

# vethname h|p: this test's veth ends (host side, the one moved).
vethname() {
	echo "cl${BATS_TEST_NUMBER}$1"
}

netns_name() {
	echo "berth-conf-linux-${BATS_TEST_NUMBER}"
}

# veth_pair: a veth pair whose p end has an IPv4 and an IPv6 address of
# global scope and mtu 1400.
veth_pair() {
	if ! ip link add "$(vethname p)" type veth peer name "$(vethname h)"; then
		skip "needs the veth link type (module veth): this host lacks it"
	fi
	ip addr add "10.251.${BATS_TEST_NUMBER}.5/24" dev "$(vethname p)"
	ip addr add "2001:db8:${BATS_TEST_NUMBER}::5/64" dev "$(vethname p)"
	ip link set "$(vethname p)" mtu 1400
}

# --- Default filesystems ---------------------------------------------------

@test "config-linux.md default filesystems: /proc, /sys, /dev/pts, /dev/shm SHOULD be available as proc, sysfs, devpts, tmpfs" {
	# Mount point and type of every mount, from the container's mountinfo.
	run_in sh -c 'sed -E "s/^([^ ]+ ){4}([^ ]+) .* - ([^ ]+) .*/\2 \3/" /proc/self/mountinfo'
	[ "$status" -eq 0 ]
	for want in "/proc proc" "/sys sysfs" "/dev/pts devpts" "/dev/shm tmpfs"; do
		grep -qx "$want" <<<"$output"
	done
}

# --- Namespaces --------------------------------------------------------------

@test "config-linux.md namespaces: the types pid, network, mount, ipc, uts, user, cgroup and time SHOULD be supported" {
	needs_ns time
	userns_config
	config '.linux.namespaces += [{"type": "time"}] | .hostname = "conf-ns"
		| .linux.timeOffsets = {"monotonic": {"secs": 86400}}'
	run_in sh -c 'echo pid=$$; echo net=$(ls /sys/class/net); hostname; cat /proc/self/uid_map
		cat /proc/self/cgroup; ipcs -q | grep -c "^0x" || true
		awk "/monotonic/ {print \"monotonic=\" \$2}" /proc/self/timens_offsets
		awk "\$5 == \"/\" {print \"root=\" \$4}" /proc/self/mountinfo'
	[ "$status" -eq 0 ]
	[[ $output == *"pid=1"* ]]                # pid: the process is pid 1
	[[ $output == *"net=lo"* ]]               # network: loopback only
	[[ $output == *"conf-ns"* ]]              # uts: its own hostname
	[[ $output == *"0     100000      65536"* ]] # user: the mapping
	[[ $output == *"0::/"* || $output == *":memory:/"* ]] # cgroup: rooted at its own cgroup
	[[ $output == *"monotonic=86400"* ]]      # time: its own offsets
	[[ $output == *"root=$BUNDLE/rootfs"* ]]  # mount: the bundle's rootfs is /
	[ "$(hostname)" != conf-ns ]
}

@test "config-linux.md namespaces: without path the runtime MUST create a new namespace of each type" {
	needs_ns time
	userns_config
	config '.linux.namespaces += [{"type": "time"}]'
	process sleep 1000
	created "$(cid)"
	pid=$(state_of "$(cid)" pid)
	for t in pid net mnt ipc uts user cgroup time; do
		[ "$(ns_link "$pid" $t)" != "$(ns_link $$ $t)" ]
	done
}

@test "config-linux.md namespaces: path MUST be absolute (a relative path is refused)" {
	config '.linux.namespaces |= map(if .type == "network" then .path = "proc/1/ns/net" else . end)'
	refused "linux.namespaces[1].path" "proc/1/ns/net"
}

@test "config-linux.md namespaces: the runtime MUST place the process in the namespace at path" {
	needs_ns time
	userns_config
	config '.linux.namespaces += [{"type": "time"}]'
	process sleep 1000
	created "$(cid)"
	a=$(state_of "$(cid)" pid)
	# A second container joins every namespace of the first but mount.
	config --arg a "$a" '.linux.namespaces = [{"type": "mount"}] + (
			[["pid", "pid"], ["network", "net"], ["ipc", "ipc"], ["uts", "uts"],
			 ["cgroup", "cgroup"], ["user", "user"], ["time", "time"]]
			| map({type: .[0], path: ("/proc/" + $a + "/ns/" + .[1])}))
		| del(.linux.uidMappings, .linux.gidMappings)
		| .linux.cgroupsPath = "/berth-conf/'"$(cid b)"'"'
	created "$(cid b)"
	b=$(state_of "$(cid b)" pid)
	for t in pid net ipc uts cgroup user time; do
		[ "$(ns_link "$b" $t)" = "$(ns_link "$a" $t)" ]
	done
	[ "$(ns_link "$b" mnt)" != "$(ns_link "$a" mnt)" ]
}

@test "config-linux.md namespaces: a path that is not a namespace of the type MUST be an error" {
	config '.linux.namespaces |= map(if .type == "network" then .path = "/proc/self/ns/ipc" else . end)'
	refused "linux.namespaces[1].path" "/proc/self/ns/ipc" "type ipc, not network"
	config '.linux.namespaces |= map(if .type == "network" then .path = "'"$BUNDLE"'/config.json" else . end)'
	refused "linux.namespaces[1].path" "config.json is not a namespace file"
}

@test "config-linux.md namespaces: a type not listed MUST inherit the runtime's namespace" {
	config '.linux.namespaces = [{"type": "mount"}] | del(.hostname)'
	process sleep 1000
	created "$(cid)"
	pid=$(state_of "$(cid)" pid)
	for t in pid net ipc uts user cgroup time; do
		[ "$(ns_link "$pid" $t)" = "$(ns_link $$ $t)" ]
	done
	[ "$(ns_link "$pid" mnt)" != "$(ns_link $$ mnt)" ]
}

@test "config-linux.md namespaces: duplicated types MUST be an error" {
	config '.linux.namespaces += [{"type": "ipc"}]'
	refused "linux.namespaces[6].type" "ipc is listed twice"
}

@test "config-linux.md namespaces: type is REQUIRED (missing is refused)" {
	config '.linux.namespaces[2] = {"path": "/proc/self/ns/ipc"}'
	refused "linux.namespaces[2]" "type"
}

# --- User namespace mappings ---------------------------------------------------

@test "config-linux.md user namespace mappings: the runtime SHOULD NOT change the ownership of the rootfs" {
	before=$(find "$BUNDLE/rootfs" -printf '%U:%G %p\n' | sort)
	userns_config
	run_in sh -c 'id -u; stat -c %u /bin/busybox'
	[ "$status" -eq 0 ]
	# Root inside; the files, owned by host root (unmapped), show as nobody.
	[ "${lines[0]}" = 0 ]
	[ "${lines[1]}" = 65534 ]
	[ "$(find "$BUNDLE/rootfs" -printf '%U:%G %p\n' | sort)" = "$before" ]
}

@test "config-linux.md user namespace mappings: containerID, hostID and size are REQUIRED (missing ones are refused)" {
	userns_config
	for key in containerID hostID size; do
		config --arg k "$key" '.linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536} | del(.[$k])]'
		refused "linux.uidMappings[0].$key" "is required"
	done
	config '.linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .linux.gidMappings = [{"containerID": 0, "size": 65536}]'
	refused "linux.gidMappings[0].hostID" "is required"
}

# --- Offset for time namespace ---------------------------------------------------

@test "config-linux.md offset for time namespace: timeOffsets shift the container's boottime and monotonic clocks" {
	needs_ns time
	config '.linux.namespaces += [{"type": "time"}]
		| .linux.timeOffsets = {"boottime": {"secs": 8640000, "nanosecs": 5}, "monotonic": {"secs": 8640000}}'
	host=$(cut -d. -f1 /proc/uptime)
	run_in sh -c 'cut -d. -f1 /proc/uptime; cat /proc/self/timens_offsets'
	[ "$status" -eq 0 ]
	# /proc/uptime is the boottime clock.
	[ "${lines[0]}" -ge $((host + 8640000)) ]
	[ "$(tr -s " " <<<"${lines[1]}")" = "monotonic 8640000 0" ]
	[ "$(tr -s " " <<<"${lines[2]}")" = "boottime 8640000 5" ]
}

# --- Devices -----------------------------------------------------------------

@test "config-linux.md devices: the listed devices MUST be available in the container" {
	config '.linux.devices = [
		{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 1, "gid": 2},
		{"path": "/dev/sda", "type": "b", "major": 8, "minor": 0, "fileMode": 432},
		{"path": "/dev/fifo", "type": "p"},
		{"path": "/outside/dev/mynull", "type": "c", "major": 1, "minor": 3}]'
	run_in stat -c '%n %F %t:%T %a %u:%g' /dev/fuse /dev/sda /dev/fifo /outside/dev/mynull
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "/dev/fuse character special file a:e5 666 1:2" ]
	[ "${lines[1]}" = "/dev/sda block special file 8:0 660 0:0" ]
	[ "${lines[2]}" = "/dev/fifo fifo 0:0 666 0:0" ]
	# The path MAY be outside /dev.
	[ "${lines[3]}" = "/outside/dev/mynull character special file 1:3 666 0:0" ]
}

@test "config-linux.md devices: a file already at path that is not the device MUST be an error" {
	echo data >"$BUNDLE/rootfs/mydev"
	config '.linux.devices = [{"path": "/mydev", "type": "c", "major": 1, "minor": 3}]'
	refused "linux.devices[0].path" "/mydev already exists and is a regular file, not the device c 1:3"
	[ "$(cat "$BUNDLE/rootfs/mydev")" = data ]
	rm "$BUNDLE/rootfs/mydev"
	mknod "$BUNDLE/rootfs/mydev" c 1 5
	refused "linux.devices[0].path" "is the device c 1:5, not the device c 1:3"
	# The same device already there is fine.
	rm "$BUNDLE/rootfs/mydev"
	mknod "$BUNDLE/rootfs/mydev" c 1 3
	run_in stat -c '%t:%T' /mydev
	[ "$status" -eq 0 ]
	[ "$output" = 1:3 ]
}

@test "config-linux.md devices: the same type, major and minor SHOULD NOT be used twice (berth warns and makes both)" {
	config '.linux.devices = [
		{"path": "/dev/null2", "type": "c", "major": 1, "minor": 3},
		{"path": "/dev/null3", "type": "c", "major": 1, "minor": 3}]'
	run_in stat -c '%n %t:%T' /dev/null2 /dev/null3
	[ "$status" -eq 0 ]
	[[ $output == *"warning: linux.devices[1]: c 1:3 is also linux.devices[0]"* ]]
	[[ $output == *"/dev/null2 1:3"* ]]
	[[ $output == *"/dev/null3 1:3"* ]]
}

@test "config-linux.md devices: path, type and major/minor (unless type p) are REQUIRED (missing ones are refused)" {
	for key in path major minor; do
		config --arg k "$key" '.linux.devices = [{"path": "/dev/x", "type": "c", "major": 1, "minor": 3} | del(.[$k])]'
		refused "linux.devices[0].$key" "is required"
	done
	config '.linux.devices = [{"path": "/dev/x", "major": 1, "minor": 3}]'
	refused "linux.devices[0]" "missing field \`type\`"
}

@test "config-linux.md default devices: /dev/null, zero, full, random, urandom, tty and /dev/ptmx MUST be supplied" {
	config '.linux.devices = []'
	run_in sh -c 'stat -c "%n %F %t:%T" /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty
		readlink /dev/ptmx; stat -L -c "%t:%T" /dev/ptmx'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "/dev/null character special file 1:3" ]
	[ "${lines[1]}" = "/dev/zero character special file 1:5" ]
	[ "${lines[2]}" = "/dev/full character special file 1:7" ]
	[ "${lines[3]}" = "/dev/random character special file 1:8" ]
	[ "${lines[4]}" = "/dev/urandom character special file 1:9" ]
	[ "${lines[5]}" = "/dev/tty character special file 5:0" ]
	# A symlink to the container's own /dev/pts/ptmx.
	[ "${lines[6]}" = pts/ptmx ]
	[ "${lines[7]}" = 5:2 ]
}

@test "config-linux.md default devices: with terminal, /dev/console MUST be the pty bind-mounted" {
	config '.process.terminal = true'
	process sh -c 'stat -c "%t:%T" /dev/console $(tty); grep " /dev/console " /proc/self/mountinfo'
	run berth run --bundle "$BUNDLE" "$(cid)" </dev/null
	[ "$status" -eq 0 ]
	lines=("${lines[@]%$'\r'}")
	# The console and the process's terminal are the same pty (major 136).
	[[ ${lines[0]} == 88:* ]]
	[ "${lines[0]}" = "${lines[1]}" ]
	[[ ${lines[2]} == *" - devpts "* ]]
}

# --- Network devices ---------------------------------------------------------

@test "config-linux.md network devices: netDevices MUST be made available in the container (renamed to name)" {
	veth_pair
	config --arg d "$(vethname p)" '.linux.netDevices = {($d): {"name": "ctr0"}}'
	run_in ls /sys/class/net
	[ "$status" -eq 0 ]
	[ "${lines[*]}" = "ctr0 lo" ]
	run ! ip link show "$(vethname p)"
}

@test "config-linux.md network devices: the permanent global addresses MUST be preserved" {
	veth_pair
	config --arg d "$(vethname p)" '.linux.netDevices = {($d): {}}'
	run_in ip addr show "$(vethname p)"
	[ "$status" -eq 0 ]
	[[ $output == *"mtu 1400"* ]]
	[[ $output == *"inet 10.251.${BATS_TEST_NUMBER}.5/24 scope global"* ]]
	[[ $output == *"inet6 2001:db8:${BATS_TEST_NUMBER}::5/64 scope global"* ]]
}

@test "config-linux.md network devices: the runtime MUST set the device up after the move" {
	veth_pair
	config --arg d "$(vethname p)" '.linux.netDevices = {($d): {"name": "ctr0"}}'
	run_in cat /sys/class/net/ctr0/flags
	[ "$status" -eq 0 ]
	# IFF_UP is bit 0.
	[ $((output & 1)) -eq 1 ]
}

@test "config-linux.md network devices: a name that already exists in the container MUST be an error" {
	veth_pair
	config --arg d "$(vethname p)" '.linux.netDevices = {($d): {"name": "lo"}}'
	process true
	refused "linux.netDevices.$(vethname p)" "a device named lo already exists"
	# Checked before the move: the device is still the host's.
	ip link show "$(vethname p)"
}

@test "config-linux.md network devices: a name ending in %d MUST be allowed (the kernel numbers it)" {
	veth_pair
	config --arg d "$(vethname p)" '.linux.netDevices = {($d): {"name": "eth%d"}}'
	run_in ls /sys/class/net
	[ "$status" -eq 0 ]
	[ "${lines[*]}" = "eth0 lo" ]
}

@test "config-linux.md network devices: the runtime MUST check that the move is possible" {
	config '.linux.netDevices = {"nosuchdev0": {}}'
	refused "linux.netDevices.nosuchdev0" "no network device nosuchdev0"
	# No network namespace of the container's own: nowhere to move it to.
	config '.linux.netDevices = {"lo": {}} | .linux.namespaces |= map(select(.type != "network"))'
	refused "linux.netDevices" "needs a network namespace"
}

@test "config-linux.md network devices: the runtime MUST NOT manage the device or move it out before deletion" {
	veth_pair
	ip netns add "$(netns_name)"
	config --arg d "$(vethname p)" --arg ns "/var/run/netns/$(netns_name)" '
		.linux.netDevices = {($d): {"name": "ctr0"}}
		| .linux.namespaces |= map(if .type == "network" then .path = $ns else . end)'
	process sleep 1000
	created "$(cid)"
	berth delete -f "$(cid)"
	# Still in the namespace, as the container left it.
	run ip -n "$(netns_name)" addr show ctr0
	[ "$status" -eq 0 ]
	[[ $output == *"inet 10.251.${BATS_TEST_NUMBER}.5/24"* ]]
	[[ $output == *"UP"* ]]
	run ! ip link show "$(vethname p)"
}

# --- Seccomp -----------------------------------------------------------------

@test "config-linux.md seccomp: the profile is applied (an SCMP_ACT_ERRNO rule, errnoRet)" {
	config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}'
	run_in sh -c 'mkdir /dev/shm/x 2>&1; echo rc=$?'
	[[ $output == *"Function not implemented"* ]]
	[[ $output == *"rc=1"* ]]
}

@test "config-linux.md seccomp: an errnoRet on an action that returns no errno MUST fail" {
	config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 5}'
	refused "linux.seccomp.defaultErrnoRet" "5 is set, but SCMP_ACT_ALLOW returns no errno"
	config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 3}]}'
	refused "linux.seccomp.syscalls[0].errnoRet" "3 is set, but SCMP_ACT_KILL returns no errno"
}

@test "config-linux.md seccomp: listenerPath gets one container process state per connection, fds by SCM_RIGHTS in the first message, then closed" {
	sock=$WORK/seccomp-$(cid).sock
	report=$WORK/seccomp-$(cid).report
	# A stream listener recording, per connection: where SCM_RIGHTS came,
	# what the fds are, the JSON; at end of file it lets the container end.
	python3 - "$sock" "$report" "$BUNDLE/rootfs/tmp/closed" <<-'EOF' &
		import array, json, os, socket, sys
		path, report, closed = sys.argv[1:]
		s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
		s.bind(path)
		s.listen(4)
		while True:
		    c, _ = s.accept()
		    chunks, fds_at, kinds = [], [], []
		    while True:
		        data, anc, _, _ = c.recvmsg(65536, socket.CMSG_SPACE(64))
		        fds = array.array("i")
		        for level, kind, d in anc:
		            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
		                fds.frombytes(d[: len(d) - len(d) % 4])
		        if fds:
		            fds_at.append(len(chunks))
		        for fd in fds:
		            kinds.append(os.readlink("/proc/self/fd/%d" % fd))
		            os.close(fd)
		        if not data and not fds:
		            break
		        chunks.append(data)
		    c.close()
		    with open(report, "a") as f:
		        f.write(json.dumps({"state": json.loads(b"".join(chunks)), "fds_at": fds_at, "fds": kinds}) + "\n")
		    open(closed, "w").close()
	EOF
	listener=$!
	wait_until 10 test -S "$sock"
	config --arg s "$sock" '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": $s,
		"listenerMetadata": "conf-meta", "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_NOTIFY"}]}'
	# The container ends only once the listener has seen its connection end:
	# a runtime that kept it open until it exits would hang here.
	run_in sh -c 'until [ -e /tmp/closed ]; do sleep 0.05; done; echo done'
	kill "$listener"
	[ "$status" -eq 0 ]
	[ "$(wc -l <"$report")" -eq 1 ]
	r=$(cat "$report")
	[ "$(jq -c .fds_at <<<"$r")" = "[0]" ]
	[ "$(jq -r '.fds[0]' <<<"$r")" = "anon_inode:seccomp notify" ]
	[ "$(jq -c .state.fds <<<"$r")" = '["seccompFd"]' ]
	[ "$(jq -r .state.metadata <<<"$r")" = conf-meta ]
	[ "$(jq -r .state.ociVersion <<<"$r")" != null ]
	[ "$(jq -r .state.pid <<<"$r")" -gt 0 ]
	[ "$(jq -r .state.state.id <<<"$r")" = "$(cid run)" ]
	[ "$(jq -r .state.state.bundle <<<"$r")" = "$BUNDLE" ]
}

@test "config-linux.md seccomp: if sending to listenerPath fails the runtime MUST generate an error" {
	config --arg s "$WORK/no-such.sock" '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
		"listenerPath": $s, "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_NOTIFY"}]}'
	refused "seccomp listener" "$WORK/no-such.sock"
}

@test "config-linux.md seccomp: listenerMetadata MUST NOT be set without listenerPath (refused)" {
	config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m"}'
	refused "linux.seccomp.listenerMetadata" "without linux.seccomp.listenerPath"
}

@test "config-linux.md seccomp: names MUST contain at least one entry (empty is refused)" {
	config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}'
	refused "linux.seccomp.syscalls[0].names" "at least one"
}

@test "config-linux.md seccomp: defaultAction, names, action, index, value and op are REQUIRED (missing ones are refused)" {
	config '.linux.seccomp = {"syscalls": []}'
	refused "linux.seccomp" "defaultAction"
	for key in names action; do
		config --arg k "$key" '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
			"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"} | del(.[$k])]}'
		refused "linux.seccomp.syscalls[0]" "$key"
	done
	for key in index value op; do
		config --arg k "$key" '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
			"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
				"args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"} | del(.[$k])]}]}'
		refused "linux.seccomp.syscalls[0].args[0]" "$key"
	done
}

# --- Rootfs mount propagation -------------------------------------------------

# propagation_setup MODE: the bundle's rootfs on a shared bind mount of its
# own on the host, and a container of it with rootfsPropagation MODE.
propagation_setup() {
	mkdir "$BUNDLE/rootfs/mnt"
	mount --bind "$BUNDLE/rootfs" "$BUNDLE/rootfs"
	mount --make-shared "$BUNDLE/rootfs"
	config --arg p "$1" '.linux.rootfsPropagation = $p'
	process sleep 1000
	created "$(cid)"
	berth start "$(cid)"
}

# root_line: the container's mountinfo line for /.
root_line() {
	berth exec "$(cid)" awk '$5 == "/"' /proc/self/mountinfo
}

@test "config-linux.md rootfs mount propagation: slave receives the host's mounts" {
	propagation_setup slave
	[[ $(root_line) == *" master:"* ]]
	mount -t tmpfs conf-prop "$BUNDLE/rootfs/mnt"
	berth exec "$(cid)" grep -q " /mnt .* conf-prop " /proc/self/mountinfo
}

@test "config-linux.md rootfs mount propagation: private receives nothing from the host" {
	propagation_setup private
	line=$(root_line)
	[[ $line != *" master:"* && $line != *" shared:"* ]]
	mount -t tmpfs conf-prop "$BUNDLE/rootfs/mnt"
	run ! berth exec "$(cid)" grep -q " /mnt " /proc/self/mountinfo
}

@test "config-linux.md rootfs mount propagation: shared makes / a new peer group" {
	propagation_setup shared
	host_group=$(awk -v d="$BUNDLE/rootfs" '$5 == d' /proc/self/mountinfo | grep -o 'shared:[0-9]*')
	group=$(root_line | grep -o 'shared:[0-9]*')
	[ -n "$group" ]
	[ "$group" != "$host_group" ]
}

@test "config-linux.md rootfs mount propagation: unbindable makes / unbindable" {
	propagation_setup unbindable
	[[ $(root_line) == *" unbindable "* ]]
}

# --- Masked and read-only paths ------------------------------------------------

@test "config-linux.md masked paths: values MUST be absolute (a relative path is refused)" {
	config '.linux.maskedPaths += ["proc/kcore"]'
	refused "linux.maskedPaths[10]" "proc/kcore must be an absolute path"
}

@test "config-linux.md masked paths: a masked file reads empty, a masked directory is empty" {
	config '.linux.maskedPaths = ["/proc/timer_list", "/sys/firmware", "/no/such/path"]'
	run_in sh -c 'wc -c </proc/timer_list; ls -A /sys/firmware | wc -l'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" -eq 0 ]
	[ "${lines[1]}" -eq 0 ]
}

@test "config-linux.md readonly paths: values MUST be absolute (a relative path is refused)" {
	config '.linux.readonlyPaths = ["proc/sys"]'
	refused "linux.readonlyPaths[0]" "proc/sys must be an absolute path"
}

@test "config-linux.md readonly paths: writes under a read-only path fail" {
	# CAP_NET_ADMIN: the container may set its own network sysctls.
	config '.process.capabilities |= map_values(. + ["CAP_NET_ADMIN"])
		| .linux.readonlyPaths = ["/proc/sys"]'
	run_in sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
	[ "$status" -ne 0 ]
	[[ $output == *"Read-only file system"* ]]
	config '.linux.readonlyPaths = []'
	run_in sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward'
	[ "$status" -eq 0 ]
	[ "$output" = 1 ]
}

# --- Mount label ---------------------------------------------------------------

@test "config-linux.md mount label: without SELinux (this machine) mountLabel is ignored with a warning" {
	if [ -e /sys/fs/selinux/enforce ]; then
		skip "needs a host without SELinux: this one has it"
	fi
	config '.linux.mountLabel = "system_u:object_r:container_file_t:s0:c1,c2"'
	run_in true
	[ "$status" -eq 0 ]
	[[ $output == *"linux.mountLabel is ignored: SELinux is not enabled on this host"* ]]
}

# --- Personality -------------------------------------------------------------

@test "config-linux.md personality: LINUX32 makes uname report i686, LINUX leaves x86_64" {
	config '.linux.personality = {"domain": "LINUX32"}'
	run_in uname -m
	[ "$status" -eq 0 ]
	[ "$output" = i686 ]
	config '.linux.personality = {"domain": "LINUX"}'
	run_in uname -m
	[ "$output" = x86_64 ]
}

@test "config-linux.md personality: domain is REQUIRED, and no flag values are supported (refused)" {
	config '.linux.personality = {"flags": []}'
	refused "linux.personality" "domain"
	config '.linux.personality = {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}'
	process true
	run berth run --bundle "$BUNDLE" "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *'linux.personality.flags[0]: "ADDR_NO_RANDOMIZE" is not supported'* ]]
}

# --- Sysctl --------------------------------------------------------------------

@test "config-linux.md sysctl: the values are set in the container's namespaces only" {
	host=$(cat /proc/sys/kernel/shmmax)
	config '.linux.sysctl = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456"}'
	run_in cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 1 ]
	[ "${lines[1]}" = 123456 ]
	[ "$(cat /proc/sys/kernel/shmmax)" = "$host" ]
}

# --- Memory policy ---------------------------------------------------------------

@test "config-linux.md memory policy: the process runs under the NUMA policy (mode, nodes, flags)" {
	if [ ! -e /proc/self/numa_maps ]; then
		skip "needs NUMA support (CONFIG_NUMA, /proc/self/numa_maps): this kernel lacks it"
	fi
	config '.linux.memoryPolicy = {"mode": "MPOL_BIND", "nodes": "0"}'
	run_in grep -m1 ' heap ' /proc/self/numa_maps
	[ "$status" -eq 0 ]
	[[ $output == *" bind:0 heap "* ]]
	config '.linux.memoryPolicy = {"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}'
	run_in grep -m1 ' heap ' /proc/self/numa_maps
	[[ $output == *" interleave=static:0 heap "* ]]
}

@test "config-linux.md memory policy: mode is REQUIRED; nodes a mode cannot take are refused" {
	config '.linux.memoryPolicy = {"nodes": "0"}'
	refused "linux.memoryPolicy" "mode"
	config '.linux.memoryPolicy = {"mode": "MPOL_BIND"}'
	refused "linux.memoryPolicy.nodes" "MPOL_BIND needs at least one node"
	config '.linux.memoryPolicy = {"mode": "MPOL_LOCAL", "nodes": "0"}'
	refused "linux.memoryPolicy.nodes" "MPOL_LOCAL takes no nodes"
	config '.linux.memoryPolicy = {"mode": "MPOL_BIND", "nodes": "0-x"}'
	refused "linux.memoryPolicy.nodes" '"x" is not a node number'
}

# --- Intel RDT -------------------------------------------------------------------

@test "config-linux.md intelRdt: without a mounted resctrl the runtime MUST generate an error" {
	if grep -q ' - resctrl ' /proc/self/mountinfo; then
		skip "needs a host without resctrl: this one has it mounted"
	fi
	config '.linux.intelRdt = {"closID": "conf"}'
	refused "linux.intelRdt" "no resctrl filesystem is mounted"
}
