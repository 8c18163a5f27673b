"""A peer is a source of numbers, not of truth: a hostile peer against a real responder.

Each test lists a HostilePeer (peers.py: an HTTP server on 127.0.0.1 that
answers what the test scripts) in [cluster] peers, next to real stacks where
it needs them, and reads what the responder made of it: the cluster answers
(with detail, as nginx's metrics listener will ask, and as the public gets
them), the page, /metrics and the responder's log.
"""

import json
import re
import signal
import time

from harness import Client, Stack, wait_for, wait_for_output
from peers import (JSON, HostilePeer, SilentPeer, answer_json, cluster, cluster_text, configure,
                   detail_get, make_peers, wait_cluster)

MAX = 2**63 - 1


def start(stack, name, peers, interval_ms=100, timeout_ms=500):
    """Restarts stack's responder as pod name with peers (a list of host:port)."""
    stack.stop_responder()
    configure(stack, {("cluster", "name"): name, ("cluster", "peers"): ",".join(peers),
                      ("cluster", "poll_interval_ms"): str(interval_ms),
                      ("cluster", "timeout_ms"): str(timeout_ms)})
    stack.start_responder()


def peer_lines(stack, addr):
    """The responder's log lines about the peer at addr."""
    return [line for line in stack.responder.output().split("\n") if f"peer {addr}: " in line]


def entry_at(answer, addr):
    """The entry of the pod polled at addr (or of addr, if it never gave a name)."""
    for name, e in answer["pods"].items():
        if e.get("peer") == addr or name == addr:
            return name, e
    raise AssertionError(f"nothing polled at {addr}: {json.dumps(answer)}")


def test_a_peers_bytes_never_forge_a_log_line_or_an_answer_line():
    """Newlines, ESC, BEL and bytes that are not UTF-8 from a peer reach no log, answer or page raw.

    Before: the first 40 bytes of a failing answer went raw into the log and the text
    answer (a forged line of each), and bytes >= 0x80 raw into the JSON (not UTF-8).
    """
    evil = [b"\n2026-01-01T00:00:00.000Z level=error forged\xff\x1b[2J\x07",
            b"\xff\x07\nzz-forged 999999 fresh\n\x1b]0;owned\x07\xc3\x28"]
    with HostilePeer(lambda i, path, n: (200, evil[i]), ports=2) as peer, \
            Stack(counter="5\n") as a:
        start(a, "pod-a", peer.addrs)
        got = wait_cluster(a, lambda x: all("not a count" in entry_at(x, addr)[1].get("error", "")
                                            for addr in peer.addrs),
                           "the peers' answers to be refused")
        assert got["visits"] == 5, got
        out = a.responder.output()
        for addr in peer.addrs:
            assert len(peer_lines(a, addr)) == 1, peer_lines(a, addr)
        # At most 24 bytes of an answer are kept, escaped.
        assert '"\\x0a2026-01-01T00:00:00.000..."' in peer_lines(a, peer.addrs[0])[0]
        assert "\\xff\\x07\\x0azz-forged" in peer_lines(a, peer.addrs[1])[0]
        assert not any(line.startswith("2026-01-01T00:00:00.000Z") for line in out.split("\n"))
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", out), repr(out[-500:])
        # The text answer: five lines (total, complete or partial, this pod, two peers).
        text = cluster_text(a)
        assert len(text.split("\n")) == 6 and text.endswith("\n"), text
        assert not any(line.startswith("zz-forged") for line in text.split("\n")), text
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\xff]", text), repr(text)
        # JSON: strict UTF-8 and a parse, with detail and without.
        for raw in (a.get("/visits?scope=cluster", headers=JSON).body,
                    detail_get(a).body):
            json.loads(raw.decode("utf-8", errors="strict"))
            assert not re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", raw), raw
        page = a.get("/")
        assert page.status == 200 and b"forged" not in page.body and b"\x1b" not in page.body


BAD = {
    "fraction": b'{"visits":1.9,"pod":"p-fraction"}',
    "exponent": b'{"visits":1e3,"pod":"p-exponent"}',
    "leading zero": b'{"visits":017,"pod":"p-zero"}',
    "cut off": b'{"visits":17',
    "nested": b'{"pod":"p-nested","x":{"visits":7}}',
    "duplicate": b'{"visits":1,"visits":500,"pod":"p-dup"}',
    "negative": b'{"visits":-3,"pod":"p-negative"}',
    "past 2^63-1": b'{"visits":9223372036854775808,"pod":"p-big"}',
    "garbage after": b'{"visits":4,"pod":"p-after"}{"visits":9}',
    "a string": b'{"visits":"7","pod":"p-string"}',
}


