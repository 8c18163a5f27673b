"""The FastCGI protocol spoken directly to the responder's socket (after kcgi's regress/).

What nginx sends is answered; everything else (malformed, truncated, unknown,
management and multiplexed records, oversized requests) is closed at once
without an answer, and the responder neither crashes nor grows nor stops
serving HTTP through nginx.
"""

import os
import socket
import statistics
import struct
import time

import fcgi_client as F
import harness
import pytest
from harness import Stack, wait_for

REFUSED_WITHIN = 1.5  # well below server.c's 2 s deadline: refused, not timed out



def assert_refused(path, data, what):
    with F.connect(path) as c:
        try:
            c.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return  # closed while we were still sending
        assert F.closed_by_peer(c, REFUSED_WITHIN), f"{what}: still open after {REFUSED_WITHIN} s"


def assert_serves(s):
    assert s.responder.alive(), s.responder.output()
    assert s.get("/visits").status == 200


def test_a_request_as_nginx_sends_it_is_answered():
    with Stack(counter="41\n") as s:
        r = F.exchange(s.socket_path, F.get("/visits"))
        assert (r.status, r.body, r.app_status, r.protocol_status) == (200, b"41\n", 0, 0)
        assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
        r = F.exchange(s.socket_path, F.get("/"))
        assert r.status == 200 and b"<!doctype html>" in r.body
        assert s.counter_value() == 42


def test_a_second_request_on_a_kept_connection():
    with Stack(counter="7\n") as s, F.connect(s.socket_path) as c:
        for request_id, method, body in ((1, "GET", b"7\n"), (2, "HEAD", b""),
                                         (65535, "GET", b"7\n")):
            c.sendall(F.get("/visits", method=method, request_id=request_id))
            r = F.read_response(c, request_id)
            assert (r.status, r.body) == (200, body), (request_id, r.stdout)
        c.sendall(F.get("/nope"))
        assert F.read_response(c).status == 404


def test_without_keep_conn_the_responder_closes_after_the_answer():
    with Stack() as s, F.connect(s.socket_path) as c:
        c.sendall(F.get("/visits", keep=False))
        assert F.read_response(c).status == 200
        assert F.closed_by_peer(c, REFUSED_WITHIN)


def test_a_body_is_read_and_ignored():
    with Stack() as s, F.connect(s.socket_path) as c:
        c.sendall(F.get("/visits", stdin=b"x" * 1000))
        assert F.read_response(c).status == 200
        c.sendall(F.get("/visits"))  # the body's records were all consumed
        assert F.read_response(c).status == 200


def test_params_as_large_and_many_as_nginx_may_send():
    params = dict(F.NGINX_PARAMS, HTTP_X_PAD="p" * 60000)
    many = dict(F.NGINX_PARAMS, **{f"P{i}": "v" for i in range(60)})  # 64 in all
    with Stack() as s:
        assert F.exchange(s.socket_path, F.request(params)).status == 200
        assert F.exchange(s.socket_path, F.request(many)).status == 200
        assert_refused(s.socket_path, F.request(dict(many, P60="v")), "65 params")


def test_half_close_after_a_whole_request_still_gets_the_answer():
    with Stack() as s, F.connect(s.socket_path) as c:
        c.sendall(F.get("/visits"))
        c.shutdown(socket.SHUT_WR)
        assert F.read_response(c).status == 200
        assert F.closed_by_peer(c, REFUSED_WITHIN)


def test_half_close_in_the_middle_of_a_request_is_closed_at_once():
    with Stack() as s:
        for cut in (4, 16, 40):
            with F.connect(s.socket_path) as c:
                c.sendall(F.get("/visits")[:cut])
                wait_for(lambda: s.gauge("moscow_time_pending_requests") == 1,
                         what="the responder to hold the request as incomplete")
                c.shutdown(socket.SHUT_WR)
                assert F.closed_by_peer(c, REFUSED_WITHIN), f"cut at {cut}"
        assert_serves(s)


def test_param_lengths_that_overflow_libfcgi_do_not_crash_it():
    # libfcgi 2.4.2 (Debian's CVE-2025-23016 patch included) adds the two lengths in
    # an int: malloc(-2) fails and the name is copied to NULL.
    huge = struct.pack("!II", 0xfffffffe, 0xfffffffe) + b"A"
    with Stack() as s:
        assert_refused(s.socket_path, F.begin() + F.record(F.PARAMS, 1, huge), "overflow")
        assert_serves(s)


