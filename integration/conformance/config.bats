#!/usr/bin/env bats
# config.md: the configuration's fields that apply on Linux (the
# linux-specific ones are config-linux.md's, in linux.bats).
load helpers
bats_require_minimum_version 1.5.0

# again: the next case of a test: what it made undone, and a fresh
# config.json (as bundle_new writes it) beside the same rootfs, which no
# test writes to.
again() {
	undo
	rm -rf "$BUNDLE/config.json" "$BUNDLE/src" "$BUNDLE/shared"
	(cd "$BUNDLE" && "$BERTH" spec)
	config '.process.terminal = false | .linux.cgroupsPath = "/berth-conf/'"$(cid)"'"'
}

# mounted OPTION...: runs a container with a tmpfs on /m mounted with the
# options; $output is its line of /proc/self/mountinfo, $opts the mount's
# options (field 6) and $super the filesystem's (the last field).
mounted() {
	config --args '.mounts += [{destination: "/m", type: "tmpfs", source: "tmpfs", options: $ARGS.positional}]' -- "$@"
	mountinfo_of /m
}

# mountinfo_of DEST: the mountinfo lines of DEST and below, from inside a
# container of the bundle; sets $output (and $lines_of_m), $opts and
# $super (of DEST).
mountinfo_of() {
	run_in sh -c "grep -E ' $1(/[^ ]*)? ' /proc/self/mountinfo"
	[ "$status" -eq 0 ]
	local line
	lines_of_m=$output
	line=$(grep " $1 " <<<"$output" | tail -1)
	opts=$(awk '{print $6}' <<<"$line")
	super=$(awk '{print $NF}' <<<"$line")
}

# has LIST WORD: WORD is one of the comma-separated LIST; lacks: it is not.
has() {
	[[ ,$1, == *,$2,* ]]
}
lacks() {
	[[ ,$1, != *,$2,* ]]
}

# kernel_at_least X.Y: the running kernel is X.Y or newer.
kernel_at_least() {
	[ "$(printf '%s\n' "$1" "$(uname -r | cut -d- -f1)" | sort -V | head -1)" = "$1" ]
}

# idmap_or_refused DIR...: an idmapped mount needs Linux 5.12 and a
# filesystem that has them (ext4, xfs, btrfs, f2fs; overlayfs from 5.19,
# tmpfs from 6.3). Where the filesystem of a DIR lacks them, create fails
# naming the mount and mount_setattr, and the test skips the rest.
idmap_or_refused() {
	local d fs since
	for d in "$@"; do
		fs=$(stat -f -c %T "$d")
		case $fs in
		ext2/ext3 | xfs | btrfs | f2fs) since=5.12 ;;
		overlayfs) since=5.19 ;;
		tmpfs) since=6.3 ;;
		*) since=99 ;;
		esac
		if ! kernel_at_least "$since"; then
			refused "idmapped mount of" "mount_setattr"
			skip "needs idmapped mounts on $fs (Linux $since): this host lacks them"
		fi
	done
}

# cap_sys_resource: CAP_SYS_RESOURCE (24) is in the bounding set (it is
# not on machines of this kind).
cap_sys_resource() {
	(((0x$(awk '/^CapBnd:/ {print $2}' /proc/self/status) >> 24) & 1))
}

# source_tree: $BUNDLE/src, a host directory with a file, and a tmpfs
# mounted on its sub/ (so rbind has a mount below it to take along).
source_tree() {
	mkdir -p "$BUNDLE/src/sub"
	echo top >"$BUNDLE/src/file"
	mount -t tmpfs -o size=1m tmpfs "$BUNDLE/src/sub"
	defer umount "$BUNDLE/src/sub"
	echo sub >"$BUNDLE/src/sub/file"
}

# bound OPTION...: the source tree bound on /m with the options; $output
# has the mountinfo lines of /m and /m/sub; $opts/$super are /m's and
# $subopts is /m/sub's (empty when it is not there).
bound() {
	config --arg s "$BUNDLE/src" --args '.mounts += [{destination: "/m", type: "none", source: $s, options: $ARGS.positional}]' -- "$@"
	mountinfo_of /m
	subopts=$(grep " /m/sub " <<<"$output" | awk '{print $6}')
}

# shared_source: $BUNDLE/shared, a shared mount on the host (peer group of
# its own), for the propagation options.
shared_source() {
	mkdir -p "$BUNDLE/shared/sub"
	mount --bind "$BUNDLE/shared" "$BUNDLE/shared"
	defer umount -R "$BUNDLE/shared"
	mount --make-shared "$BUNDLE/shared"
}

# propagated OPTION...: a container with the shared source bound on /m with
# the options; sets $tags to /m's optional mountinfo fields, and $seen to
# whether a tmpfs the host mounts on the source's sub/ afterwards shows up
# in the container.
propagated() {
	shared_source
	process sleep 1000
	config --arg s "$BUNDLE/shared" --args '.mounts += [{destination: "/m", type: "none", source: $s, options: $ARGS.positional}]' -- "$@"
	berth run -d --bundle "$BUNDLE" "$(cid)"
	local pid
	pid=$(state_of "$(cid)" pid)
	tags=$(awk '$5 == "/m" { for (i = 7; $i != "-"; i++) printf "%s ", $i }' "/proc/$pid/mountinfo")
	mount -t tmpfs tmpfs "$BUNDLE/shared/sub"
	if grep -q " /m/sub " "/proc/$pid/mountinfo"; then seen=yes; else seen=no; fi
}

