"""A lost volume gets its count back from the peers, and nothing else is ever replaced.

A responder that starts without its counter file (absent: a new, empty
volume) while it has peers asks them, for at most 2 s, what they last saw of
it (GET /visits?scope=cluster&pod=NAME on their public port) and starts from
the largest answer, in one log line. A file that exists, even 0, is kept.
"""

import os
import re
import threading
import time

from harness import Stack, wait_for_output
from peers import JSON, SilentPeer, cluster, configure, make_peers, wait_cluster

NAMES = ["pod-a", "pod-b", "pod-c"]


def test_a_lost_volume_gets_its_count_back_and_the_total_never_goes_down():
    """Before: pod-b restarted on an empty volume counted from 0 while its peers held 8."""
    with Stack(counter="5\n") as a, Stack(counter="7\n") as b, Stack(counter="11\n") as c:
        make_peers([a, b, c], NAMES, interval_ms=200)
        assert b.get("/").status == 200  # 8
        for s in (a, c):
            wait_cluster(s, lambda x: x["pods"]["pod-b"]["visits"] == 8, "pod-b at 8")
        totals, stop = [], threading.Event()

        def sample():
            while not stop.is_set():
                totals.append(cluster(a, detail=False)["visits"])
                time.sleep(0.02)  # pacing the samples, not waiting for a state
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            assert b.stop_responder() == 0
            os.unlink(b.counter_path)  # the claim is gone: a new, empty volume
            start = time.monotonic()
            b.start_responder()
            took = time.monotonic() - start
            out = wait_for_output(b.responder, "restored from peers: 8, as pod-")
            line = [x for x in out.split("\n") if "restored from peers" in x]
            assert len(line) == 1 and re.search(r"as pod-[ac] saw it \d+\.\d s ago", line[0]), line
            assert "did not exist: created, starting at 0" not in out
            assert took < 3, f"the start took {took:.1f} s"
            assert b.counter_value() == 8
            assert b.get("/").status == 200
            assert b.get("/visits", headers=JSON).json() == {"visits": 9, "pod": "pod-b"}
            wait_cluster(a, lambda x: x["visits"] == 5 + 9 + 11 and not x["partial"],
                         "pod-b's new visit in the total")
        finally:
            stop.set()
            sampler.join()
        assert totals == sorted(totals) and totals[0] >= 24, totals


def test_a_file_that_exists_even_0_is_never_replaced():
    """Reset by hand (write 0, restart): the peers' memory does not bring the count back."""
    with Stack(counter="5\n") as a, Stack(counter="7\n") as b:
        make_peers([a, b], NAMES[:2], interval_ms=200)
        wait_cluster(a, lambda x: x["visits"] == 12, "the total")
        assert b.stop_responder() == 0
        with open(b.counter_path, "w") as f:
            f.write("0\n")
        b.start_responder()
        assert "restored from peers" not in b.responder.output()
        assert b.counter_value() == 0
        assert b.get("/visits").text == "0\n"
        # The others keep its largest count in their totals until they restart.
        got = wait_cluster(a, lambda x: x["pods"]["pod-b"]["reported"] == 0, "pod-b's 0")
        assert got["visits"] == 12 and got["pods"]["pod-b"]["went_back"] is True, got
        # An empty file is a file too.
        assert b.stop_responder() == 0
        open(b.counter_path, "w").close()
        b.start_responder()
        assert "restored from peers" not in b.responder.output()
        assert b.get("/visits").text == "0\n"


def test_no_answer_in_time_starts_at_0_and_says_so():
    """Peers that never answer: 2 s at most, then 0 as ever, with a line that says why."""
    slow = SilentPeer()
    try:
        with Stack(counter=None, start=False) as b:
            configure(b, {("cluster", "name"): "pod-b", ("cluster", "peers"): slow.addr})
            start = time.monotonic()
            b.start_responder()
            took = time.monotonic() - start
            out = b.responder.output()
            assert 1.9 < took < 4, f"the start took {took:.1f} s"
            assert re.search(r"level=warn counter file \S+ is absent and no peer had a count of "
                             r"pod pod-b \(0 of 1 answered in \d+ ms\): starting at 0", out), out
            assert "created, starting at 0" in out
            assert os.path.exists(b.counter_path)
    finally:
        slow.close()


def test_without_peers_nothing_is_asked():
    with Stack(counter=None) as a:
        out = a.responder.output()
        assert "no peer had a count" not in out and "restored from peers" not in out
        assert "created, starting at 0" in out
