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

# Every container of this test goes, whatever its state.
teardown() {
	local id
	for id in $(berth list -q 2>/dev/null); do
		case $id in
		"$(cid '')"*) berth delete -f "$id" >/dev/null 2>&1 || true ;;
		esac
	done
	rm -rf "$BUNDLE"
}