@test "config.md ociVersion: a version that is not SemVer 2.0.0 is refused" {
	for v in 1.0 1 1.x.y 01.0.0 ""; do
		config --arg v "$v" '.ociVersion = $v'
		refused ociVersion "\"$v\""
	done
	config '.ociVersion = "1.0.2-dev+build.1"'
	process true
	run berth run --bundle "$BUNDLE" "$(cid)"
	[ "$status" -eq 0 ]
}

@test "config.md root: root is REQUIRED on Linux (a config without it is refused)" {
	config 'del(.root)'
	refused root "is required"
	config '.root = {readonly: true}'
	refused root.path "is required"
}

@test "config.md root: a directory MUST exist at root.path (a missing one, or a file, is refused)" {
	config '.root.path = "nowhere"'
	refused root.path "$BUNDLE/nowhere"
	config '.root.path = "config.json"'
	refused root.path "is not a directory"
}

@test "config.md root: readonly true makes the root filesystem read-only in the container" {
	config '.root.readonly = true'
	run_in sh -c 'awk "\$5 == \"/\" {print \$6}" /proc/self/mountinfo; touch /x'
	[ "$status" -ne 0 ]
	has "${lines[0]}" ro
	[[ $output == *"Read-only file system"* ]]
	config '.root.readonly = false'
	run_in sh -c 'touch /x && echo wrote'
	[ "$output" = wrote ]
}

@test "config.md mounts: entries are mounted in the listed order" {
	# /o/p on top of /o: the other order would hide /o/p; and of two mounts
	# on /q, the second is the one on top.
	config '.mounts += [
		{destination: "/o", type: "tmpfs", source: "tmpfs", options: ["size=1m"]},
		{destination: "/o/p", type: "tmpfs", source: "tmpfs", options: ["size=2m"]},
		{destination: "/q", type: "tmpfs", source: "tmpfs", options: ["size=3m"]},
		{destination: "/q", type: "tmpfs", source: "tmpfs", options: ["size=4m"]}]'
	run_in sh -c 'grep -E " /(o|o/p|q) " /proc/self/mountinfo | awk "{print \$5, \$NF}"; df -k /o/p /q | tail -2 | awk "{print \$2}"'
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '/o rw,size=1024k\n/o/p rw,size=2048k\n/q rw,size=3072k\n/q rw,size=4096k\n2048\n4096')" ]
}

@test "config.md mounts: destination SHOULD be absolute; a relative one is taken relative to / (deprecated, with a warning)" {
	config '.mounts += [{destination: "rel/dir", type: "tmpfs", source: "tmpfs", options: ["size=1m"]}]'
	run_in sh -c 'grep " /rel/dir " /proc/self/mountinfo | cut -d" " -f5'
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == *"warning: mounts[7].destination: rel/dir is relative (deprecated): taken as /rel/dir"* ]]
	[ "${lines[1]}" = /rel/dir ]
}

@test "config.md mount options: ro mounts read-only, rw read-write" {
	mounted ro
	has "$opts" ro
	again
	mounted ro rw
	has "$opts" rw
}

@test "config.md mount options: nosuid and suid" {
	mounted nosuid
	has "$opts" nosuid
	again
	mounted nosuid suid
	lacks "$opts" nosuid
}

@test "config.md mount options: nodev and dev" {
	mounted nodev
	has "$opts" nodev
	again
	mounted nodev dev
	lacks "$opts" nodev
}

@test "config.md mount options: noexec and exec" {
	mounted noexec
	has "$opts" noexec
	again
	mounted noexec exec
	lacks "$opts" noexec
}

@test "config.md mount options: sync and async" {
	mounted sync
	has "$super" sync
	again
	mounted sync async
	lacks "$super" sync
}

@test "config.md mount options: dirsync" {
	mounted dirsync
	has "$super" dirsync
}

@test "config.md mount options: lazytime and nolazytime" {
	mounted lazytime
	has "$super" lazytime
	again
	mounted lazytime nolazytime
	lacks "$super" lazytime
}

@test "config.md mount options: noatime and atime" {
	mounted noatime
	has "$opts" noatime
	again
	mounted noatime atime
	lacks "$opts" noatime
	has "$opts" relatime
}

@test "config.md mount options: strictatime and nostrictatime" {
	mounted strictatime
	lacks "$opts" relatime
	lacks "$opts" noatime
	again
	mounted strictatime nostrictatime
	has "$opts" relatime
}

@test "config.md mount options: relatime and norelatime" {
	# A remount with relatime replaces the noatime of the first mount.
	config '.mounts += [{destination: "/m", type: "tmpfs", source: "tmpfs", options: ["noatime"]},
		{destination: "/m", type: "tmpfs", source: "tmpfs", options: ["remount", "relatime"]}]'
	mountinfo_of /m
	has "$opts" relatime
	lacks "$opts" noatime
	# norelatime clears relatime (a flag, not data, which tmpfs would
	# refuse): the kernel's default, relatime, remains.
	again
	mounted relatime norelatime size=1m
	has "$opts" relatime
	has "$super" size=1024k
}

