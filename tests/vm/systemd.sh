#!/bin/sh
# berth's systemd cgroup driver on a real systemd (Debian 13, cgroup v2),
# run inside the VM of hack/vm/test-systemd as a systemd unit. First berth
# alone with --systemd-cgroup, then the engines with berth as their
# runtime. Every check runs with berth, counted ("ok"/"not ok" lines), and
# again with Debian 13's runc for comparison (lines "# runc: ok|not ok"),
# not counted. Ends with "systemd: N passed, N failed"; exits non-zero on
# a failure.
#   systemd.sh BERTH
set -u
BERTH=$1
RUNC=/usr/sbin/runc
W=/tmp/sd
mkdir -p "$W"
pass=0
fail=0
rpass=0
rfail=0
# The runtime under test: berth's results count, runc's are shown beside.
RT=berth
ok() {
    if [ "$RT" = berth ]; then pass=$((pass + 1)); echo "ok - $1"
    else rpass=$((rpass + 1)); echo "# runc: ok - $1"; fi
}
bad() {
    if [ "$RT" = berth ]; then fail=$((fail + 1)); echo "not ok - $1"
    else rfail=$((rfail + 1)); echo "# runc: not ok - $1"; fi
}
eq() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi; }
has() { case "$2" in *"$3"*) ok "$1" ;; *) bad "$1: '$2' does not contain '$3'" ;; esac; }
hasnt() { case "$2" in *"$3"*) bad "$1: '$2' contains '$3'" ;; *) ok "$1" ;; esac; }
# rt ARGS...: the runtime under test, with the systemd driver (a hung
# call fails its test instead of the whole run).
rt() {
    if [ "$RT" = berth ]; then timeout 60 "$BERTH" --systemd-cgroup --root "$W/state-berth" "$@"
    else timeout 60 "$RUNC" --systemd-cgroup --root "$W/state-runc" "$@"; fi
}
# rt_d ARGS...: as rt, for a command leaving a container running with its
# stdio: a file, never the pipe of a $(), which would wait for it to end.
rt_d() {
    rt "$@" >"$W/out" 2>&1 </dev/null
    st=$?
    cat "$W/out"
    return $st
}
prop() { systemctl show -P "$2" "$1" 2>&1; }

