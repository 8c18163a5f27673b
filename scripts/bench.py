#!/usr/bin/env python3
"""`make bench`: throughput and latency through the real nginx, as ratios.

Every number is compared with a reference measured in the same run on the
same nginx (same worker count, same access log): a location that answers
`return 200` itself, the ceiling any FastCGI route can reach. Prints one table
and exits non-zero when a target is missed. Not part of `make test`: a
benchmark is a measurement, not a pass/fail unit test of timing. Two
comparisons have no ceiling but a twin in the same run: GET / with metrics
against the same responder with [metrics] enabled = false, and the
responder with the outside-change check against one built without it.

    BENCH_SECONDS=10 WORKERS=4 scripts/bench.py
    BENCH_BASELINE=REV scripts/bench.py   also REV's responder against this one, side by side
    BENCH_ONLY=baseline BENCH_BASELINE=REV scripts/bench.py   only that comparison

With BENCH_BASELINE (a commit, branch or tag), the responder of that commit is built in
a temporary worktree and GET / (sync=interval) and GET / with sync=always are measured on
it and on this tree's in pairs of rounds a b b a, as the twin comparisons are: the ratio
and each one's CPU per request.
"""

import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness  # noqa: E402
from harness import TOP, Stack  # noqa: E402  (the tests' start/stop helpers)

# What nginx and the responders print is read as it comes and only its first and last
# MiB are kept: nginx's access log of a run (millions of requests) kept whole took
# bench.py to 3.9 GB.
harness.Proc.KEEP_BYTES = 1 << 20

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WORKERS = os.environ.get("WORKERS")  # default: config.ini's
CEILING = 'location = /bench/ceiling { return 200 "ok\\n"; }'
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
# An 8 KB Accept header of many short ranges without a q, ending in one the
# route serves: what made the old parser quadratic (it searched the rest of
# the header for "q=" at every range). Fits nginx's 8k header line buffer.
BIG_ACCEPT = "".join(f"application/x-bench-{i}, " for i in range(400))[:7980] + ", text/plain"


def wrk(port, path, conns, seconds=SECONDS, accept=None):
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if accept:
        cmd += ["-H", f"Accept: {accept}"]
    out = subprocess.run(cmd + [f"http://127.0.0.1:{port}{path}"], capture_output=True,
                         text=True, check=True).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))

    def ms(v):
        num, unit = re.match(r"([\d.]+)(\w+)", v).groups()
        return float(num) * UNITS[unit]

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": ms(lat["50"]), "p99": ms(lat["99"]), "requests": requests,
            "failed": (int(non2xx.group(1)) if non2xx else 0)
            + (sum(map(int, errors.groups())) if errors else 0)}


def ab(port, path, n, conns):
    out = subprocess.run(["ab", "-q", "-k", "-l", "-n", str(n), "-c", str(conns), "-s", "10",
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                         check=True).stdout
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    return {"rps": float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1)),
            "p50": float(re.search(r"^\s+50%\s+(\d+)", out, re.M).group(1)),
            "p99": float(re.search(r"^\s+99%\s+(\d+)", out, re.M).group(1)),
            "requests": int(re.search(r"Complete requests:\s+(\d+)", out).group(1)),
            "failed": int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
            + (int(non2xx.group(1)) if non2xx else 0)}


