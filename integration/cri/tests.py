#!/usr/bin/python3
"""The CRI tests (run by integration/cri/run, in containerd's sandbox).

Each test drives containerd's CRI plugin as the kubelet does, through the
CRI v1 gRPC API (stubs generated from the api.proto by the runner), and
looks at the result from inside the containers (ExecSync, logs) and from
the node (the sandbox's namespaces, /proc, cgroups, the runtime's state).
Every pod is stopped and removed when its test ends, pass or fail, and
must leave nothing: no container in the plugin's lists, no runtime state
directory, no container cgroup, no process, no network namespace, no mount.

    tests.py [TEST...]     (default: all, in order)

Environment (from the runner): CRI_SOCKET, CRI_WORK (scratch directory),
CRI_CGROUP_PARENT, CRI_BUSYBOX (image name), CRI_RUNTIME (the runc binary
under test), CRI_CONTAINERD_LOG. Ends with `N passed, N failed, N skipped`; exits 1 on a
failure.
"""

import json
import os
import re
import subprocess
import sys
import time
import traceback
import uuid

import grpc
import websocket

import api_pb2 as cri
import api_pb2_grpc

SOCKET = os.environ["CRI_SOCKET"]
WORK = os.environ["CRI_WORK"]
CGROUP_PARENT = os.environ["CRI_CGROUP_PARENT"]
BUSYBOX = os.environ["CRI_BUSYBOX"]
RUNTIME = os.environ["CRI_RUNTIME"]
CONTAINERD_LOG = os.environ["CRI_CONTAINERD_LOG"]
# Where containerd's runc v2 shim keeps the runtime's state (--root).
RUNTIME_ROOT = "/run/containerd/runc/k8s.io"

channel = grpc.insecure_channel("unix://" + SOCKET)
rt = api_pb2_grpc.RuntimeServiceStub(channel)

POD, CONTAINER, NODE = cri.POD, cri.CONTAINER, cri.NODE


class Skip(Exception):
    """The host, the kernel or the CRI implementation lacks the subject."""


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def wait_for(cond, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def node_ns(kind):
    return os.readlink(f"/proc/self/ns/{kind}")


class Pod:
    """A pod sandbox and its containers; a context manager that stops and
    removes them on the way out and checks that nothing is left."""

    def __init__(self, name, network=POD, pid=CONTAINER, ipc=POD, privileged=False, userns=None):
        self.name = name
        self.uid = uuid.uuid4().hex
        self.log_dir = os.path.join(WORK, "logs", self.uid)
        os.makedirs(self.log_dir)
        self.ns = cri.NamespaceOption(network=network, pid=pid, ipc=ipc)
        if userns is not None:
            self.ns.userns_options.CopyFrom(userns)
        self.privileged = privileged
        self.config = cri.PodSandboxConfig(
            metadata=cri.PodSandboxMetadata(
                name=name, uid=self.uid, namespace="berth-cri", attempt=0
            ),
            # As the kubelet: a pod on the node's network has its UTS
            # namespace too, and no hostname of its own.
            hostname="" if network == NODE else name,
            log_directory=self.log_dir,
            linux=cri.LinuxPodSandboxConfig(
                cgroup_parent=f"{CGROUP_PARENT}/pod{self.uid}",
                security_context=cri.LinuxSandboxSecurityContext(
                    namespace_options=self.ns, privileged=privileged
                ),
            ),
        )
        self.id = None
        self.containers = []

    def __enter__(self):
        self.id = rt.RunPodSandbox(
            cri.RunPodSandboxRequest(config=self.config, runtime_handler="berth")
        ).pod_sandbox_id
        return self

    def __exit__(self, *exc):
        remove_pod(self)
        return False

    def create(self, name, command, resources=None, mounts=(), start=True, **security):
        """A container running COMMAND (a list; a string runs under sh -c).
        SECURITY: LinuxContainerSecurityContext fields."""
        if isinstance(command, str):
            command = ["sh", "-c", command]
        ctx = cri.LinuxContainerSecurityContext(namespace_options=self.ns, **security)
        if self.privileged and "privileged" not in security:
            ctx.privileged = True
        config = cri.ContainerConfig(
            metadata=cri.ContainerMetadata(name=name, attempt=0),
            image=cri.ImageSpec(image=BUSYBOX),
            command=command,
            log_path=f"{name}/0.log",
            mounts=list(mounts),
            linux=cri.LinuxContainerConfig(security_context=ctx),
        )
        if resources is not None:
            config.linux.resources.CopyFrom(resources)
        cid = rt.CreateContainer(
            cri.CreateContainerRequest(
                pod_sandbox_id=self.id, config=config, sandbox_config=self.config
            )
        ).container_id
        self.containers.append(cid)
        if start:
            rt.StartContainer(cri.StartContainerRequest(container_id=cid))
        return cid

    def log(self, name):
        with open(os.path.join(self.log_dir, name, "0.log")) as f:
            return f.read()


def remove_pod(pod):
    """Stops and removes the pod as the kubelet does (its containers, then
    the sandbox), then checks that nothing of it is left."""
    if pod.id is None:
        return
    for cid in pod.containers:
        try:
            rt.StopContainer(cri.StopContainerRequest(container_id=cid, timeout=0))
        except grpc.RpcError:
            pass
    rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod.id))
    rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod.id))
    ids = [pod.id] + pod.containers
    pod.id = None
    leaks = leaks_of(ids, pod.uid)
    check(not leaks, f"left behind: {leaks}")


