"""A visit nobody saw is not counted (issue 21, item 1).

nginx gives up on a request after fastcgi_read_timeout (its client gets a 504)
and closes the connection; a client that leaves closes it too. A visit whose
connection is already closed when the responder reads it is dropped without a
number; one whose connection is only half-closed (shutdown(SHUT_WR) after a
whole request) is answered and counted; an FCGI_ABORT_REQUEST after a whole
request closes the connection unanswered and uncounted. The count is taken
from the file after nginx and the responder have stopped: the responder serves
(or drops) every request already queued before it exits, so the file then holds
every visit it will ever count of them.
"""

import os
import signal
import socket
from concurrent.futures import ThreadPoolExecutor

import fcgi_client as F
from harness import Stack, freeze, wait_for_output

JSON = {"Accept": "application/json"}
# nginx.conf gives the responder 10 s; these tests do not wait that long.
SHORT_READ_TIMEOUT = "fastcgi_read_timeout 2s;"


def statuses(stack, n, path="/", on=None):
    """n clients GET path at once, each on its own connection: their statuses (or the error).
    on: a harness.Client for another of nginx's servers (the metrics server)."""
    def one(_):
        try:
            return (on or stack).request("GET", path, headers=JSON).status
        except OSError as e:
            return f"{type(e).__name__}: {e}"

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def final_count(stack):
    """Stops nginx, then the responder (which drains what is queued), and reads the file."""
    stack.nginx.stop()
    assert stack.stop_responder() == 0, stack.responder.output()
    return stack.counter_value()


def test_a_visit_whose_connection_was_closed_before_it_was_read_is_not_counted():
    with Stack(counter="5\n") as s:
        freeze(s.responder.pid)
        try:
            # Queued while the responder is stopped: whole requests, then a hang-up.
            for _ in range(3):
                with F.connect(s.socket_path) as c:
                    c.sendall(F.get("/"))
            half = F.connect(s.socket_path)
            half.sendall(F.get("/", accept="application/json"))
            half.shutdown(socket.SHUT_WR)  # nginx never does this; it still reads
        finally:
            os.kill(s.responder.pid, signal.SIGCONT)
        with half:
            r = F.read_response(half)
        assert r.status == 200, r.stdout
        assert b'"visits":6' in r.body, r.body
        wait_for_output(s.responder, "a visit was not counted: nginx had closed its connection")
        assert final_count(s) == 6


def test_an_abort_after_a_whole_visit_closes_it_unanswered_and_uncounted():
    with Stack(counter="5\n") as s:
        with F.connect(s.socket_path) as c:
            c.sendall(F.get("/") + F.record(F.ABORT_REQUEST, 1))
            assert F.closed_by_peer(c, 2.0)
        assert s.get("/", headers=JSON).json()["visits"] == 6
        assert final_count(s) == 6


def test_visits_that_got_a_504_while_the_responder_was_stopped_are_not_counted():
    with Stack(counter="0\n", nginx_extra=SHORT_READ_TIMEOUT) as s:
        assert s.get("/", headers=JSON).json()["visits"] == 1
        freeze(s.responder.pid)
        try:
            # nginx answers each 504 after 2 s and closes its connection to the responder.
            got = statuses(s, 20)
        finally:
            os.kill(s.responder.pid, signal.SIGCONT)
        assert got == [504] * 20, got
        r = s.get("/", headers=JSON)
        assert (r.status, r.json()["visits"]) == (200, 2), r
        assert final_count(s) == 2, s.responder.output()[-3000:]


def test_under_a_descriptor_limit_the_file_grows_by_exactly_the_200s():
    """The issue's run: RLIMIT_NOFILE 64 and 500 clients at once. Whatever each gets (a 200,
    or a 504 when it waited too long), the file counts exactly the 200s."""
    with Stack(counter="0\n", start=False, nginx_extra=SHORT_READ_TIMEOUT) as s:
        s.prefix = ["prlimit", "--nofile=64:64", "--"]
        s.start_responder()
        s.start_nginx()
        got = statuses(s, 500)
        ok = got.count(200)
        assert ok > 0, got
        assert all(x in (200, 502, 503, 504) for x in got), sorted(set(map(str, got)))
        assert final_count(s) == ok, (f"{ok} clients got a 200; the others: "
                                      f"{sorted(str(x) for x in got if x != 200)[:20]}")
