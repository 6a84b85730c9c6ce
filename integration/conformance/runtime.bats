#!/usr/bin/env bats
# runtime.md: state, lifecycle and operations; runtime-linux.md.
load helpers
bats_require_minimum_version 1.5.0

# The host's view of a container process's command line.
cmdline() {
	tr '\0' ' ' <"/proc/$1/cmdline"
}

stopped() {
	[ "$(state_of "$1" status)" = stopped ]
}

@test "runtime.md state: id MUST be unique across containers on this host (create of a used id fails)" {
	process sleep 1000
	created "$(cid)"
	run created "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *"$(cid)"* ]]
	[ "$(state_of "$(cid)" status)" = created ]
}

@test "runtime.md scope: the creator can use every operation on its container (create, state, start, kill, delete)" {
	process sleep 1000
	berth create --bundle "$BUNDLE" "$(cid)"
	[ "$(state_of "$(cid)" status)" = created ]
	berth start "$(cid)"
	[ "$(state_of "$(cid)" status)" = running ]
	berth kill "$(cid)" KILL
	wait_until 10 stopped "$(cid)"
	berth delete "$(cid)"
	run berth state "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *"$(cid) does not exist"* ]]
}

@test "runtime.md state: ociVersion, id, status, pid and bundle are there, with their types, while created and running" {
	process sleep 1000
	created "$(cid)"
	local s pid
	s=$(berth state "$(cid)")
	jq -e --arg id "$(cid)" --arg b "$BUNDLE" '
		(.ociVersion | type == "string" and length > 0) and .id == $id and
		.status == "created" and (.pid | type == "number" and . > 0) and .bundle == $b' <<<"$s"
	pid=$(jq .pid <<<"$s")
	# The container process, as the host sees it: in the container's cgroup
	# and pid namespace.
	grep -q "berth-conf/$(cid)" "/proc/$pid/cgroup"
	[ "$(readlink "/proc/$pid/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]
	berth start "$(cid)"
	s=$(berth state "$(cid)")
	jq -e --argjson pid "$pid" '.status == "running" and .pid == $pid' <<<"$s"
	[ "$(cmdline "$pid")" = "sleep 1000 " ]
}

@test "runtime.md state: bundle is the absolute path of the bundle, even when create is given a relative one" {
	process sleep 1000
	cd "$BUNDLE/.."
	berth create --bundle "./$(basename "$BUNDLE")/." "$(cid)"
	[ "$(state_of "$(cid)" bundle)" = "$BUNDLE" ]
}

@test "runtime.md state: annotations of config.json are the state's" {
	process sleep 1000
	config '.annotations = {"org.example.one": "1", "org.example.two": ""}'
	created "$(cid)"
	[ "$(berth state "$(cid)" | jq -c .annotations)" = '{"org.example.one":"1","org.example.two":""}' ]
}

@test "runtime.md state: the state document follows schema/state-schema.json (required properties, types, status values)" {
	process sleep 1000
	config '.annotations = {"org.example.k": "v"}'
	created "$(cid)"
	# The schema's constraints: ociVersion, id, status, bundle required;
	# status one of its four values; pid an integer >= 0; annotations a map
	# of strings.
	local check='
		(.ociVersion | type == "string") and (.id | type == "string") and
		(.bundle | type == "string") and
		(.status | IN("creating", "created", "running", "stopped")) and
		(.pid | type == "number" and . >= 0 and . == floor) and
		(.annotations | type == "object" and all(.[]; type == "string"))'
	berth state "$(cid)" | jq -e "$check"
	berth start "$(cid)"
	berth state "$(cid)" | jq -e "$check and .status == \"running\""
	berth kill "$(cid)" KILL
	wait_until 10 stopped "$(cid)"
	berth state "$(cid)" | jq -e "$check and .status == \"stopped\""
}