def leaks_of(ids, pod_uid):
    leaks = []
    listed = [c.id for c in rt.ListContainers(cri.ListContainersRequest()).containers]
    listed += [s.id for s in rt.ListPodSandbox(cri.ListPodSandboxRequest()).items]
    leaks += [f"listed by the CRI: {i}" for i in ids if i in listed]
    if os.path.isdir(RUNTIME_ROOT):
        leaks += [f"runtime state: {i}" for i in os.listdir(RUNTIME_ROOT) if i in ids]
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        pod_cg = os.path.join("/sys/fs/cgroup", hierarchy, CGROUP_PARENT.lstrip("/"), f"pod{pod_uid}")
        if os.path.isdir(pod_cg):
            leaks += [f"cgroup: {pod_cg}/{d}" for d in os.listdir(pod_cg) if d in ids]
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cgroup") as f:
                cg = f.read()
        except OSError:
            continue
        if f"pod{pod_uid}" in cg:
            leaks.append(f"process {p}: {cmdline(p)}")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if any(i in line for i in ids):
                leaks.append(f"mount: {line.split()[4]}")
    netns = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    leaks += [f"network namespace: {n}" for n in netns]
    return leaks


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def status(cid):
    return rt.ContainerStatus(cri.ContainerStatusRequest(container_id=cid)).status


def wait_exited(cid, timeout=15.0):
    return wait_for(
        lambda: (s := status(cid)).state == cri.CONTAINER_EXITED and s,
        f"container {cid} to exit",
        timeout,
    )


def sh(cid, script, timeout=10):
    """ExecSync of `sh -c SCRIPT`: (exit code, stdout, stderr)."""
    r = rt.ExecSync(cri.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", script], timeout=timeout))
    return r.exit_code, r.stdout.decode(), r.stderr.decode()


def out(cid, script):
    """The stdout of SCRIPT, which must succeed."""
    code, stdout, stderr = sh(cid, script)
    check(code == 0, f"{script!r} exited {code}: {stdout}{stderr}")
    return stdout.strip()


def proc_status(cid, field):
    return out(cid, f"grep '^{field}:' /proc/self/status | cut -f2-")


SLEEP = "exec sleep 1000"


# ---------------------------------------------------------------- the tests


@test
def runtime_is_ready():
    v = rt.Version(cri.VersionRequest())
    check(v.runtime_name == "containerd", f"runtime_name {v.runtime_name}")
    conditions = {c.type: c.status for c in rt.Status(cri.StatusRequest()).status.conditions}
    check(conditions.get("RuntimeReady"), f"conditions {conditions}")
    check(conditions.get("NetworkReady"), f"conditions {conditions}")


@test
def run_pod_sandbox():
    with Pod("sandbox") as pod:
        st = rt.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod.id)).status
        check(st.state == cri.SANDBOX_READY, f"state {st.state}")
        check(st.runtime_handler == "berth", f"runtime handler {st.runtime_handler!r}")
        check(st.network.ip.startswith("10.89.0."), f"pod ip {st.network.ip!r}")
        # The sandbox container is the runtime's: its state under the
        # shim's --root, its pause in the pod's cgroup.
        check(os.path.isdir(f"{RUNTIME_ROOT}/{pod.id}"), f"no runtime state for {pod.id}")
        if os.path.basename(RUNTIME) == "berth":
            with open(f"{RUNTIME_ROOT}/{pod.id}/state.json") as f:
                state = json.load(f)
            check(state.get("initStartTime", 0) > 0, f"not berth's state: {state}")
        pauses = [
            p for p in os.listdir("/proc") if p.isdigit() and cmdline(p) == "/pause"
            and pod.uid in open(f"/proc/{p}/cgroup").read()
        ]
        check(len(pauses) == 1, f"pause processes in the pod's cgroup: {pauses}")
        cid = pod.create("c", SLEEP)
        check(status(cid).state == cri.CONTAINER_RUNNING, "container not running")
        check(out(cid, "hostname") == "sandbox", "hostname")


