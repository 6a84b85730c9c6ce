#!/bin/sh
# The cgroup integration tests on cgroup v2, run inside hack/vm (a pure v2
# kernel) by hack/vm/test-cgroups: each resource written and read back,
# enforced where the kernel shows it (OOM kill, device filter, write
# throttle measured with dd, pids), update, pause/resume, ps, events and
# cleanup. Prints "ok"/"not ok" lines and a final "cgroup-v2: N passed, M
# failed"; exits non-zero on any failure.
#   cgroup-v2.sh BERTH SHARE   (SHARE holds rootfs/ and template.json)
set -u
B=$1
SHARE=$2
# pivot_root cannot leave the initramfs (rootfs) the VM runs from: run the
# tests from a bind mount of it, which pivot_root accepts as a root.
if [ "${3:-}" != inner ]; then
    mount --make-rprivate /
    mkdir -p /nr
    mount --rbind / /nr
    exec chroot /nr /bin/sh "$0" "$B" "$SHARE" inner
fi
W=/tmp/v2
ROOT=$W/state
CG=/sys/fs/cgroup/berth-v2
mkdir -p "$W" "$ROOT"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }
eq() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi; }
has() { case "$2" in *"$3"*) ok "$1" ;; *) bad "$1: '$2' does not contain '$3'" ;; esac; }
berth() { "$B" --root "$ROOT" "$@"; }
val() { cat "$CG/$1/$2" 2>&1; }
# Waits up to 20 s for the background process $1 to end; fails if it has not.
ended() {
    i=0
    while [ $i -lt 100 ] && kill -0 "$1" 2>/dev/null; do sleep 0.2; i=$((i + 1)); done
    ! kill -0 "$1" 2>/dev/null
}

# bundle ID ARGS-JSON RESOURCES-JSON [MOUNTS-JSON DEVICES-JSON]: a bundle
# from the host's template, extra mounts after the default ones (no "|" in
# the JSON, and "\&" for "&": sed's syntax).
bundle() {
    mkdir -p "$W/$1"
    mounts=$(cat "$SHARE/mounts.json")
    extra=${4:-[]}
    [ "$extra" = "[]" ] || mounts="${mounts%]},${extra#[}"
    sed -e "s|\"@ARGS@\"|$2|" -e "s|\"@RES@\"|$3|" -e "s|@ID@|$1|" \
        -e "s|\"@MOUNTS@\"|$mounts|" -e "s|\"@DEVICES@\"|${5:-[]}|" \
        "$SHARE/template.json" >"$W/$1/config.json"
}
# A detached container keeps berth's stdio: files, never a pipe that $()
# would wait on.
run_d() { berth run -d -b "$W/$1" "$1" >"$W/$1.out" 2>"$W/$1.err" </dev/null; }
run_fg() { berth run -b "$W/$1" "$1" 2>&1; }