@test "runtime.md state: status values of berth's own (paused) stand for a state the spec has not: a frozen cgroup" {
	process sleep 1000
	berth run -d --bundle "$BUNDLE" "$(cid)"
	berth pause "$(cid)"
	[ "$(state_of "$(cid)" status)" = paused ]
	local v1
	v1=/sys/fs/cgroup/freezer/berth-conf/$(cid)/freezer.state
	if [ -f "$v1" ]; then
		grep -qx FROZEN "$v1"
	else
		grep -qx 1 "/sys/fs/cgroup/berth-conf/$(cid)/cgroup.freeze"
	fi
	berth resume "$(cid)"
	[ "$(state_of "$(cid)" status)" = running ]
}

@test "runtime.md state: hooks get the pid as their namespace sees it (the host's in runtime-namespace hooks, the container's in container-namespace ones)" {
	process sleep 1000
	hooks_setup
	hook prestart prestart
	hook createRuntime createRuntime
	hook createContainer createContainer
	hook startContainer startContainer
	hook poststart poststart
	created "$(cid)"
	berth start "$(cid)"
	local pid
	pid=$(state_of "$(cid)" pid)
	for h in prestart createRuntime poststart; do
		[ "$(jq .pid "$BUNDLE/hooks/$h.json")" = "$pid" ]
	done
	# The container has a pid namespace of its own: its process is 1 there.
	for h in createContainer startContainer; do
		[ "$(jq .pid "$BUNDLE/hooks/$h.json")" = 1 ]
	done
}

@test "runtime.md lifecycle step 2: create builds the environment config.json describes (namespaces, hostname, mounts, cgroup)" {
	process sleep 1000
	config '.hostname = "step-two" | .mounts += [{destination: "/step2", type: "tmpfs", source: "tmpfs", options: ["size=1m"]}]'
	created "$(cid)"
	local pid
	pid=$(state_of "$(cid)" pid)
	for ns in mnt net pid uts ipc cgroup; do
		[ "$(readlink "/proc/$pid/ns/$ns")" != "$(readlink "/proc/self/ns/$ns")" ]
	done
	[ "$(nsenter -t "$pid" -u hostname)" = step-two ]
	grep -q " /step2 .* - tmpfs tmpfs rw,size=1024k" "/proc/$pid/mountinfo"
	[ -n "$(cgroup_dirs "$(cid)")" ]
	grep -qx "$pid" "$(cgroup_dirs "$(cid)" | head -1)/cgroup.procs"
}

@test "runtime.md lifecycle step 2: an environment that cannot be created is an error, and nothing of it is left" {
	process sleep 1000
	config '.mounts += [{destination: "/nope", type: "nosuchfs", source: "none"}]'
	run created "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *"mounts[7]"*"nosuchfs"* ]]
	gone "$(cid)"
	run ! grep -q "$BUNDLE" /proc/self/mountinfo
}

@test "runtime.md lifecycle step 2: the user program does not run at create, only at start" {
	mkdir "$BUNDLE/out"
	config --arg d "$BUNDLE/out" '.mounts += [{destination: "/out", type: "none", source: $d, options: ["bind"]}]'
	process sh -c 'echo ran > /out/ran; exec sleep 1000'
	created "$(cid)"
	local pid
	pid=$(state_of "$(cid)" pid)
	[ ! -e "$BUNDLE/out/ran" ]
	# Still berth's init, waiting: not the shell, not sleep.
	[[ $(cmdline "$pid") != sh* && $(cmdline "$pid") != sleep* ]]
	berth start "$(cid)"
	wait_until 10 test -s "$BUNDLE/out/ran"
}

@test "runtime.md lifecycle step 2: changes to config.json after create do not affect the container" {
	mkdir "$BUNDLE/out"
	config --arg d "$BUNDLE/out" '.mounts += [{destination: "/out", type: "none", source: $d, options: ["bind"]}]'
	process sh -c 'hostname > /out/seen; echo first >> /out/seen'
	config '.hostname = "before"'
	created "$(cid)"
	process sh -c 'hostname > /out/seen; echo second >> /out/seen'
	config '.hostname = "after"'
	berth start "$(cid)"
	wait_until 10 stopped "$(cid)"
	[ "$(cat "$BUNDLE/out/seen")" = "$(printf 'before\nfirst')" ]
}

