#!/usr/bin/env bats
# dockerd with `--add-runtime berth=PATH`, replaying the experiments the
# Docker literature explains containers with: cgroup limits, network modes,
# a published port, and the lifecycle commands, all with --runtime berth.

bats_require_minimum_version 1.5.0
load helpers

D=$WORK/docker
# berth's state root under this dockerd (its shim passes --root).
STATE=$WORK/docker/exec/runtime-runc/moby

d() {
	"$DOCKER" -H "unix://$D/docker.sock" "$@"
}

# Runs a container with berth: drun [docker run options] IMAGE [CMD...]
drun() {
	d run --runtime berth "$@"
}

# logs_have ID TEXT: the container's output (both streams) shows TEXT.
logs_have() {
	d logs "$1" 2>&1 | grep -qF -- "$2"
}

# logs_count ID TEXT N: TEXT shows on N lines of the container's output.
logs_count() {
	[ "$(d logs "$1" 2>&1 | grep -cF -- "$2")" -eq "$3" ]
}

# status_is ID STATUS
status_is() {
	[ "$(d inspect -f '{{.State.Status}}' "$1")" = "$2" ]
}

setup_file() {
	mkdir -p "$D/volume"
	echo '{}' >"$D/daemon.json"
	sandbox_start docker dockerd --config-file "$D/daemon.json" \
		--data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/dockerd.pid" \
		-H "unix://$D/docker.sock" --add-runtime "berth=$BERTH" \
		--cgroup-parent /berth-it-docker --default-ulimit nofile=$(hard_limit n 20000):$(hard_limit n 20000)
	wait_until 60 d version
	d import -c 'CMD ["sh"]' "$IMAGE_TAR" busybox
}

teardown_file() {
	local ids
	ids=$(d ps -aq 2>/dev/null) || true
	# shellcheck disable=SC2086 # one argument per id
	[ -z "$ids" ] || d rm -f $ids >/dev/null || true
	local leaks=0
	berth_leaks "$STATE" berth-it-docker || leaks=1
	sandbox_stop docker
	cgroup_remove berth-it-docker
	rm -rf "$D"
	return "$leaks"
}

@test "docker: run --runtime berth runs the container with berth" {
	id=$(drun -d busybox sleep 1000)
	assert_eq "$(d inspect -f '{{.HostConfig.Runtime}}' "$id")" berth
	assert_berth_state "$STATE" "$id"
	d rm -f "$id"
}

@test "docker: -m 200M --memory-swap 300M shows in the memory cgroup" {
	v1_or_skip
	run drun --rm -m 200M --memory-swap 300M busybox sh -c "$MEMORY_SWAP"
	assert_memory_swap "$output" "$status"
}

@test "docker: -c 512 shows as cpu.shares 512" {
	v1_or_skip
	run drun --rm -c 512 busybox cat /sys/fs/cgroup/cpu/cpu.shares
	[ "$status" -eq 0 ]
	assert_eq "$output" 512
}

@test "docker: --device-write-bps 30MB makes direct writes run at about 30 MB/s" {
	assert_write_throttled "$D/volume" 30MB drun busybox
}

@test "docker: --net none leaves only the loopback interface" {
	run drun --rm --net none busybox ip -o link
	[ "$status" -eq 0 ]
	assert_eq "$(echo "$output" | link_names)" lo
}

@test "docker: --net host shares the host's network namespace and interfaces" {
	run drun --rm --net host busybox sh -c 'readlink /proc/self/ns/net; ip -o link'
	[ "$status" -eq 0 ]
	assert_eq "${lines[0]}" "$(sandbox_netns)"
	assert_contains "$(echo "$output" | sed 1d | link_names)" "$(printf 'berthup0\nberthup1\ndocker0')"
}

@test "docker: --net container:X joins X's network namespace" {
	drun -d --name netx busybox sleep 1000
	x=$(d exec netx sh -c 'readlink /proc/self/ns/net; ip -o -4 addr show eth0')
	run drun --rm --net container:netx busybox sh -c 'readlink /proc/self/ns/net; ip -o -4 addr show eth0'
	[ "$status" -eq 0 ]
	assert_eq "$output" "$x"
	[ "${lines[0]}" != "$(sandbox_netns)" ]
	d rm -f netx
}

@test "docker: the default bridge gives an address on docker0's subnet through a veth pair" {
	drun -d --name bridged busybox sleep 1000
	subnet=$(d network inspect bridge -f '{{(index .IPAM.Config 0).Subnet}}')
	addr=$(d exec bridged ip -o -4 addr show eth0 | awk '{print $4}')
	in_subnet "${addr%/*}" "$subnet"
	# The container's eth0 is one end of a veth whose other end is on docker0.
	peer=$(d exec bridged cat /sys/class/net/eth0/iflink)
	run in_sandbox ip -o link show master docker0
	assert_contains "$output" "$peer: veth"
	d rm -f bridged
}

@test "docker: -p 18080:3000 publishes a busybox httpd, fetched with curl from the host" {
	drun -d --name web -p 18080:3000 busybox sh -c \
		'mkdir /www && echo hello-from-berth >/www/index.html && exec httpd -f -p 3000 -h /www'
	wait_until 15 in_sandbox curl -sf http://127.0.0.1:18080/
	assert_eq "$(in_sandbox curl -sf http://127.0.0.1:18080/)" hello-from-berth
	assert_eq "$(in_sandbox curl -sf "http://$UPLINK:18080/")" hello-from-berth
	d rm -f web
}

