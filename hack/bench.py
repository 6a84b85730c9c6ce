#!/usr/bin/env python3
"""The side-by-side runtime benchmark; run it through hack/bench, which
installs the tools, builds berth and enters a private mount namespace.

Measures, for berth, crun, runc and any runtime given by path, on one
busybox bundle:
  1. `run` of `true` (the runtime removes the container; a leftover is
     removed with `delete -f` after the runs): median and spread
  2. `create` + `start` + `delete -f`
  3. 100 sequential `run`s, total wall time
  4. 20 `run`s, 4 at a time (xargs -P4), total wall time
  5. `exec` of `true` into a running container
  6. peak RSS of the runtime process during `run` (GNU time's %M: the
     runtime's ru_maxrss, which includes the children it waited for, i.e.
     its container init before and after execve)
  7. the smallest `podman --runtime X run --memory M` that prints "it works"
  8. the binary's size, stripped
Times are reported as median (25th-75th percentile) and as a ratio to
crun's median in the same run. Rounds alternate between the runtimes so
that a load change on the machine hits all of them.

Writes the table to stdout and into README.md (between the bench markers),
and the chart to docs/bench.svg. Cleans up every container, state
directory, cgroup and podman store it made, also on failure.
"""

import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# hack/bench passes the static release binary hack/build makes.
BERTH = os.environ.get("BERTH") or os.path.join(REPO, "target", "release", "berth")
CGROUP_ROOT = "/sys/fs/cgroup"
UNIFIED = "/sys/fs/cgroup/unified"
TAG = f"bench{os.getpid()}"
README_BEGIN = "<!-- bench:begin -->"
README_END = "<!-- bench:end -->"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def quiet(cmd, **kw):
    return subprocess.run(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw
    )


class Runtime:
    def __init__(self, name, path, work):
        self.name = name
        self.path = path
        self.root = os.path.join(work, "state-" + name)
        self.ids = set()

    def cmd(self, *args):
        return [self.path, "--root", self.root, *args]

    def cid(self, what):
        i = f"{TAG}-{self.name}-{what}"
        self.ids.add(i)
        return i


def percentiles(xs):
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return {"median": statistics.median(xs), "p25": q[0], "p75": q[2], "n": len(xs)}


def hyperfine(cmd, work, runs, shell=False, warmup=2):
    out = os.path.join(work, "hf.json")
    args = ["hyperfine", "--style", "none", "--export-json", out, "-w", str(warmup), "-r", str(runs)]
    if not shell:
        args.append("-N")
    sh(args + [cmd], stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)["results"][0]["times"]


def shjoin(argv):
    return " ".join("'" + a.replace("'", "'\\''") + "'" for a in argv)


