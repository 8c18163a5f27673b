"""Every thread of the responder busy at once: `make test-tsan` runs this against the
responder built with ThreadSanitizer, and a test whose responder printed a report fails
(tests/conftest.py). Run as part of the integration suite too, it holds the counts.

In each sync mode, two pods peer with each other while clients visit both, read the
cluster's total, /metrics and /readyz; the main thread meanwhile reloads config.ini
(live keys: the format, the peers' poll interval, the log level) and changes the
counter file from outside (a larger count renamed over it). At the end every visit that
got a 200 is in the file, and every count written from outside.
"""

import contextlib
import os
import signal
import threading

import pytest

from harness import Client, Stack, wait_for, wait_for_output
from peers import configure, make_peers, wait_cluster

JSON = {"Accept": "application/json"}
PATHS = ("/", "/", "/", "/visits?scope=cluster", "/metrics", "/readyz", "/visits")
METRICS_PATHS = ("/metrics", "/visits?scope=cluster")  # on nginx's metrics server


def load(stack, n, counted, errors):
    conn = stack.connection()
    internal = Client(stack.metrics_port).connection()
    try:
        for i in range(n):
            path = PATHS[i % len(PATHS)]
            on = Client(stack.metrics_port) if path in METRICS_PATHS and i % 2 else stack
            if path == "/metrics":
                on = Client(stack.metrics_port)
            r = on.get(path, headers=JSON if "cluster" in path else None,
                       conn=internal if on is not stack else conn)
            if r.status != 200:
                raise AssertionError(f"GET {path}: {r.status} {r.text[:200]}")
            if path == "/":
                counted[0] += 1
    except Exception as e:  # noqa: BLE001 - collected and asserted by the test
        errors.append(e)
    finally:
        conn.close()
        internal.close()


def reload(stack, name, peers_port, i):
    """A reload that changes every kind of live key."""
    configure(stack, {("cluster", "name"): name,
                      ("cluster", "peers"): f"127.0.0.1:{peers_port}",
                      ("cluster", "poll_interval_ms"): str(100 + 50 * (i % 3)),
                      ("clock", "format"): "%H:%M:%S" if i % 2 else "%Y-%m-%d %H:%M:%S %Z",
                      ("log", "level"): "info" if i % 2 else "warn",
                      ("counter", "sync"): stack.sync})
    stack.responder.send(signal.SIGHUP)


def reloads_applied(stack):
    r = Client(stack.metrics_port).get("/metrics")
    for line in r.text.splitlines():
        if line.startswith('moscow_time_config_reloads_total{result="applied"}'):
            return int(line.split()[-1])
    raise AssertionError(f"no reload count in /metrics: {r.text[:500]}")


def raise_from_outside(stack, by):
    """Another process writes a larger count and renames it over the file; returns it."""
    tmp = stack.counter_path + ".outside"
    value = stack.counter_value() + by
    with open(tmp, "w") as f:
        f.write(f"{value}\n")
    os.rename(tmp, stack.counter_path)
    return value


@pytest.mark.parametrize("sync", ["always", "interval", "never"])
def test_every_thread_at_once(sync):
    with contextlib.ExitStack() as es:
        a, b = (es.enter_context(Stack(config={("counter", "sync"): sync})) for _ in range(2))
        for s in (a, b):
            s.sync = sync
        make_peers([a, b], ["pod-a", "pod-b"], interval_ms=100)
        for s in (a, b):
            configure(s, {("cluster", "name"): "pod-a" if s is a else "pod-b",
                          ("cluster", "peers"): f"127.0.0.1:{b.port if s is a else a.port}",
                          ("counter", "sync"): sync})
            s.responder.send(signal.SIGHUP)
        wait_cluster(a, lambda c: not c["partial"], "pod-a to see pod-b")
        counted = {a: [0], b: [0]}
        errors = []
        threads = [threading.Thread(target=load, args=(s, 600, counted[s], errors))
                   for s in (a, b) for _ in range(3)]
        for t in threads:
            t.start()
        written = []
        for i in range(6):
            reload(a, "pod-a", b.port, i)
            reload(b, "pod-b", a.port, i + 1)
            if i % 2 == 0:
                written.append(raise_from_outside(a, 1000))
            for s in (a, b):
                wait_for(lambda s=s: reloads_applied(s) > i, what="the reload to be applied")
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        wait_for_output(a.responder, "was changed from outside", timeout=5)
        for s in (a, b):
            assert s.stop_responder() == 0, s.responder.output()
        # The visits a rename overwrote are absorbed into the larger count, which is kept.
        final = a.counter_value()
        assert max(written[-1], counted[a][0]) <= final <= counted[a][0] + 1000 * len(written), \
            (final, counted[a][0], written)
        assert b.counter_value() == counted[b][0]