@test "docker: exec runs in the container and returns the process's status" {
	drun -d --name ex busybox sleep 1000
	assert_eq "$(d exec ex sh -c 'echo $((6 * 7)) $(hostname)')" "42 $(d inspect -f '{{.Config.Hostname}}' ex)"
	assert_eq "$(d exec -u 1000:1000 -w /tmp ex sh -c 'echo $(id -u) $(pwd)')" "1000 /tmp"
	run d exec ex sh -c 'exit 7'
	[ "$status" -eq 7 ]
	d rm -f ex
}

@test "docker: pause freezes the container and unpause thaws it" {
	v1_or_skip
	id=$(drun -d busybox sh -c 'i=0; while :; do i=$((i + 1)); echo $i >/tmp/count; sleep 0.1; done')
	d pause "$id"
	assert_eq "$(d inspect -f '{{.State.Status}}' "$id")" paused
	assert_eq "$(cat "/sys/fs/cgroup/freezer/berth-it-docker/$id/freezer.state")" FROZEN
	d unpause "$id"
	assert_eq "$(d inspect -f '{{.State.Status}}' "$id")" running
	a=$(d exec "$id" cat /tmp/count)
	sleep 0.5
	b=$(d exec "$id" cat /tmp/count)
	[ "$b" -gt "$a" ]
	d rm -f "$id"
}

# A container that reports the signals it gets.
SIGNALS='trap "echo got TERM; exit 0" TERM; trap "echo got USR1" USR1; echo started; while :; do sleep 0.1; done'

@test "docker: stop delivers SIGTERM and the container exits by itself" {
	id=$(drun -d busybox sh -c "$SIGNALS")
	wait_until 10 logs_have "$id" started
	start=$SECONDS
	d stop -t 20 "$id"
	[ $((SECONDS - start)) -lt 10 ]
	assert_eq "$(d inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$id")" "exited 0"
	assert_contains "$(d logs "$id")" "got TERM"
	d rm "$id"
}

@test "docker: restart runs the container's process again" {
	id=$(drun -d busybox sh -c "$SIGNALS")
	pid=$(d inspect -f '{{.State.Pid}}' "$id")
	d restart -t 5 "$id"
	assert_eq "$(d inspect -f '{{.State.Status}}' "$id")" running
	[ "$(d inspect -f '{{.State.Pid}}' "$id")" != "$pid" ]
	wait_until 10 logs_count "$id" started 2
	d rm -f "$id"
}

@test "docker: kill sends the signal asked for, SIGKILL by default" {
	id=$(drun -d busybox sh -c "$SIGNALS")
	wait_until 10 logs_have "$id" started
	d kill -s USR1 "$id"
	wait_until 10 logs_have "$id" "got USR1"
	status_is "$id" running
	d kill "$id"
	wait_until 10 status_is "$id" exited
	assert_eq "$(d inspect -f '{{.State.ExitCode}}' "$id")" 137
	d rm "$id"
}

@test "docker: logs keeps the container's stdout and stderr apart" {
	id=$(drun -d busybox sh -c 'echo to-stdout; echo to-stderr >&2')
	wait_until 10 status_is "$id" exited
	assert_eq "$(d logs "$id" 2>/dev/null)" to-stdout
	assert_eq "$(d logs "$id" 2>&1 >/dev/null)" to-stderr
	d rm "$id"
}

@test "docker: run -it gives a working shell on a real pty" {
	pty_session it "'$DOCKER' -H 'unix://$D/docker.sock' run -it --rm --runtime berth busybox sh"
	pty_wait it '/ #'
	pty_type it 'echo "tty=$(tty) size=$(stty size) sum=$((6 * 7))"'
	pty_wait it 'sum=42'
	assert_contains "$(pty_screen it)" "tty=/dev/pts/0 size=$(pty_size it) sum=42"
	pty_type it 'exit 3'
	assert_eq "$(pty_end it)" 3
}

@test "docker: ps lists the running container" {
	drun -d --name listed busybox sleep 1000
	run d ps --filter name=listed --format '{{.Names}} {{.Status}}'
	assert_contains "$output" "listed Up"
	d rm -f listed
}

@test "docker: top shows the container's processes" {
	drun -d --name topped busybox sh -c 'sleep 1001 & sleep 1002'
	run d top topped
	[ "$status" -eq 0 ]
	assert_contains "$output" "sleep 1001"
	d rm -f topped
}

@test "docker: a failed create reports berth's own reason" {
	run -127 drun --rm busybox no-such-program-xyz
	assert_contains "$output" 'OCI runtime create failed'
	assert_contains "$output" 'process.args[0]: "no-such-program-xyz": executable file not found in $PATH'
	run -125 drun --rm --sysctl net.ipv4.no_such_sysctl=1 busybox true
	assert_contains "$output" 'linux.sysctl.net.ipv4.no_such_sysctl: open /proc/sys/net/ipv4/no_such_sysctl'
}
