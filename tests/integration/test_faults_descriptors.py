"""Descriptors run out gracefully (issue 21, item 4), OpenBSD slowcgi's way.

The responder keeps a reserve of descriptors for the counter's own files (it
must always be able to open visits.tmp), pauses accepting while its connections
hold what the limit leaves them (no thread sleeps on it) and resumes when one
closes, says so once per episode, and closes kept-alive connections beyond what
the limit allows, the longest idle first. At start it raises the soft
RLIMIT_NOFILE to the hard limit and logs what it has.
"""

import os
import re
import resource
import time

import fcgi_client as F
from harness import Stack, wait_for, wait_for_output
from test_faults_abandoned import SHORT_READ_TIMEOUT, final_count, statuses
from test_integrity import need_strace, strace, write_in_place

JSON = {"Accept": "application/json"}
BUDGET = re.compile(r"descriptors: RLIMIT_NOFILE (\d+)(?: \(raised from (\d+)[^)]*\))?, "
                    r"(\d+) open at start, (\d+) kept free")


def limited_stack(nofile, **kw):
    """A stack whose responder starts with RLIMIT_NOFILE nofile (soft and hard)."""
    s = Stack(start=False, **kw)
    s.prefix = ["prlimit", f"--nofile={nofile}", "--"]
    try:
        s.start_responder()
        s.start_nginx()
    except BaseException:
        s.close()
        raise
    return s


def budget(s):
    """(limit, raised from or None, open at start, reserve) from the start-up line."""
    m = BUDGET.search(s.responder.output())
    assert m, s.responder.output()
    limit, was, base, reserve = m.groups()
    return int(limit), (int(was) if was else None), int(base), int(reserve)


def pauses(log):
    return [line for line in log.splitlines() if "accepting paused" in line]


def test_the_soft_limit_is_raised_to_the_hard_limit_and_logged():
    s = limited_stack("64:256")
    with s:
        limit, was, base, reserve = budget(s)
        assert (limit, was) == (256, 64), s.responder.output()
        with open(f"/proc/{s.responder.pid}/limits") as f:
            assert re.search(r"Max open files\s+256\s+256", f.read())
        assert 0 < base < 64 and reserve >= 4
        assert s.get("/").status == 200


def test_after_a_burst_at_nofile_20_visits_get_200_within_a_second():
    """The issue's run: at RLIMIT_NOFILE 20 a burst left nginx's idle kept-alive connections
    holding every descriptor, and each GET / that needed visits.tmp (a digit growth) got 503
    for about 50 s; an EMFILE on accept was logged every 50 ms."""
    s = limited_stack("20:20", counter="0\n", nginx_extra=SHORT_READ_TIMEOUT)
    with s:
        got = statuses(s, 200)
        end = time.monotonic()
        # The next visit needs visits.tmp: 999 -> 1000 is a digit growth.
        write_in_place(s.counter_path, b"999\n")
        wait_for(lambda: s.get("/visits").text == "999\n", timeout=1.0,
                 what="/visits to say 999 (taken from the file)")
        r = s.get("/", headers=JSON)
        assert (r.status, r.json().get("visits") if r.status == 200 else r.body) == (200, 1000)
        assert time.monotonic() - end < 1.0
        for n in range(1001, 1011):
            r = s.get("/", headers=JSON)
            assert (r.status, r.json()["visits"]) == (200, n), r
        assert s.counter_value() == 1010
        log = s.responder.output()
        assert "Too many open files" not in log, log[-3000:]
        assert len(pauses(log)) <= 1, pauses(log)
        assert all(x in (200, 504) for x in got), sorted(set(map(str, got)))
        assert final_count(s) == 1010


def test_beyond_the_limit_the_longest_idle_connection_is_closed_first():
    # One worker: each connection is idle again before the next one is accepted.
    with Stack(start=False, workers=1) as s:
        s.start_responder()
        # No connection yet: every descriptor open is the base; 4 are the reserve (no peers).
        base = len(os.listdir(f"/proc/{s.responder.pid}/fd"))
        # Room for 3 connections from here on: the limit is read at each accept.
        resource.prlimit(s.responder.pid, resource.RLIMIT_NOFILE, (base + 4 + 3,) * 2)
        kept = []
        for _ in range(3):  # idle in this order: the first is the longest idle
            c = F.connect(s.socket_path)
            c.sendall(F.get("/visits"))
            assert F.read_response(c).status == 200
            kept.append(c)
        oldest, *others = kept
        with F.connect(s.socket_path) as new:
            new.sendall(F.get("/visits"))
            assert F.read_response(new).status == 200  # accepted: a descriptor was made free
        assert F.closed_by_peer(oldest, 2.0)
        for c in others:  # still kept alive
            c.sendall(F.get("/visits"))
            assert F.read_response(c).status == 200
        for c in kept:
            c.close()
        out = wait_for_output(s.responder, "accepting paused")
        assert len(pauses(out)) == 1, pauses(out)
        assert s.stop_responder() == 0


def test_an_unforeseen_emfile_on_accept_pauses_once_and_resumes_by_itself():
    """accept4 fails with EMFILE (strace) although the accounting saw room: accepting pauses
    (one line for the episode, not one per failure), and resumes with no connection to close:
    the requests waiting meanwhile are served."""
    need_strace()
    with Stack() as s:
        with strace(s.responder.pid, "-e", "trace=accept4",
                    "-e", "inject=accept4:error=EMFILE:when=1..4") as trace:
            got = statuses(s, 4, "/visits")
        assert got == [200] * 4, got
        assert trace.text.count("(INJECTED)") >= 2, trace.text
        log = s.responder.output()
        assert log.count("Too many open files") == 1, log[-3000:]
        assert len(pauses(log)) == 1, pauses(log)
        assert s.responder.alive()