def test_only_a_strict_count_is_taken():
    """Each of these was taken as a count before (a duplicate's first "visits" won)."""
    cases = list(BAD.items())
    with HostilePeer(lambda i, path, n: (200, cases[i][1]), ports=len(cases)) as peer, \
            Stack(counter="5\n") as a:
        start(a, "pod-a", peer.addrs)
        got = wait_cluster(a, lambda x: all("not a count" in entry_at(x, addr)[1].get("error", "")
                                            for addr in peer.addrs),
                           "every bad answer to be refused")
        assert got["visits"] == 5, got
        for (what, _), addr in zip(cases, peer.addrs):
            name, e = entry_at(got, addr)
            assert e["visits"] == 0 and e["state"] == "unreached", (what, e)
        metrics = Client(a.metrics_port).get("/metrics").text
        m = re.search(r'moscow_time_cluster_answers_refused_total\{reason="malformed"\} (\d+)',
                      metrics)
        assert m and int(m.group(1)) >= len(cases), metrics[-1500:]


def test_the_total_never_wraps_and_the_bars_stay_proportional():
    """Two peers at 2^63-1 wrapped the unsigned total to small numbers before."""
    with HostilePeer(lambda i, path, n: answer_json(MAX, f"huge-{i}"), ports=2) as peer, \
            Stack(counter="5\n") as a:
        start(a, "pod-a", peer.addrs)
        got = wait_cluster(a, lambda x: x["pods"].get("huge-1", {}).get("state") == "fresh"
                           and x["pods"].get("huge-0", {}).get("state") == "fresh",
                           "both huge counts")
        assert got["visits"] == MAX and got["saturated"] is True, got
        for _ in range(3):
            assert a.get("/").status == 200
        assert cluster(a)["visits"] == MAX
        text = cluster_text(a)
        assert text.startswith(f"{MAX}\n") and "\nsaturated: " in text, text
        page = a.get("/").text
        assert f'<strong id="total">{MAX}</strong>' in page
        # Each huge pod has half, this pod's 9 visits no visible share: not every bar at 0.
        assert page.count('<rect class="bar" width="500"') == 2, page
        assert "\nmoscow_time_cluster_saturated 1\n" in Client(a.metrics_port).get("/metrics").text


def test_an_implausible_jump_is_refused():
    """A jump past 10,000,000 visits a second since the last answer is refused; the count stands."""
    answers = {1: 100}
    with HostilePeer(lambda i, path, n: answer_json(answers.get(n, 100 + 10**12), "jumpy")) \
            as peer, Stack(counter="5\n") as a:
        start(a, "pod-a", [peer.addr])
        got = wait_cluster(a, lambda x: "implausible" in x["pods"].get("jumpy", {}).get("error", ""),
                           "the jump to be refused")
        assert got["pods"]["jumpy"]["visits"] == 100 and got["visits"] == 105, got
        assert "up from 100" in got["pods"]["jumpy"]["error"], got
        wait_for(lambda: "stale" == cluster(a)["pods"]["jumpy"]["state"], timeout=5,
                 what="the refused pod to turn stale")
        assert re.search(r'moscow_time_cluster_answers_refused_total\{reason="implausible"\} [1-9]',
                         Client(a.metrics_port).get("/metrics").text)


def test_a_peer_answering_as_this_pod_lowers_and_removes_nothing():
    """Before: a peer counted at 100 that once answered as this pod was dropped for good
    (the total fell from 107 to 7) and never polled again."""
    script = {}

    def answer(i, path, n):
        return answer_json(100 if n < 5 else 101, "pod-a" if script.get("self") else "p1")

    with HostilePeer(answer) as peer, Stack(counter="7\n") as a:
        start(a, "pod-a", [peer.addr])
        wait_cluster(a, lambda x: x["visits"] == 107, "the peer's 100")
        script["self"] = True
        got = wait_cluster(a, lambda x: x["pods"]["p1"]["state"] == "conflict", "the conflict")
        assert got["visits"] == 107, got
        assert "answers as this pod, pod-a" in got["pods"]["p1"]["error"], got
        polled = peer.count()
        wait_for(lambda: peer.count() >= polled + 3, timeout=5, what="the peer polled again")
        assert cluster(a)["visits"] == 107
        script["self"] = False
        got = wait_cluster(a, lambda x: x["visits"] == 108 and x["pods"]["p1"]["state"] == "fresh",
                           "the peer's count again")


def test_a_rotating_or_flapping_peer_makes_no_labels_and_few_log_lines():
    """Before: a peer whose name changed at every poll made a pod label per name, and a
    flapping or alternating peer wrote a log line per change (5-20 a second)."""
    def answer(i, path, n):
        if i == 0:
            return answer_json(5, f"rot-{n}")          # a new name at every poll
        if i == 1:
            return answer_json(5, "alt-a" if n % 2 else "alt-b")  # alternating
        return answer_json(5, "flap") if n % 2 else (500, b"no")   # flapping

    with HostilePeer(answer, ports=3) as peer, Stack(counter="5\n") as a:
        start(a, "pod-a", peer.addrs, interval_ms=100)
        wait_for(lambda: min(peer.count(i) for i in range(3)) >= 40, timeout=30,
                 what="40 polls of each peer")
        metrics = Client(a.metrics_port).get("/metrics").text
        pods = re.findall(r'moscow_time_cluster_pod_visits\{pod="([^"]*)"\}', metrics)
        assert sorted(pods) == ["alt-a", "flap", "pod-a", "rot-1"], pods
        for addr in peer.addrs:
            lines = peer_lines(a, addr)
            assert len(lines) <= 3, lines
        got = cluster(a)
        assert sorted(got["pods"]) == ["alt-a", "flap", "pod-a", "rot-1"], got


