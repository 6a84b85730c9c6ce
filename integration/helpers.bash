# shellcheck disable=SC2034 # DOCKER, UPLINK, DD_RATE: for the .bats files
# Shared by the engine tests (integration/*.bats), run through integration/run,
# which exports:
#   BERTH      the runtime under test (target/release/berth)
#   WORK       this run's scratch directory (/tmp/berth-it.XXXXXX)
#   IMAGE_TAR  a busybox root filesystem as a tar (hack/mkrootfs.sh)
#   OCI_TAR    the same as an OCI image archive, for ctr images import
#
# Every engine runs in a sandbox of its own: new mount, network and pid
# namespaces (tini as their init), a fresh tmpfs on /run, loopback up and an
# "uplink" veth with 192.0.2.1/24. Its bridges, iptables rules, network
# namespaces, overlay mounts and every process it starts live and die there:
# stopping the sandbox removes them, whatever state a failed test left. The
# engine's data (images, storage, state) goes to $WORK/<engine>, on the host's
# file system, and its containers' cgroups under /berth-it-<engine>, both
# removed by engine_teardown.

INTEGRATION=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DOCKER=/usr/bin/docker # Debian's client, the daemon's version
UPLINK=192.0.2.1

# wait_until SECONDS CMD...: retries CMD (quietly) until it succeeds.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "timed out waiting for: $*" >&2
			return 1
		fi
		sleep 0.1
	done
}

# sandbox_start NAME CMD...: runs CMD as the sandbox's only service; sets
# and exports SANDBOX_PID (tini's pid on the host) and records the sandbox
# in $WORK/NAME.sandbox for integration/run's last-resort cleanup.
sandbox_start() {
	local name=$1
	shift
	# The sandbox's uplink is a veth pair: probed in a throwaway namespace.
	if ! unshare --net ip link add berthprobe0 type veth peer name berthprobe1 2>/dev/null; then
		skip "needs the veth link type (module veth) for the engine's sandbox: this host lacks it"
	fi
	unshare --mount --net --pid --fork --kill-child --mount-proc --propagation private \
		tini -s -g -- "$INTEGRATION/sandbox-init" "$@" \
		</dev/null >"$WORK/$name.log" 2>&1 3>&- &
	local unshare_pid=$!
	echo "$unshare_pid" >"$WORK/$name.sandbox"
	wait_until 10 grep -q . "/proc/$unshare_pid/task/$unshare_pid/children"
	SANDBOX_PID=$(cut -d' ' -f1 "/proc/$unshare_pid/task/$unshare_pid/children")
	# The service is up once the sandbox's network is set up.
	wait_until 10 nsenter -t "$SANDBOX_PID" -n ip link show berthup0
	export SANDBOX_PID
}

# sandbox_stop NAME: SIGTERM to the service (tini forwards it), then, after
# SECONDS (default 20), SIGKILL to the whole sandbox.
sandbox_stop() {
	local name=$1 grace=${2:-20} pid
	pid=$(cat "$WORK/$name.sandbox" 2>/dev/null) || return 0
	if [ -n "${SANDBOX_PID:-}" ]; then
		kill -TERM "$SANDBOX_PID" 2>/dev/null || true
		wait_until "$grace" sh -c "! kill -0 $pid" || true
	fi
	kill -KILL "$pid" 2>/dev/null || true
	wait_until 10 sh -c "! kill -0 $pid"
	rm -f "$WORK/$name.sandbox"
}

# in_sandbox CMD...: runs CMD in the sandbox's namespaces (its /run, its
# network, its pid namespace); use absolute paths.
in_sandbox() {
	nsenter -t "$SANDBOX_PID" -m -n -p -- "$@"
}

# The pids of berth processes (the runtime, or a container's init before
# its execve: the sealed copy of berth) in the sandbox's pid namespace.
sandbox_berth_procs() {
	local ns p exe
	ns=$(readlink "/proc/$SANDBOX_PID/ns/pid")
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		case "$exe" in
		"$BERTH" | /memfd:berth*) ;;
		*) continue ;;
		esac
		[ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$ns" ] && echo "${p#/proc/}"
	done
	return 0
}

# What the engines could leave on the host if a sandbox leaked.
host_snapshot() {
	echo "# links"
	ip -o link | link_names
	echo "# iptables"
	{ iptables-save; ip6tables-save; } 2>/dev/null | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]//'
	echo "# netns"
	ls /run/netns 2>/dev/null || true
	echo "# mounts"
	awk -v w="$WORK" 'index($0, w) || / - (overlay|nsfs) / {print $5}' /proc/self/mountinfo | sort
}