@test "config.md mount options: nodiratime and diratime" {
	mounted nodiratime
	has "$opts" nodiratime
	again
	mounted nodiratime diratime
	lacks "$opts" nodiratime
}

@test "config.md mount options: nosymfollow and symfollow (SHOULD)" {
	mounted nosymfollow
	has "$opts" nosymfollow
	again
	mounted nosymfollow symfollow
	lacks "$opts" nosymfollow
}

@test "config.md mount options: iversion and noiversion are flags (tmpfs would refuse them as data)" {
	mounted iversion size=1m
	has "$super" size=1024k
	again
	mounted noiversion size=2m
	has "$super" size=2048k
}

@test "config.md mount options: silent and loud are flags (tmpfs would refuse them as data)" {
	mounted silent size=1m
	has "$super" size=1024k
	again
	mounted loud size=2m
	has "$super" size=2048k
}

@test "config.md mount options: defaults is mount(8)'s (rw, suid, dev, exec, async; no earlier flag undone)" {
	mounted defaults
	has "$opts" rw
	lacks "$opts" nosuid
	lacks "$opts" nodev
	lacks "$opts" noexec
	lacks "$super" sync
	again
	mounted ro defaults
	has "$opts" ro
}

@test "config.md mount options: remount changes the mount already there" {
	config '.mounts += [{destination: "/m", type: "tmpfs", source: "tmpfs", options: ["size=1m"]},
		{destination: "/m", type: "tmpfs", source: "tmpfs", options: ["remount", "ro"]}]'
	mountinfo_of /m
	# One mount, the first one's filesystem, now read-only.
	[ "$(grep -c ' /m ' <<<"$output")" -eq 1 ]
	has "$opts" ro
	has "$super" size=1024k
}

@test "config.md mount options: bind binds the source alone, not the mounts below it" {
	source_tree
	bound bind
	[ -z "$subopts" ]
	run_in cat /m/file
	[ "$output" = top ]
}

@test "config.md mount options: rbind binds the source and the mounts below it" {
	source_tree
	bound rbind
	[ -n "$subopts" ]
	run_in cat /m/file /m/sub/file
	[ "$output" = "$(printf 'top\nsub')" ]
}

@test "config.md mount options: private (no propagation from the host's shared source)" {
	propagated bind private
	[ -z "$tags" ]
	[ "$seen" = no ]
}

@test "config.md mount options: slave (the host's mounts propagate in, a master: tag)" {
	propagated bind slave
	[[ $tags == *master:* ]]
	[[ $tags != *shared:* ]]
	[ "$seen" = yes ]
}

@test "config.md mount options: shared (a peer group: a shared: tag)" {
	propagated bind shared
	[[ $tags == *shared:* ]]
	[ "$seen" = yes ]
}

@test "config.md mount options: unbindable (an unbindable tag)" {
	propagated bind unbindable
	[[ $tags == *unbindable* ]]
	[ "$seen" = no ]
}

# tags_of DEST: DEST's propagation as mountinfo tags, from the lines
# mountinfo_of read.
tags_of() {
	awk -v d="$1" '$5 == d { for (i = 7; $i != "-"; i++) printf "%s ", $i }' <<<"$lines_of_m"
}

@test "config.md mount options: rprivate, rslave, rshared and runbindable apply below the mount too" {
	source_tree
	mount --make-shared "$BUNDLE/src/sub"
	bound rbind rslave
	[[ $(tags_of /m/sub) == *master:* ]]
	again
	source_tree
	mount --make-shared "$BUNDLE/src/sub"
	bound rbind rprivate
	[ -z "$(tags_of /m/sub)" ]
	again
	source_tree
	bound rbind rshared
	[[ $(tags_of /m) == *shared:* ]]
	[[ $(tags_of /m/sub) == *shared:* ]]
	again
	source_tree
	bound rbind runbindable
	[[ $(tags_of /m) == *unbindable* ]]
	[[ $(tags_of /m/sub) == *unbindable* ]]
}

@test "config.md mount options: rro and rrw (SHOULD)" {
	source_tree
	bound rbind rro
	has "$opts" ro
	has "$subopts" ro
	again
	source_tree
	bound rbind rro rrw
	has "$subopts" rw
}

@test "config.md mount options: rnosuid and rsuid (SHOULD)" {
	source_tree
	bound rbind rnosuid
	has "$opts" nosuid
	has "$subopts" nosuid
	again
	source_tree
	bound rbind rnosuid rsuid
	lacks "$subopts" nosuid
}

@test "config.md mount options: rnodev and rdev (SHOULD)" {
	source_tree
	bound rbind rnodev
	has "$subopts" nodev
	again
	source_tree
	bound rbind rnodev rdev
	lacks "$subopts" nodev
}

@test "config.md mount options: rnoexec and rexec (SHOULD)" {
	source_tree
	bound rbind rnoexec
	has "$subopts" noexec
	again
	source_tree
	bound rbind rnoexec rexec
	lacks "$subopts" noexec
}

