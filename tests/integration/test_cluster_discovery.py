"""Pods found, not listed: [cluster] discover against a real resolver path.

dnsmasq (Debian dnsmasq-base) answers a test zone as Kubernetes' DNS answers
for a headless Service (shared/recipes/dns-discovery.md): SRV records of its
named port, one per pod, each target the pod's own name; A records of the
Service. Each responder runs in a mount namespace whose /etc/resolv.conf
names that dnsmasq, with a pod's search path (so the short name
_http._tcp.mt-headless resolves as in a pod). Needs root (port 53, the mount
namespace): without it every test here says SKIP.
"""

import contextlib
import json
import select
import signal
import socket
import time

import pytest

from harness import Client, Stack, wait_for_output
from peers import (JSON, Dns, HostilePeer, cluster, cluster_text, configure, detail_get,
                   wait_cluster, why_no_dns)

pytestmark = pytest.mark.skipif(why_no_dns() is not None, reason=why_no_dns() or "")

ZONE = "mt-headless.default.svc.cluster.local"
SRV = f"_http._tcp.{ZONE}"
INTERVAL_MS = 500


def srv_records(stacks):
    """{name: stack} -> the SRV and A records Kubernetes would serve for their pods."""
    out = []
    for name, s in stacks.items():
        out.append(("srv", SRV, f"{name}.{ZONE}", s.port))
        out.append(("a", f"{name}.{ZONE}", "127.0.0.1"))
    return out


def ns_stack(stack, dns, name, discover, interval_ms=INTERVAL_MS, start=True, timeout_ms=500):
    """Restarts stack's responder as pod name, finding its peers in dns (start=False: stopped)."""
    stack.stop_responder()
    stack.prefix = dns.prefix()
    configure(stack, {("cluster", "name"): name, ("cluster", "discover"): discover,
                      ("cluster", "poll_interval_ms"): str(interval_ms),
                      ("cluster", "timeout_ms"): str(timeout_ms)})
    if start:
        stack.start_responder()


@contextlib.contextmanager
def srv_cluster(counts, discover="_http._tcp.mt-headless"):
    """Stacks mt-0.. with counts, found through SRV records; yields (dns, {name: stack})."""
    with contextlib.ExitStack() as ex:
        stacks = {f"mt-{i}": ex.enter_context(Stack(counter=f"{n}\n"))
                  for i, n in enumerate(counts)}
        dns = ex.enter_context(Dns(srv_records(stacks)))
        for name, s in stacks.items():
            ns_stack(s, dns, name, discover)
        names = sorted(stacks)
        for s in stacks.values():
            wait_cluster(s, lambda x: sorted(x["pods"]) == names and not x["partial"],
                         "every pod found and fresh")
        yield dns, stacks


def test_pods_found_by_srv_records_join_leave_and_come_back():
    with srv_cluster([5, 7, 11]) as (dns, st):
        a = st["mt-0"]
        got = cluster(a)
        assert got["visits"] == 23 and got["discovery"] == "ok", got
        assert got["pods"]["mt-1"]["peer"] == f"mt-1.{ZONE}:{st['mt-1'].port}", got
        # Scale up: a new pod is in every pod's total within two poll intervals.
        with Stack(counter="100\n") as d:
            st["mt-3"] = d
            ns_stack(d, dns, "mt-3", "_http._tcp.mt-headless")
            dns.set(srv_records(st))
            t0 = time.monotonic()
            for name in ("mt-0", "mt-1", "mt-2"):
                wait_cluster(st[name], lambda x: x["pods"].get("mt-3", {}).get("state") == "fresh"
                             and x["visits"] == 123, f"{name} to count mt-3", timeout=10)
            took = time.monotonic() - t0
            assert took < 2 * INTERVAL_MS / 1000, f"mt-3 in every total after {took:.2f} s"
            wait_cluster(d, lambda x: x["visits"] == 123 and not x["partial"], "mt-3's total")
            # Scale down: mt-3 leaves DNS (and stops); its count stays, the total is complete.
            del st["mt-3"]
            dns.set(srv_records(st))
            got = wait_cluster(a, lambda x: x["pods"]["mt-3"]["state"] == "left", "mt-3 left")
        assert got["visits"] == 123 and got["partial"] is False, got
        assert got["pods"]["mt-3"]["visits"] == 100 and got["pods"]["mt-3"]["peer"] is None
        text = cluster_text(a).split("\n")
        assert text[0] == "123" and text[1].startswith("complete"), text
        assert "mt-3 100 left, " in "\n".join(text)
        # A pod restarted at another address is the same pod: one entry, its count goes on.
        b = st["mt-1"]
        b.nginx.stop()
        b.start_nginx()
        assert b.get("/").status == 200  # 8
        dns.set(srv_records(st))
        got = wait_cluster(a, lambda x: x["pods"]["mt-1"]["visits"] == 8
                           and x["pods"]["mt-1"]["state"] == "fresh", "mt-1 at its new port")
        assert got["pods"]["mt-1"]["peer"].endswith(f":{b.port}") and got["visits"] == 124, got
        assert sorted(got["pods"]) == ["mt-0", "mt-1", "mt-2", "mt-3"], got
        # The log says what discovery found, once per change.
        out = a.responder.output()
        assert "cluster: discovery _http._tcp.mt-headless: 3 pods" in out, out[-2000:]
        assert "new: mt-3" in out and "gone (left, counts kept): mt-3" in out