def test_a_hanging_peer_delays_no_other_peers_count():
    """Before, with timeout_ms 3000 one hanging peer made every other peer's count up to
    3.2 s old: all peers were polled in rounds that waited for the slowest."""
    slow = SilentPeer()
    try:
        with Stack(counter="5\n") as a, Stack(counter="7\n") as b:
            make_peers([a, b], ["pod-a", "pod-b"], interval_ms=200, timeout_ms=3000,
                       extra_addrs=[slow.addr])
            wait_cluster(a, lambda x: x["pods"]["pod-b"]["state"] == "fresh", "pod-b")
            worst, n, began = 0, 7, time.monotonic()
            # Longer than the timeout: every new count of pod-b arrives within about an interval.
            while time.monotonic() - began < 4:
                assert b.get("/").status == 200
                n += 1
                t0 = time.monotonic()
                wait_cluster(a, lambda x, n=n: x["pods"]["pod-b"]["visits"] == n, f"pod-b at {n}",
                             timeout=10)
                worst = max(worst, time.monotonic() - t0)
            assert worst < 1.0, f"a count of pod-b took {worst:.2f} s to arrive"
    finally:
        slow.close()


def test_the_public_answer_hides_addresses_and_errors():
    """Addresses and errors only on nginx's metrics listener; names, counts, states for all."""
    with HostilePeer(lambda i, path, n: (200, b"nope"), ports=1) as peer, \
            Stack(counter="5\n") as a, Stack(counter="7\n") as b:
        make_peers([a, b], ["pod-a", "pod-b"], extra_addrs=peer.addrs)
        wait_cluster(a, lambda x: x["pods"]["pod-b"]["state"] == "fresh", "pod-b")
        public = cluster(a, detail=False)
        assert public["pods"]["pod-b"]["state"] == "fresh" and public["pods"]["pod-b"]["visits"] == 7
        assert all("peer" not in e and "error" not in e for e in public["pods"].values()), public
        assert "peer#3" in public["pods"], public
        text = a.get("/visits?scope=cluster").text
        assert "127.0.0.1" not in text and "nope" not in text, text
        detail = cluster(a)
        assert detail["pods"][peer.addr]["error"].startswith("GET /visits: not a count"), detail


def test_every_cluster_answer_is_a_200_with_long_names_and_escaped_errors():
    """Before: 64 listed and 64 retired pods with 63-byte names and errors of control bytes
    made the JSON cluster answer a 500 ("does not fit" a 32 KiB body)."""
    def answer(i, path, n):
        if i < 64:
            return answer_json(MAX // 256 + i, f"{i:063d}")
        return 200, b"\x01" * 500  # six bytes each as a JSON escape

    with HostilePeer(answer, ports=128) as peer, Stack(counter=f"{MAX // 256}\n") as a:
        # 127.1 is 127.0.0.1: 64 addresses fit config.ini's 1022-byte line.
        short = [addr.replace("127.0.0.1:", "127.1:") for addr in peer.addrs]
        start(a, "pod-a", short[:64], interval_ms=200)
        wait_cluster(a, lambda x: len(x["pods"]) == 65 and not x["partial"], "64 long names")
        configure(a, {("cluster", "name"): "pod-a", ("cluster", "peers"): ",".join(short[64:]),
                      ("cluster", "poll_interval_ms"): "200"})
        a.responder.send(signal.SIGHUP)
        wait_for_output(a.responder, "[cluster] peers = 127.1:")
        wait_for(lambda: a.responder.output().count("not a count") >= 64, timeout=20,
                 what="64 peers' answers refused (the log)")
        for accept in ("application/json", "text/plain"):
            r = detail_get(a, accept=accept)
            assert r.status == 200, (r.status, r.body[:200])
            r = a.get("/visits?scope=cluster", headers={"Accept": accept})
            assert r.status == 200, r
        got = cluster(a)
        assert len(got["pods"]) == 129, len(got["pods"])
        assert sum(e["state"] == "left" for e in got["pods"].values()) == 64, got
        assert sum("not a count" in e.get("error", "") for e in got["pods"].values()) == 64, got
        assert a.get("/").status == 200
        r = Client(a.metrics_port).get("/metrics")
        assert r.status == 200 and r.text.count("moscow_time_cluster_pod_visits{") == 65, r