@test "runtime.md lifecycle steps 3-9 and 13: hooks run in order, prestart, createRuntime, createContainer at create, startContainer and poststart at start, poststop at delete" {
	process sleep 1000
	hooks_setup
	hook poststop poststop
	hook poststart poststart
	hook startContainer startContainer
	hook createContainer createContainer
	hook createRuntime createRuntime
	hook prestart prestart
	created "$(cid)"
	[ "$(hook_log)" = "prestart createRuntime createContainer" ]
	berth start "$(cid)"
	[ "$(hook_log)" = "prestart createRuntime createContainer startContainer poststart" ]
	berth kill "$(cid)" KILL
	wait_until 10 stopped "$(cid)"
	[ "$(hook_log)" = "prestart createRuntime createContainer startContainer poststart" ]
	berth delete "$(cid)"
	[ "$(hook_log)" = "prestart createRuntime createContainer startContainer poststart poststop" ]
}

# A create-phase hook that fails: create fails, the container is stopped
# and destroyed (step 12), the poststop hooks run (step 13), and no later
# hook runs.
create_hook_fails() {
	process sleep 1000
	hooks_setup
	hook prestart prestart
	hook createRuntime createRuntime
	hook createContainer createContainer
	config --arg k "$1" '.hooks[$k] |= [.[0], {path: "/bin/false"}]'
	hook poststop poststop
	local out
	if out=$(created "$(cid)" 2>&1); then
		return 1
	fi
	[[ $out == *"hooks.$1[1] /bin/false: failed"* ]]
	gone "$(cid)"
	[ "$(hook_log)" = "$2 poststop" ]
}

@test "runtime.md lifecycle step 3: a failing prestart hook is an error; the container is stopped and destroyed, poststop hooks run" {
	create_hook_fails prestart "prestart"
}

@test "runtime.md lifecycle step 4: a failing createRuntime hook is an error; the container is stopped and destroyed, poststop hooks run" {
	create_hook_fails createRuntime "prestart createRuntime"
}

@test "runtime.md lifecycle step 5: a failing createContainer hook is an error; the container is stopped and destroyed, poststop hooks run" {
	create_hook_fails createContainer "prestart createRuntime createContainer"
}

# A start-phase hook that fails: start fails, the container is stopped
# and destroyed, the poststop hooks run (and the poststart ones do not).
# $1: the hook kind, $2: what the hooks log then, the rest: the process.
start_hook_fails() {
	local kind=$1 log=$2
	shift 2
	hooks_setup
	process "$@"
	config --arg k "$kind" '.hooks[$k] = [{path: "/bin/false"}]'
	hook poststart poststart
	hook poststop poststop
	created "$(cid)"
	local pid
	pid=$(state_of "$(cid)" pid)
	run berth start "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *"hooks.$kind[0] /bin/false: failed"* ]]
	dead "$pid"
	gone "$(cid)"
	[ "$(hook_log)" = "$log" ]
}

@test "runtime.md lifecycle step 7: a failing startContainer hook is an error; the program does not run, the container is stopped and destroyed, poststop hooks run" {
	# The program would log itself.
	start_hook_fails startContainer poststop sh -c 'echo program >> /hooks/log'
}

@test "runtime.md lifecycle step 9: a failing poststart hook is an error; the container is stopped and destroyed, poststop hooks run" {
	start_hook_fails poststart poststop sleep 1000
}

@test "runtime.md lifecycle step 13 and warnings: a failing poststop hook is a warning; the other poststop hooks run and delete succeeds" {
	process true
	hooks_setup
	hook poststop first
	config '.hooks.poststop += [{path: "/bin/false"}]'
	hook poststop last
	run berth run --bundle "$BUNDLE" "$(cid)"
	[ "$status" -eq 0 ]
	[[ $output == *"warning: hooks.poststop[1] /bin/false: failed"* ]]
	[ "$(hook_log)" = "first last" ]
	gone "$(cid)"
}

@test "runtime.md errors: a failed create leaves the environment as it was (no state, cgroup, mount or process)" {
	# Fails in the init, after namespaces, mounts and cgroup are made: the
	# program is looked up last.
	process /no/such/program
	run created "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *"process.args[0]"*"/no/such/program"* ]]
	gone "$(cid)"
	run ! grep -q "$BUNDLE" /proc/self/mountinfo
	run ! pgrep -f "berth.*$(cid)"
}

