#!/usr/bin/env bats
# podman with `--runtime PATH` (through conmon): the same cgroup limits and
# network modes as under docker, exec, crun's headline (`--memory 512k`),
# run -it, the sd_notify socket and socket activation, and berth's reason
# for a failed create.

bats_require_minimum_version 1.5.0
load helpers

P=$WORK/podman
# podman passes no --root: berth's default, in the sandbox's own /run.
STATE=/run/berth

# podman in the sandbox, with every path of its own under $P.
PODMAN=(env CONTAINERS_CONF="$P/containers.conf" TMPDIR="$P/tmp"
	podman --root "$P/root" --runroot "$P/runroot" --tmpdir "$P/libpod"
	--storage-driver overlay --volumepath "$P/volumes" --network-config-dir "$P/networks"
	--cgroup-manager cgroupfs --events-backend file --runtime "$BERTH")

p() {
	in_sandbox "${PODMAN[@]}" "$@"
}

# Runs a container: prun [podman run options] IMAGE [CMD...]
prun() {
	p run --pull never --cgroup-parent /berth-it-podman "$@"
}

setup_file() {
	mkdir -p "$P/tmp" "$P/volume"
	# runtime_supports_json: podman passes --log-format json (and reads
	# berth's error from the log) only to runtimes named here. The limits:
	# podman's default nofile (1048576) is above this machine's hard limit.
	cat >"$P/containers.conf" <<-EOF
		[containers]
		default_ulimits = ["nofile=$(hard_limit n 20000):$(hard_limit n 20000)", "nproc=$(hard_limit u 32768):$(hard_limit u 32768)"]
		[engine]
		runtime_supports_json = ["berth"]
	EOF
	sandbox_start podman sleep infinity
	p import -c 'CMD ["sh"]' "$IMAGE_TAR" localhost/busybox
}

teardown_file() {
	p rm -af -t 0 >/dev/null || true
	local leaks=0
	berth_leaks "$STATE" berth-it-podman libpod- || leaks=1
	sandbox_stop podman
	cgroup_remove berth-it-podman
	rm -rf "$P"
	return "$leaks"
}

@test "podman: run uses berth" {
	assert_eq "$(p info --format '{{.Host.OCIRuntime.Path}}')" "$BERTH"
	id=$(prun -d localhost/busybox sleep 1000)
	assert_berth_state "$STATE" "$id"
	p rm -f -t 0 "$id"
}

@test "podman: --memory 200m --memory-swap 300m shows in the memory cgroup" {
	v1_or_skip
	run prun --rm --memory 200m --memory-swap 300m localhost/busybox sh -c "$MEMORY_SWAP"
	assert_memory_swap "$output" "$status"
}

@test "podman: --cpu-shares 512 shows as cpu.shares 512" {
	v1_or_skip
	run prun --rm --cpu-shares 512 localhost/busybox cat /sys/fs/cgroup/cpu/cpu.shares
	[ "$status" -eq 0 ]
	assert_eq "$output" 512
}

@test "podman: --device-write-bps 30mb makes direct writes run at about 30 MB/s" {
	assert_write_throttled "$P/volume" 30mb prun localhost/busybox
}

@test "podman: --read-only keeps the image read-only, with tmpfs (tmpcopyup) on /tmp and /run" {
	run prun --rm --read-only localhost/busybox sh -c \
		'touch /x 2>/dev/null && echo rw || echo ro; touch /tmp/y /run/z && echo tmpfs'
	[ "$status" -eq 0 ]
	assert_eq "$output" "ro
tmpfs"
}

@test "podman: run --rm --memory 512k busybox echo it works" {
	run prun --rm --memory 512k localhost/busybox echo it works
	[ "$status" -eq 0 ]
	assert_eq "$output" "it works"
}

@test "podman: --memory 512k is in place" {
	v1_or_skip
	run prun --rm --memory 512k localhost/busybox cat /sys/fs/cgroup/memory/memory.limit_in_bytes
	[ "$status" -eq 0 ]
	assert_eq "$output" 524288
}

@test "podman: --network none leaves only the loopback interface" {
	run prun --rm --network none localhost/busybox ip -o link
	[ "$status" -eq 0 ]
	assert_eq "$(echo "$output" | link_names)" lo
}

@test "podman: --network host shares the host's network namespace and interfaces" {
	run prun --rm --network host localhost/busybox sh -c 'readlink /proc/self/ns/net; ip -o link'
	[ "$status" -eq 0 ]
	assert_eq "${lines[0]}" "$(sandbox_netns)"
	assert_contains "$(echo "$output" | sed 1d | link_names)" "$(printf 'berthup0\nberthup1')"
}

@test "podman: --network container:X joins X's network namespace" {
	prun -d --name netx localhost/busybox sleep 1000
	x=$(p exec netx sh -c 'readlink /proc/self/ns/net; ip -o -4 addr show eth0')
	run prun --rm --network container:netx localhost/busybox sh -c 'readlink /proc/self/ns/net; ip -o -4 addr show eth0'
	[ "$status" -eq 0 ]
	assert_eq "$output" "$x"
	[ "${lines[0]}" != "$(sandbox_netns)" ]
	p rm -f -t 0 netx
}

@test "podman: the default bridge gives an address on podman0's subnet through a veth pair" {
	prun -d --name bridged localhost/busybox sleep 1000
	subnet=$(p network inspect podman -f '{{(index .Subnets 0).Subnet}}')
	addr=$(p exec bridged ip -o -4 addr show eth0 | awk '{print $4}')
	in_subnet "${addr%/*}" "$subnet"
	peer=$(p exec bridged cat /sys/class/net/eth0/iflink)
	run in_sandbox ip -o link show master podman0
	assert_contains "$output" "$peer: veth"
	p rm -f -t 0 bridged
}

