"""The cluster-wide total: three local stacks (nginx + responder each) that poll each other.

Each test starts its stacks with counts of their own, makes them peers (every
one lists all three, itself included) and reads GET /visits?scope=cluster
through nginx.
"""

import contextlib
import re
import signal
import threading

from harness import Stack
from peers import JSON, SilentPeer, cluster, make_peers, timed_get, wait_cluster

NAMES = ["pod-a", "pod-b", "pod-c"]


@contextlib.contextmanager
def three(counts=(5, 7, 11), **kw):
    with contextlib.ExitStack() as stack:
        stacks = [stack.enter_context(Stack(counter=f"{n}\n")) for n in counts]
        make_peers(stacks, NAMES, **kw)
        # Until each has heard every other under its new name (the restarts were in turn).
        for s in stacks:
            wait_cluster(s, lambda a: sorted(a["pods"]) == NAMES and not a["partial"],
                         "all three pods to be known by name")
        yield stacks


def fresh_total(total):
    return lambda a: a["visits"] == total and not a["partial"]


def test_the_total_is_the_sum_and_each_pod_is_counted_once():
    with three() as (a, b, c):
        for _ in range(2):
            assert a.get("/").status == 200
        assert b.get("/").status == 200
        want = 7 + 8 + 11
        for s, name in zip((a, b, c), NAMES):
            got = wait_cluster(s, fresh_total(want), f"{name}'s total to be {want}")
            assert got["pod"] == name
            # Its own entry in the peer list was recognised: three pods, not four.
            assert sorted(got["pods"]) == NAMES, got
            assert got["pods"][name]["state"] == "self"
            for other in set(NAMES) - {name}:
                assert got["pods"][other]["state"] == "fresh", got
                assert 0 <= got["pods"][other]["age_seconds"] < 3, got
        assert a.get("/visits?scope=cluster").text.split("\n")[0] == str(want)
        # A peer asked for its count answers only its own (no totals travel).
        assert b.get("/visits", headers=JSON).json() == {"visits": 8, "pod": "pod-b"}
        assert b.get("/visits").text == "8\n"
        # Polls and cluster answers are not visits.
        assert (a.counter_value(), b.counter_value(), c.counter_value()) == (7, 8, 11)


def test_a_stopped_pod_keeps_its_last_count_and_is_marked_stale():
    with three() as (a, b, c):
        wait_cluster(a, fresh_total(23), "the first total")
        c.close()  # nginx and responder gone, as a deleted pod
        got = wait_cluster(a, lambda x: x["pods"]["pod-c"]["state"] == "stale",
                           "pod-c to be stale")
        assert got["visits"] == 23 and got["partial"] is True, got
        assert got["pods"]["pod-c"]["visits"] == 11
        assert got["pods"]["pod-c"]["error"], got
        assert got["pods"]["pod-b"]["state"] == "fresh", got
        text = a.get("/visits?scope=cluster").text.split("\n")
        assert text[0] == "23" and text[1].startswith("partial"), text
        # Visits elsewhere still arrive.
        b.get("/")
        wait_cluster(a, lambda x: x["visits"] == 24, "b's new visit")


def test_a_slow_peer_blocks_nothing_and_its_timeout_is_honoured():
    slow = SilentPeer()
    try:
        with Stack(counter="5\n") as a, Stack(counter="7\n") as b:
            make_peers([a, b], NAMES[:2], interval_ms=200, timeout_ms=1000,
                       extra_addrs=[slow.addr])
            got = wait_cluster(a, lambda x: "timed out" in x["pods"][slow.addr].get("error", ""),
                               "the slow peer's poll to time out")
            assert got["pods"][slow.addr]["state"] == "unreached", got
            # curl says how long it waited: about the 1000 ms timeout (it may say 999).
            waited = re.search(r"Operation timed out after (\d+) milliseconds",
                               got["pods"][slow.addr]["error"])
            assert waited and 900 <= int(waited.group(1)) <= 5000, got
            assert got["partial"] is True
            # Answers come from memory: far below the 1 s timeout a wait on the peer would take.
            worst = max(timed_get(a, "/visits?scope=cluster", JSON)[1] for _ in range(20))
            assert worst < 0.5, f"slowest cluster answer {worst:.3f} s"
            # The other peer stays fresh and its new visits arrive, round after round.
            for n in (8, 9, 10):
                assert b.get("/").status == 200
                got = wait_cluster(a, lambda x, n=n: x["pods"]["pod-b"]["visits"] == n,
                                   f"pod-b at {n}", timeout=5)
                assert got["pods"]["pod-b"]["state"] == "fresh", got
            assert got["visits"] == 15
    finally:
        slow.close()


def test_a_pod_back_with_a_smaller_count_does_not_lower_the_total():
    with three() as (a, b, c):
        wait_cluster(a, fresh_total(23), "the first total")
        totals, stop = [], threading.Event()

        def sample():
            while not stop.is_set():
                totals.append(cluster(a)["visits"])
                stop.wait(0.02)  # a sample every 20 ms: pacing, not a wait for state
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            # pod-b comes back on a replaced volume that holds 2.
            assert b.stop_responder(signal.SIGTERM) == 0
            with open(b.counter_path, "w") as f:
                f.write("2\n")
            b.start_responder()
            got = wait_cluster(a, lambda x: x["pods"]["pod-b"]["reported"] == 2,
                               "pod-b's smaller count to arrive")
        finally:
            stop.set()
            sampler.join()
        assert got["visits"] == 23, got
        assert got["pods"]["pod-b"]["visits"] == 7
        assert got["pods"]["pod-b"]["went_back"] is True, got
        assert all(x >= 23 for x in totals) and totals == sorted(totals), totals
        assert "went back to 2 (the total keeps 7)" in a.get("/visits?scope=cluster").text
        # pod-b itself counts on from its own file.
        assert b.get("/visits", headers=JSON).json() == {"visits": 2, "pod": "pod-b"}


def test_after_scaling_without_a_new_peer_list():
    """kubectl scale without helm upgrade: the peer list (rendered from replicaCount) is old.

    Scaled up: the new pod lists everybody and knows the whole total; the old
    pods do not list it and miss its visits. Scaled down: the removed pod is
    still listed, so it shows as stale with its last count (see the stopped
    pod test).
    """
    with three() as (a, b, c), Stack(counter="100\n") as d:
        make_peers([d], ["pod-d"], listed=[a, b, c, d])
        wait_cluster(d, fresh_total(123), "the new pod's total")
        got = wait_cluster(a, fresh_total(23), "the old pods' total")
        assert "pod-d" not in got["pods"], got