@test "runtime.md operations: state without a container id is an error" {
	run berth state
	[ "$status" -ne 0 ]
	[[ $output == *"<ID>"* || $output == *"ID"* ]]
}

@test "runtime.md operations: state of a container that does not exist is an error" {
	run berth state "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *"container $(cid) does not exist"* ]]
}

@test "runtime.md create: without a container id it is an error, and nothing is created" {
	process sleep 1000
	run berth create --bundle "$BUNDLE"
	[ "$status" -ne 0 ]
	[ -z "$(berth list -q)" ]
}

@test "runtime.md create: a bundle path without a bundle in it is an error, and nothing is created" {
	run berth create --bundle "$BUNDLE/rootfs" "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *"$BUNDLE/rootfs/config.json"* ]]
	gone "$(cid)"
}

@test "runtime.md create: an id that is not valid is an error, and no container is created" {
	process sleep 1000
	for id in "../$(cid)" "$(cid)/x" ""; do
		run berth create --bundle "$BUNDLE" "$id"
		[ "$status" -ne 0 ]
	done
	[ -z "$(berth list -q)" ]
	[ ! -e "$WORK/$(cid)" ]
}

@test "runtime.md create: a property that cannot be applied is an error, and no container is created" {
	process sleep 1000
	# A valid value this host cannot apply: a cpuset of CPUs it does not have.
	config '.linux.resources.cpu = {cpus: "4000"}'
	run created "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *cpuset* ]]
	gone "$(cid)"
}

@test "runtime.md start: without a container id it is an error" {
	run berth start
	[ "$status" -ne 0 ]
}

@test "runtime.md start: a container that is not created (running, then stopped) is an error and is left as it was" {
	mkdir "$BUNDLE/out"
	config --arg d "$BUNDLE/out" '.mounts += [{destination: "/out", type: "none", source: $d, options: ["bind"]}]'
	process sh -c 'echo ran >> /out/ran; exec sleep 1000'
	created "$(cid)"
	berth start "$(cid)"
	local pid
	pid=$(state_of "$(cid)" pid)
	run berth start "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *"it is running, not created"* ]]
	[ "$(state_of "$(cid)" status)" = running ]
	[ "$(state_of "$(cid)" pid)" = "$pid" ]
	berth kill "$(cid)" KILL
	wait_until 10 stopped "$(cid)"
	run berth start "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *"it is stopped, not created"* ]]
	[ "$(state_of "$(cid)" status)" = stopped ]
	[ "$(cat "$BUNDLE/out/ran")" = ran ]
}

@test "runtime.md start: a container without process is an error at start, and it stays created" {
	config 'del(.process)'
	created "$(cid)"
	run berth start "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *"config.json has no process"* ]]
	[ "$(state_of "$(cid)" status)" = created ]
}

@test "runtime.md kill: without a container id it is an error" {
	run berth kill
	[ "$status" -ne 0 ]
}

@test "runtime.md kill: a stopped container is an error and is left as it was" {
	process true
	created "$(cid)"
	berth start "$(cid)"
	wait_until 10 stopped "$(cid)"
	run berth kill "$(cid)" KILL
	[ "$status" -ne 0 ]
	[[ $output == *"container not running"* ]]
	[ "$(state_of "$(cid)" status)" = stopped ]
	[ -d "$WORK/root/$(cid)" ]
}

@test "runtime.md kill: the given signal reaches the container process (created, and running)" {
	mkdir "$BUNDLE/out"
	config --arg d "$BUNDLE/out" '.mounts += [{destination: "/out", type: "none", source: $d, options: ["bind"]}]'
	process sh -c 'trap "echo USR1 > /out/got" USR1; echo up > /out/up; while :; do sleep 0.05; done'
	# Created: the container process is berth's init, which SIGKILL ends.
	created "$(cid a)"
	local pid
	pid=$(state_of "$(cid a)" pid)
	berth kill "$(cid a)" KILL
	wait_until 10 stopped "$(cid a)"
	dead "$pid"
	berth delete "$(cid a)"
	# Running: the program's own handler sees the signal.
	created "$(cid b)"
	berth start "$(cid b)"
	wait_until 10 test -s "$BUNDLE/out/up"
	berth kill "$(cid b)" USR1
	wait_until 10 test -s "$BUNDLE/out/got"
	[ "$(state_of "$(cid b)" status)" = running ]
}