# cgroup_children PARENT: the container cgroups left under /PARENT in any
# hierarchy.
cgroup_children() {
	find /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1" -mindepth 1 -maxdepth 1 -type d 2>/dev/null || true
}

# cgroup_remove PARENT: removes /PARENT and what is below it in every
# hierarchy, deepest first. Processes killed with the sandbox may take a
# moment to leave: a busy cgroup is retried for up to 5 s.
cgroup_remove() {
	local d i
	for d in /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1"; do
		[ -d "$d" ] || continue
		i=0
		while [ -d "$d" ] && [ $i -lt 50 ]; do
			find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
			[ -d "$d" ] && sleep 0.1
			i=$((i + 1))
		done
		[ -d "$d" ] && {
			echo "cgroup $d could not be removed" >&2
			return 1
		}
	done
	return 0
}

# berth_leaks ROOT CGROUP_PARENT [PATTERN]: what berth left once the engine
# has removed every container: state directories under its --root (in the
# sandbox; the compiled seccomp filters cached there are not a container's),
# container cgroups under CGROUP_PARENT whose name matches PATTERN
# (default: any), berth processes. Prints them; fails if there are any.
berth_leaks() {
	local root=$1 parent=$2 pattern=${3:-.} leaks
	leaks=$(
		in_sandbox sh -c "ls -A '$root' 2>/dev/null" | grep -vx '~seccomp-cache' | sed 's/^/state dir: /'
		cgroup_children "$parent" | grep -E "$pattern" | sed 's/^/cgroup: /'
		sandbox_berth_procs | sed 's/^/process: /'
	)
	[ -z "$leaks" ] && return 0
	echo "berth left behind:" >&2
	echo "$leaks" >&2
	return 1
}

# assert_berth_state ROOT ID: the container's state is berth's (in the
# sandbox), proving the engine ran berth and not its default runtime.
assert_berth_state() {
	local state
	state=$(in_sandbox cat "$1/$2/state.json")
	echo "$state" | jq -e '.initStartTime > 0 and .cgroup.dirs != null' >/dev/null || {
		echo "not berth's state for $2: $state" >&2
		return 1
	}
}

# Fails with both sides shown unless $1 = $2.
assert_eq() {
	[ "$1" = "$2" ] && return 0
	printf 'expected: %s\n     got: %s\n' "$2" "$1" >&2
	return 1
}

# Fails unless $1 contains $2.
assert_contains() {
	case "$1" in
	*"$2"*) return 0 ;;
	esac
	printf 'expected to find: %s\nin: %s\n' "$2" "$1" >&2
	return 1
}

# The network namespace of the sandbox (the engine's "host").
sandbox_netns() {
	readlink "/proc/$SANDBOX_PID/ns/net"
}

# Sorted interface names from `ip -o link` output on stdin.
link_names() {
	awk -F': ' '{print $2}' | sed 's/@.*//' | sort
}