echo "# $(uname -r); pid 1 $(cat /proc/1/comm) $(systemctl --version | head -n1); $(stat -fc %T /sys/fs/cgroup)"
echo "# $($RUNC --version | tr '\n' ' '); $($BERTH --version)"
DEV=$(cat /sys/block/vda/dev)
MAJ=${DEV%:*}
MIN=${DEV#*:}

# A busybox root filesystem, and a bundle template from berth spec.
R=$W/rootfs
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/etc"
cp /usr/bin/busybox "$R/bin/busybox"
for a in $(/usr/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"
(cd "$W" && "$BERTH" spec && mv config.json spec.json)

# bundle ID CGROUPS-PATH ARGS-JSON RESOURCES-JSON [DEVICES-JSON]: a bundle for the
# runtime under test (its own directory per runtime).
bundle() {
    b=$W/$RT-$1
    mkdir -p "$b"
    jq --arg rootfs "$R" --arg cg "$2" --argjson args "$3" --argjson res "$4" \
        --argjson devs "${5:-[]}" '
        .root = {"path": $rootfs, "readonly": true}
        | .process.terminal = false
        | .process.args = $args
        | .linux.cgroupsPath = $cg
        | .linux.resources = $res
        | .linux.devices = $devs' "$W/spec.json" >"$b/config.json"
    echo "$b"
}

RES='{"memory":{"limit":209715200,"swap":314572800},"cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0"},"pids":{"limit":77},"blockIO":{"throttleWriteBpsDevice":[{"major":'"$MAJ"',"minor":'"$MIN"',"rate":31457280}]},"devices":[{"allow":false,"access":"rwm"}]}'
# A node the rules above deny: the VM's disk.
DEVS='[{"path":"/dev/disk","type":"b","major":'"$MAJ"',"minor":'"$MIN"',"fileMode":384}]'

# The runtime alone: one container's whole life under systemd.
alone() {
    id=sd1
    unit=$RT-$id.scope
    slice=berthtest.slice
    b=$(bundle one "$slice:$RT:$id" '["sleep","1000"]' "$RES" "$DEVS")
    rt_d run -d -b "$b" "$id" >"$W/run.out"
    eq "run -d with a slice:prefix:name path" "$?$(cat "$W/run.out")" 0
    eq "the scope is active" "$(prop "$unit" ActiveState)" active
    eq "the scope is in the named slice" "$(prop "$unit" Slice)" "$slice"
    eq "the scope's cgroup" "$(prop "$unit" ControlGroup)" "/$slice/$unit"
    st=$(systemctl status "$unit" 2>&1)
    has "systemctl status shows the scope" "$st" "$unit"
    desc=$(prop "$unit" Description)
    echo "# $RT: Description=$desc"
    hasnt "the scope's description names no other runtime" "$desc" youki
    has "the scope's description names the container" "$desc" "$id"
    eq "Delegate=yes (the container may manage its subtree)" "$(prop "$unit" Delegate)" yes
    cg=/sys/fs/cgroup/$slice/$unit
    pid=$(rt state "$id" | jq .pid)
    has "the init is in the scope's cgroup" "$(cat "$cg/cgroup.procs" 2>&1)" "$pid"
    # Each limit both as the unit's property (systemd writes it again at
    # every reload) and in the cgroup file.
    eq "MemoryMax" "$(prop "$unit" MemoryMax)" 209715200
    eq "memory.max" "$(cat "$cg/memory.max" 2>&1)" 209715200
    eq "MemorySwapMax (swap - limit)" "$(prop "$unit" MemorySwapMax)" 104857600
    eq "memory.swap.max" "$(cat "$cg/memory.swap.max" 2>&1)" 104857600
    # runc 1.1 maps shares to weights linearly (512: 20), berth as runc
    # 1.3 and crun do (512: 59).
    w=59
    [ "$RT" = berth ] || w=20
    eq "CPUWeight from shares 512" "$(prop "$unit" CPUWeight)" $w
    eq "cpu.weight" "$(cat "$cg/cpu.weight" 2>&1)" $w
    eq "CPUQuotaPerSecUSec" "$(prop "$unit" CPUQuotaPerSecUSec)" 500ms
    eq "cpu.max" "$(cat "$cg/cpu.max" 2>&1)" "50000 100000"
    eq "TasksMax" "$(prop "$unit" TasksMax)" 77
    eq "pids.max" "$(cat "$cg/pids.max" 2>&1)" 77
    eq "IOWriteBandwidthMax" "$(prop "$unit" IOWriteBandwidthMax)" "/dev/vda 31457280"
    eq "io.max" "$(cat "$cg/io.max" 2>&1)" "$DEV rbps=max wbps=31457280 riops=max wiops=max"
    eq "AllowedCPUs" "$(prop "$unit" AllowedCPUs)" 0
    eq "cpuset.cpus" "$(cat "$cg/cpuset.cpus" 2>&1)" 0
    eq "DevicePolicy" "$(prop "$unit" DevicePolicy)" strict
    has "DeviceAllow: a default device" "$(prop "$unit" DeviceAllow)" "/dev/char/1:3 rwm"
    out=$(rt exec "$id" sh -c 'head -c0 /dev/null && echo null-ok; head -c1 /dev/disk 2>&1' 2>&1)
    has "the device rules: a default device" "$out" null-ok
    has "the device rules: a denied device" "$out" "not permitted"

    # The container's own view: its cgroup namespace is rooted at the scope
    # (made after systemd moved the init there), and so is the cgroup mount.
    eq "inside, /sys/fs/cgroup is the scope (new cgroup namespace)" "$(rt exec "$id" cat /sys/fs/cgroup/memory.max 2>&1)" 209715200
    eq "inside, /proc/self/cgroup is the namespace's root" "$(rt exec "$id" cat /proc/self/cgroup 2>&1)" "0::/"

    # systemd rewrites every cgroup file from the unit's properties at a
    # reload: limits known only to the files are lost then.
    systemctl daemon-reload
    eq "memory.max after daemon-reload" "$(cat "$cg/memory.max" 2>&1)" 209715200
    eq "pids.max after daemon-reload" "$(cat "$cg/pids.max" 2>&1)" 77
    eq "cpuset.cpus after daemon-reload" "$(cat "$cg/cpuset.cpus" 2>&1)" 0
    eq "io.max after daemon-reload" "$(cat "$cg/io.max" 2>&1)" "$DEV rbps=max wbps=31457280 riops=max wiops=max"
    out=$(rt exec "$id" sh -c 'head -c0 /dev/null && echo null-ok; head -c1 /dev/disk 2>&1' 2>&1)
    has "a default device after daemon-reload" "$out" null-ok
    has "a denied device after daemon-reload" "$out" "not permitted"

    out=$(rt update --memory 314572800 --memory-swap 419430400 --cpu-share 1024 --pids-limit 33 --cpu-quota 25000 "$id" 2>&1)
    eq "update" "$?$out" 0
    eq "update: MemoryMax" "$(prop "$unit" MemoryMax)" 314572800
    eq "update: memory.max" "$(cat "$cg/memory.max" 2>&1)" 314572800
    w=100
    [ "$RT" = berth ] || w=39
    eq "update: CPUWeight" "$(prop "$unit" CPUWeight)" $w
    eq "update: cpu.weight" "$(cat "$cg/cpu.weight" 2>&1)" $w
    eq "update: TasksMax" "$(prop "$unit" TasksMax)" 33
    eq "update: pids.max" "$(cat "$cg/pids.max" 2>&1)" 33
    eq "update: CPUQuotaPerSecUSec" "$(prop "$unit" CPUQuotaPerSecUSec)" 250ms
    eq "update: cpu.max" "$(cat "$cg/cpu.max" 2>&1)" "25000 100000"
    systemctl daemon-reload
    eq "update: memory.max after daemon-reload" "$(cat "$cg/memory.max" 2>&1)" 314572800
    rt update --cpu-share 2048 "$id"
    eq "update --cpu-share alone keeps CPUQuotaPerSecUSec" "$(prop "$unit" CPUQuotaPerSecUSec)" 250ms
    eq "update --cpu-share alone keeps cpu.max" "$(cat "$cg/cpu.max" 2>&1)" "25000 100000"
    out=$(rt update --cpuset-cpus 1 "$id" 2>&1)
    eq "update --cpuset-cpus 1" "$?$out" 0
    eq "update: AllowedCPUs" "$(prop "$unit" AllowedCPUs)" 1
    eq "update: cpuset.cpus" "$(cat "$cg/cpuset.cpus" 2>&1)" 1
    systemctl daemon-reload
    eq "update: cpuset.cpus after daemon-reload" "$(cat "$cg/cpuset.cpus" 2>&1)" 1

    rt pause "$id"
    eq "pause: cgroup.freeze" "$(cat "$cg/cgroup.freeze" 2>&1)" 1
    has "pause: status paused" "$(rt state "$id")" paused
    rt resume "$id"
    eq "resume: cgroup.freeze" "$(cat "$cg/cgroup.freeze" 2>&1)" 0
    has "resume: status running" "$(rt state "$id")" running

    rt kill "$id" KILL
    sleep 0.5
    out=$(rt delete "$id" 2>&1)
    eq "delete" "$?$out" 0
    sleep 0.5
    st=$(prop "$unit" ActiveState)
    [ "$st" = inactive ] || [ "$st" = "" ] && ok "delete: the scope is gone ($st)" || bad "delete: the scope is $st"
    hasnt "delete: no unit of the container is loaded" "$(systemctl list-units --all --no-legend "$unit")" "$unit"
    [ ! -e "$cg" ] && ok "delete: the cgroup is gone" || bad "delete: $cg is left"

    # delete -f of a running container.
    # ...and without a cgroup namespace, a bind of the scope's directory.
    b=$(bundle two "$slice:$RT:$id-f" '["sleep","1000"]' '{"pids":{"limit":55}}')
    jq '.linux.namespaces |= map(select(.type != "cgroup"))' "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"
    rt_d run -d -b "$b" "$id-f" >/dev/null
    eq "a second container's scope" "$(prop "$RT-$id-f.scope" ActiveState)" active
    eq "inside, /sys/fs/cgroup is the scope (host cgroup namespace)" "$(rt exec "$id-f" cat /sys/fs/cgroup/pids.max 2>&1)" 55
    rt delete -f "$id-f"
    sleep 0.5
    hasnt "delete -f: the unit is gone" "$(systemctl list-units --all --no-legend "$RT-$id-f.scope")" "$RT-$id-f"

    # A failed create leaves no unit: a process that does not exist, and a
    # limit the kernel refuses (cpus the VM has not).
    b=$(bundle bad "$slice:$RT:$id-bad" '["/nonexistent"]' '{}')
    out=$(rt run -b "$b" "$id-bad" 2>&1 </dev/null)
    has "a missing executable: the reason" "$out" nonexistent
    sleep 0.5
    left=$(systemctl list-units --all --no-legend "$RT-$id-bad.scope")
    hasnt "a missing executable: no unit left" "$left" "$RT-$id-bad"
    [ -z "$left" ] || { systemctl status "$RT-$id-bad.scope" 2>&1 | sed 's/^/#   /'; rt list 2>&1 | sed 's/^/#   /'; }
    rt delete -f "$id-bad" >/dev/null 2>&1
    b=$(bundle cpus "$slice:$RT:$id-cpus" '["true"]' '{"cpu":{"cpus":"7"}}')
    out=$(rt run -b "$b" "$id-cpus" 2>&1 </dev/null)
    has "cpus the VM has not: the reason names them" "$out" 7
    sleep 0.5
    hasnt "cpus the VM has not: no unit left" "$(systemctl list-units --all --no-legend "$RT-$id-cpus.scope")" "$RT-$id-cpus"
    rt delete -f "$id-cpus" >/dev/null 2>&1
    eq "no container left in the state root" "$(rt list -q 2>&1)" ""
}

for RT in berth runc; do
    echo "# --- $RT alone, --systemd-cgroup"
    alone
done

# The engines, each driving the runtime under test; podman and docker
# share these checks. E runs the engine, RUNOPT picks the runtime at run.
unit_of() { sed -n 's|^0::.*/||p' "/proc/$1/cgroup"; }
cgdir_of() { echo "/sys/fs/cgroup$(sed -n 's|^0::||p' "/proc/$1/cgroup")"; }
engine() {
    en=$1
    E rm -f lim lg netc web >/dev/null 2>&1
    # shellcheck disable=SC2086
    out=$(E run -d $RUNOPT --name lim -m 200M --memory-swap 300M -c 512 \
        --device-write-bps /dev/vda:30mb busybox sleep 1000 2>&1)
    eq "$en: run -d with limits" "$?" 0
    [ $? = 0 ] || echo "# $out"
    pid=$(E inspect -f '{{.State.Pid}}' lim)
    unit=$(unit_of "$pid")
    cg=$(cgdir_of "$pid")
    echo "# $en/$RT: the container is in $cg"
    case $unit in *.scope) ok "$en: the container runs in a scope ($unit)" ;;
        *) bad "$en: the container runs in $unit, not a scope" ;; esac
    eq "$en: the scope is active" "$(prop "$unit" ActiveState)" active
    eq "$en: MemoryMax" "$(prop "$unit" MemoryMax)" 209715200
    eq "$en: memory.max (-m 200M)" "$(E exec lim cat /sys/fs/cgroup/memory.max 2>&1)" 209715200
    eq "$en: memory.swap.max (--memory-swap 300M)" "$(E exec lim cat /sys/fs/cgroup/memory.swap.max 2>&1)" 104857600
    w=$(E exec lim cat /sys/fs/cgroup/cpu.weight 2>&1)
    echo "# $en/$RT: -c 512 gives cpu.weight $w, CPUWeight $(prop "$unit" CPUWeight)"
    case $w in 20 | 59) ok "$en: cpu.weight from -c 512 ($w)" ;; *) bad "$en: cpu.weight from -c 512: $w" ;; esac
    # The throttle, when the engine passes it on (docker 26 on this host
    # does not: its config asks for none, whatever the runtime).
    asked=$(E inspect -f '{{json .HostConfig.BlkioDeviceWriteBps}}' lim 2>&1)
    case $asked in
        *31457280*)
            eq "$en: io.max (--device-write-bps)" "$(cat "$cg/io.max" 2>&1)" "$DEV rbps=max wbps=31457280 riops=max wiops=max"
            t=$(E exec lim sh -c 'read a x </proc/uptime; dd if=/dev/zero of=/tmp/f bs=1M count=45 conv=fsync 2>/dev/null; read b x </proc/uptime; rm /tmp/f; echo $a $b' 2>&1)
            rate=$(echo "$t" | awk '{ if (NF == 2) printf "%d", 45 * 1.048576 / ($2 - $1) }')
            if [ -n "$rate" ] && [ "$rate" -le 36 ]; then ok "$en: dd writes at $rate MB/s under 30 MB/s"
            else bad "$en: dd wrote at '$rate' MB/s under 30 MB/s ($t)"; fi ;;
        *) echo "# $en/$RT: --device-write-bps not passed on by the engine (it asks for $asked)" ;;
    esac
    E exec lim sh -c 'exit 3'
    eq "$en: exec's status" "$?" 3
    eq "$en: exec's output" "$(E exec lim echo hi 2>&1)" hi
    E pause lim >/dev/null
    eq "$en: pause" "$(E inspect -f '{{.State.Status}}' lim)" paused
    eq "$en: pause freezes the scope's cgroup" "$(cat "$cg/cgroup.freeze" 2>&1)" 1
    E unpause lim >/dev/null
    eq "$en: unpause" "$(E inspect -f '{{.State.Status}}' lim)" running
    eq "$en: unpause thaws the cgroup" "$(cat "$cg/cgroup.freeze" 2>&1)" 0
    has "$en: top" "$(E top lim 2>&1)" "sleep 1000"
    E stop -t 1 lim >/dev/null 2>&1
    eq "$en: stop" "$(E inspect -f '{{.State.Status}}' lim)" exited
    sleep 0.5
    hasnt "$en: stop ends the scope" "$(systemctl list-units --no-legend "$unit")" "$unit"
    E restart -t 1 lim >/dev/null 2>&1
    eq "$en: restart" "$(E inspect -f '{{.State.Status}}' lim)" running
    pid=$(E inspect -f '{{.State.Pid}}' lim)
    unit=$(unit_of "$pid")
    eq "$en: after restart, MemoryMax" "$(prop "$unit" MemoryMax)" 209715200
    E kill lim >/dev/null 2>&1
    sleep 1
    eq "$en: kill (SIGKILL: 137)" "$(E inspect -f '{{.State.ExitCode}}' lim)" 137
    E rm -f lim >/dev/null 2>&1
    sleep 0.5
    hasnt "$en: rm: no unit left" "$(systemctl list-units --all --no-legend "$unit")" "$unit"

    # shellcheck disable=SC2086
    E run -d $RUNOPT --name lg busybox sh -c 'echo to-out; echo to-err >&2' >/dev/null 2>&1
    sleep 2
    E logs lg >"$W/lo" 2>"$W/le"
    eq "$en: logs: stdout" "$(cat "$W/lo")" to-out
    eq "$en: logs: stderr" "$(cat "$W/le")" to-err
    E rm -f lg >/dev/null 2>&1

    # shellcheck disable=SC2086
    eq "$en: --net none" "$(E run --rm $RUNOPT --net none busybox sh -c 'ls /sys/class/net' 2>&1)" lo
    # shellcheck disable=SC2086
    eq "$en: --net host" "$(E run --rm $RUNOPT --net host busybox readlink /proc/1/ns/net 2>&1)" "$(readlink /proc/1/ns/net)"
    # shellcheck disable=SC2086
    E run -d $RUNOPT --name netc busybox sleep 1000 >/dev/null 2>&1
    # shellcheck disable=SC2086
    eq "$en: --net container:X" "$(E run --rm $RUNOPT --net container:netc busybox readlink /proc/self/ns/net 2>&1)" \
        "$(readlink "/proc/$(E inspect -f '{{.State.Pid}}' netc)/ns/net")"
    E rm -f netc >/dev/null 2>&1
    # shellcheck disable=SC2086
    out=$(E run -d $RUNOPT --name web -p 18080:80 busybox httpd -f -p 80 -h /etc 2>&1)
    eq "$en: a bridge network with -p" "$?" 0
    [ $? = 0 ] || echo "# $out"
    addr=$(E exec web ip -o -4 addr show eth0 2>&1)
    has "$en: the bridge gives eth0 an address" "$addr" "inet "
    i=0
    while [ $i -lt 20 ] && ! busybox wget -q -T 2 -O "$W/page" http://127.0.0.1:18080/passwd 2>/dev/null; do sleep 0.5; i=$((i + 1)); done
    page=$(cat "$W/page" 2>&1)
    has "$en: -p 18080:80 fetched from the host" "$page" "root:x:0:0"
    case $page in *root:x:0:0*) ;; *) echo "# $en/$RT: port $(E port web 2>&1); listening: $(ss -ltnH 2>&1 | tr '\n' ' ')" ;; esac
    rm -f "$W/page"
    E rm -f web >/dev/null 2>&1

    # run -it on a pty (script gives the engine one).
    out=$(script -qec "$ENGINE_SH run -it --rm $RUNOPT busybox sh -c 'tty; exit 5'" /dev/null 2>&1 </dev/null)
    st=$?
    has "$en: run -it: a pty" "$out" /dev/pts/
    eq "$en: run -it: the exit status" "$st" 5

    # shellcheck disable=SC2086
    out=$(E run --rm $RUNOPT busybox /nonexistent 2>&1)
    echo "# $en/$RT: a failed create says: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
    has "$en: a failed create shows the runtime's reason" "$out" "/nonexistent"
    sleep 0.5
    eq "$en: a failed create leaves no scope" "$(systemctl list-units --all --no-legend '*.scope' | grep -c -e libpod- -e docker-)" 0
}