@test "config.md mount options: rnoatime and ratime (SHOULD)" {
	source_tree
	bound rbind rnoatime
	has "$opts" noatime
	has "$subopts" noatime
	again
	source_tree
	bound rbind rnoatime ratime
	lacks "$subopts" noatime
}

@test "config.md mount options: rstrictatime, rnostrictatime, rrelatime and rnorelatime (SHOULD)" {
	source_tree
	bound rbind rstrictatime
	lacks "$subopts" relatime
	lacks "$subopts" noatime
	again
	source_tree
	bound rbind rstrictatime rnostrictatime
	has "$subopts" relatime
	again
	source_tree
	bound rbind rstrictatime rrelatime
	has "$subopts" relatime
	again
	source_tree
	bound rbind rnoatime rnorelatime
	lacks "$subopts" noatime
}

@test "config.md mount options: rnodiratime and rdiratime (SHOULD)" {
	source_tree
	bound rbind rnodiratime
	has "$subopts" nodiratime
	again
	source_tree
	bound rbind rnodiratime rdiratime
	lacks "$subopts" nodiratime
}

@test "config.md mount options: rnosymfollow and rsymfollow (SHOULD)" {
	source_tree
	bound rbind rnosymfollow
	has "$subopts" nosymfollow
	again
	source_tree
	bound rbind rnosymfollow rsymfollow
	lacks "$subopts" nosymfollow
}

@test "config.md mount options: idmap applies the mount's uidMappings and gidMappings with mount_setattr (an idmapped mount)" {
	source_tree
	config --arg s "$BUNDLE/src" '.mounts += [{destination: "/m", type: "none", source: $s, options: ["rbind", "idmap"],
		uidMappings: [{containerID: 0, hostID: 1000, size: 1}], gidMappings: [{containerID: 0, hostID: 2000, size: 1}]}]'
	idmap_or_refused "$BUNDLE/src"
	mountinfo_of /m
	has "$opts" idmapped
	# Files the host's root owns appear as the mapped ids.
	run_in stat -c '%u %g' /m/file
	[ "$output" = "1000 2000" ]
}

@test "config.md mount options: ridmap maps the mounts below the source too" {
	source_tree
	config --arg s "$BUNDLE/src" '.mounts += [{destination: "/m", type: "none", source: $s, options: ["rbind", "ridmap"],
		uidMappings: [{containerID: 0, hostID: 1000, size: 1}], gidMappings: [{containerID: 0, hostID: 2000, size: 1}]}]'
	idmap_or_refused "$BUNDLE/src" "$BUNDLE/src/sub"
	run_in stat -c '%u %g' /m/file /m/sub/file
	[ "$output" = "$(printf '1000 2000\n1000 2000')" ]
	mountinfo_of /m
	has "$(grep ' /m/sub ' <<<"$output" | awk '{print $6}')" idmapped
}

@test "config.md mount options: idmap without mappings takes the container's user namespace" {
	source_tree
	config --arg s "$BUNDLE/src" '.mounts += [{destination: "/m", type: "none", source: $s, options: ["rbind", "idmap"]}] |
		.linux.namespaces += [{type: "user"}] |
		.linux.uidMappings = [{containerID: 0, hostID: 100000, size: 65536}] |
		.linux.gidMappings = [{containerID: 0, hostID: 100000, size: 65536}] |
		.mounts |= map(select(.type != "cgroup" and .type != "sysfs"))'
	if [ ! -e /proc/self/ns/user ]; then
		skip "needs user namespaces: this kernel has none"
	fi
	chown -R 100000:100000 "$BUNDLE/rootfs"
	idmap_or_refused "$BUNDLE/src"
	# The container's root (host uid 100000) walks down to its rootfs.
	local mode
	mode=$(stat -c %a "$WORK")
	chmod o+x "$WORK"
	defer chmod "$mode" "$WORK"
	# The host's root files appear as the container's root, not as nobody.
	run_in stat -c '%u %g' /m/file
	[ "$output" = "0 0" ]
}

@test "config.md mount options: idmap without mappings and without a user namespace is an error" {
	source_tree
	config --arg s "$BUNDLE/src" '.mounts += [{destination: "/m", type: "none", source: $s, options: ["rbind", "idmap"]}]'
	refused "mounts[7].options" "idmap needs uidMappings and gidMappings, or a user namespace"
}

@test "config.md mounts: uidMappings MUST come with gidMappings (and the other way round)" {
	source_tree
	config --arg s "$BUNDLE/src" '.mounts += [{destination: "/m", type: "none", source: $s, options: ["rbind", "idmap"],
		uidMappings: [{containerID: 0, hostID: 1000, size: 1}]}]'
	refused "mounts[7]" "needs both uidMappings and gidMappings"
	config '.mounts[7] |= (del(.uidMappings) | .gidMappings = [{containerID: 0, hostID: 1000, size: 1}])'
	refused "mounts[7]" "needs both uidMappings and gidMappings"
}

@test "config.md mount options: unknown options go to the filesystem as data" {
	mounted size=1m mode=0700 nr_inodes=100
	has "$super" size=1024k
	has "$super" mode=700
	has "$super" nr_inodes=100
}