@test "runtime.md delete: without a container id it is an error" {
	run berth delete
	[ "$status" -ne 0 ]
}

@test "runtime.md delete: a running (or paused) container is an error and is left as it was" {
	process sleep 1000
	berth run -d --bundle "$BUNDLE" "$(cid)"
	local pid
	pid=$(state_of "$(cid)" pid)
	run berth delete "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *"it is running"* ]]
	[ "$(state_of "$(cid)" status)" = running ]
	[ "$(state_of "$(cid)" pid)" = "$pid" ]
	[ -n "$(cgroup_dirs "$(cid)")" ]
	berth pause "$(cid)"
	run berth delete "$(cid)"
	[ "$status" -ne 0 ]
	[ "$(state_of "$(cid)" status)" = paused ]
}

@test "runtime.md delete: a created container is deleted, as runc and crun do (the spec asks for an error: see CONFORMANCE.md)" {
	process sleep 1000
	created "$(cid)"
	local pid
	pid=$(state_of "$(cid)" pid)
	berth delete "$(cid)"
	gone "$(cid)"
	dead "$pid"
}

@test "runtime.md delete: it removes what create made (process, cgroups, mounts, state)" {
	process sleep 1000
	config '.mounts += [{destination: "/made", type: "tmpfs", source: "tmpfs"}]'
	berth run -d --bundle "$BUNDLE" "$(cid)"
	local pid
	pid=$(state_of "$(cid)" pid)
	grep -q " /made " "/proc/$pid/mountinfo"
	[ -n "$(cgroup_dirs "$(cid)")" ]
	berth kill "$(cid)" KILL
	wait_until 10 stopped "$(cid)"
	berth delete "$(cid)"
	gone "$(cid)"
	dead "$pid"
	run ! grep -q "$BUNDLE" /proc/self/mountinfo
}

@test "runtime.md delete: it leaves what the container did not create (a joined namespace, a bind source, a cgroup parent)" {
	process sleep 1000
	# A network namespace kept by a bind mount, joined by path.
	touch "$BUNDLE/netns"
	unshare --net="$BUNDLE/netns" true
	defer umount "$BUNDLE/netns"
	# A bind-mounted directory with a file.
	mkdir "$BUNDLE/src"
	echo keep >"$BUNDLE/src/file"
	# A cgroup parent that exists before the container.
	local parent d
	parent=/berth-conf/$(cid)-parent
	for d in /sys/fs/cgroup/*/; do
		if [ "$d" != /sys/fs/cgroup/unified/ ] && [ "$d" != /sys/fs/cgroup/systemd/ ]; then
			mkdir -p "$d$parent"
			defer rmdir "$d$parent"
		fi
	done
	config --arg n "$BUNDLE/netns" --arg s "$BUNDLE/src" --arg p "$parent/c" '
		.linux.namespaces |= map(if .type == "network" then .path = $n else . end) |
		.linux.cgroupsPath = $p |
		.mounts += [{destination: "/src", type: "none", source: $s, options: ["rbind"]}]'
	berth run -d --bundle "$BUNDLE" "$(cid)"
	local pid
	pid=$(state_of "$(cid)" pid)
	[ "$(readlink "/proc/$pid/ns/net")" = "$(nsenter --net="$BUNDLE/netns" readlink /proc/self/ns/net)" ]
	berth delete -f "$(cid)"
	nsenter --net="$BUNDLE/netns" true
	[ "$(cat "$BUNDLE/src/file")" = keep ]
	for d in /sys/fs/cgroup/*/; do
		if [ "$d" != /sys/fs/cgroup/unified/ ] && [ "$d" != /sys/fs/cgroup/systemd/ ]; then
			[ -d "$d$parent" ]
			[ ! -e "$d$parent/c" ]
		fi
	done
}