busybox_tar() { tar -C "$R" -c .; }

echo "# --- podman $(podman --version | cut -d' ' -f3)"
busybox_tar | podman import - localhost/busybox >/dev/null
for RT in berth runc; do
    if [ "$RT" = berth ]; then RTBIN=$BERTH; else RTBIN=$RUNC; fi
    E() { podman --runtime "$RTBIN" "$@"; }
    ENGINE_SH="podman --runtime $RTBIN"
    RUNOPT=
    engine podman
    # shellcheck disable=SC2086
    eq "podman: --memory 512k" "$(E run --rm --memory 512k busybox sh -c 'echo it works; cat /sys/fs/cgroup/memory.max' 2>&1 | tr '\n' ' ')" "it works 524288 "
done

# A container whose process is systemd: podman --systemd=always mounts the
# tmpfs systemd wants, leaves /sys/fs/cgroup writable and stops it with
# SIGRTMIN+3. Its systemd must come up, build its own tree inside the
# container's scope (the scope is delegated to it), and halt on podman stop
# within the stop timeout (a SIGKILL after it would show as status 137).
echo "# --- podman --systemd=always (systemd as the container's process)"
podman import /usr/local/share/berth/systemd-root.tar localhost/systemd >/dev/null
for RT in berth runc; do
    if [ "$RT" = berth ]; then RTBIN=$BERTH; else RTBIN=$RUNC; fi
    out=$(timeout 120 podman --runtime "$RTBIN" run -d --name sd --systemd=always --network none localhost/systemd /sbin/init 2>&1)
    eq "podman --systemd=always: run -d" "$?" 0
    id=$(podman inspect -f '{{.Id}}' sd 2>/dev/null)
    unit=libpod-$id.scope
    st=$(timeout 180 podman exec sd systemctl is-system-running --wait 2>&1)
    case $st in
        running | degraded) ok "podman --systemd=always: the container's systemd is up ($st)" ;;
        *) bad "podman --systemd=always: the container's systemd is up: got '$st'"
           podman logs sd 2>&1 | tail -n 15 | sed "s|^|# sd/$RT: log: |" ;;
    esac
    eq "podman --systemd=always: its scope delegates" "$(prop "$unit" Delegate)" yes
    cg=/sys/fs/cgroup$(prop "$unit" ControlGroup)
    [ "$cg" != /sys/fs/cgroup ] || cg=/nonexistent
    echo "# sd/$RT: $cg holds: $(cd "$cg" 2>/dev/null && ls -d -- */ | tr '\n' ' ')"
    [ -d "$cg/init.scope" ] && [ -d "$cg/system.slice" ]
    eq "podman --systemd=always: its systemd made init.scope and system.slice in the scope" "$?" 0
    has "podman --systemd=always: its systemd moved itself into its init.scope" "$(cat "/proc/$(podman inspect -f '{{.State.Pid}}' sd)/cgroup" 2>&1)" "$unit/init.scope"
    eq "podman --systemd=always: exec beside it" "$(podman exec sd cat /proc/1/comm 2>&1)" systemd
    t=$(date +%s)
    timeout 90 podman stop -t 60 sd >/dev/null 2>&1
    t=$(($(date +%s) - t))
    echo "# sd/$RT: podman stop took $t s"
    eq "podman --systemd=always: stop (SIGRTMIN+3) ends it before the timeout, status 0" "$(podman inspect -f '{{.State.Status}} {{.State.ExitCode}}' sd 2>&1)" "exited 0"
    podman rm sd >/dev/null 2>&1
    sleep 0.5
    hasnt "podman --systemd=always: rm: no unit left" "$(systemctl list-units --all --no-legend "$unit")" "$unit"
    [ ! -e "$cg" ]
    eq "podman --systemd=always: rm: no cgroup left" "$?" 0