@test "config.md mount options: options mount(8) knows but keeps to itself (x-*, nofail, _netdev, comment=) are not passed on" {
	mounted x-berth.test nofail _netdev comment=x noauto size=1m
	has "$super" size=1024k
}

@test "config.md process: consoleSize is ignored when terminal is false" {
	config '.process.terminal = false | .process.consoleSize = {height: 10, width: 20}'
	run_in sh -c 'stty size 2>&1; echo done'
	[ "$status" -eq 0 ]
	[[ $output != *"10 20"* ]]
	[[ $output == *done ]]
}

@test "config.md process: consoleSize's height and width are REQUIRED" {
	config '.process.consoleSize = {width: 80}'
	refused process.consoleSize.height "is required"
	config '.process.consoleSize = {height: 25}'
	refused process.consoleSize.width "is required"
}

@test "config.md process: cwd is REQUIRED and MUST be absolute" {
	config 'del(.process.cwd)'
	refused process "missing field \`cwd\`"
	config '.process.cwd = "relative/dir"'
	refused process.cwd "relative/dir must be an absolute path"
}

@test "config.md process: args needs at least one entry on Linux" {
	config '.process.args = []'
	refused process.args "must name at least the program to run"
	config 'del(.process.args)'
	refused process.args "must name at least the program to run"
}

@test "config.md process: an rlimit type that does not map to the kernel's is an error" {
	config '.process.rlimits = [{type: "RLIMIT_NOSUCH", soft: 1, hard: 1}]'
	refused "process.rlimits[0].type" RLIMIT_NOSUCH
}

@test "config.md process: each rlimit is set, getrlimit returning soft as rlim_cur and hard as rlim_max" {
	config '.process.rlimits = [
		{type: "RLIMIT_NOFILE", soft: 500, hard: 1000},
		{type: "RLIMIT_CORE", soft: 1024, hard: 2048},
		{type: "RLIMIT_MSGQUEUE", soft: 4096, hard: 8192}]'
	# Without CAP_SYS_RESOURCE no hard limit goes above the runtime's own:
	# then berth's error names the rlimit and the kernel's EPERM.
	local i=0 l what type soft hard have
	for l in "open files:RLIMIT_NOFILE:500:1000" "core file size:RLIMIT_CORE:1024:2048" \
		"msgqueue size:RLIMIT_MSGQUEUE:4096:8192"; do
		IFS=: read -r what type soft hard <<<"$l"
		have=$(awk -v w="Max $what" 'index($0, w) == 1 {print $(NF-1)}' /proc/self/limits)
		if ! cap_sys_resource && [ "$have" != unlimited ] && [ "$have" -lt "$hard" ]; then
			run_in true
			[ "$status" -ne 0 ]
			[[ $output == *"process.rlimits[$i] $type soft $soft hard $hard: setrlimit: EPERM"* ]]
			skip "needs CAP_SYS_RESOURCE or a hard $type of at least $hard: this host has $have"
		fi
		i=$((i + 1))
	done
	run_in sh -c 'grep -E "^Max (open files|core file size|msgqueue size)" /proc/self/limits | awk "{print \$(NF-2), \$(NF-1)}"'
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '1024 2048\n500 1000\n4096 8192')" ]
}

@test "config.md process: duplicated rlimit types are an error" {
	config '.process.rlimits = [{type: "RLIMIT_CORE", soft: 1, hard: 1}, {type: "RLIMIT_CORE", soft: 2, hard: 2}]'
	refused "process.rlimits[1].type" "RLIMIT_CORE is already set by process.rlimits[0]"
}

@test "config.md process: rlimits' type, soft and hard are REQUIRED" {
	config '.process.rlimits = [{soft: 1, hard: 1}]'
	refused "process.rlimits[0]" "missing field \`type\`"
	config '.process.rlimits = [{type: "RLIMIT_CORE", hard: 1}]'
	refused "process.rlimits[0].soft" "is required"
	config '.process.rlimits = [{type: "RLIMIT_CORE", soft: 1}]'
	refused "process.rlimits[0].hard" "is required"
}

@test "config.md process: a capability name that maps to nothing is a warning, and the container runs" {
	config '.process.capabilities.bounding += ["CAP_NO_SUCH"] | .process.capabilities.effective += ["CAP_NO_SUCH"]'
	run_in sh -c 'grep CapEff /proc/self/status'
	[ "$status" -eq 0 ]
	[[ $output == *'warning: process.capabilities.bounding: "CAP_NO_SUCH" is not a capability'* ]]
	[[ $output == *'warning: process.capabilities.effective: "CAP_NO_SUCH" is not a capability'* ]]
	# The others are granted: CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE.
	[[ $output == *"CapEff:"*"0000000020000420" ]]
}