@test
def containers_share_the_pods_namespaces():
    with Pod("shared") as pod:
        web = pod.create(
            "web", "mkdir -p /tmp/www && echo from-web >/tmp/www/index.html && "
            "exec httpd -f -p 127.0.0.1:8080 -h /tmp/www"
        )
        client = pod.create("client", SLEEP)
        for kind in ("net", "ipc", "uts"):
            a = out(web, f"readlink /proc/self/ns/{kind}")
            b = out(client, f"readlink /proc/self/ns/{kind}")
            check(a == b, f"{kind}: {a} in web, {b} in client")
            check(a != node_ns(kind), f"{kind} is the node's")
        check(out(web, "readlink /proc/self/ns/pid") != out(client, "readlink /proc/self/ns/pid"),
              "containers share a pid namespace without shareProcessNamespace")
        body = wait_for(lambda: sh(client, "wget -qO- http://127.0.0.1:8080/")[1].strip(),
                        "the web container on localhost")
        check(body == "from-web", f"got {body!r}")
        out(client, "echo shm >/dev/shm/x")
        check(out(web, "cat /dev/shm/x") == "shm", "/dev/shm not shared")


@test
def share_process_namespace():
    with Pod("sharepid", pid=POD) as pod:
        a = pod.create("a", "exec sleep 1001")
        b = pod.create("b", SLEEP)
        check(out(b, "tr -d '\\0' </proc/1/cmdline") == "/pause", "pid 1 is not the pause")
        check("sleep 1001" in out(b, "ps -o args"), "b does not see a's process")
        check(out(a, "readlink /proc/self/ns/pid") == out(b, "readlink /proc/self/ns/pid"),
              "pid namespaces differ")


@test
def host_network_and_pid():
    with Pod("hostns", network=NODE, pid=NODE) as pod:
        cid = pod.create("c", SLEEP)
        check(out(cid, "readlink /proc/self/ns/net") == node_ns("net"), "network is not the node's")
        check(out(cid, "readlink /proc/self/ns/pid") == node_ns("pid"), "pid is not the node's")
        check("containerd" in out(cid, "ps -o args"), "the node's processes are not visible")


@test
def exec_sync():
    with Pod("execsync") as pod:
        cid = pod.create("c", SLEEP)
        code, stdout, stderr = sh(cid, "echo out; echo err >&2; cd /tmp; pwd; exit 3")
        check((code, stdout, stderr) == (3, "out\n/tmp\n", "err\n"), f"{(code, stdout, stderr)}")
        t0 = time.monotonic()
        try:
            sh(cid, "sleep 30", timeout=1)
            raise AssertionError("ExecSync outlived its timeout")
        except grpc.RpcError:
            pass
        check(time.monotonic() - t0 < 10, "the timeout took too long")


def exec_stream(cid, cmd, stdin=None):
    """Exec through the streaming server (the websocket protocol of
    `kubectl exec`, v4.channel.k8s.io): (stdout, stderr, status)."""
    url = rt.Exec(cri.ExecRequest(container_id=cid, cmd=cmd, stdin=stdin is not None,
                                  stdout=True, stderr=True)).url
    ws = websocket.create_connection(url.replace("http://", "ws://", 1),
                                     subprotocols=["v4.channel.k8s.io"], timeout=15)
    if stdin is not None:
        ws.send_binary(b"\x00" + stdin)
    streams = {1: b"", 2: b"", 3: b""}
    try:
        while True:
            opcode, data = ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            if data:
                streams[data[0]] = streams.get(data[0], b"") + data[1:]
    except websocket.WebSocketConnectionClosedException:
        pass
    ws.close()
    return streams[1].decode(), streams[2].decode(), json.loads(streams[3] or b"{}")