done
RT=berth

echo "# --- docker $(docker --version 2>/dev/null | cut -d' ' -f3 | tr -d ,)"
mkdir -p /etc/docker
printf '{"runtimes": {"berth": {"path": "%s"}}}\n' "$BERTH" >/etc/docker/daemon.json
rm -f /etc/systemd/system/docker.service /etc/systemd/system/docker.socket /etc/systemd/system/containerd.service
systemctl daemon-reload
if systemctl start docker; then
    busybox_tar | docker import - busybox >/dev/null
    echo "# docker: $(docker info -f 'cgroup {{.CgroupVersion}} driver {{.CgroupDriver}}, runtimes {{range $k, $v := .Runtimes}}{{$k}} {{end}}' 2>&1)"
    for RT in berth runc; do
        E() { docker "$@"; }
        ENGINE_SH=docker
        RUNOPT="--runtime $RT"
        engine docker
    done
else
    RT=berth
    bad "docker: dockerd does not start: $(journalctl -u docker --no-pager | tail -n 3)"
fi
RT=berth

echo "# --- containerd $(containerd --version | cut -d' ' -f3)"
if systemctl start containerd; then
    podman save --format docker-archive localhost/busybox 2>/dev/null |
        ctr images import - >/dev/null 2>&1
    for RT in berth runc; do
        if [ "$RT" = berth ]; then RTBIN=$BERTH; else RTBIN=$RUNC; fi
        unit=ctr-c$RT.scope
        out=$(timeout 60 ctr run -d --runc-binary "$RTBIN" --runc-systemd-cgroup \
            --cgroup "system.slice:ctr:c$RT" --memory-limit 209715200 \
            localhost/busybox:latest c$RT sleep 1000 2>&1)
        eq "containerd: run -d with SystemdCgroup" "$?$out" 0
        eq "containerd: the scope is active" "$(prop "$unit" ActiveState)" active
        eq "containerd: MemoryMax" "$(prop "$unit" MemoryMax)" 209715200
        eq "containerd: memory.max" "$(cat "/sys/fs/cgroup/system.slice/$unit/memory.max" 2>&1)" 209715200
        out=$(timeout 60 ctr task exec --exec-id e1 c$RT sh -c 'echo hi; exit 3' 2>&1)
        eq "containerd: exec output and status" "$?$out" 3hi
        timeout 30 ctr task kill -s KILL c$RT
        sleep 1
        has "containerd: kill" "$(ctr task ls 2>&1 | grep c$RT)" STOPPED
        timeout 30 ctr task delete c$RT >/dev/null 2>&1
        ctr container delete c$RT >/dev/null 2>&1
        sleep 0.5
        hasnt "containerd: delete: no unit left" "$(systemctl list-units --all --no-legend "$unit")" "$unit"
        out=$(timeout 60 ctr run --rm --runc-binary "$RTBIN" --runc-systemd-cgroup \
            --cgroup "system.slice:ctr:f$RT" localhost/busybox:latest f$RT /nonexistent 2>&1)
        echo "# containerd/$RT: a failed create says: $out"
        has "containerd: a failed create shows the runtime's reason" "$out" /nonexistent
        ctr container delete f$RT >/dev/null 2>&1
    done