@test "runtime-linux.md file descriptors: the process has stdin, stdout and stderr open, and nothing else" {
	# Two commands, so that sh stays pid 1 instead of becoming ls.
	run_in sh -c 'ls /proc/$$/fd; :'
	[ "$status" -eq 0 ]
	[ "$(tr '\n' ' ' <<<"$output")" = "0 1 2 " ]
}

@test "runtime-linux.md dev symbolic links: /dev/fd, /dev/stdin, /dev/stdout and /dev/stderr link to /proc/self/fd" {
	run_in sh -c 'for l in fd stdin stdout stderr; do echo "$l $(readlink /dev/$l)"; done'
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'fd /proc/self/fd\nstdin /proc/self/fd/0\nstdout /proc/self/fd/1\nstderr /proc/self/fd/2')" ]
}

@test "features.md specification version: ociVersionMin and ociVersionMax are accepted as config.json's ociVersion, and max is not below min" {
	local min max v
	min=$(berth features | jq -r .ociVersionMin)
	max=$(berth features | jq -r .ociVersionMax)
	[ "$(printf '%s\n' "$max" "$min" | sort -V | head -1)" = "$min" ]
	process true
	for v in "$min" "$max"; do
		config --arg v "$v" '.ociVersion = $v'
		run berth run --bundle "$BUNDLE" "$(cid)"
		[ "$status" -eq 0 ]
		[ -z "$output" ]
	done
}

@test "features.md: the document has only properties the spec defines, and no null for an empty value" {
	berth features | jq -e '
		(keys - ["ociVersionMin", "ociVersionMax", "hooks", "mountOptions", "linux",
			"annotations", "potentiallyUnsafeConfigAnnotations"]) == [] and
		((.linux | keys) - ["namespaces", "capabilities", "cgroup", "seccomp", "apparmor",
			"selinux", "intelRdt", "mountExtensions", "netDevices", "memoryPolicy"]) == [] and
		([paths(. == null)] == [])' >/dev/null
}

@test "features.md hooks: every hook kind listed is supported" {
	process true
	hooks_setup
	local k
	for k in $(berth features | jq -r '.hooks[]'); do
		hook "$k" "$k"
	done
	run berth run --bundle "$BUNDLE" "$(cid)"
	[ "$status" -eq 0 ]
	[ "$(hook_log)" = "$(berth features | jq -r '.hooks | join(" ")')" ]
}

@test "features.md mount options: every option listed is recognized (none is passed to the filesystem as data), and none is filesystem-specific" {
	mkdir "$BUNDLE/src"
	berth features | jq -e '.mountOptions | length > 50 and all(.[]; contains("=") | not)' >/dev/null
	# One mount per option, in one container: a tmpfs (which refuses data
	# it does not know), a bind of $BUNDLE/src for the bind options, and
	# for remount, a tmpfs remounted.
	berth features | jq --arg s "$BUNDLE/src" '[.mountOptions | to_entries[] |
		("/o/\(.key)") as $d |
		if .value == "bind" or .value == "rbind" then
			{destination: $d, type: "none", source: $s, options: [.value]}
		elif .value == "idmap" or .value == "ridmap" then
			{destination: $d, type: "none", source: $s, options: ["rbind", .value],
				uidMappings: [{containerID: 0, hostID: 1000, size: 1}],
				gidMappings: [{containerID: 0, hostID: 1000, size: 1}]}
		elif .value == "remount" then
			({destination: $d, type: "tmpfs", source: "tmpfs"},
				{destination: $d, type: "tmpfs", source: "tmpfs", options: ["remount"]})
		else
			{destination: $d, type: "tmpfs", source: "tmpfs", options: [.value]}
		end]' >"$BUNDLE/mounts.json"
	config --slurpfile m "$BUNDLE/mounts.json" '.mounts += $m[0]'
	run_in sh -c 'grep -c " /o/" /proc/self/mountinfo'
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[ "$output" -eq "$(berth features | jq '.mountOptions | length')" ]
}