# in_subnet ADDRESS CIDR: whether an IPv4 address lies in the subnet.
in_subnet() {
	local a b bits=${2#*/}
	a=$(ipv4_number "$1")
	b=$(ipv4_number "${2%/*}")
	[ $((a >> (32 - bits))) -eq $((b >> (32 - bits))) ]
}

ipv4_number() {
	local IFS=.
	# shellcheck disable=SC2086 # split on dots
	set -- $1
	echo $((($1 << 24) + ($2 << 16) + ($3 << 8) + $4))
}

# The block device holding PATH's file system, for blkio throttling.
device_of() {
	findmnt -no SOURCE -T "$1"
}

# In a busybox container: writes MiB of zeros to FILE with O_DIRECT and
# prints the rate in MiB/s, timed inside the container (/proc/uptime).
# shellcheck disable=SC2016 # expanded in the container
DD_RATE='read t0 _ </proc/uptime
dd if=/dev/zero of="$1" bs=1M count="$2" oflag=direct 2>/dev/null || exit 1
read t1 _ </proc/uptime
echo "$t0 $t1" | awk -v n="$2" "{ printf \"%.1f\n\", n / (\$2 - \$1) }"'

# assert_write_throttled DIR RATE RUN... IMAGE: runs a container (RUN is the
# engine's run command and its flags, IMAGE the busybox image) with DIR at
# /data and --device-write-bps DEV:RATE (RATE is 30 MB/s in the engine's
# spelling), and asserts that dd's direct writes there ran at 18-36 MB/s.
assert_write_throttled() {
	local dir=$1 rate=$2 dev
	shift 2
	dev=$(device_of "$dir")
	[ -b "$dev" ] || skip "$dir is not on a block device ($dev)"
	local image=${*: -1}
	run "${@:1:$#-1}" --rm --device-write-bps "$dev:$rate" -v "$dir:/data" "$image" \
		sh -c "$DD_RATE" sh /data/out 60
	[ "$status" -eq 0 ]
	assert_rate_between "$output" 18 36
}

# assert_rate_between RATE LOW HIGH
assert_rate_between() {
	awk -v r="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(r >= lo && r <= hi) }' && return 0
	echo "rate $1 MB/s is not between $2 and $3" >&2
	return 1
}

# A pty for `run -it`: a tmux server of this run's own.
tmux_() {
	tmux -S "$WORK/tmux.sock" "$@"
}

# pty_session NAME CMD: starts CMD in a detached 100x30 tmux window; when CMD
# ends, its exit status goes to $WORK/NAME.status and the window closes.
# (The tmux server must not keep bats' descriptor 3: bats waits for it.)
pty_session() {
	tmux_ new-session -d -s "$1" -x 100 -y 30 "$2; echo \$? > $WORK/$1.status" 3>&-
}

# pty_type NAME TEXT: types TEXT and Enter.
pty_type() {
	tmux_ send-keys -t "$1" "$2" Enter
}

# pty_wait NAME TEXT: waits until the screen shows TEXT.
pty_wait() {
	wait_until 15 sh -c "tmux -S '$WORK/tmux.sock' capture-pane -p -t '$1' | grep -qF -- '$2'"
}

# pty_screen NAME: what the window shows.
pty_screen() {
	tmux_ capture-pane -p -t "$1"
}

# pty_size NAME: the window's "rows columns", as stty size prints them.
pty_size() {
	tmux_ display -p -t "$1" '#{pane_height} #{pane_width}'
}

# pty_end NAME: the exit status CMD left, after it ends.
pty_end() {
	wait_until 15 test -s "$WORK/$1.status"
	cat "$WORK/$1.status"
}

# What this host offers, probed when a test runs (docs/TESTING.md lists who
# asks what).

# v1_or_skip: the test reads the container's cgroup v1 files (from inside,
# or under /sys/fs/cgroup/CONTROLLER on the host).
v1_or_skip() {
	if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
		skip "needs cgroup v1 hierarchies: this host is cgroup v2 (tests/vm/cgroup-v2.sh covers v2)"
	fi
}

# host_memsw: this kernel has swap accounting (memory.memsw.* files).
host_memsw() {
	[ -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ]
}

# hard_limit FLAG MAX: this host's hard limit for ulimit's FLAG (n: nofile,
# u: nproc), at most MAX: what an engine may give containers without
# CAP_SYS_RESOURCE, which machines of this kind lack.
hard_limit() {
	local h
	h=$(ulimit -H"$1")
	if [ "$h" = unlimited ] || [ "$h" -gt "$2" ]; then h=$2; fi
	echo "$h"
}

# The container's memory limit and swap limit (no-memsw without swap
# accounting), for assert_memory_swap.
# shellcheck disable=SC2016 # expanded in the container
MEMORY_SWAP='cat /sys/fs/cgroup/memory/memory.limit_in_bytes
cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo no-memsw'

# assert_memory_swap OUTPUT STATUS: of a container run with 200M of memory
# and 300M of memory+swap printing $MEMORY_SWAP. With swap accounting both
# read back; without it the engine drops the swap limit (with its own
# warning) and the memory limit holds, or passes it and berth's refusal
# names linux.resources.memory.swap and why.
assert_memory_swap() {
	if host_memsw; then
		[ "$2" -eq 0 ]
		assert_eq "$1" "$(printf '209715200\n314572800')"
	elif [ "$2" -eq 0 ]; then
		assert_eq "$(tail -2 <<<"$1")" "$(printf '209715200\nno-memsw')"
	else
		assert_contains "$1" "linux.resources.memory.swap: "
		assert_contains "$1" "this kernel has no swap accounting"
	fi
}