class RssWatch:
    """Resident set of a process, read from /proc at the end of its runs.

    VmHWM is the peak of all of it, including the pages of shared libraries
    the process has touched (libcurl and the 30 libraries it pulls in: about
    6 MiB at load and 2 MiB more in curl_global_init(), shared with every
    other process that maps them). RssAnon is the process's own memory
    (heap, stacks, buffers), which glibc hardly ever gives back: the peak.
    """

    def __init__(self, pid):
        self.pid = pid

    def _kib(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            return int(re.search(field + r":\s+(\d+) kB", f.read()).group(1))

    def peak_kib(self):
        return self._kib("VmHWM")

    def anon_kib(self):
        return self._kib("RssAnon")


ACCEPT_ROUNDS = 3


def big_accept_rounds(port):
    """/visits and the ceiling, each plain and with BIG_ACCEPT, in alternating rounds.

    The ratios are taken within each round (the machine's load moves between
    rounds) and their medians returned, with the median round's wrk results.
    """
    seconds = max(3, SECONDS // 2)
    rounds = []
    for _ in range(ACCEPT_ROUNDS):
        r = {name: wrk(port, path, 32, seconds=seconds, accept=accept) for name, path, accept in (
            ("visits", "/visits", None), ("visits_accept", "/visits", BIG_ACCEPT),
            ("ceiling_accept", "/bench/ceiling", BIG_ACCEPT), ("ceiling", "/bench/ceiling", None))}
        r["visits_ratio"] = r["visits_accept"]["rps"] / r["visits"]["rps"]
        r["ceiling_ratio"] = r["ceiling_accept"]["rps"] / r["ceiling"]["rps"]
        r["relative"] = r["visits_ratio"] / r["ceiling_ratio"]
        # What the header costs nginx and wrk by themselves (return 200 with it, less
        # without), added to a plain /visits: the ratio a responder that read and parsed
        # it for nothing would reach, the forwarding of 8 KB of params aside.
        t_visits = 1 / r["visits"]["rps"]
        header = 1 / r["ceiling_accept"]["rps"] - 1 / r["ceiling"]["rps"]
        r["reachable"] = t_visits / (t_visits + max(header, 0))
        rounds.append(r)
    rounds.sort(key=lambda r: r["relative"])
    median = rounds[len(rounds) // 2]
    return {**median, "visits_ratio": statistics.median(r["visits_ratio"] for r in rounds),
            "ceiling_ratio": statistics.median(r["ceiling_ratio"] for r in rounds),
            "reachable": statistics.median(r["reachable"] for r in rounds),
            "failed": sum(r["visits_accept"]["failed"] for r in rounds)}


def null_floor(config, body_bytes, rounds=3):
    """GET / against build/null-responder (same nginx, same headers, a body as large as
    the page, one read and one write per request): what nginx's FastCGI path costs by
    itself. Median of alternating rounds against the ceiling of the same stack."""
    harness.read_example_config()  # the real responder's --print-config, cached first
    saved, harness.BINARY = harness.BINARY, os.path.join(TOP, "build", "null-responder")
    try:
        s = Stack(config=config, nginx_extra=CEILING,
                  responder_env={"NULL_BODY_BYTES": str(body_bytes)})
    finally:
        harness.BINARY = saved
    with s:
        wrk(s.port, "/", 32, seconds=2)
        out = []
        for _ in range(rounds):
            ceiling = wrk(s.port, "/bench/ceiling", 32)
            r = wrk(s.port, "/", 32)
            out.append((r["rps"] / ceiling["rps"], r))
    out.sort(key=lambda x: x[0])
    return out[len(out) // 2]


def settled_count(stack, quiet=0.3):
    """The count once requests still in flight when wrk stopped have landed (it has not
    moved for quiet s)."""
    last = stack.counter_value()
    while True:
        time.sleep(quiet)
        now = stack.counter_value()
        if now == last:
            return now
        last = now


def start_to_ready_ms(stack, runs=15):
    """Exec to a socket that accepts, for a responder on a fresh socket path."""
    times = []
    config, sock, _ = stack.other_config("ready", socket=True, counter=True)
    for _ in range(runs):
        start = time.monotonic()
        p = stack.spawn_responder(config)
        while True:
            try:
                with socket.socket(socket.AF_UNIX) as c:
                    c.connect(sock)
                break
            except OSError:
                if time.monotonic() - start > 5:
                    raise RuntimeError("responder did not start: " + p.output())
                time.sleep(0.0005)
        times.append((time.monotonic() - start) * 1000)
        p.stop()
    return statistics.median(times)


def cpu_seconds(pid):
    """CPU time of pid's threads and of its descendants' (nginx: master and workers)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            pass
    return total / 1e9


def twin_rounds(a, b, pairs=24, seconds=1):
    """GET / on two stacks that differ in one thing, in pairs of rounds ordered a b b a,
    so that the machine's drift (this VM's speed moves by a third between seconds)
    falls on both alike. Many short pairs rather than a few long ones: with 8 pairs of
    2 s the median moved by 5% between runs of the same code, with 24 of 1 s two
    identical stacks read 0.995 and 1.014. Returns the median of the pairs' throughput
    ratios a/b, their range, and per stack the median throughput and CPU per visit
    (responder's; nginx's and the responder's together)."""
    def one(s):
        before = settled_count(s, quiet=0.05)  # only for CPU per visit: need not be exact
        cpu0 = cpu_seconds(s.responder.pid), cpu_seconds(s.nginx.pid)
        r = wrk(s.port, "/", 32, seconds=seconds)
        visits = settled_count(s, quiet=0.05) - before
        cpu1 = cpu_seconds(s.responder.pid), cpu_seconds(s.nginx.pid)
        return (r["rps"], (cpu1[0] - cpu0[0]) / visits * 1e6,
                (cpu1[0] - cpu0[0] + cpu1[1] - cpu0[1]) / visits * 1e6)
    one(a), one(b)  # warm up
    ratios, runs = [], {"a": [], "b": []}
    for _ in range(pairs):
        a1, b1, b2, a2 = one(a), one(b), one(b), one(a)
        ratios.append((a1[0] + a2[0]) / (b1[0] + b2[0]))
        runs["a"] += [a1, a2]
        runs["b"] += [b1, b2]
    medians = {k: [statistics.median(x[i] for x in v) for i in range(3)] for k, v in runs.items()}
    return {"ratio": statistics.median(ratios), "low": min(ratios), "high": max(ratios),
            "with": medians["a"], "without": medians["b"]}


def twin_noise(config):
    """The same comparison between two identical stacks: what twin_rounds reads when
    there is no difference, in this run."""
    with Stack(config=config) as a, Stack(config=config) as b:
        return twin_rounds(a, b)


def outside_check_cost(config):
    """What the per-visit check for changes made to the counter file from outside
    (a read of the folder's inotify queue, and a pread) costs: GET / against a
    responder built without it."""
    with Stack(config=config) as checked:
        saved, harness.BINARY = harness.BINARY, os.path.join(TOP, "build", "moscow-time-nocheck")
        try:
            unchecked = Stack(config=config)
        finally:
            harness.BINARY = saved
        with unchecked:
            return twin_rounds(checked, unchecked)


def thread_twins(config):
    """GET / with sync=always: 1 worker thread against workers=16 (as many as CPUs)."""
    cfg = {**config, ("counter", "sync"): "always"}
    with Stack(config={**cfg, ("server", "workers"): "1"}) as one, \
            Stack(config={**cfg, ("server", "workers"): "16"}) as many:
        return twin_rounds(one, many)


def metrics_cost(config):
    """GET / with [metrics] enabled against the same responder with them off."""
    with Stack(config=config) as on, \
            Stack(config={**config, ("metrics", "enabled"): "false"}) as off:
        return twin_rounds(on, off)


def cluster_answer(config):
    """GET /visits?scope=cluster on one of three pods that poll each other every second."""
    from peers import make_peers, wait_cluster  # tests/integration, as harness
    names = ["pod-0", "pod-1", "pod-2"]
    with Stack(config=config, counter="100\n") as a, Stack(config=config, counter="200\n") as b, \
            Stack(config=config, counter="300\n") as c:
        make_peers([a, b, c], names, interval_ms=1000, timeout_ms=500)
        for st in (a, b, c):
            wait_cluster(st, lambda x: sorted(x["pods"]) == names and not x["partial"], "peers")
        wrk(a.port, "/visits?scope=cluster", 32, seconds=2)
        text = wrk(a.port, "/visits?scope=cluster", 32)
        as_json = wrk(a.port, "/visits?scope=cluster", 32, accept="application/json")
        total = a.get("/visits?scope=cluster").text.split("\n")[0]
    return text, as_json, total


def build_baseline(rev):
    """REV's responder, built in a temporary worktree; returns (binary, cleanup)."""
    tmp = tempfile.mkdtemp(prefix="mt-bench-base-")
    tree = os.path.join(tmp, "tree")
    subprocess.run(["git", "-C", TOP, "worktree", "add", "--detach", "-q", tree, rev],
                   check=True)

    def cleanup():
        subprocess.run(["git", "-C", TOP, "worktree", "remove", "--force", tree], check=False)
        shutil.rmtree(tmp, ignore_errors=True)

    try:
        subprocess.run(["make", "-s", "-C", tree, "build/moscow-time"], check=True,
                       capture_output=True, text=True)
    except subprocess.CalledProcessError as e:
        cleanup()
        sys.exit(f"building {rev} in {tree} failed:\n{e.stdout}{e.stderr}")
    return os.path.join(tree, "build", "moscow-time"), cleanup


def old_config(tree, stack, cfg):
    """stack's config.ini from tree's own example (REV may not know this tree's keys), with
    stack's socket and counter and the overrides of cfg (keys named once in config.ini)."""
    with open(os.path.join(tree, "fcgi-app", "config.ini")) as f:
        text = f.read()
    values = {"socket": stack.socket_path, "path": stack.counter_path}
    values.update({key: value for (_, key), value in cfg.items()})
    for key, value in values.items():
        text, n = re.subn(rf"(?m)^{re.escape(key)} = .*$", f"{key} = {value}", text)
        if n != 1:
            raise RuntimeError(f"{tree}/fcgi-app/config.ini has {n} lines '{key} = '")
    with open(stack.config_path, "w") as f:
        f.write(text)


def baseline_rounds(config, rev):
    """This tree's responder (a) against REV's (b): GET / with sync=interval (the default)
    and with sync=always, each in 24 pairs of rounds a b b a."""
    binary, cleanup = build_baseline(rev)
    out = {}
    try:
        for name, cfg in (("GET /", config),
                          ("GET /  sync=always", {**config, ("counter", "sync"): "always"})):
            with Stack(config=cfg) as new:
                saved, harness.BINARY = harness.BINARY, binary
                try:
                    old = Stack(config=cfg, start=False)
                    with old:
                        old_config(os.path.dirname(os.path.dirname(binary)),
                                   old, cfg)
                        old.start_responder()
                        old.start_nginx()
                        harness.BINARY = saved
                        out[name] = twin_rounds(new, old)
                finally:
                    harness.BINARY = saved
    finally:
        cleanup()
    return out


def report_baseline(target, rev):
    """Prints and judges this tree against REV: at least as fast (>= 0.95, the twins' rule)."""
    config = {("server", "workers"): WORKERS} if WORKERS else {}
    head = subprocess.run(["git", "-C", TOP, "describe", "--always", "--dirty"],
                          capture_output=True, text=True).stdout.strip()
    print(f"\nthis tree ({head}) against {rev}, 24 pairs of rounds a b b a:")
    for name, r in baseline_rounds(config, rev).items():
        (a_rps, a_us, a_all), (b_rps, b_us, b_all) = r["with"], r["without"]
        print(f"  {name:20} {a_rps:8.0f} req/s now, {b_rps:8.0f} before; ratio {r['ratio']:.3f}x "
              f"(pairs {r['low']:.2f}-{r['high']:.2f}); responder CPU per request {a_us:.1f} us "
              f"now, {b_us:.1f} us before ({a_us - b_us:+.1f} us); with nginx {a_all:.1f} and "
              f"{b_all:.1f} us")
        target(f"{name} against {rev}", r["ratio"] >= 0.95,
               f"{r['ratio']:.3f}x of {rev}'s throughput (>= 0.95x, median of 24 pairs)")


def worker_threads(stack):
    """The worker threads the responder runs ("ready: ..., N worker threads (of M)")."""
    m = re.search(r"(\d+) worker threads \(of (\d+)\)", stack.responder.output())
    return int(m.group(1)) if m else None


def sync_always(config):
    """GET / with sync=always: 1 thread and [server] workers = 16 at c=32, then c=1000
    (wrk, ab) with 16.

    Every 200 left only after an fdatasync covering its visit; the visits
    waiting for it hold no thread (server.c parks them), so the thread count
    must not matter. server.c runs no more threads than CPUs, so 16 workers are
    as many threads as CPUs (2 on the build machine): the comparison is 1
    thread against that many, the most any setting gives. Each stack measures
    its own ceiling first.
    """
    out = {"rows": [], "by_workers": {}, "threads": {}, "exact": True, "rss_kib": 0,
           "anon_kib": 0}
    for workers in (1, 16):
        cfg = {**config, ("server", "workers"): str(workers), ("counter", "sync"): "always"}
        with Stack(config=cfg, nginx_extra=CEILING) as s:
            threads = worker_threads(s)
            out["threads"][workers] = threads
            wrk(s.port, "/", 32, seconds=2)
            ceiling = wrk(s.port, "/bench/ceiling", 32)
            before = settled_count(s)
            r = wrk(s.port, "/", 32)
            delta = settled_count(s) - before
            out["exact"] &= r["requests"] - r["failed"] <= delta <= r["requests"] + 32
            r["ratio"] = r["rps"] / ceiling["rps"]
            out["by_workers"][workers] = r
            out["rows"].append((f"workers={workers}, {threads} thread(s)", r,
                                0.40 if workers == 16 else None))
            if workers == 16:
                for name, run in (("c1000", lambda: wrk(s.port, "/", 1000)),
                                  ("ab", lambda: ab(s.port, "/", 50000, 1000))):
                    before = settled_count(s)
                    r = run()
                    delta = settled_count(s) - before
                    done = r["requests"] - r["failed"]
                    out["exact"] &= (delta == done if name == "ab"
                                     else done <= delta <= r["requests"] + 1000)
                    r["ratio"] = r["rps"] / ceiling["rps"]
                    out[name] = r
                    out["rows"].append(("wrk -c1000" if name == "c1000" else
                                        "ab -k -n50000 -c1000", r, None))
            watch = RssWatch(s.responder.pid)
            out["rss_kib"] = max(out["rss_kib"], watch.peak_kib())
            out["anon_kib"] = max(out["anon_kib"], watch.anon_kib())
        os.sync()
    return out


def machine():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        m = re.search(r"model name\s*:\s*(.*)", f.read())
        model = m.group(1) if m else model
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, {nginx}"


# Configurations that stall a naive libfcgi responder: a keep-alive pool
# larger than the thread count, one thread, one or many nginx workers. The
# p99 target applies to the default sync=interval; with sync=always the
# disk's fsync rate bounds throughput, so its line must only not fail.
STALL_MATRIX = [  # (responder workers, sync, nginx keepalive, nginx worker_processes, p99 target)
    (1, "interval", 64, 2, True),
    (2, "interval", 1, 1, True),
    (16, "interval", 512, 2, True),
    (4, "never", 1024, 1, True),
    (16, "always", 256, 2, False),
]


def nginx_variant(folder, keepalive, processes):
    """A copy of nginx.conf with another keep-alive pool and worker count."""
    with open(os.path.join(TOP, "nginx-conf", "nginx.conf")) as f:
        text = f.read()
    for old, new in (("keepalive 1024;", f"keepalive {keepalive};"),
                     ("worker_processes 2;", f"worker_processes {processes};")):
        if old not in text:
            raise RuntimeError(f"nginx.conf no longer has {old!r}: update bench.py")
        text = text.replace(old, new)
    path = os.path.join(folder, "nginx-variant.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def stall_matrix(target):
    print(f"\n{'no stall: ab -k -n50000 -c1000':60} {'req/s':>9} {'p99 ms':>8} {'failed':>7} exact")
    for workers, sync, keepalive, processes, p99_target in STALL_MATRIX:
        folder = tempfile.mkdtemp(prefix="mt-bench-")
        try:
            conf = nginx_variant(folder, keepalive, processes)
            cfg = {("server", "workers"): str(workers), ("counter", "sync"): sync}
            with Stack(config=cfg, nginx_conf=conf) as s:
                before = settled_count(s)
                r = ab(s.port, "/", 50000, 1000)
                exact = settled_count(s) - before == r["requests"] - r["failed"]
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        name = (f"{workers} thread(s), sync={sync}, keepalive {keepalive}, "
                f"{processes} nginx worker(s)")
        print(f"{name:60} {r['rps']:9.0f} {r['p99']:8.1f} {r['failed']:7d} {exact}")
        ok = r["failed"] == 0 and exact and (r["p99"] <= 200 or not p99_target)
        limit = " (<= 200 ms)" if p99_target else ""
        target(f"no stall with {name}", ok,
               f"{r['failed']} failed, p99 {r['p99']:.0f} ms{limit}, exact {exact}")


def verdict(verdicts):
    print()
    for name, ok, text in verdicts:
        print(f"{'ok  ' if ok else 'MISS'}  {name}: {text}")
    return 0 if all(ok for _, ok, _ in verdicts) else 1


def main():
    for tool in ("wrk", "ab"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: scripts/install-deps.sh bench")
    config = {("server", "workers"): WORKERS} if WORKERS else {}
    rows, verdicts = [], []
    baseline = os.environ.get("BENCH_BASELINE")

    def target(name, ok, text):
        verdicts.append((name, ok, text))

    print(f"# {machine()}", flush=True)
    if os.environ.get("BENCH_ONLY") == "baseline":
        if not baseline:
            sys.exit("BENCH_ONLY=baseline needs BENCH_BASELINE=REV")
        report_baseline(target, baseline)
        return verdict(verdicts)
    print(f"# wrk -t2 -c32 -d{SECONDS}s unless said; ratios against the ceiling of this run",
          flush=True)
    with Stack(config=config, nginx_extra=CEILING) as s:
        rss = RssWatch(s.responder.pid)
        wrk(s.port, "/", 32, seconds=2)  # warm-up, also of the counter file's page
        # GET / in three rounds, each right after a ceiling of its own: the median ratio.
        rounds, root_exact = [], True
        for _ in range(3):
            ceiling1 = wrk(s.port, "/bench/ceiling", 32)
            before = settled_count(s)
            r = wrk(s.port, "/", 32)
            delta = settled_count(s) - before
            root_exact &= r["requests"] - r["failed"] <= delta <= r["requests"] + 32
            rounds.append((r["rps"] / ceiling1["rps"], ceiling1, r))
        rounds.sort(key=lambda x: x[0])
        root_ratio, ceiling1, root = rounds[1]
        visits = wrk(s.port, "/visits", 32)
        accept_rounds = big_accept_rounds(s.port)
        c1000 = wrk(s.port, "/", 1000)
        before = settled_count(s)
        abres = ab(s.port, "/", 50000, 1000)
        ab_exact = settled_count(s) - before == abres["requests"] - abres["failed"]
        ceiling2 = wrk(s.port, "/bench/ceiling", 32)
        rss_kib, anon_kib = rss.peak_kib(), rss.anon_kib()
        ready_ms = start_to_ready_ms(s)
        page_bytes = len(s.get("/").body)
    os.sync()  # the first stack's writeback must not land in this run's fsyncs
    floor_ratio, floor = null_floor(config, page_bytes)
    always = sync_always(config)
    rss_kib = max(rss_kib, always["rss_kib"])
    anon_kib = max(anon_kib, always["anon_kib"])

    ceiling = max(ceiling1["rps"], ceiling2["rps"])  # the harder reference of the two
    # (name, result, ratio or None for "against the ceiling", target)
    rows = [("ceiling: return 200 in nginx", ceiling1 if ceiling1["rps"] >= ceiling2["rps"]
             else ceiling2, None, None),
            ("GET /  (median of 3 rounds)", root, root_ratio, None),
            ("GET /  null FastCGI responder (floor)", floor, floor_ratio, None),
            ("GET /visits", visits, None, 0.40),
            ("GET /visits  8 KB Accept", accept_rounds["visits_accept"], None, None),
            ("ceiling      8 KB Accept", accept_rounds["ceiling_accept"], None, None),
            ("GET /  wrk -c1000", c1000, None, None),
            ("GET /  ab -k -n50000 -c1000", abres, None, None)]
    rows += [(f"GET /  sync=always, {name}", r, r["ratio"], None)
             for name, r, _ in always["rows"]]
    print(f"{'scenario':44} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7} {'ratio':>6}  target")
    for name, r, ratio, want in rows:
        ratio = r["rps"] / ceiling if ratio is None else ratio
        goal = f">= {want:.2f}x" if want else ""
        print(f"{name:44} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['failed']:7d} "
              f"{ratio:6.2f}  {goal}")
        if want:
            target(f"{name} ratio", ratio >= want, f"{ratio:.2f}x (>= {want}x)")
    print("  (the 3 rounds of GET /: " + ", ".join(f"{x[0]:.2f}" for x in rounds) + "; sync=always"
          " rows against a ceiling measured in their own stack)")
    # The floors this run measured, not fixed shares of `return 200`: no responder
    # behind this nginx gets above the null responder (0.43-0.53x of the ceiling on
    # the build machines), so a fixed 0.55x could never be met.
    target("GET / against the null responder's floor", root_ratio / floor_ratio >= 0.85,
           f"{root_ratio / floor_ratio:.2f} of the floor's {floor_ratio:.2f}x (>= 0.85)")
    always16 = always["by_workers"][16]["ratio"]
    target("GET / with sync=always against GET / with sync=interval", always16 / root_ratio >= 0.70,
           f"{always16:.2f}x against {root_ratio:.2f}x of each stack's ceiling: "
           f"{always16 / root_ratio:.2f} (>= 0.70)")
    print(f"  (floor: build/null-responder answers GET / with the same headers and a {page_bytes}-byte "
          "body from one read and one write, no libfcgi, no counter: what nginx's FastCGI path costs "
          f"by itself. No responder can do better than {floor_ratio:.2f}x here; GET / reaches "
          f"{root_ratio / floor_ratio:.2f} of it)")
    # nginx itself reads an 8 KB header byte by byte, and wrk writes it on the
    # same CPUs: the header slows `return 200` too. What the responder must
    # not add is a slowdown of its own, so /visits's ratio (8 KB / plain) is
    # held against nginx's ratio for the same header, round by round.
    big, nginx_big = accept_rounds["visits_ratio"], accept_rounds["ceiling_ratio"]
    print(f"8 KB Accept (median of {ACCEPT_ROUNDS} alternating rounds): /visits keeps {big:.2f}x "
          f"of plain /visits, nginx alone (return 200) {nginx_big:.2f}x; /visits keeps "
          f"{accept_rounds['relative']:.2f} of nginx's ratio")
    print(f"  at most {accept_rounds['reachable']:.2f}x of plain /visits is reachable here: what "
          "the header costs nginx and wrk alone (return 200 with it, less without) added to a "
          f"plain /visits; /visits reaches {big / accept_rounds['reachable']:.2f} of that")
    target("GET /visits with an 8 KB Accept", accept_rounds["relative"] >= 0.8
           and accept_rounds["failed"] == 0,
           f"{big:.2f}x of plain /visits, {accept_rounds['relative']:.2f} of nginx's own "
           f"{nginx_big:.2f}x (>= 0.8), {accept_rounds['failed']} failed")
    target("GET / p99 at c=32", root["p99"] <= 5, f"{root['p99']:.2f} ms (<= 5 ms)")
    for name, r in (("wrk -c1000", c1000), ("ab -c1000", abres),
                    ("sync=always wrk -c1000", always["c1000"]),
                    ("sync=always ab -c1000", always["ab"])):
        target(f"{name}: no failed request", r["failed"] == 0, f"{r['failed']} failed")
        target(f"{name}: p99", r["p99"] <= 200, f"{r['p99']:.1f} ms (<= 200 ms)")
    threads = always["threads"][16]
    # 1 thread against as many as CPUs, in pairs of rounds a b b a as the twins: two single
    # runs of 10 s one after the other read 0.89x and 1.01x on the same code.
    tw = thread_twins(config)
    target(f"sync=always does not depend on the thread count (1 vs {threads}, workers=16 capped "
           "to the CPUs)", threads is not None and threads > 1 and abs(tw["ratio"] - 1) <= 0.10,
           f"{tw['with'][0]:.0f} vs {tw['without'][0]:.0f} req/s, median ratio of 24 pairs "
           f"{tw['ratio']:.2f}x (pairs {tw['low']:.2f}-{tw['high']:.2f}; within 10%)"
           + ("" if threads and threads > 1 else "; one CPU: nothing to compare"))
    target("counts exact (wrk: 200s <= delta <= requests + in flight; ab: equal)",
           root_exact and always["exact"] and ab_exact,
           f"/ {root_exact}, sync=always {always['exact']}, ab {ab_exact}")
    print(f"responder memory: peak RSS {rss_kib / 1024:.1f} MiB (VmHWM, with the shared "
          f"libraries' pages), of which its own (RssAnon) {anon_kib / 1024:.1f} MiB")
    target("responder's own memory (RssAnon, all runs)", anon_kib <= 4096,
           f"{anon_kib / 1024:.1f} MiB (<= 4 MiB); peak RSS with shared libraries "
           f"{rss_kib / 1024:.1f} MiB")
    target("responder start to ready", ready_ms <= 50, f"{ready_ms:.1f} ms (<= 50 ms, median)")
    cost = outside_check_cost(config)
    (rps_with, us_with, all_with), (rps_without, us_without, _) = cost["with"], cost["without"]
    noise = twin_noise(config)
    print(f"\ntwo identical stacks, as the two comparisons below, 24 pairs of rounds a b b a:\n"
          f"  ratio {noise['ratio']:.3f}x (pairs {noise['low']:.2f}-{noise['high']:.2f}); "
          f"CPU per visit: responder {noise['with'][1]:.1f} us and {noise['without'][1]:.1f} us "
          f"({noise['with'][1] - noise['without'][1]:+.1f} us): what the machine's noise "
          "alone reads")
    print(f"\noutside-change check (an inotify read + a pread per visit), 24 pairs of rounds "
          f"a b b a:\n"
          f"  GET / {rps_with:.0f} req/s with it, {rps_without:.0f} without; ratio "
          f"{cost['ratio']:.3f}x (pairs {cost['low']:.2f}-{cost['high']:.2f}); CPU per visit: "
          f"responder {us_with:.1f} us with, {us_without:.1f} us without "
          f"({us_with - us_without:+.1f} us), nginx and responder {all_with:.1f} us")
    target("GET / with the outside-change check", cost["ratio"] >= 0.95,
           f"{cost['ratio']:.3f}x the throughput without it (>= 0.95x, median of 24 pairs)")
    m = metrics_cost(config)
    (m_rps, m_us, _), (n_rps, n_us, _) = m["with"], m["without"]
    print(f"\nmetrics ([metrics] enabled), 24 pairs of rounds a b b a:\n"
          f"  GET / {m_rps:.0f} req/s with them, {n_rps:.0f} without; ratio {m['ratio']:.3f}x "
          f"(pairs {m['low']:.2f}-{m['high']:.2f}); CPU per visit: responder {m_us:.1f} us "
          f"with, {n_us:.1f} us without ({m_us - n_us:+.1f} us)")
    target("GET / with metrics", m["ratio"] >= 0.95,
           f"{m['ratio']:.3f}x the throughput without them (>= 0.95x, median of 24 pairs)")
    ctext, cjson, total = cluster_answer(config)
    print(f"\nGET /visits?scope=cluster, three pods polling each other (total {total}):")
    for name, r in (("text", ctext), ("JSON", cjson)):
        print(f"  {name:5} {r['rps']:9.0f} req/s  p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms  "
              f"{r['failed']} failed")
        target(f"GET /visits?scope=cluster ({name}) p99 at c=32, three peers",
               r["p99"] <= 5 and r["failed"] == 0,
               f"{r['p99']:.2f} ms (<= 5 ms), {r['failed']} failed")
    stall_matrix(target)
    if baseline:
        report_baseline(target, baseline)
    return verdict(verdicts)


if __name__ == "__main__":
    sys.exit(main())
