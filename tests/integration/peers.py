"""Helpers for tests with several stacks: pods of one service that poll each other, Prometheus,
a hostile peer, and DNS for a test zone.

Every stack is a harness.Stack (its own nginx and responder on a free loopback
port). Peers are configured after the stacks run, since each needs the others'
ports: each responder is restarted with the peer list, its nginx keeps its port.

The cluster answer shows peers' addresses and errors only to a request on
nginx's metrics listener (FastCGI param MT_LISTENER=metrics): cluster() asks
the responder's socket directly with that param, as that listener will, unless
detail=False, which asks through nginx's public port.
"""

import http.server
import json
import os
import random
import shutil
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from harness import Client, Proc, Stack, TestFailure, free_port, wait_for

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
    # All stopped before any starts: an address is the pod it first answers as, and a
    # responder still running under its hostname would be taken for that pod.
    for s in stacks:
        s.stop_responder()
    for s, name in zip(stacks, names):
        configure(s, {("cluster", "name"): name, ("cluster", "peers"): addrs,
                      ("cluster", "poll_interval_ms"): str(interval_ms),
                      ("cluster", "timeout_ms"): str(timeout_ms)})
    for s in stacks:
        s.start_responder()


def detail_get(stack, query="scope=cluster", accept="application/json", path="/visits"):
    """The answer on nginx's metrics port, which passes MT_LISTENER=metrics: with detail."""
    return Client(stack.metrics_port).get(f"{path}?{query}", headers={"Accept": accept})


def cluster(stack, detail=True):
    """The cluster answer as JSON: with detail (addresses, errors), or as the public gets it."""
    if detail:
        r = detail_get(stack)
        assert r.status == 200, (r.status, r.body[:300])
        return json.loads(r.body)
    r = stack.get("/visits?scope=cluster", headers=JSON)
    assert r.status == 200, r
    return r.json()


def cluster_text(stack, detail=True):
    if detail:
        r = detail_get(stack, accept="text/plain")
        assert r.status == 200, (r.status, r.body[:300])
        return r.body.decode()
    r = stack.get("/visits?scope=cluster")
    assert r.status == 200, r
    return r.text


def wait_cluster(stack, predicate, what, timeout=10, detail=True):
    """Polls stack's cluster answer until predicate(answer) holds; returns that answer."""
    seen = []

    def check():
        a = cluster(stack, detail)
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


class HostilePeer:
    """A peer that answers whatever a test scripts, on one or more ports of 127.0.0.1.

    answer(port_index, path, count) -> (status, body bytes), or None to hang until
    close(); count is how many requests that port has had (with_host: how many
    for that Host header, passed as a fourth argument). Requests are recorded.
    """

    def __init__(self, answer, ports=1, with_host=False):
        self.answer = answer
        self.by_host = {}
        self.requests = []
        self.stop = threading.Event()
        self.servers = []
        self.counts = [0] * ports
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                index = self.server.index
                host = self.headers.get("Host", "")
                with outer.lock:
                    outer.counts[index] += 1
                    outer.by_host[host] = outer.by_host.get(host, 0) + 1
                    count = outer.by_host[host] if with_host else outer.counts[index]
                    outer.requests.append((index, self.path))
                got = (outer.answer(index, self.path, count, host) if with_host
                       else outer.answer(index, self.path, count))
                if got is None:
                    outer.stop.wait()
                    return
                status, body = got
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = False

        try:
            for i in range(ports):
                srv = Server(("127.0.0.1", 0), Handler)
                srv.index = i
                threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                 daemon=True).start()
                self.servers.append(srv)
        except BaseException:
            self.close()
            raise
        self.addrs = [f"127.0.0.1:{srv.server_address[1]}" for srv in self.servers]
        self.addr = self.addrs[0]

    def count(self, index=0):
        with self.lock:
            return self.counts[index]

    def close(self):
        self.stop.set()
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def answer_json(visits, pod):
    return 200, json.dumps({"visits": visits, "pod": pod}).encode() + b"\n"


DNSMASQ = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq")
                                      else None)


def why_no_dns():
    """Why a test zone cannot be served to a responder here (None: it can)."""
    if os.geteuid() != 0:
        return "needs root: the resolver speaks to port 53 only, and the responder's own " \
               "/etc/resolv.conf needs a mount namespace"
    if DNSMASQ is None:
        return "dnsmasq is not installed (Debian dnsmasq-base; scripts/install-deps.sh test)"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    return None


