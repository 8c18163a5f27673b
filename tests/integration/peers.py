"""Helpers for tests with several stacks: pods of one service that poll each other, Prometheus.

Every stack is a harness.Stack (its own nginx and responder on a free loopback
port). Peers are configured after the stacks run, since each needs the others'
ports: each responder is restarted with the peer list, its nginx keeps its port.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from harness import Proc, Stack, TestFailure, free_port, wait_for

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
JSON = {"Accept": "application/json"}


def configure(stack, overrides):
    """Rewrites stack's config.ini with overrides (its own socket and counter kept)."""
    base = {("server", "socket"): stack.socket_path, ("counter", "path"): stack.counter_path}
    base.update(overrides)
    stack.write_config(base)


def make_peers(stacks, names, interval_ms=200, timeout_ms=500, extra_addrs=(), listed=None):
    """Restarts each responder as pod names[i] with every stack's nginx (its own too) as peers.

    listed: the stacks each one lists (default all); extra_addrs: more host:port entries.
    """
    listed = stacks if listed is None else listed
    addrs = ",".join([f"127.0.0.1:{s.port}" for s in listed] + list(extra_addrs))
    for s, name in zip(stacks, names):
        s.stop_responder()
        configure(s, {("cluster", "name"): name, ("cluster", "peers"): addrs,
                      ("cluster", "poll_interval_ms"): str(interval_ms),
                      ("cluster", "timeout_ms"): str(timeout_ms)})
        s.start_responder()


def cluster(stack):
    r = stack.get("/visits?scope=cluster", headers=JSON)
    assert r.status == 200, r
    return r.json()


def wait_cluster(stack, predicate, what, timeout=10):
    """Polls stack's cluster answer until predicate(answer) holds; returns that answer."""
    seen = []

    def check():
        a = cluster(stack)
        seen[:] = [a]
        try:
            return a if predicate(a) else None
        except KeyError:  # a pod not known yet
            return None
    try:
        return wait_for(check, timeout=timeout, what=what)
    except TestFailure as e:
        raise TestFailure(f"{e}; last answer: {json.dumps(seen[-1] if seen else None)}")


class SilentPeer:
    """A TCP port that completes handshakes (the kernel does) and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self):
        self.sock.close()


class Prometheus:
    """The real Prometheus server on a free loopback port, scraping targets every second."""

    def __init__(self, targets, interval="1s"):
        if PROMETHEUS is None:
            raise TestFailure("prometheus is not installed (scripts/install-deps.sh test)")
        self.dir = tempfile.mkdtemp(prefix="mt-prom-")
        self.proc = None
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n"
                    "scrape_configs:\n  - job_name: moscow-time\n    metrics_path: /metrics\n"
                    "    static_configs:\n      - targets: [" +
                    ", ".join(f"'{t}'" for t in targets) + "]\n")
        try:
            self._start(config)
        except BaseException:
            self.close()
            raise

    def _start(self, config):
        for _ in range(10):
            self.port = free_port()
            self.proc = Proc([PROMETHEUS, f"--config.file={config}",
                              f"--storage.tsdb.path={self.dir}/data",
                              f"--web.listen-address=127.0.0.1:{self.port}"], cwd=self.dir)
            wait_for(lambda: not self.proc.alive()
                     or "Server is ready to receive web requests" in self.proc.output(),
                     timeout=30, what="prometheus to be ready")
            if self.proc.alive():
                return
            if "address already in use" not in self.proc.output():
                raise TestFailure("prometheus exited at start:\n" + self.proc.output()[-3000:])
        raise TestFailure("no free port for prometheus after 10 tries")

    def query(self, expr):
        """The instant vector of expr as [(labels, float)]."""
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?"
               + urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=10) as r:
            data = json.load(r)
        assert data["status"] == "success", data
        return [(x["metric"], float(x["value"][1])) for x in data["data"]["result"]]

    def scalar(self, expr):
        """The one value of expr, or None while it has no sample."""
        result = self.query(expr)
        return result[0][1] if result else None

    def close(self):
        if self.proc is not None:
            self.proc.stop(signal.SIGTERM, 10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def promtool_check(exposition):
    """Runs `promtool check metrics` on the bytes; returns (status, its complaints)."""
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=exposition, capture_output=True,
                       timeout=30)
    return r.returncode, (r.stdout + r.stderr).decode()


def timed_get(stack, path, headers=None):
    start = time.monotonic()
    r = stack.get(path, headers=headers)
    return r, time.monotonic() - start


__all__ = ["Stack", "configure", "make_peers", "cluster", "wait_cluster", "SilentPeer",
           "Prometheus", "promtool_check", "timed_get", "JSON", "PROMTOOL", "PROMETHEUS"]