@test "config.md process: a capability the runtime cannot grant is a warning, and the container runs" {
	# berth started without CAP_SYS_NICE, asked for it in every set.
	config '.process.capabilities |= with_entries(.value += ["CAP_SYS_NICE"]) |
		.process.capabilities.inheritable = .process.capabilities.permitted |
		.process.capabilities.ambient = ["CAP_SYS_NICE", "CAP_KILL"]'
	process sh -c 'grep -E "Cap(Eff|Amb)" /proc/self/status'
	run setpriv --bounding-set=-sys_nice \
		"$BERTH" --root "$WORK/root" run --bundle "$BUNDLE" "$(cid)"
	[ "$status" -eq 0 ]
	for set in bounding effective permitted inheritable ambient; do
		[[ $output == *"warning: process.capabilities.$set: CAP_SYS_NICE cannot be granted"* ]]
	done
	[[ $output == *"CapEff:"*"0000000020000420"* ]]
	# CAP_KILL, still in permitted and inheritable, is ambient.
	[[ $output == *"CapAmb:"*"0000000000000020"* ]]
}

@test "config.md process: oomScoreAdj, when set, is the process's oom_score_adj" {
	config '.process.oomScoreAdj = 345'
	run_in cat /proc/self/oom_score_adj
	[ "$output" = 345 ]
}

@test "config.md process: oomScoreAdj unset leaves oom_score_adj as the runtime's" {
	config 'del(.process.oomScoreAdj)'
	process cat /proc/self/oom_score_adj
	run sh -c 'echo 234 >/proc/self/oom_score_adj && exec "$@"' sh \
		"$BERTH" --root "$WORK/root" run --bundle "$BUNDLE" "$(cid)"
	[ "$output" = 234 ]
}

@test "config.md process: execCPUAffinity without final leaves exec's CPU affinity as the kernel makes it" {
	process sleep 1000
	berth run -d --bundle "$BUNDLE" "$(cid)"
	# What the kernel makes of a process on CPU 0 that moves into the
	# container's cpuset (v1) or cgroup (v2).
	local dir want
	dir=$(cgroup_dirs "$(cid)" | grep -m1 -E '/cpuset/|^/sys/fs/cgroup/berth-conf/')
	if [ -f "$dir/tasks" ]; then
		want=$(taskset -c 0 sh -c "echo 0 > $dir/tasks; grep Cpus_allowed_list /proc/self/status")
	else
		want=$(taskset -c 0 sh -c "echo 0 > $dir/cgroup.procs; grep Cpus_allowed_list /proc/self/status")
	fi
	jq -n '{cwd: "/", user: {uid: 0, gid: 0}, args: ["grep", "Cpus_allowed_list", "/proc/self/status"],
		execCPUAffinity: {initial: "0"}}' >"$BUNDLE/exec.json"
	run berth exec -p "$BUNDLE/exec.json" "$(cid)"
	[ "$status" -eq 0 ]
	[ "$output" = "$want" ]
	# final, when given, is the last word.
	jq '.execCPUAffinity.final = "0"' "$BUNDLE/exec.json" >"$BUNDLE/exec-final.json"
	run berth exec -p "$BUNDLE/exec-final.json" "$(cid)"
	[ "$output" = "$(printf 'Cpus_allowed_list:\t0')" ]
}

@test "config.md process: scheduler's policy, and ioPriority's class and priority, are REQUIRED" {
	config '.process.scheduler = {nice: 1}'
	refused process.scheduler "missing field \`policy\`"
	config 'del(.process.scheduler) | .process.ioPriority = {priority: 1}'
	refused process.ioPriority.class "is required"
	config '.process.ioPriority = {class: "IOPRIO_CLASS_BE"}'
	refused process.ioPriority.priority "is required"
}

@test "config.md process: scheduler flags are the constants the spec lists (SCHED_FLAG_RESET_ON_FORK applies)" {
	local f
	for f in SCHED_FLAG_RECLAIM SCHED_FLAG_DL_OVERRUN SCHED_FLAG_KEEP_POLICY SCHED_FLAG_KEEP_PARAMS SCHED_FLAG_UTIL_CLAMP_MIN SCHED_FLAG_UTIL_CLAMP_MAX; do
		config --arg f "$f" '.process.scheduler = {policy: "SCHED_OTHER", flags: [$f]}'
		# Taken as a flag: whatever the kernel says of it, not a parse error.
		# (Output to files: a created container keeps berth's stdio.)
		berth create --bundle "$BUNDLE" "$(cid)" >/dev/null 2>"$BUNDLE/err" || true
		! grep -q "unknown variant" "$BUNDLE/err"
		berth delete -f "$(cid)" 2>/dev/null || true
	done
	config '.process.scheduler = {policy: "SCHED_OTHER", nice: -5, flags: ["SCHED_FLAG_RESET_ON_FORK"]}'
	run_in sh -c "cut -d' ' -f19 /proc/\$\$/stat; cut -d' ' -f19 /proc/self/stat; true"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf -- '-5\n0')" ]
}

@test "config.md user: uid and gid are REQUIRED" {
	config '.process.user = {gid: 0}'
	refused process.user.uid "is required"
	config '.process.user = {uid: 0}'
	refused process.user.gid "is required"
}

@test "config.md hooks: a hook's path MUST be absolute" {
	local kind
	for kind in prestart createRuntime createContainer startContainer poststart poststop; do
		config --arg k "$kind" '.hooks = {} | .hooks[$k] = [{path: "bin/true"}]'
		refused "hooks.${kind}[0].path" "bin/true must be an absolute path"
	done
}