def malformed():
    """(what, bytes): nothing nginx sends; each must be closed without an answer."""
    req = F.get("/visits")
    params = F.pairs(F.NGINX_PARAMS)
    return [
        ("FCGI_GET_VALUES", F.record(F.GET_VALUES, 0, F.pairs(
            {"FCGI_MAX_CONNS": "", "FCGI_MAX_REQS": "", "FCGI_MPXS_CONNS": ""}))),
        ("unknown management record", F.record(200, 0)),
        ("unknown type in a request", F.begin() + F.record(20, 1)),
        ("FCGI_DATA", F.begin() + F.record(F.PARAMS, 1) + F.record(F.DATA, 1, b"x")),
        ("FCGI_ABORT_REQUEST mid-request", F.begin() + F.record(F.ABORT_REQUEST, 1)),
        ("FCGI_ABORT_REQUEST after the request", req + F.record(F.ABORT_REQUEST, 1)),
        ("two requests in one write", req + req),
        ("version 0", F.header(F.BEGIN_REQUEST, 1, 8, version=0) + b"\0\1" + b"\0" * 6),
        ("BEGIN_REQUEST of 9 bytes", F.record(F.BEGIN_REQUEST, 1, b"\0\1" + b"\0" * 7)),
        ("padded BEGIN_REQUEST", F.record(F.BEGIN_REQUEST, 1, b"\0\1" + b"\0" * 6, 8) + req[16:]),
        ("request id 0", F.begin(0) + req[16:]),
        ("AUTHORIZER role", F.begin(role=F.AUTHORIZER) + req[16:]),
        ("FILTER role", F.begin(role=F.FILTER) + req[16:]),
        ("unknown flags", F.begin(flags=0xff) + req[16:]),
        ("multiplexed BEGIN_REQUEST", F.begin() + F.begin(2)),
        ("PARAMS of another request", F.begin() + F.record(F.PARAMS, 2, params)),
        ("STDIN before the end of PARAMS", F.begin() + F.record(F.STDIN, 1)),
        ("a name longer than its record", F.begin() + F.record(F.PARAMS, 1, b"\x7f\x00AB")),
        ("a four-byte length cut off", F.begin() + F.record(F.PARAMS, 1, b"\x80\x00")),
        ("a request over 68 KiB", F.begin() + F.record(F.PARAMS, 1, F.pairs(
            {"X": "x" * 65000})) + F.record(F.PARAMS, 1, F.pairs({"Y": "y" * 5000}))),
        ("64 KiB of zeros", b"\0" * 65536),
        ("an HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ]


def test_malformed_and_unknown_records_are_closed_without_an_answer():
    with Stack() as s:
        for what, data in malformed():
            assert_refused(s.socket_path, data, what)
        assert_serves(s)
        wait_for(lambda: "closed a FastCGI connection: record type 9 where nginx sends "
                 "FCGI_BEGIN_REQUEST" in s.responder.output(), what="the refusal logged")


def test_truncated_requests_then_close_harm_nothing():
    data = F.get("/visits", stdin=b"body")
    with Stack() as s:
        for cut in range(1, len(data)):
            with F.connect(s.socket_path) as c:
                c.sendall(data[:cut])
        for cut in range(1, len(data), 7):  # and with a reset instead of a close
            with F.connect(s.socket_path) as c:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.sendall(data[:cut])
        assert_serves(s)


def test_a_peer_that_hangs_up_before_its_answer_harms_nothing():
    with Stack() as s:
        for _ in range(200):
            with F.connect(s.socket_path) as c:
                c.sendall(F.get("/"))
        assert_serves(s)
        # Each is counted only if the responder read it before the hang-up (issue 21).
        assert 0 <= s.counter_value() <= 200


@pytest.fixture
def descriptors_for_2000_connections():
    """A normal user's soft limit is often 1024: raise it (the hard limit only as root)."""
    with harness.descriptors(2200, "2000 connections"):
        yield


def test_many_idle_connections_cost_no_thread_and_are_given_back(descriptors_for_2000_connections):
    with Stack() as s:
        before = F.rss_kib(s.responder.pid)
        fds = len(os.listdir(f"/proc/{s.responder.pid}/fd"))
        idle = [F.connect(s.socket_path) for _ in range(2000)]
        try:
            times = []
            for _ in range(50):
                start = time.monotonic()
                assert s.get("/visits").status == 200
                times.append(time.monotonic() - start)
            assert max(times) < 1.0 and statistics.median(times) < 0.1, times
        finally:
            for c in idle:
                c.close()
        assert_serves(s)
        # Every idle connection given back (nginx's kept-alive ones come and go).
        wait_for(lambda: len(os.listdir(f"/proc/{s.responder.pid}/fd")) <= fds + 16,
                 what="the responder to close the 2000 idle connections")
        F.assert_rss_flat(s.responder.pid, before, 2048, "2000 idle connections opened and closed")


def test_hostile_input_does_not_grow_the_responder():
    cases = malformed()
    with Stack() as s:
        for _ in range(10):  # warm up
            for what, data in cases:
                assert_refused(s.socket_path, data, what)
        before = F.rss_kib(s.responder.pid)
        for _ in range(100):
            for what, data in cases:
                assert_refused(s.socket_path, data, what)
        F.assert_rss_flat(s.responder.pid, before, 1024, "100 rounds of hostile input")
        assert_serves(s)
