# Shared by the conformance tests (integration/conformance/*.bats), run
# through integration/conformance/run, which exports:
#   BERTH   the runtime under test
#   WORK    this run's scratch directory
#   ROOTFS  a busybox root filesystem (hack/mkrootfs.sh), never written to:
#           bundles get a copy of their own (bundle_new)
#
# Each test gets a bundle in $BUNDLE with config.json from `berth spec`
# (its process made non-interactive), containers under the run's root,
# ids unique to the test, and cgroups under /berth-conf. teardown deletes
# every container the test created.

# berth ARGS...: berth with the run's root.
berth() {
	"$BERTH" --root "$WORK/root" "$@"
}

# The test's container id (unique per test; $1 gives more than one; an
# empty $1 gives the prefix they all share).
cid() {
	local file=${BATS_TEST_FILENAME##*/}
	echo "conf-${file%.bats}-${BATS_TEST_NUMBER}-${1-a}"
}

# bundle_new: a fresh bundle in $BUNDLE: a copy of the busybox rootfs and
# `berth spec`'s config without a terminal, cgroupsPath under /berth-conf.
bundle_new() {
	BUNDLE=$WORK/bundles/$(cid)
	rm -rf "$BUNDLE"
	mkdir -p "$BUNDLE"
	cp -a "$ROOTFS" "$BUNDLE/rootfs"
	(cd "$BUNDLE" && "$BERTH" spec)
	config '.process.terminal = false | .linux.cgroupsPath = "/berth-conf/'"$(cid)"'"'
	export BUNDLE
}

# config JQ: edits the bundle's config.json in place with a jq filter.
config() {
	local tmp=$BUNDLE/config.json.tmp
	jq "$@" <"$BUNDLE/config.json" >"$tmp"
	mv "$tmp" "$BUNDLE/config.json"
}

# process ARGS...: sets process.args. ("--": jq 1.6 would take an argument
# such as sh's -c as an option of its own.)
process() {
	config --args '.process.args = $ARGS.positional' -- "$@"
}

# run_in ARGS...: `berth run` of ARGS in a new container of the bundle;
# sets bats' $status and $output (stdout and stderr).
run_in() {
	process "$@"
	run berth run --bundle "$BUNDLE" "$(cid run)"
}

# created ID: creates ID from the bundle (process: sleep 1000 unless set).
created() {
	berth create --bundle "$BUNDLE" "$1"
}

# state_of ID FIELD: one field of `berth state ID`.
state_of() {
	berth state "$1" | jq -r ".$2"
}

# wait_until SECONDS CMD...: retries CMD (quietly) until it succeeds.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "timed out waiting for: $*" >&2
			return 1
		fi
		sleep 0.05
	done
}

setup() {
	bundle_new
}

# defer CMD...: a command that undoes what the test made outside its
# containers (a mount, a namespace, a cgroup); run by undo, last first.
DEFERRED=()
defer() {
	DEFERRED+=("$*")
}

# undo: every container of this test goes, whatever its state (a cgroup
# parent is removable once they are gone), then the deferred commands.
undo() {
	local i id
	for id in $(berth list -q 2>/dev/null); do
		case $id in
		"$(cid '')"*) berth delete -f "$id" >/dev/null 2>&1 || true ;;
		esac
	done
	for ((i = ${#DEFERRED[@]} - 1; i >= 0; i--)); do
		eval "${DEFERRED[i]}" || true
	done
	DEFERRED=()
}

teardown() {
	undo
	rm -rf "$BUNDLE"
}

# status, lines and output are bats' own, set by run.
# shellcheck disable=SC2154
# refused TEXT...: `berth create` of the bundle fails with exactly one line
# of error holding each TEXT (the field, the value), and leaves neither the
# container nor its state or cgroup behind.
refused() {
	local t
	run berth create --bundle "$BUNDLE" "$(cid)"
	if [ "$status" -eq 0 ]; then
		echo "create succeeded; wanted an error with: $*"
		return 1
	fi
	if [ "${#lines[@]}" -ne 1 ]; then
		echo "not one line: $output"
		return 1
	fi
	for t in "$@"; do
		if [[ $output != *"$t"* ]]; then
			echo "no '$t' in: $output"
			return 1
		fi
	done
	if ! gone "$(cid)"; then
		echo "container $(cid) left a trace"
		return 1
	fi
}

# cgroup_dirs NAME: the directories of cgroupsPath /berth-conf/NAME that
# exist on the host (every v1 hierarchy, and v2).
cgroup_dirs() {
	local d
	for d in /sys/fs/cgroup/*/berth-conf/"$1" /sys/fs/cgroup/berth-conf/"$1"; do
		if [ -d "$d" ]; then echo "$d"; fi
	done
}

# gone ID: ID has left no trace: no state, no state directory, no cgroup
# directory (the bundle's cgroupsPath is named after the test's cid).
gone() {
	! berth state "$1" >/dev/null 2>&1 &&
		[ ! -e "$WORK/root/$1" ] &&
		[ -z "$(cgroup_dirs "$(cid)")" ]
}

# hooks_setup: hook recorders for the bundle. $BUNDLE/hook.sh (a host path)
# and /hook.sh in the rootfs (for startContainer, whose path resolves in
# the container) run as `hook.sh NAME DIR`: they append NAME to DIR/log,
# save their stdin (the state) as DIR/NAME.json and their namespaces as
# DIR/NAME.ns. DIR is $BUNDLE/hooks, bound at /hooks in the container.
hooks_setup() {
	mkdir -p "$BUNDLE/hooks"
	cat >"$BUNDLE/hook.sh" <<'HOOK'
#!/bin/sh
cat >"$2/$1.json"
for ns in mnt net pid uts ipc; do
	echo "$ns $(readlink /proc/self/ns/$ns)"
done >"$2/$1.ns"
echo "$1" >>"$2/log"
HOOK
	chmod +x "$BUNDLE/hook.sh"
	cp "$BUNDLE/hook.sh" "$BUNDLE/rootfs/hook.sh"
	config --arg d "$BUNDLE/hooks" \
		'.mounts += [{destination: "/hooks", type: "none", source: $d, options: ["bind"]}]'
}

# hook KIND NAME: appends a recorder called NAME to hooks.KIND.
hook() {
	local path=$BUNDLE/hook.sh dir=$BUNDLE/hooks
	if [ "$1" = startContainer ]; then
		path=/hook.sh dir=/hooks
	fi
	config --arg k "$1" --arg p "$path" --arg n "$2" --arg d "$dir" \
		'.hooks[$k] += [{path: $p, args: ["hook.sh", $n, $d]}]'
}

# hook_log: the recorders that ran, in order, on one line.
hook_log() {
	if [ -f "$BUNDLE/hooks/log" ]; then
		tr '\n' ' ' <"$BUNDLE/hooks/log" | sed 's/ $//'
	fi
}

# ns_of PID: the namespaces of PID, as hook.sh records its own.
ns_of() {
	local ns
	for ns in mnt net pid uts ipc; do
		echo "$ns $(readlink "/proc/$1/ns/$ns")"
	done
}

# dead PID: PID has exited (gone, or a zombie its new parent has not reaped
# yet: a container's init outlives the berth that created it).
dead() {
	[ ! -e "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}