else
    RT=berth
    bad "containerd does not start: $(journalctl -u containerd --no-pager | tail -n 3)"
fi
RT=berth

echo "# --- podman rootless (systemd cgroup manager, user@.service's delegated slice)"
useradd -m -s /bin/sh rl 2>/dev/null
grep -q '^rl:' /etc/subuid || echo 'rl:200000:65536' >>/etc/subuid
grep -q '^rl:' /etc/subgid || echo 'rl:200000:65536' >>/etc/subgid
ruid=$(id -u rl)
loginctl enable-linger rl
i=0
while [ $i -lt 60 ] && [ ! -S "/run/user/$ruid/bus" ]; do sleep 0.5; i=$((i + 1)); done
# U CMD: a login-less shell of rl's, with its user manager's bus.
U() { timeout 120 runuser -u rl -- env -C /tmp HOME=/home/rl XDG_RUNTIME_DIR="/run/user/$ruid" \
    DBUS_SESSION_BUS_ADDRESS="unix:path=/run/user/$ruid/bus" sh -c "$1"; }
chmod 755 "$W" "$BERTH" 2>/dev/null
busybox_tar >/tmp/busybox.tar
chmod 644 /tmp/busybox.tar
U 'podman import /tmp/busybox.tar localhost/busybox' >/dev/null 2>&1
for RT in berth runc; do
    if [ "$RT" = berth ]; then RTBIN=$BERTH; else RTBIN=$RUNC; fi
    out=$(U "podman --runtime $RTBIN run -d --name rl1 --network none -m 64M localhost/busybox sleep 1000" 2>&1)
    eq "rootless podman: run -d -m 64M" "$?" 0
    [ -n "$out" ] && echo "# rootless/$RT: $(echo "$out" | tail -n 2)"
    pid=$(U 'podman inspect -f "{{.State.Pid}}" rl1' 2>/dev/null)
    cgl=$(cat "/proc/$pid/cgroup" 2>&1)
    echo "# rootless/$RT: the container's cgroup: $cgl"
    has "rootless podman: the container is in the user's manager" "$cgl" "user@$ruid.service"
    has "rootless podman: ... in a scope" "$cgl" ".scope"
    eq "rootless podman: memory.max" "$(cat "$(cgdir_of "$pid")/memory.max" 2>&1)" 67108864
    eq "rootless podman: exec" "$(U 'podman exec rl1 id -u' 2>&1)" 0
    U 'podman rm -f -t 0 rl1' >/dev/null 2>&1
    out=$(U "podman --runtime $RTBIN run --rm --network none localhost/busybox /nonexistent" 2>&1)
    has "rootless podman: a failed create shows the runtime's reason" "$out" /nonexistent
done
loginctl disable-linger rl
RT=berth

echo "# runc: $rpass passed, $rfail failed"
echo "systemd: $pass passed, $fail failed"
[ "$fail" = 0 ]