@test "podman: -p 18080:3000 publishes a busybox httpd, fetched with curl from the host" {
	prun -d --name web -p 18080:3000 localhost/busybox sh -c \
		'mkdir /www && echo hello-from-berth >/www/index.html && exec httpd -f -p 3000 -h /www'
	wait_until 15 in_sandbox curl -sf "http://$UPLINK:18080/"
	assert_eq "$(in_sandbox curl -sf "http://$UPLINK:18080/")" hello-from-berth
	assert_eq "$(in_sandbox curl -sf http://127.0.0.1:18080/)" hello-from-berth
	p rm -f -t 0 web
}

@test "podman: exec runs in the container and returns the process's status" {
	prun -d --name ex localhost/busybox sleep 1000
	assert_eq "$(p exec ex sh -c 'echo $((6 * 7)) $(hostname)')" "42 $(p inspect -f '{{.Config.Hostname}}' ex)"
	assert_eq "$(p exec -u 1000:1000 -w /tmp ex sh -c 'echo $(id -u) $(pwd)')" "1000 /tmp"
	run -7 p exec ex sh -c 'exit 7'
	p rm -f -t 0 ex
}

@test "podman: run -it gives a working shell on a real pty" {
	pty_session it "nsenter -t $SANDBOX_PID -m -n -p -- ${PODMAN[*]} run -it --rm --pull never --cgroup-parent /berth-it-podman localhost/busybox sh"
	pty_wait it '/ #'
	pty_type it 'echo "tty=$(tty) size=$(stty size) sum=$((6 * 7))"'
	pty_wait it 'sum=42'
	assert_contains "$(pty_screen it)" "tty=/dev/pts/0 size=$(pty_size it) sum=42"
	pty_type it 'exit 3'
	assert_eq "$(pty_end it)" 3
}

@test "podman: ps and top show the container and its processes" {
	prun -d --name topped localhost/busybox sh -c 'sleep 1001 & sleep 1002'
	assert_contains "$(p ps --filter name=topped --format '{{.Names}} {{.Status}}')" "topped Up"
	wait_until 10 sh -c "$(printf '%q ' nsenter -t "$SANDBOX_PID" -m -n -p -- "${PODMAN[@]}") top topped | grep -q 'sleep 1001'"
	p rm -f -t 0 topped
}

@test "podman: pause freezes the container and unpause thaws it" {
	v1_or_skip
	id=$(prun -d localhost/busybox sleep 1000)
	p pause "$id"
	assert_eq "$(p inspect -f '{{.State.Status}}' "$id")" paused
	assert_eq "$(cat "/sys/fs/cgroup/freezer/berth-it-podman/libpod-$id/freezer.state")" FROZEN
	p unpause "$id"
	assert_eq "$(p inspect -f '{{.State.Status}}' "$id")" running
	p rm -f -t 0 "$id"
}

@test "podman: systemd-notify in the container reaches NOTIFY_SOCKET" {
	# The engine's listener (in the sandbox, so that it ends with it).
	in_sandbox timeout 60 socat -u "UNIX-RECV:$P/notify.sock" "OPEN:$P/notify.out,creat" \
		</dev/null >/dev/null 2>&1 3>&- &
	wait_until 5 test -S "$P/notify.sock"
	# The host's systemd-notify, with its libraries, in the busybox image.
	id=$(NOTIFY_SOCKET=$P/notify.sock prun -d --sdnotify=container \
		-v /usr:/usr:ro -v /usr/lib:/lib:ro -v /usr/lib64:/lib64:ro localhost/busybox \
		sh -c 'systemd-notify --ready --status="serving from berth"; sleep 1000')
	wait_until 15 grep -q READY=1 "$P/notify.out"
	in_sandbox pkill -f "UNIX-RECV:$P/notify.sock"
	p rm -f -t 0 "$id"
}

@test "podman: socket activation passes the listening socket as fd 3" {
	# systemd-socket-activate listens, then execs podman with LISTEN_FDS=1
	# when the first connection comes.
	in_sandbox timeout 60 systemd-socket-activate -l 127.0.0.1:18081 "${PODMAN[@]}" run --rm --pull never \
		--cgroup-parent /berth-it-podman localhost/busybox \
		sh -c 'echo "fds=$LISTEN_FDS pid=$LISTEN_PID self=$$ fd3=$(readlink /proc/self/fd/3)"' \
		</dev/null >"$P/activated.out" 2>&1 3>&- &
	activator=$!
	wait_until 10 sh -c "nsenter -t $SANDBOX_PID -n ss -Hltn 'sport = :18081' | grep -q LISTEN"
	inode=$(in_sandbox ss -Hltne 'sport = :18081' | grep -o 'ino:[0-9]*' | cut -d: -f2)
	in_sandbox curl -s -m 1 http://127.0.0.1:18081/ || true
	wait "$activator"
	run cat "$P/activated.out"
	assert_contains "$output" "fds=1 pid=1 self=1 fd3=socket:[$inode]"
}

@test "podman: a failed create reports berth's own reason" {
	run -127 prun --rm localhost/busybox no-such-program-xyz
	assert_contains "$output" 'process.args[0]: "no-such-program-xyz": executable file not found in $PATH'
	run -127 prun --rm --sysctl net.ipv4.no_such_sysctl=1 localhost/busybox true
	assert_contains "$output" 'linux.sysctl.net.ipv4.no_such_sysctl: open /proc/sys/net/ipv4/no_such_sysctl'
}