def exit_code_of(st):
    if st.get("status") == "Success":
        return 0
    for cause in st.get("details", {}).get("causes", []):
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    raise AssertionError(f"no exit code in {st}")


@test
def exec_streaming():
    with Pod("execstream") as pod:
        cid = pod.create("c", SLEEP)
        stdout, stderr, st = exec_stream(cid, ["sh", "-c", "echo out; echo err >&2; exit 4"])
        check((stdout, stderr, exit_code_of(st)) == ("out\n", "err\n", 4), f"{(stdout, stderr, st)}")
        stdout, _, st = exec_stream(cid, ["sh"], stdin=b"echo in-$((1+2))\nexit 5\n")
        check((stdout, exit_code_of(st)) == ("in-3\n", 5), f"{(stdout, st)}")


@test
def logs_in_cri_format():
    with Pod("logs") as pod:
        cid = pod.create("c", "echo one; echo two >&2; echo three")
        check(wait_exited(cid).exit_code == 0, "exit code")
        lines = pod.log("c").splitlines()
        pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) F (.*)$")
        got = []
        for line in lines:
            m = pattern.match(line)
            check(m, f"not a CRI log line: {line!r}")
            got.append((m.group(2), m.group(3)))
        check(sorted(got) == sorted([("stdout", "one"), ("stderr", "two"), ("stdout", "three")]),
              f"log {got}")
        check([g for g in got if g[0] == "stdout"] == [("stdout", "one"), ("stdout", "three")],
              "stdout out of order")


@test
def stop_with_grace_then_kill():
    with Pod("stop") as pod:
        polite = pod.create("polite", "trap 'exit 7' TERM; while :; do sleep 0.1; done")
        # pid 1 without a handler: SIGTERM is dropped, only SIGKILL ends it.
        deaf = pod.create("deaf", SLEEP)
        wait_for(lambda: "sleep" in out(polite, "ps -o args"), "the polite loop")
        t0 = time.monotonic()
        rt.StopContainer(cri.StopContainerRequest(container_id=polite, timeout=30))
        took = time.monotonic() - t0
        st = status(polite)
        check(st.state == cri.CONTAINER_EXITED and st.exit_code == 7, f"polite: {st.exit_code}")
        check(took < 10, f"polite stop took {took:.1f}s")
        t0 = time.monotonic()
        rt.StopContainer(cri.StopContainerRequest(container_id=deaf, timeout=2))
        took = time.monotonic() - t0
        st = status(deaf)
        check(st.state == cri.CONTAINER_EXITED and st.exit_code == 137, f"deaf: {st.exit_code}")
        check(2 <= took < 10, f"deaf stop took {took:.1f}s (grace 2s)")


@test
def seccomp_runtime_default():
    with Pod("seccomp") as pod:
        default = pod.create("default", SLEEP, seccomp=cri.SecurityProfile(
            profile_type=cri.SecurityProfile.ProfileType.RuntimeDefault))
        unconfined = pod.create("unconfined", SLEEP, seccomp=cri.SecurityProfile(
            profile_type=cri.SecurityProfile.ProfileType.Unconfined))
        check(proc_status(default, "Seccomp") == "2", "RuntimeDefault: no filter")
        check(proc_status(unconfined, "Seccomp") == "0", "Unconfined: a filter")
        # The default profile refuses what no container needs, capability or
        # not: a new user namespace.
        code, _, _ = sh(default, "unshare -U true")
        check(code != 0, "RuntimeDefault let unshare(CLONE_NEWUSER) through")


@test
def seccomp_localhost():
    profile = os.path.join(WORK, "no-mkdir.json")
    with open(profile, "w") as f:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}, f)
    with Pod("localhost") as pod:
        cid = pod.create("c", SLEEP, seccomp=cri.SecurityProfile(
            profile_type=cri.SecurityProfile.ProfileType.Localhost, localhost_ref=profile))
        code, _, err = sh(cid, "mkdir /tmp/d")
        check(code != 0 and "Operation not permitted" in err, f"mkdir: {code} {err}")
        out(cid, "touch /tmp/f")


@test
def read_only_root_filesystem():
    with Pod("readonly") as pod:
        cid = pod.create("c", SLEEP, readonly_rootfs=True)
        code, _, err = sh(cid, "touch /etc/x")
        check(code != 0 and "Read-only file system" in err, f"touch: {code} {err}")
        out(cid, "echo ok >/dev/shm/x")