@test "config.md hooks: a hook's timeout MUST be greater than zero" {
	config '.hooks = {poststop: [{path: "/bin/true", timeout: 0}]}'
	refused "hooks.poststop[0].timeout" "0 must be greater than zero"
	config '.hooks = {prestart: [{path: "/bin/true", timeout: -3}]}'
	refused "hooks.prestart[0].timeout" "-3 must be greater than zero"
}

@test "config.md hooks: prestart, createRuntime, poststart and poststop paths resolve and run in the runtime namespace" {
	process sleep 1000
	hooks_setup
	# $BUNDLE/hook.sh exists on the host only.
	for k in prestart createRuntime poststart poststop; do
		hook "$k" "$k"
	done
	created "$(cid)"
	berth start "$(cid)"
	berth delete -f "$(cid)"
	[ "$(hook_log)" = "prestart createRuntime poststart poststop" ]
	for k in prestart createRuntime poststart poststop; do
		[ "$(cat "$BUNDLE/hooks/$k.ns")" = "$(ns_of $$)" ]
	done
}

@test "config.md hooks: createContainer's path resolves in the runtime namespace, and it runs in the container namespace" {
	process sleep 1000
	hooks_setup
	rm "$BUNDLE/rootfs/hook.sh"
	hook createContainer createContainer
	created "$(cid)"
	[ "$(hook_log)" = createContainer ]
	local pid
	pid=$(state_of "$(cid)" pid)
	[ "$(cat "$BUNDLE/hooks/createContainer.ns")" = "$(ns_of "$pid")" ]
}

@test "config.md hooks: startContainer's path resolves in the container namespace, and it runs in the container namespace" {
	process sleep 1000
	hooks_setup
	rm "$BUNDLE/hook.sh"
	hook startContainer startContainer
	created "$(cid)"
	berth start "$(cid)"
	[ "$(hook_log)" = startContainer ]
	[ "$(cat "$BUNDLE/hooks/startContainer.ns")" = "$(ns_of "$(state_of "$(cid)" pid)")" ]
}

@test "config.md hooks: hooks of one kind are called in the listed order" {
	process true
	hooks_setup
	local k
	for k in prestart createRuntime createContainer startContainer poststart poststop; do
		hook "$k" "$k-1"
		hook "$k" "$k-2"
	done
	run berth run --bundle "$BUNDLE" "$(cid)"
	[ "$status" -eq 0 ]
	[ "$(hook_log)" = "prestart-1 prestart-2 createRuntime-1 createRuntime-2 createContainer-1 createContainer-2 startContainer-1 startContainer-2 poststart-1 poststart-2 poststop-1 poststop-2" ]
}

@test "config.md hooks: the state is passed to hooks on stdin" {
	process sleep 1000
	config '.annotations = {"org.example.k": "v"}'
	hooks_setup
	for k in prestart createRuntime createContainer startContainer poststart poststop; do
		hook "$k" "$k"
	done
	created "$(cid)"
	berth start "$(cid)"
	berth delete -f "$(cid)"
	local k status
	for k in prestart createRuntime createContainer startContainer poststart poststop; do
		case $k in
		# Run after lifecycle step 2, where "created" begins.
		prestart | createRuntime | createContainer | startContainer) status=created ;;
		poststart) status=running ;;
		poststop) status=stopped ;;
		esac
		jq -e --arg id "$(cid)" --arg b "$BUNDLE" --arg s "$status" \
			'.id == $id and .bundle == $b and .status == $s and (.ociVersion | length > 0) and .annotations == {"org.example.k": "v"}' \
			"$BUNDLE/hooks/$k.json"
	done
}

# A hook body that records what it sees of the container, into
# $BUNDLE/hooks/seen.
seen_hook() {
	config --arg k "$1" --arg s "$2" '.hooks[$k] += [{path: "/bin/sh", args: ["sh", "-c", $s]}]'
}

@test "config.md hooks: prestart and createRuntime run at create, after the environment is made and before pivot_root" {
	process sleep 1000
	hooks_setup
	local k
	for k in prestart createRuntime; do
		# The init (pid from the state): in namespaces of its own, the
		# config's mounts made below the rootfs, its root not yet the rootfs.
		seen_hook "$k" 'pid=$(sed "s/.*\"pid\":\([0-9]*\).*/\1/"); {
			[ "$(readlink /proc/$pid/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] && echo ns
			grep -q " '"$BUNDLE"'/rootfs/proc " /proc/$pid/mountinfo && echo mounts
			echo "root $(readlink /proc/$pid/root)"; } >> '"$BUNDLE"'/hooks/seen-'"$k"
	done
	created "$(cid)"
	for k in prestart createRuntime; do
		[ "$(cat "$BUNDLE/hooks/seen-$k")" = "$(printf 'ns\nmounts\nroot /')" ]
	done
	# Both before create returned: the container is created.
	[ "$(state_of "$(cid)" status)" = created ]
}