class Dns:
    """dnsmasq answering a test zone on port 53 of a loopback address of its own.

    records: list of ("srv", name, target, port) | ("a", name, address). A responder
    started with prefix() sees it as its only DNS server, with a pod's search path
    (default.svc.cluster.local, svc.cluster.local, cluster.local) and ndots:5.
    """

    SEARCH = "default.svc.cluster.local svc.cluster.local cluster.local"

    def __init__(self, records):
        self.dir = tempfile.mkdtemp(prefix="mt-dns-")
        self.proc = None
        self.resolv = os.path.join(self.dir, "resolv.conf")
        try:
            self._start(records)
        except BaseException:
            self.close()
            raise

    def _config(self, records):
        hosts, lines = [], []
        for r in records:
            if r[0] == "srv":
                lines.append(f"srv-host={r[1]},{r[2]},{r[3]},0,50")
            else:
                hosts.append(f"{r[2]} {r[1]}")
        with open(os.path.join(self.dir, "hosts"), "w") as f:
            f.write("\n".join(hosts) + "\n")
        with open(os.path.join(self.dir, "dns.conf"), "w") as f:
            f.write(f"port=53\nlisten-address={self.address}\nbind-interfaces\nno-resolv\n"
                    f"no-hosts\naddn-hosts={self.dir}/hosts\nno-negcache\nlocal-ttl=0\n"
                    + "".join(line + "\n" for line in lines))

    def _start(self, records):
        for _ in range(10):
            # An address of its own in 127/8 (port 53 is the resolver's only port).
            self.address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.53"
            self._config(records)
            self.proc = Proc([DNSMASQ, f"--conf-file={self.dir}/dns.conf", "--keep-in-foreground",
                              "--log-facility=-", "--user=root", "--group=root"])
            wait_for(lambda: not self.proc.alive() or "started, version" in self.proc.output(),
                     timeout=10, what="dnsmasq to start")
            if self.proc.alive() and self._answers():
                with open(self.resolv, "w") as f:
                    f.write(f"nameserver {self.address}\nsearch {self.SEARCH}\n"
                            "options ndots:5 timeout:1 attempts:2\n")
                return
            out = self.proc.output()
            self.proc.stop(signal.SIGKILL)
            if "Address already in use" not in out:
                raise TestFailure("dnsmasq did not start:\n" + out[-2000:])
        raise TestFailure("no free loopback address for dnsmasq after 10 tries")

    def _answers(self):
        try:
            with socket.create_connection((self.address, 53), timeout=2):
                return True
        except OSError:
            return False

    def set(self, records):
        """Serves records from now on: dnsmasq restarted on the same address."""
        self.proc.stop(signal.SIGTERM)
        self._config(records)
        self.proc = Proc([DNSMASQ, f"--conf-file={self.dir}/dns.conf", "--keep-in-foreground",
                          "--log-facility=-", "--user=root", "--group=root"])
        wait_for(lambda: not self.proc.alive() or "started, version" in self.proc.output(),
                 timeout=10, what="dnsmasq to start again")
        wait_for(self._answers, timeout=10, what="dnsmasq to answer again")

    def hang(self):
        """From now on the address takes queries and never answers them (a DNS server gone
        quiet); returns the UDP socket, readable once a query came."""
        self.proc.stop(signal.SIGTERM)
        self.silent = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
                       socket.socket(socket.AF_INET, socket.SOCK_STREAM)]
        for sock in self.silent:
            sock.bind((self.address, 53))
        self.silent[1].listen(16)
        return self.silent[0]

    def prefix(self):
        """argv before a command that runs it with this server as its DNS (a mount namespace)."""
        return ["unshare", "-m", "sh", "-c",
                f'mount --bind "{self.resolv}" /etc/resolv.conf && exec "$0" "$@"']

    def close(self):
        if self.proc is not None:
            self.proc.stop(signal.SIGTERM)
        for sock in getattr(self, "silent", []):
            sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


__all__ = ["Stack", "configure", "make_peers", "cluster", "cluster_text", "detail_get",
           "wait_cluster", "SilentPeer", "HostilePeer", "answer_json", "Dns", "why_no_dns",
           "Prometheus", "promtool_check", "timed_get", "JSON", "PROMTOOL", "PROMETHEUS"]
