"""/metrics on a port of its own (issue 18, item 5: nginx and make run).

nginx has a second server, the metrics server (metrics-listen.conf; 9113 in
the container): /metrics and /visits, passed to the responder with
MT_LISTENER=metrics. The public server answers /metrics 404 itself and passes
MT_LISTENER=public. What the responder does with MT_LISTENER (hiding peer
addresses and error texts from public answers) is the responder's own and
tested with it; these tests hold what nginx and make run do whatever the
responder does: a fake FastCGI responder records the parameters nginx sends.
"""

import os
import shutil
import signal
import socket
import struct
import tempfile
import threading

from fcgi_client import END_REQUEST, PARAMS, STDIN, STDOUT, Closed, read_record, record
from harness import (NGINX_CONF, START_NGINX, Client, Proc, Stack, free_ports, wait_for,
                     wait_for_output)
from test_hostile_http import assert_error, get, request
from test_edge_signals import cleanup
from test_run import RUN, processes_under

JSON = {"Accept": "application/json"}


def sample(text, line):
    for row in text.splitlines():
        if row.startswith(line + " "):
            return float(row.split()[-1])
    return None


def test_public_metrics_is_our_404_and_never_reaches_the_responder():
    with Stack() as s:
        assert_error(request(s.port, get(b"/metrics")), 404, "not found\n", "public /metrics")
        head = request(s.port, b"HEAD /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert head.status == 404 and head.body == b"", head
        metrics = Client(s.metrics_port)
        assert metrics.get("/metrics").status == 200
        r = metrics.get("/metrics")
        assert r.status == 200, r
        assert r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8", r
        # The responder counts the requests it has answered: the first scrape only.
        assert sample(r.text, 'moscow_time_http_requests_total{route="/metrics",code="200"}') \
            == 1, r.text
        assert "/metrics" not in "".join(line for line in r.text.splitlines()
                                         if 'code="404"' in line), r.text


def test_the_metrics_server_serves_metrics_and_visits_only_and_counts_nothing():
    with Stack(counter="7\n") as s:
        m = Client(s.metrics_port)
        assert m.get("/visits").text == "7\n"
        cluster = m.get("/visits?scope=cluster", headers=JSON)
        assert cluster.status == 200 and cluster.json()["visits"] == 7, cluster
        for path in ("/", "/healthz", "/readyz", "/favicon.ico", "/nope"):
            r = m.get(path)
            assert (r.status, r.text) == (404, "not found\n"), f"{path} on the metrics port: {r!r}"
        # nginx's own errors there: its status, our text, the security headers.
        for what, data, status, text in [
                ("POST", b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
                 b"Connection: close\r\n\r\n", 405, "method not allowed\n"),
                ("unknown path", get(b"/nope"), 404, "not found\n"),
                ("malformed request line", b"GARBAGE\r\n\r\n", 400, "bad request\n"),
                ("unknown Transfer-Encoding", get(b"/metrics", b"Transfer-Encoding: xchunked\r\n"),
                 501, "not implemented\n"),
                ("9 KB header", get(b"/metrics", b"X-Big: " + b"y" * 9000 + b"\r\n"), 431,
                 "request header fields too large\n")]:
            assert_error(request(s.metrics_port, data), status, text, f"metrics port, {what}")
        assert s.counter_value() == 7, "nothing on the metrics port counts"
        # And the public server is still the one that counts.
        assert s.get("/", headers=JSON).json()["visits"] == 8


class FakeResponder:
    """A FastCGI responder on a unix socket that answers 200 "ok" and records each
    request's parameters, as nginx sends them (kept-alive connections)."""

    def __init__(self, path):
        self.requests, self.conns, self.threads = [], [], []
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(path)
        self.listener.listen(64)
        self.accepter = threading.Thread(target=self._accept, daemon=True)
        self.accepter.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # closed: stop
                return
            self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn):
        try:
            while True:
                params, rid = b"", 1
                while True:
                    rtype, rid, content = read_record(conn)
                    if rtype == PARAMS:
                        params += content
                    elif rtype == STDIN and not content:
                        break
                self.requests.append(decode_pairs(params))
                body = b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok\n"
                conn.sendall(record(STDOUT, rid, body) + record(STDOUT, rid)
                             + record(END_REQUEST, rid, struct.pack("!IB3x", 0, 0)))
        except (Closed, OSError):
            return

    def close(self):
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        self.listener.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self.accepter.join(5)
        for t in self.threads:
            t.join(5)


def decode_pairs(data):
    out, i = {}, 0

    def length():
        nonlocal i
        if data[i] < 128:
            i += 1
            return data[i - 1]
        i += 4
        return struct.unpack("!I", data[i - 4:i])[0] & 0x7FFFFFFF
    while i < len(data):
        n, v = length(), length()
        out[data[i:i + n].decode()] = data[i + n:i + n + v].decode()
        i += n + v
    return out