def test_a_pod_answering_as_another_is_refused():
    """DNS puts mt-1 at an address; an answer from there as mt-2, or as this pod, changes nothing."""
    with Stack(counter="5\n") as a, Stack(counter="7\n") as b, \
            HostilePeer(lambda i, path, n: (200, b'{"visits":999,"pod":"mt-0"}')) as evil:
        port = int(evil.addr.split(":")[1])
        records = srv_records({"mt-0": a, "mt-1": b}) + [
            ("srv", SRV, f"mt-2.{ZONE}", port), ("a", f"mt-2.{ZONE}", "127.0.0.1")]
        with Dns(records) as dns:
            ns_stack(a, dns, "mt-0", SRV)
            ns_stack(b, dns, "mt-1", SRV)
            got = wait_cluster(a, lambda x: x["pods"].get("mt-2", {}).get("state") == "conflict"
                               and x["pods"]["mt-1"]["state"] == "fresh", "mt-2 in conflict")
            assert got["visits"] == 12, got
            assert "answers as this pod, mt-0, but DNS puts pod mt-2 at this address" in \
                got["pods"]["mt-2"]["error"], got


def test_a_failing_dns_keeps_the_pods_found():
    with srv_cluster([5, 7]) as (dns, st):
        a, b = st["mt-0"], st["mt-1"]
        dns.proc.stop()
        assert b.get("/").status == 200
        got = wait_cluster(a, lambda x: x["visits"] == 13 and x.get("discovery") == "failing",
                           "the count from mt-1 while DNS fails")
        assert got["pods"]["mt-1"]["state"] == "fresh", got
        assert "SRV _http._tcp.mt-headless" in got["discovery_error"], got
        # Three intervals without DNS: a pod could have joined unseen.
        got = wait_cluster(a, lambda x: x["partial"], "partial without DNS")
        assert "no answer from the DNS server" in got["discovery_error"], got
        assert "discovery fails" in cluster_text(a)
        dns.set(srv_records(st))
        wait_cluster(a, lambda x: not x["partial"] and x["discovery"] == "ok", "DNS back")
        assert a.responder.output().count("discovery _http._tcp.mt-headless fails") == 1


def test_a_dns_that_never_answers_delays_no_poll_and_no_stop():
    """A lookup may take the resolver's whole timeout (here 4 names x 2 tries x 1 s): the
    polls go on meanwhile, and a stop does not wait for it."""
    with srv_cluster([5, 7]) as (dns, st):
        a, b = st["mt-0"], st["mt-1"]
        udp = dns.hang()
        assert select.select([udp], [], [], 10)[0], "no query reached the silent DNS"
        assert b.get("/").status == 200
        wait_cluster(a, lambda x: x["pods"]["mt-1"]["visits"] == 8, "mt-1's count, DNS silent",
                     timeout=3)
        start = time.monotonic()
        assert a.stop_responder(signal.SIGTERM, timeout=10) == 0
        took = time.monotonic() - start
        assert took < 2, f"the stop took {took:.1f} s"