@test
def run_as_user_group_and_supplemental_groups():
    with Pod("users") as pod:
        cid = pod.create("c", SLEEP, run_as_user=cri.Int64Value(value=1000),
                         run_as_group=cri.Int64Value(value=2000), supplemental_groups=[3000, 3001])
        check(proc_status(cid, "Uid").split() == ["1000"] * 4, "uid")
        check(proc_status(cid, "Gid").split() == ["2000"] * 4, "gid")
        groups = set(proc_status(cid, "Groups").split())
        check({"3000", "3001"} <= groups, f"groups {groups}")
        check(proc_status(cid, "CapEff") == "0000000000000000", "a non-root user kept capabilities")


def cap_bits(hexmask):
    return {b for b in range(64) if int(hexmask, 16) >> b & 1}


CAP_CHOWN, CAP_NET_ADMIN, CAP_SYS_ADMIN = 0, 12, 21


@test
def capabilities_added_and_dropped():
    with Pod("caps") as pod:
        cid = pod.create("c", SLEEP, capabilities=cri.Capability(
            add_capabilities=["NET_ADMIN"], drop_capabilities=["CHOWN"]))
        caps = cap_bits(proc_status(cid, "CapEff"))
        check(CAP_NET_ADMIN in caps and CAP_CHOWN not in caps, f"CapEff bits {sorted(caps)}")
        code, _, err = sh(cid, "touch /tmp/f && chown 1 /tmp/f")
        check(code != 0 and "Operation not permitted" in err, f"chown: {code} {err}")
        out(cid, "ip addr add 127.0.0.2/8 dev lo && ip addr del 127.0.0.2/8 dev lo")


@test
def privileged():
    with Pod("privileged", privileged=True) as pod:
        cid = pod.create("c", SLEEP)
        check(CAP_SYS_ADMIN in cap_bits(proc_status(cid, "CapEff")), "no CAP_SYS_ADMIN")
        check(proc_status(cid, "Seccomp") == "0", "a seccomp filter")
        out(cid, "mkdir /tmp/m && mount -t tmpfs t /tmp/m && umount /tmp/m")
        # Neither masked nor read-only paths under /proc.
        proc_mounts = out(cid, "awk '$2 ~ \"^/proc/\" {print $2}' /proc/mounts")
        check(proc_mounts == "", f"mounts under /proc: {proc_mounts}")
        check(out(cid, "ls /dev | wc -l") == str(len(os.listdir("/dev"))), "not the node's devices")


CGROUP_LIMITS = """
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max
else
    cat /sys/fs/cgroup/memory/memory.limit_in_bytes
    echo $(cat /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null | head -1) \
        $(cat /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null | head -1)
fi
"""


@test
def memory_and_cpu_limits_then_update():
    mib = 1024 * 1024
    with Pod("resources") as pod:
        cid = pod.create("c", SLEEP, resources=cri.LinuxContainerResources(
            memory_limit_in_bytes=64 * mib, cpu_period=100000, cpu_quota=50000, cpu_shares=512))
        got = out(cid, CGROUP_LIMITS).split("\n")
        check(got == [str(64 * mib), "50000 100000"], f"limits {got}")
        rt.UpdateContainerResources(cri.UpdateContainerResourcesRequest(
            container_id=cid, linux=cri.LinuxContainerResources(
                memory_limit_in_bytes=128 * mib, cpu_period=100000, cpu_quota=20000, cpu_shares=256)))
        got = out(cid, CGROUP_LIMITS).split("\n")
        check(got == [str(128 * mib), "20000 100000"], f"limits after the update {got}")


@test
def oom_killed():
    with Pod("oom") as pod:
        # The shim watches for OOM events once the task started: the
        # allocation waits a moment.
        cid = pod.create("c", "sleep 1; dd if=/dev/zero of=/dev/null bs=64M count=1",
                         resources=cri.LinuxContainerResources(memory_limit_in_bytes=16 * 1024 * 1024))
        st = wait_exited(cid, 30)
        check((st.exit_code, st.reason) == (137, "OOMKilled"), f"exit {st.exit_code}, reason {st.reason!r}")