def make_bundles(work):
    """A busybox rootfs and two configs: `true`, and `sleep` for exec."""
    bundle = os.path.join(work, "bundle")
    rootfs = os.path.join(bundle, "rootfs")
    sh([os.path.join(REPO, "hack", "mkrootfs.sh"), rootfs], stdout=subprocess.DEVNULL)
    sh([BERTH, "spec", "-b", bundle])
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        config = json.load(f)
    # crun 1.8.1 refuses specs newer than 1.0.x ("unknown version").
    config["ociVersion"] = "1.0.2"
    config["process"]["terminal"] = False
    config["process"]["args"] = ["true"]
    config["root"] = {"path": rootfs, "readonly": True}
    with open(path, "w") as f:
        json.dump(config, f, indent=1)
    sleeper = os.path.join(work, "bundle-sleep")
    os.mkdir(sleeper)
    config["process"]["args"] = ["sleep", "100000"]
    with open(os.path.join(sleeper, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    return bundle, sleeper, rootfs


def bench_run(rts, bundle, work, rounds, runs):
    times = {r.name: [] for r in rts}
    for _ in range(rounds):
        for r in rts:
            cmd = shjoin(r.cmd("run", "-b", bundle, r.cid("run")))
            times[r.name] += hyperfine(cmd, work, runs)
    for r in rts:
        quiet(r.cmd("delete", "-f", r.cid("run")))
    return {k: percentiles(v) for k, v in times.items()}


def bench_lifecycle(rts, bundle, work, rounds, runs):
    times = {r.name: [] for r in rts}
    for _ in range(rounds):
        for r in rts:
            i = r.cid("life")
            cmd = " && ".join(
                [
                    shjoin(r.cmd("create", "-b", bundle, i)),
                    shjoin(r.cmd("start", i)),
                    shjoin(r.cmd("delete", "-f", i)),
                ]
            )
            # Through sh; hyperfine subtracts the shell's own start-up.
            times[r.name] += hyperfine(cmd, work, runs, shell=True)
    return {k: percentiles(v) for k, v in times.items()}


def wall(argv):
    t = time.perf_counter()
    sh(argv, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def bench_sequential(rts, bundle, rounds, n=100):
    times = {r.name: [] for r in rts}
    for _ in range(rounds):
        for r in rts:
            loop = f'i=0; while [ $i -lt {n} ]; do {shjoin(r.cmd("run", "-b", bundle, r.cid("seq")))} || exit 1; i=$((i+1)); done'
            times[r.name].append(wall(["sh", "-c", loop]))
    return {k: percentiles(v) for k, v in times.items()}


def bench_parallel(rts, bundle, rounds, n=20, jobs=4):
    times = {r.name: [] for r in rts}
    for _ in range(rounds):
        for r in rts:
            for k in range(n):
                r.cid(f"par{k}")
            prefix = shjoin(r.cmd("run", "-b", bundle, f"{TAG}-{r.name}-par"))
            # xargs appends the index to the id prefix.
            script = f"seq 0 {n - 1} | xargs -P {jobs} -I{{}} sh -c {shjoin([prefix + '{}'])}"
            times[r.name].append(wall(["sh", "-c", script]))
    return {k: percentiles(v) for k, v in times.items()}


def bench_exec(rts, sleeper, work, rounds, runs):
    ids = {}
    for r in rts:
        ids[r.name] = r.cid("exec")
        sh(r.cmd("run", "-d", "-b", sleeper, ids[r.name]), stdout=subprocess.DEVNULL)
    times = {r.name: [] for r in rts}
    try:
        for _ in range(rounds):
            for r in rts:
                cmd = shjoin(r.cmd("exec", ids[r.name], "true"))
                times[r.name] += hyperfine(cmd, work, runs)
    finally:
        for r in rts:
            quiet(r.cmd("delete", "-f", ids[r.name]))
    return {k: percentiles(v) for k, v in times.items()}


def bench_rss(rts, bundle, work, reps=15):
    """Through GNU time, which forks: a child of this Python process would
    start with Python's resident set as its high-water mark; time's own is
    about 1 MB, below every runtime's."""
    kb = {r.name: [] for r in rts}
    out = os.path.join(work, "rss")
    for _ in range(reps):
        for r in rts:
            argv = ["/usr/bin/time", "-f", "%M", "-o", out] + r.cmd("run", "-b", bundle, r.cid("rss"))
            sh(argv, stdout=subprocess.DEVNULL)
            with open(out) as f:
                kb[r.name].append(int(f.read().split()[-1]))
    return {k: percentiles(v) for k, v in kb.items()}


def bench_podman(rts, rootfs, work):
    """Binary search over --memory for each runtime, in a private store."""
    store = os.path.join(work, "podman")
    os.makedirs(store)
    conf = os.path.join(store, "containers.conf")
    with open(conf, "w") as f:
        # podman's default nofile (1048576) cannot be granted here (no
        # CAP_SYS_RESOURCE in the bounding set): see notes/environment.
        f.write('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n')
    env = dict(os.environ, CONTAINERS_CONF=conf)
    # podman (cgroupfs manager) makes libpod_parent/ in every hierarchy and
    # leaves it; remove the ones that were not there before.
    parents_before = set(glob.glob(os.path.join(CGROUP_ROOT, "*", "libpod_parent")))
    base = [
        "podman", "--root", os.path.join(store, "root"), "--runroot", os.path.join(store, "run"),
        "--cgroup-manager", "cgroupfs", "--events-backend", "none",
    ]
    image = f"localhost/{TAG}-busybox"
    tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
    sh(base + ["import", "-q", "-", image], stdin=tar.stdout, env=env, stdout=subprocess.DEVNULL)
    tar.wait()

    def podman_run(r, kb, *cmd):
        argv = base + [
            "--runtime", r.path, "run", "--rm", "--network", "none", "--pull", "never",
            "--memory", f"{kb}k", image, *cmd,
        ]
        try:
            # cwd: conmon leaves an "oom" marker in its working directory
            # when a container is OOM-killed (the small sizes are).
            p = subprocess.run(argv, env=env, capture_output=True, timeout=120, cwd=store)
        except subprocess.TimeoutExpired:
            return None
        return p.stdout.decode(errors="replace") if p.returncode == 0 else None

    def works(r, kb):
        return (podman_run(r, kb, "echo", "it", "works") or "").strip() == "it works"

    def applied(r, kb):
        """The container's memory cgroup has the limit: read where runtimes
        put it (the hierarchy's root is the container's cgroup when that is
        what is mounted, or the container's path below it; v2's file)."""
        script = (
            "p=$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup); "
            "cat /sys/fs/cgroup/memory$p/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.limit_in_bytes "
            "/sys/fs/cgroup/memory.max 2>/dev/null; true"
        )
        out = podman_run(r, kb, "sh", "-c", script)
        return out is not None and str(kb * 1024) in out.split()

    result = {}
    try:
        for r in rts:
            lo, hi = 0, 64 * 1024
            if not works(r, hi):
                result[r.name] = None
                continue
            # Down to 64k steps: the answer is the smallest value seen to work.
            while hi - lo > 64:
                mid = (lo + hi) // 2 // 16 * 16
                if works(r, mid):
                    hi = mid
                else:
                    lo = mid
            # A runtime that ignores --memory "works" at any size. Checked
            # at 64m: the check runs more than echo.
            result[r.name] = hi if applied(r, 64 * 1024) else -hi
    finally:
        quiet(base + ["rm", "-af"], env=env)
        quiet(base + ["rmi", "-af"], env=env)
        # Our store's overlay mounts live in this private mount namespace.
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f]
        for m in sorted((m for m in mounts if m.startswith(store)), reverse=True):
            quiet(["umount", "-l", m])
        for parent in set(glob.glob(os.path.join(CGROUP_ROOT, "*", "libpod_parent"))) - parents_before:
            if parent.startswith(UNIFIED + "/"):
                # A plain directory under the hidden mount point.
                shutil.rmtree(parent, ignore_errors=True)
                continue
            for top, _, _ in sorted(os.walk(parent), key=lambda w: len(w[0]), reverse=True):
                try:
                    os.rmdir(top)
                except OSError as e:
                    print(f"bench: could not remove cgroup {top}: {e}", file=sys.stderr)
    return result


def size(path, work):
    out = os.path.join(work, "stripped")
    sh(["strip", "-o", out, path])
    n = os.path.getsize(out)
    kind = subprocess.run(["file", "-b", out], capture_output=True, text=True).stdout
    os.unlink(out)
    linking = "static-pie" if "static-pie" in kind else "static" if "statically" in kind else "dynamic"
    return n, linking


def hide_unified():
    if os.path.ismount(UNIFIED):
        sh(["umount", UNIFIED])


# podman runs berth with its default root (item 7), where berth keeps its
# seccomp cache: what the bench added there goes at cleanup.
DEFAULT_ROOT = "/run/berth"
DEFAULT_ROOT_BEFORE = set(os.listdir(DEFAULT_ROOT)) if os.path.isdir(DEFAULT_ROOT) else None


def cleanup(rts, work):
    for r in rts:
        for i in sorted(r.ids):
            quiet(r.cmd("delete", "-f", i))
    if os.path.isdir(DEFAULT_ROOT):
        for e in set(os.listdir(DEFAULT_ROOT)) - (DEFAULT_ROOT_BEFORE or set()):
            if e == "~seccomp-cache":
                shutil.rmtree(os.path.join(DEFAULT_ROOT, e), ignore_errors=True)
        if DEFAULT_ROOT_BEFORE is None and not os.listdir(DEFAULT_ROOT):
            os.rmdir(DEFAULT_ROOT)
    # Cgroups named after our ids: v1 hierarchies (rmdir only), and what a
    # runtime made under the hidden unified mount point (a tmpfs directory).
    found = []
    for top, dirs, _ in os.walk(CGROUP_ROOT):
        if top.count("/") > 8:
            dirs[:] = []
            continue
        for d in dirs:
            if d.startswith(TAG):
                found.append(os.path.join(top, d))
        dirs[:] = [d for d in dirs if not d.startswith(TAG)]
    for d in sorted(found, key=len, reverse=True):
        if d.startswith(UNIFIED + "/"):
            shutil.rmtree(d, ignore_errors=True)
        else:
            try:
                os.rmdir(d)
            except OSError as e:
                print(f"bench: could not remove cgroup {d}: {e}", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)


def ms(s):
    return f"{s * 1000:.1f} ms"


def fmt_time(p, unit):
    if unit == "s":
        return f"{p['median']:.2f} s ({p['p25']:.2f}–{p['p75']:.2f})"
    return f"{p['median'] * 1000:.1f} ms ({p['p25'] * 1000:.1f}–{p['p75'] * 1000:.1f})"


def table(rts, res):
    names = [r.name for r in rts]
    rows = []
    head = "| item | " + " | ".join(names) + " | berth target |"
    rows.append(head)
    rows.append("|---" * (len(names) + 2) + "|")

    def ratio(item, name, lower_is_better=True):
        c = res[item].get("crun")
        v = res[item].get(name)
        if not c or v is None:
            return ""
        cv = c["median"] if isinstance(c, dict) else c
        vv = v["median"] if isinstance(v, dict) else v
        return f", {vv / cv:.2f}×" if cv else ""

    def verdict(item, limit):
        c, b = res[item].get("crun"), res[item].get("berth")
        if not c or b is None:
            return "n/a"
        cv = c["median"] if isinstance(c, dict) else c
        bv = b["median"] if isinstance(b, dict) else b
        return ("met" if bv <= limit * cv else "missed") + f" ({bv / cv:.2f}×)"

    timed = [
        ("run", "1. `run true` (median, p25–p75)", "ms", 0.75),
        ("lifecycle", "2. `create`+`start`+`delete -f`", "ms", 0.75),
        ("sequential", "3. 100 sequential `run`s, total", "s", 0.75),
        ("parallel", "4. 20 `run`s, 4 at a time, total", "s", None),
        ("exec", "5. `exec true` into a running container", "ms", 0.75),
    ]
    for key, label, unit, limit in timed:
        if key not in res:
            continue
        cells = [fmt_time(res[key][n], unit) + ratio(key, n) for n in names]
        target = f"≤ {limit}× crun: " + verdict(key, limit) if limit else "(scaling)"
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")
    if "rss" in res:
        cells = [f"{res['rss'][n]['median'] / 1024:.1f} MB" + ratio("rss", n) for n in names]
        rows.append("| 6. peak RSS during `run` (median) | " + " | ".join(cells) + " | ≤ crun: " + verdict("rss", 1.0) + " |")
    if "podman" in res:
        def mem(v):
            if v is None:
                return "fails at 64m"
            size = f"{abs(v) // 1024}m" if abs(v) % 1024 == 0 else f"{abs(v)}k"
            return size if v > 0 else f"{size} (limit not applied)"
        cells = [mem(res["podman"].get(n)) for n in names]
        b = res["podman"].get("berth")
        verdict = "n/a: no limit applied" if b is not None and b < 0 else "met" if b is not None and b <= 512 else "missed"
        rows.append("| 7. smallest `podman run --memory` that works | " + " | ".join(cells) + " | ≤ 512k: " + verdict + " |")
    if "size" in res:
        cells = [f"{res['size'][n][0] / 1e6:.2f} MB ({res['size'][n][1]})" for n in names]
        bs = res["size"]["berth"][0]
        rows.append("| 8. binary size, stripped | " + " | ".join(cells) + " | ≤ 2.5 MB: " + ("met" if bs <= 2.5e6 else "missed") + " |")
    return "\n".join(rows)


def chart(rts, res, path):
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "berth-bench"
    panels = [
        ("run", "1. run true (ms)", 1000),
        ("lifecycle", "2. create+start+delete (ms)", 1000),
        ("sequential", "3. 100 sequential runs (s)", 1),
        ("parallel", "4. 20 runs, 4 parallel (s)", 1),
        ("exec", "5. exec true (ms)", 1000),
        ("rss", "6. peak RSS of run (MB)", 1 / 1024),
        ("podman", "7. smallest podman --memory (MB)", 1 / 1024),
        ("size", "8. stripped binary (MB)", 1e-6),
    ]
    panels = [p for p in panels if p[0] in res]
    names = [r.name for r in rts]
    colors = {"berth": "#1f77b4", "crun": "#7f7f7f", "runc": "#d62728"}
    fig, axes = plt.subplots(2, (len(panels) + 1) // 2, figsize=(14, 6.5))
    for ax, (key, title, scale) in zip(axes.flat, panels):
        vals, errs_lo, errs_hi, notes = [], [], [], []
        for n in names:
            v = res[key].get(n)
            note = ""
            if isinstance(v, dict):
                vals.append(v["median"] * scale)
                errs_lo.append((v["median"] - v["p25"]) * scale)
                errs_hi.append((v["p75"] - v["median"]) * scale)
            else:
                x = v[0] if isinstance(v, tuple) else (v or 0)
                if x <= 0:
                    # Failed at every size, or the limit was not applied.
                    note = "fails" if v is None else "no limit"
                    x = 0
                vals.append(x * scale)
                errs_lo.append(0)
                errs_hi.append(0)
            notes.append(note)
        bars = ax.bar(names, vals, yerr=[errs_lo, errs_hi], capsize=3,
                      color=[colors.get(n, "#2ca02c") for n in names])
        crun = vals[names.index("crun")] if "crun" in names else 0
        for b, v, hi, note in zip(bars, vals, errs_hi, notes):
            label = note or f"{v:.3g}" + (f"\n{v / crun:.2f}×" if crun else "")
            # Above the error bar, so that neither hides the other.
            ax.annotate(label, (b.get_x() + b.get_width() / 2, b.get_height() + hi),
                        ha="center", va="bottom", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.set_ylim(0, max([v + h for v, h in zip(vals, errs_hi)] + [0]) * 1.3 or 1)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle("berth, crun and runc on the same busybox bundle (lower is better; ratios to crun)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})


def update_readme(text):
    path = os.path.join(REPO, "README.md")
    with open(path) as f:
        s = f.read()
    if README_BEGIN not in s or README_END not in s:
        print("bench: README.md has no bench markers; table not copied there", file=sys.stderr)
        return
    head, rest = s.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    with open(path, "w") as f:
        f.write(head + README_BEGIN + "\n" + text + "\n" + README_END + tail)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runtimes", nargs="*", help="more runtimes to compare, by path")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke test)")
    ap.add_argument("--no-podman", action="store_true", help="skip item 7")
    ap.add_argument("--no-write", action="store_true", help="print only; leave README and docs alone")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (hack/bench does)")
    hide_unified()
    work = tempfile.mkdtemp(prefix="berth-bench-")
    rts = [Runtime("berth", BERTH, work), Runtime("crun", shutil.which("crun"), work),
           Runtime("runc", shutil.which("runc"), work)]
    for p in args.runtimes:
        name = os.path.basename(p)
        while name in [r.name for r in rts]:
            name += "'"
        rts.append(Runtime(name, os.path.abspath(p), work))
    rounds, runs = (2, 5) if args.quick else (5, 20)
    res = {}
    started = time.strftime("%Y-%m-%d %H:%M")
    try:
        bundle, sleeper, rootfs = make_bundles(work)
        steps = [
            ("run", lambda: bench_run(rts, bundle, work, rounds, runs)),
            ("lifecycle", lambda: bench_lifecycle(rts, bundle, work, rounds, runs)),
            ("sequential", lambda: bench_sequential(rts, bundle, 1 if args.quick else 3, 20 if args.quick else 100)),
            ("parallel", lambda: bench_parallel(rts, bundle, rounds)),
            ("exec", lambda: bench_exec(rts, sleeper, work, rounds, runs)),
            ("rss", lambda: bench_rss(rts, bundle, work, 5 if args.quick else 15)),
        ]
        if not args.no_podman:
            steps.append(("podman", lambda: bench_podman(rts, rootfs, work)))
        steps.append(("size", lambda: {r.name: size(r.path, work) for r in rts}))
        for key, f in steps:
            print(f"bench: {key} ...", file=sys.stderr, flush=True)
            res[key] = f()
    finally:
        cleanup(rts, work)
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    kernel = os.uname().release
    versions = []
    for r in rts:
        v = subprocess.run([r.path, "--version"], capture_output=True, text=True).stdout.splitlines()
        versions.append(f"{r.name}: {v[0] if v else '?'}")
    text = table(rts, res)
    note = (
        f"\n\n`hack/bench{' --quick' if args.quick else ''}` on {started}, kernel {kernel}, "
        f"load average {load} at the end ({'; '.join(versions)}). Times: median "
        f"(25th–75th percentile) over {rounds}×{runs} runs, interleaved by runtime; "
        "ratios are to crun's median in the same run."
    )
    print(text + note)
    if not args.no_write:
        chart(rts, res, os.path.join(REPO, "docs", "bench.svg"))
        update_readme(text + note)


if __name__ == "__main__":
    main()