def test_discover_is_taken_on_a_reload():
    """A running responder takes [cluster] discover from a reload, as it takes peers."""
    with Stack(counter="5\n") as a, Stack(counter="7\n") as b:
        with Dns(srv_records({"mt-0": a, "mt-1": b})) as dns:
            ns_stack(b, dns, "mt-1", SRV)
            ns_stack(a, dns, "mt-0", "")
            assert cluster(a)["visits"] == 5
            configure(a, {("cluster", "name"): "mt-0", ("cluster", "discover"): SRV,
                          ("cluster", "poll_interval_ms"): str(INTERVAL_MS)})
            a.responder.send(signal.SIGHUP)
            wait_for_output(a.responder, f"[cluster] discover = {SRV} (was ): applied")
            got = wait_cluster(a, lambda x: x["visits"] == 12 and not x["partial"], "mt-1 found")
            assert got["discovery"] == "ok", got


def free_port_on(hosts):
    """A port free on every one of hosts."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            port = s.getsockname()[1]
        try:
            for h in hosts[1:]:
                with socket.socket() as t:
                    t.bind((h, port))
            return port
        except OSError:
            continue
    raise AssertionError("no port free on " + ", ".join(hosts))


def test_pods_found_by_a_records_are_named_by_their_answers():
    hosts = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    port = free_port_on(hosts)
    with contextlib.ExitStack() as ex:
        st = [ex.enter_context(Stack(counter=f"{n}\n", nginx_extra=f"listen {h}:{port};"))
              for n, h in zip((5, 7, 11), hosts)]
        records = [("a", ZONE, h) for h in hosts]
        dns = ex.enter_context(Dns(records))
        # All stopped before any starts: an address is the pod it first answers as.
        for i, s in enumerate(st):
            ns_stack(s, dns, f"mt-{i}", f"mt-headless:{port}", start=False)
        for s in st:
            s.start_responder()
        for s in st:
            wait_cluster(s, lambda x: sorted(x["pods"]) == ["mt-0", "mt-1", "mt-2"]
                         and not x["partial"], "every pod named")
        got = cluster(st[0])
        assert got["visits"] == 23 and got["pods"]["mt-1"]["peer"] == f"127.0.0.12:{port}", got
        # Its own address answered as this pod: not counted twice, not shown.
        assert len(got["pods"]) == 3
        dns.set(records[:2])
        got = wait_cluster(st[0], lambda x: x["pods"]["mt-2"]["state"] == "left", "mt-2 left")
        assert got["visits"] == 23 and not got["partial"], got


def test_256_pods_with_long_names_every_answer_is_a_200():
    """A service of 256 pods, 63-byte names, each answering worst-case bytes after its count."""
    names = [f"{i:063d}" for i in range(255)]

    def answer(i, path, n, host):
        name = host.split(".")[0]
        if n <= 3:  # its count (three times: a first poll may time out on a loaded machine)
            return 200, json.dumps({"visits": 2**50 + int(name), "pod": name}).encode()
        return 200, b'"\\' * 200 + b"\x01\xff"  # under the 512 bytes an answer may have

    with HostilePeer(answer, with_host=True) as peer, Stack(counter="5\n") as a:
        port = int(peer.addr.split(":")[1])
        records = [("srv", SRV, f"{n}.{ZONE}", port) for n in names] + \
            [("a", f"{n}.{ZONE}", "127.0.0.1") for n in names] + \
            [("srv", SRV, f"mt-self.{ZONE}", a.port), ("a", f"mt-self.{ZONE}", "127.0.0.1")]
        with Dns(records) as dns:
            ns_stack(a, dns, "mt-self", SRV, interval_ms=1000, timeout_ms=5000)
            got = wait_cluster(a, lambda x: len(x["pods"]) == 256 and all(
                e.get("age_seconds") is not None for n, e in x["pods"].items() if n != "mt-self")
                and sum(
                "not a count" in e.get("error", "") for e in x["pods"].values()) > 200,
                "256 pods with their counts, then their errors", timeout=60)
            assert got["visits"] == 5 + sum(2**50 + i for i in range(255)), got["visits"]
            assert "not_polled" not in got, got
            for accept in (JSON["Accept"], "text/plain"):
                r = detail_get(a, accept=accept)
                assert r.status == 200 and len(r.body) > 65536, (r.status, len(r.body))
                r = a.get("/visits?scope=cluster", headers={"Accept": accept})
                assert r.status == 200, r
            r = a.get("/")
            assert r.status == 200 and "and 232 more pods" in r.text, r
            r = Client(a.metrics_port).get("/metrics")
            assert r.status == 200 and r.text.count("moscow_time_cluster_pod_visits{") == 256
            assert r.text.count("moscow_time_peer_up{") == 255