echo "# v2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
# The VM's virtio disk: its major is allocated when the driver registers
# (254 when it is the first dynamic one), so read, not assumed.
DEV=$(cat /sys/block/vda/dev)
MAJ=${DEV%:*}
MIN=${DEV#*:}
echo "# vda is $DEV"

# The seeds' experiments and every other resource, read back.
bundle write '["sleep","1000"]' '{"memory":{"limit":209715200,"swap":314572800,"reservation":104857600,"kernel":50000000},"cpu":{"shares":512,"quota":50000,"period":100000,"burst":10000,"idle":0,"cpus":"0","mems":"0"},"pids":{"limit":77},"blockIO":{"throttleWriteBpsDevice":[{"major":'"$MAJ"',"minor":'"$MIN"',"rate":31457280}],"throttleReadIOPSDevice":[{"major":'"$MAJ"',"minor":'"$MIN"',"rate":1000}]},"hugepageLimits":[{"pageSize":"2MB","limit":4194304}],"unified":{"memory.high":"262144000"}}'
run_d write
err=$(cat "$W/write.err")
has "kernel memory accepted with a warning" "$err" "linux.resources.memory.kernel: 50000000 ignored"
eq "memory.max" "$(val write memory.max)" 209715200
eq "memory.swap.max is swap - limit" "$(val write memory.swap.max)" 104857600
eq "memory.low from reservation" "$(val write memory.low)" 104857600
eq "cpu.weight from shares 512" "$(val write cpu.weight)" 59
eq "cpu.max" "$(val write cpu.max)" "50000 100000"
eq "cpu.max.burst" "$(val write cpu.max.burst)" 10000
eq "cpu.idle" "$(val write cpu.idle)" 0
eq "cpuset.cpus" "$(val write cpuset.cpus)" 0
eq "cpuset.mems" "$(val write cpuset.mems)" 0
eq "pids.max" "$(val write pids.max)" 77
eq "io.max" "$(val write io.max)" "$DEV rbps=max wbps=31457280 riops=1000 wiops=max"
eq "hugetlb.2MB.max" "$(val write hugetlb.2MB.max)" 4194304
eq "unified memory.high" "$(val write memory.high)" 262144000
pid=$(berth state write | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
has "the init is in the container's cgroup" "$(val write cgroup.procs)" "$pid"
has "ps --format json lists the init" "$(berth ps --format json write)" "$pid"
ev=$(berth events --stats write)
has "events --stats: a stats event" "$ev" '"type":"stats"'
has "events --stats: the memory limit" "$ev" '"limit":209715200'
has "events --stats: pids" "$ev" '"current":1'

berth update --memory 300M --memory-swap -1 --cpu-share 1024 --pids-limit 33 write
eq "update: memory.max" "$(val write memory.max)" 314572800
eq "update: memory.swap.max for -1" "$(val write memory.swap.max)" max
eq "update: cpu.weight from shares 1024 (the v2 default)" "$(val write cpu.weight)" 100
eq "update: pids.max" "$(val write pids.max)" 33
echo '{"unified":{"memory.high":"bogus"}}' >"$W/res.json"
err=$(berth update -r "$W/res.json" write 2>&1)
has "a refused value names the file" "$err" "memory.high"
has "a refused value names the value" "$err" "bogus"

berth pause write
eq "pause: cgroup.freeze" "$(val write cgroup.freeze)" 1
has "pause: status paused" "$(berth state write)" '"status": "paused"'
has "pause: exec refused" "$(berth exec write true 2>&1)" "paused"
berth resume write
eq "resume: cgroup.freeze" "$(val write cgroup.freeze)" 0
has "resume: status running" "$(berth state write)" '"status": "running"'
mkdir "$CG/write/sub"
berth delete -f write

# exec --ignore-paused into a paused container waits for it without holding
# the container's lock: resume lets it run, and delete -f after the waiting
# exec was killed leaves nothing frozen behind.
bundle frozen '["sleep","1000"]' '{}'
run_d frozen
berth pause frozen
berth exec --ignore-paused frozen echo thawed >"$W/ip.out" 2>&1 </dev/null &
ip=$!
sleep 1
berth resume frozen &
rp=$!
if ended $rp && wait $rp; then
    ok "exec --ignore-paused: resume does not wait for it"
else
    bad "exec --ignore-paused: resume blocked"
    kill $rp 2>/dev/null
    echo 0 >"$CG/frozen/cgroup.freeze"
fi
ended $ip
wait $ip
eq "exec --ignore-paused: the process runs once resumed" "$(cat "$W/ip.out")" thawed
berth pause frozen
berth exec --ignore-paused frozen echo never >/dev/null 2>&1 </dev/null &
ip=$!
sleep 1
kill -9 $ip
wait $ip 2>/dev/null
berth delete -f frozen &
dp=$!
if ended $dp && wait $dp; then
    ok "exec --ignore-paused killed: delete -f returns"
else
    bad "exec --ignore-paused killed: delete -f blocked"
    kill $dp 2>/dev/null
    echo 0 >"$CG/frozen/cgroup.freeze"
    berth delete -f frozen
fi
[ ! -e "$CG/frozen" ] && ok "exec --ignore-paused killed: no cgroup left" ||
    bad "exec --ignore-paused killed: delete -f left $CG/frozen ($(cat "$CG/frozen/cgroup.procs" 2>&1))"
[ ! -e "$CG/write" ] && ok "delete removes the cgroup and its sub-cgroups" || bad "delete left $CG/write"

# Over the memory limit without swap: OOM killed, and reported by events.
bundle oom '["sh","-c","sleep 3; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 1000"]' '{"memory":{"limit":16777216,"swap":16777216}}'
run_d oom
berth events --interval 200ms oom >"$W/oom.events" 2>&1 &
evpid=$!
touch "$W/oom.events"
i=0
while [ $i -lt 100 ] && ! grep -q '"type":"oom"' "$W/oom.events"; do sleep 0.2; i=$((i + 1)); done
kill $evpid 2>/dev/null
has "an OOM kill is reported by events" "$(cat "$W/oom.events")" '"type":"oom"'
has "memory.events counts the kill" "$(val oom memory.events)" "oom_kill 1"
berth delete -f oom

# The eBPF device filter: a node the config makes but the rules deny.
bundle dev '["sh","-c","exec 2>/dev/stdout; head -c 1 /dev/disk; head -c 0 /dev/null; echo rc=$?"]' '{"devices":[{"allow":false,"access":"rwm"}]}' '[]' '[{"path":"/dev/disk","type":"b","major":'"$MAJ"',"minor":'"$MIN"',"fileMode":384}]'
out=$(run_fg dev)
has "the device filter denies /dev/disk" "$out" "Operation not permitted"
has "the default devices stay allowed" "$out" "rc=0"

# pids.limit stops forks.
bundle pids '["sh","-c","exec 2>/dev/stdout; for i in 1 2 3 4 5 6 7 8; do (sleep 1) \& done; wait; true"]' '{"pids":{"limit":4}}'
has "pids.max stops forks" "$(run_fg pids)" "can't fork"

# The write throttle, measured with dd on /dev/vda.
if grep -q " /mnt/scratch " /proc/mounts; then
    bundle dd '["sh","-c","read a x </proc/uptime; dd if=/dev/zero of=/data/f bs=1M count=45 oflag=direct 2>/dev/null; read b x </proc/uptime; echo $a $b"]' '{"blockIO":{"throttleWriteBpsDevice":[{"major":'"$MAJ"',"minor":'"$MIN"',"rate":31457280}]}}' '[{"destination":"/data","type":"bind","source":"/mnt/scratch","options":["rbind","rw"]}]'
    t=$(run_fg dd)
    rate=$(echo "$t" | awk '{ if (NF == 2) printf "%d", 45 * 1.048576 / ($2 - $1) }')
    if [ -n "$rate" ] && [ "$rate" -ge 18 ] && [ "$rate" -le 36 ]; then
        ok "dd writes at $rate MB/s under a 30 MB/s throttle"
    else
        bad "dd wrote at '$rate' MB/s under a 30 MB/s throttle ($t)"
    fi
else
    bad "no /mnt/scratch for the dd test"
fi

# config-linux.md unified: a file berth has no field for is still written,
# with its controller enabled; one of a controller that is not there is an
# error, as is a v1 setting v2 has no counterpart for.
bundle uni '["sleep","1000"]' '{"unified":{"memory.oom.group":"1","pids.max":"9"}}'
run_d uni || bad "unified: run -d failed: $(cat "$W/uni.err")"
eq "unified: memory.oom.group (no field of its own) is written" "$(val uni memory.oom.group)" 1
eq "unified: pids.max is written" "$(val uni pids.max)" 9
has "unified: the memory controller is enabled for the cgroup" "$(val uni cgroup.controllers)" memory
berth delete -f uni
bundle nocontroller '["true"]' '{"unified":{"net_cls.classid":"1"}}'
has "unified: a controller that is not there is an error naming the file" "$(run_fg nocontroller)" "net_cls.classid"
# Issue 14, item 13: a key is a file of the container's cgroup, never a
# path: "../pids.max" would be the parent's, written as root. A running
# container keeps the parent (and its pids.max) in place meanwhile.
bundle upesc '["sleep","1000"]' '{}'
run_d upesc || bad "unified update: run -d failed: $(cat "$W/upesc.err")"
parent_before=$(cat "$CG/pids.max" 2>&1)
bundle escape '["true"]' '{"unified":{"../pids.max":"5"}}'
has "unified: ../pids.max is refused, naming the key" "$(run_fg escape)" "linux.resources.unified.../pids.max: is not a file name"
eq "unified: the parent's pids.max is untouched by create" "$(cat "$CG/pids.max" 2>&1)" "$parent_before"
echo '{"unified":{"../pids.max":"5"}}' >"$W/res.json"
has "unified: update refuses ../pids.max" "$(berth update -r "$W/res.json" upesc 2>&1)" "is not a file name"
eq "unified: the parent's pids.max is untouched by update" "$(cat "$CG/pids.max" 2>&1)" "$parent_before"
berth delete -f upesc
bundle classid '["true"]' '{"network":{"classID":1048577}}'
has "network.classID has no v2 counterpart: an error" "$(run_fg classid)" "linux.resources.network.classID: has no cgroup v2 equivalent"
bundle swappiness '["true"]' '{"memory":{"swappiness":10}}'
has "memory.swappiness has no v2 counterpart: an error" "$(run_fg swappiness)" "linux.resources.memory.swappiness"

# config-linux.md cgroup ownership: with a new cgroup namespace and
# /sys/fs/cgroup read-write, the cgroup and the files
# /sys/kernel/cgroup/delegate lists are handed to the process's user (uid
# 1000 here: no user namespace, which this chrooted runner cannot make);
# nothing else, and nothing when the mount is read-only.
as_user() {
    sed -i -e 's|"\([ug]id\)": 0,$|"\1": 1000,|' -e 's|"\([ug]id\)": 0$|"\1": 1000|' "$W/$1/config.json"
}
bundle own '["sh","-c","mkdir /sys/fs/cgroup/sub \&\& echo made; sleep 1000"]' '{}'
as_user own
sed -i 's|"relatime","ro"\]|"relatime"]|' "$W/own/config.json"
run_d own || bad "ownership: run -d failed: $(cat "$W/own.err")"
eq "ownership: the cgroup directory" "$(stat -c %u:%g "$CG/own")" 1000:1000
for f in cgroup.procs cgroup.subtree_control cgroup.threads; do
    eq "ownership: $f" "$(stat -c %u:%g "$CG/own/$f")" 1000:1000
done
eq "ownership: memory.max stays root's" "$(stat -c %u:%g "$CG/own/memory.max")" 0:0
i=0
while [ $i -lt 50 ] && ! grep -q made "$W/own.out"; do sleep 0.1; i=$((i + 1)); done
has "ownership: the container's user can make a sub-cgroup" "$(cat "$W/own.out" "$W/own.err")" made
berth delete -f own
bundle ownro '["sleep","1000"]' '{}'
as_user ownro
run_d ownro || bad "ownership: run -d failed: $(cat "$W/ownro.err")"
eq "ownership: not with a read-only cgroup mount" "$(stat -c %u:%g "$CG/ownro")" 0:0
berth delete -f ownro

# A relative cgroupsPath lands under the runtime's own cgroup.
mkdir -p /sys/fs/cgroup/runner
echo $$ >/sys/fs/cgroup/runner/cgroup.procs
# (No limits: a cgroup with processes of its own cannot delegate
# controllers to its children on v2.)
bundle rel '["sleep","1000"]' '{}'
sed -i 's|"/berth-v2/rel"|"berth-v2-rel"|' "$W/rel/config.json"
run_d rel || bad "relative path: run -d failed: $(cat "$W/rel.err")"
pid=$(berth state rel | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
has "relative path: under our own cgroup" "$(cat /sys/fs/cgroup/runner/berth-v2-rel/cgroup.procs 2>&1)" "${pid:-no pid}"
berth delete -f rel
echo $$ >/sys/fs/cgroup/cgroup.procs
rmdir /sys/fs/cgroup/runner

left=$(ls "$ROOT")
eq "no state left" "$left" ""
rmdir "$CG" 2>/dev/null
[ ! -e "$CG" ] && ok "no cgroup left" || bad "cgroups left: $(ls $CG)"
echo "cgroup-v2: $pass passed, $fail failed"
[ "$fail" = 0 ]