def test_nginx_tells_the_responder_which_server_a_request_came_through():
    with Stack(start=False) as s:
        fake = FakeResponder(s.socket_path)
        try:
            s.start_nginx()
            public, metrics = Client(s.port), Client(s.metrics_port)
            for path in ("/", "/visits", "/visits?scope=cluster", "/readyz"):
                assert public.get(path).text == "ok\n", path
            assert public.get("/metrics").status == 404
            for path in ("/metrics", "/visits", "/visits?scope=cluster"):
                assert metrics.get(path).text == "ok\n", path
            seen = [(r["REQUEST_URI"], r.get("MT_LISTENER")) for r in fake.requests]
            assert seen == [("/", "public"), ("/visits", "public"),
                            ("/visits?scope=cluster", "public"), ("/readyz", "public"),
                            ("/metrics", "metrics"), ("/visits", "metrics"),
                            ("/visits?scope=cluster", "metrics")], seen
            # Only the parameters nginx.conf names: a client's header cannot set one.
            r = public.get("/", headers={"MT-Listener": "metrics", "X-MT-Listener": "metrics"})
            assert r.text == "ok\n"
            last = fake.requests[-1]
            assert last["MT_LISTENER"] == "public", last
            assert not any(k.startswith("HTTP_") and k != "HTTP_ACCEPT" for k in last), last
        finally:
            s.nginx.stop(signal.SIGKILL)
            fake.close()


def test_the_image_layout_reads_metrics_listen_conf_next_to_nginx_conf():
    """Without LISTEN (the container, the chart's nginx container) start-nginx.sh uses the
    listen.conf and metrics-listen.conf next to nginx.conf."""
    conf_dir, nginx = tempfile.mkdtemp(prefix="mt-conf-"), None
    with Stack(start=False) as s:
        try:
            shutil.copy(NGINX_CONF, os.path.join(conf_dir, "nginx.conf"))
            port, metrics_port = free_ports(2)
            with open(os.path.join(conf_dir, "listen.conf"), "w") as f:
                f.write(f"listen 127.0.0.1:{port};\n")
            with open(os.path.join(conf_dir, "metrics-listen.conf"), "w") as f:
                f.write(f"listen 127.0.0.1:{metrics_port};\n")
            s.start_responder()
            nginx = Proc([START_NGINX, s.dir],
                         env=dict(os.environ, NGINX_CONF=os.path.join(conf_dir, "nginx.conf")))
            metrics = Client(metrics_port)

            def scrapes():
                assert nginx.alive(), nginx.output()
                try:
                    return metrics.get("/metrics").status == 200
                except OSError:
                    return False
            wait_for(scrapes, what="the metrics server")
            assert Client(port).get("/metrics").status == 404
            assert nginx.stop(signal.SIGTERM, timeout=10) == 0, nginx.output()
        finally:
            if nginx is not None and nginx.alive():
                nginx.stop(signal.SIGKILL)
            shutil.rmtree(conf_dir, ignore_errors=True)


def test_the_repositorys_metrics_listen_conf_is_port_9113():
    with open(os.path.join(os.path.dirname(NGINX_CONF), "metrics-listen.conf")) as f:
        lines = [x.strip() for x in f if x.strip() and not x.lstrip().startswith("#")]
    assert lines == ["listen 9113;"], lines


def test_make_run_serves_metrics_on_metrics_port_and_says_where():
    d = tempfile.mkdtemp(prefix="mt-run-")
    port, metrics_port = free_ports(2)
    p = Proc([RUN], env=dict(os.environ, RUN_DIR=d, PORT=str(port),
                             METRICS_PORT=str(metrics_port)))
    try:
        def scrapes():
            assert p.alive(), p.output()
            try:
                return Client(metrics_port).get("/metrics").status == 200
            except OSError:
                return False
        wait_for(scrapes, timeout=10, what="make run's metrics")
        out = wait_for_output(p, "Ctrl-C stops")
        assert f"metrics: http://127.0.0.1:{metrics_port}/metrics" in out, out
        assert Client(port).get("/metrics").status == 404
        assert p.stop(signal.SIGTERM, timeout=10) == 0, p.output()
    finally:
        cleanup(p, d)


def two_consecutive_free_ports():
    """A port P such that P and P + 1 are both free now."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise AssertionError("no two consecutive free ports in 50 tries")


def test_make_run_puts_metrics_on_the_next_port_by_default():
    d = tempfile.mkdtemp(prefix="mt-run-")
    port = two_consecutive_free_ports()
    env = dict(os.environ, RUN_DIR=d, PORT=str(port))
    env.pop("METRICS_PORT", None)
    p = Proc([RUN], env=env)
    try:
        def scrapes():
            assert p.alive(), p.output()
            try:
                return Client(port + 1).get("/metrics").status == 200
            except OSError:
                return False
        wait_for(scrapes, timeout=10, what=f"make run's metrics on {port + 1}")
        assert f"metrics: http://127.0.0.1:{port + 1}/metrics" in p.output(), p.output()
        assert p.stop(signal.SIGTERM, timeout=10) == 0, p.output()
    finally:
        cleanup(p, d)


def test_make_run_says_a_taken_metrics_port_is_taken_and_exits_69():
    d = tempfile.mkdtemp(prefix="mt-run-")
    busy = socket.socket()
    p = None
    try:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        metrics_port = busy.getsockname()[1]
        port = free_ports(1)[0]
        p = Proc([RUN], env=dict(os.environ, RUN_DIR=d, PORT=str(port),
                                 METRICS_PORT=str(metrics_port)))
        assert p.wait(5) == 69, p.output()
        assert f"127.0.0.1:{metrics_port} is taken" in p.output(), p.output()
        assert "METRICS_PORT=" in p.output(), p.output()
        assert processes_under(d) == [], p.output()
    finally:
        busy.close()
        cleanup(p, d)