@test "config.md hooks: createContainer runs at create after createRuntime, with the mounts made and before pivot_root" {
	process sleep 1000
	hooks_setup
	hook createRuntime createRuntime
	# In the container's mount namespace, where the host's paths still
	# resolve and the rootfs's mounts are in place.
	seen_hook createContainer '{ grep -q " '"$BUNDLE"'/rootfs/proc " /proc/self/mountinfo && echo mounts
		[ -e '"$BUNDLE"'/config.json ] && echo host-paths; echo createContainer >> '"$BUNDLE"'/hooks/log; } > '"$BUNDLE"'/hooks/seen'
	created "$(cid)"
	[ "$(hook_log)" = "createRuntime createContainer" ]
	[ "$(cat "$BUNDLE/hooks/seen")" = "$(printf 'mounts\nhost-paths')" ]
}

@test "config.md hooks: startContainer runs at start, before the program" {
	hooks_setup
	seen_hook startContainer 'echo from-hook > /hooks/hooked'
	process sh -c 'cat /hooks/hooked > /hooks/program'
	created "$(cid)"
	[ ! -e "$BUNDLE/hooks/hooked" ]
	berth start "$(cid)"
	wait_until 10 test -s "$BUNDLE/hooks/program"
	# The program found the hook's file: it ran after the hook.
	[ "$(cat "$BUNDLE/hooks/program")" = from-hook ]
}

@test "config.md hooks: poststart runs after the program is executed and before start returns" {
	process sleep 1000
	hooks_setup
	seen_hook poststart 'pid=$(sed "s/.*\"pid\":\([0-9]*\).*/\1/"); tr "\0" " " < /proc/$pid/cmdline > '"$BUNDLE"'/hooks/seen'
	created "$(cid)"
	berth start "$(cid)"
	# start has returned: the hook has run, and saw the program in place.
	[ "$(cat "$BUNDLE/hooks/seen")" = "sleep 1000 " ]
}

@test "config.md hooks: poststop runs after the container is deleted and before delete returns" {
	process sleep 1000
	hooks_setup
	local cg
	berth run -d --bundle "$BUNDLE" "$(cid)"
	cg=$(cgroup_dirs "$(cid)" | head -1)
	# Run now: the container's cgroup, its init and its state are gone.
	seen_hook poststop '{ [ -e '"$cg"' ] || echo no-cgroup; [ -e '"$WORK/root/$(cid)"'/state.json ] || echo no-state; } > '"$BUNDLE"'/hooks/seen'
	berth delete -f "$(cid)"
	berth run -d --bundle "$BUNDLE" "$(cid)"
	local pid
	pid=$(state_of "$(cid)" pid)
	berth delete -f "$(cid)"
	[ "$(cat "$BUNDLE/hooks/seen")" = "$(printf 'no-cgroup\nno-state')" ]
	dead "$pid"
}

@test "config.md annotations: annotations MUST be a map, of string values" {
	config '.annotations = ["a", "b"]'
	refused annotations "expected a map"
	config '.annotations = {"org.example.n": 1}'
	refused annotations.org.example.n "expected a string"
}

@test "config.md annotations: a key MUST NOT be the empty string" {
	config '.annotations = {"": "x"}'
	refused annotations "a key is the empty string"
}

@test "config.md annotations: unknown keys are handled like unknown properties (kept, no error), empty values allowed" {
	process true
	config '.annotations = {"org.example.unknown": "", "org.opencontainers.image.os": "linux"}'
	run berth run --bundle "$BUNDLE" "$(cid)"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "config.md annotations: kill without a signal sends org.opencontainers.image.stopSignal" {
	mkdir "$BUNDLE/out"
	config --arg d "$BUNDLE/out" '.mounts += [{destination: "/out", type: "none", source: $d, options: ["bind"]}] |
		.annotations = {"org.opencontainers.image.stopSignal": "SIGUSR1"}'
	process sh -c 'trap "echo USR1 > /out/got; exit 0" USR1; echo up > /out/up; while :; do sleep 0.05; done'
	berth run -d --bundle "$BUNDLE" "$(cid)"
	wait_until 10 test -s "$BUNDLE/out/up"
	berth kill "$(cid)"
	wait_until 10 test -s "$BUNDLE/out/got"
}

@test "config.md extensibility: unknown properties are ignored, not errors" {
	process true
	config '.futureTopLevel = {a: 1} | .process.futureProcess = true | .root.futureRoot = "x" |
		.mounts[0].futureMount = [1] | .hooks = {futureHook: [{path: "/bin/false"}]} |
		.process.user.futureUser = 1 | .process.rlimits[0].futureRlimit = 2'
	run berth run --bundle "$BUNDLE" "$(cid)"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "config.md valid values: an invalid or unsupported value is an error naming the field" {
	config '.process.ioPriority = {class: "IOPRIO_CLASS_NOSUCH", priority: 1}'
	refused process.ioPriority.class IOPRIO_CLASS_NOSUCH
	config 'del(.process.ioPriority) | .process.scheduler = {policy: "SCHED_NOSUCH"}'
	refused process.scheduler.policy SCHED_NOSUCH
	config 'del(.process.scheduler) | .process.user.uid = "root"'
	refused process.user.uid "invalid type"
	config '.process.user.uid = 0 | .root.readonly = "yes"'
	refused root.readonly "invalid type"
}