@test
def bidirectional_mount_propagation():
    # Kubernetes' mountPropagation: Bidirectional: the host path is a shared
    # mount (made here), the container's mounts under it reach the node and
    # the node's reach the container.
    vol = os.path.join(WORK, "bidir")
    os.makedirs(os.path.join(vol, "from-container"))
    os.makedirs(os.path.join(vol, "from-node"))
    subprocess.run(["mount", "--bind", vol, vol], check=True)
    try:
        subprocess.run(["mount", "--make-shared", vol], check=True)
        with Pod("bidir", privileged=True) as pod:
            cid = pod.create("c", SLEEP, mounts=[cri.Mount(
                container_path="/vol", host_path=vol, propagation=cri.PROPAGATION_BIDIRECTIONAL)])
            out(cid, "mount -t tmpfs from-container /vol/from-container")
            try:
                fs = wait_for(lambda: subprocess.run(
                    ["findmnt", "-no", "SOURCE", os.path.join(vol, "from-container")],
                    capture_output=True, text=True).stdout.strip(),
                    "the container's mount on the node", 5)
                check(fs == "from-container", f"node sees {fs!r}")
                subprocess.run(["mount", "-t", "tmpfs", "from-node", os.path.join(vol, "from-node")],
                               check=True)
                check(out(cid, "grep ' /vol/from-node ' /proc/mounts | cut -d' ' -f1") == "from-node",
                      "the node's mount is not in the container")
            finally:
                sh(cid, "umount /vol/from-container")
    finally:
        subprocess.run(["umount", "-R", vol], check=False)


@test
def leftovers_of_an_exited_container_are_killed():
    # Sharing the pod's pid namespace, a container's init can exit and leave
    # children in its cgroup: the shim then kills them with `kill --all`.
    # (The runtime's delete would kill them too, later: what tells is that
    # containerd logged no error for the container.)
    with Pod("leftovers", pid=POD) as pod:
        cid = pod.create("c", "sleep 1002 & echo started")
        wait_exited(cid)
        wait_for(lambda: not [p for p in os.listdir("/proc") if p.isdigit() and cmdline(p) == "sleep 1002"],
                 "the exited container's child to be killed", 5)
        with open(CONTAINERD_LOG) as f:
            errors = [line.strip() for line in f if "level=error" in line and cid in line]
        check(not errors, f"containerd: {errors}")


@test
def user_namespace_pod():
    # hostUsers: false. The kubelet maps the pod's 0..65535 to a range of
    # its own; here 100000..165535.
    def mapping():
        return [cri.IDMapping(host_id=100000, container_id=0, length=65536)]
    userns = cri.UserNamespace(mode=POD, uids=mapping(), gids=mapping())
    with Pod("userns", userns=userns) as pod:
        cid = pod.create("c", SLEEP)
        uid_map = out(cid, "cat /proc/self/uid_map").split()
        if uid_map == ["0", "0", "4294967295"]:
            version = rt.Version(cri.VersionRequest()).runtime_version
            raise Skip(f"containerd {version} ignores userns_options (user namespaces came in 1.7)")
        check(uid_map == ["0", "100000", "65536"], f"uid_map {uid_map}")
        check(out(cid, "stat -c %u /etc/passwd") == "0", "the rootfs is not owned by the pod's root")
        out(cid, "touch /tmp/f")


@test
def remove_pod_sandbox_leaves_nothing():
    pod = Pod("remove", pid=POD)
    with pod:
        pod.create("a", SLEEP)
        pod.create("b", "exec sleep 1003")
        pod.create("exited", "true")
        pod.create("created", SLEEP, start=False)
        ids = [pod.id] + pod.containers
        # No explicit stops: RemovePodSandbox after StopPodSandbox alone
        # must take every container with it.
        pod.containers = []
        rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod.id))
        rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod.id))
        pod.id = None
        leaks = leaks_of(ids, pod.uid)
        check(not leaks, f"left behind: {leaks}")


def main(names):
    selected = [t for t in TESTS if not names or t.__name__ in names]
    unknown = set(names) - {t.__name__ for t in TESTS}
    if unknown:
        print(f"tests.py: no such test: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    passed = failed = skipped = 0
    for t in selected:
        t0 = time.monotonic()
        try:
            t()
        except Skip as e:
            skipped += 1
            print(f"skip {t.__name__}: {e}", flush=True)
            continue
        except Exception as e:
            failed += 1
            if isinstance(e, AssertionError):
                print(f"FAIL {t.__name__}: {e}", flush=True)
            else:
                print(f"FAIL {t.__name__}:", flush=True)
                traceback.print_exc()
            continue
        passed += 1
        print(f"ok   {t.__name__} ({time.monotonic() - t0:.1f}s)", flush=True)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
