"""Hostile peers on the FastCGI socket while nginx serves HTTP: nothing stalls, nothing grows.

Anything that can reach the socket (in the pod: the nginx container) may send
a request a byte at a time, stop halfway, send garbage slowly, never read its
answers, or flood management records. None of it may hold a worker thread:
HTTP through nginx keeps being answered at once, every request under 1 s and
the median well under 100 ms (orders of magnitude: before the fix these
requests waited 10 s for nginx's fastcgi_read_timeout and got 504).
"""

import fcntl
import re
import socket
import statistics
import struct
import termios
import threading
import time

import fcgi_client as F
from harness import Stack, wait_for

REQUEST_DEADLINE = 2.0  # server.c REQUEST_DEADLINE_MS
PENDING_MAX = 256       # server.c PENDING_MAX


def logged(stack, text):
    """The responder logged text (its output is read from a pipe by another thread)."""
    wait_for(lambda: text in stack.responder.output(), what=f"{text!r} in the log")


def threads(stack):
    return int(re.search(r"(\d+) worker threads", stack.responder.output()).group(1))



class Peer(threading.Thread):
    """A FastCGI peer: sends prefix at once, then one byte of rest every interval seconds.

    Starts over on a new connection whenever the responder closes this one,
    so that the pressure lasts as long as the peer runs. Like a hostile peer
    it ignores a shutdown of the responder's side and keeps sending.
    """

    def __init__(self, path, prefix, rest=b"", interval=0.1):
        super().__init__(daemon=True)
        self.path, self.prefix, self.rest, self.interval = path, prefix, rest, interval
        self.halt = threading.Event()
        self.connections = self.closed = self.answered = 0

    def run(self):
        while not self.halt.is_set():
            try:
                with socket.socket(socket.AF_UNIX) as c:
                    c.connect(self.path)
                    self.connections += 1
                    c.sendall(self.prefix)
                    self.trickle(c)
            except OSError:
                self.closed += 1
                self.halt.wait(0.01)

    def trickle(self, c):
        """Returns once the responder has closed c; keeps sending after a mere shutdown."""
        rest = iter(self.rest)
        c.settimeout(self.interval)
        eof = False
        while not self.halt.is_set():
            if eof:
                self.halt.wait(self.interval)
            else:
                try:
                    data = c.recv(65536)
                    self.answered += bool(data)
                    eof = not data
                except socket.timeout:
                    pass
            byte = next(rest, None)
            if byte is None and eof:
                self.closed += 1
                return
            if byte is not None:
                c.send(bytes([byte]))  # raises once the responder has closed c: start over

    def stop(self):
        self.halt.set()
        self.join(5)


class Unread(Peer):
    """Sends whole requests for / and never reads the answers."""

    def trickle(self, c):
        request = F.get("/")
        while not self.halt.is_set():
            # Each request only once the responder has taken the last (SIOCOUTQ == 0).
            while struct.unpack("i", fcntl.ioctl(c, termios.TIOCOUTQ, b"\0" * 4))[0]:
                if self.halt.wait(0.002):
                    return
            c.sendall(request)


def http_while(stack, seconds):
    """GET /visits through nginx, one after another, for seconds: [(status, seconds)]."""
    results = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.monotonic()
        conn = stack.connection(timeout=3)
        try:
            status = stack.request("GET", "/visits", conn=conn).status
        except OSError as e:
            status = repr(e)
        finally:
            conn.close()
        results.append((status, time.monotonic() - start))
        time.sleep(0.01)  # a request every 10 ms: pacing
    return results


def assert_http_unharmed(results, what):
    statuses = [s for s, _ in results]
    times = [t for _, t in results]
    bad = [(s, round(t, 2)) for s, t in results if s != 200]
    assert not bad, f"{what}: {len(bad)} of {len(results)} requests failed: {bad[:5]}"
    assert max(times) < 1.0, f"{what}: slowest request {max(times):.2f} s"
    assert statistics.median(times) < 0.1, f"{what}: median {statistics.median(times):.3f} s"
    assert len(statuses) >= 20, f"{what}: only {len(statuses)} requests in the time"


def run_peers(make_peer, what, factor=2, seconds=3 * REQUEST_DEADLINE / 2, log=None):
    """factor x threads peers from make_peer(path) against a default stack; HTTP is measured.

    Returns the peers; log is a line the responder must have logged.
    """
    with Stack() as s:
        peers = [make_peer(s.socket_path) for _ in range(factor * threads(s))]
        for p in peers:
            p.start()
        try:
            wait_for(lambda: all(p.connections > 0 for p in peers), timeout=5,
                     what="every peer to connect")
            results = http_while(s, seconds)
        finally:
            for p in peers:
                p.stop()
        assert_http_unharmed(results, what)
        assert all(p.connections > 0 for p in peers), "every peer connected"
        assert s.responder.alive(), s.responder.output()
        if log:
            logged(s, log)
        return peers


def test_a_request_trickled_a_byte_every_100_ms_by_twice_the_threads():
    peers = run_peers(lambda path: Peer(path, b"", F.get("/visits")), "trickled requests")
    assert sum(p.answered for p in peers) == 0, "a request trickled for 10 s was never served"


def test_a_bad_record_then_a_byte_every_100_ms():
    # libfcgi's close path shuts the socket down and reads for as long as bytes arrive.
    bad = F.header(F.BEGIN_REQUEST, 1, 8, version=2) + b"\0" * 8
    run_peers(lambda path: Peer(path, bad, b"\0" * 10000), "bad record, then trickle",
              log="closed a FastCGI connection: FastCGI version 2")


def test_half_a_header_then_silence():
    run_peers(lambda path: Peer(path, F.begin()[:4]), "half a header")


def test_idle_after_begin_request():
    run_peers(lambda path: Peer(path, F.begin()), "idle after BEGIN_REQUEST")


def test_a_huge_declared_length_then_a_byte_every_100_ms():
    start = F.begin() + F.header(F.PARAMS, 1, 65535, 1)
    run_peers(lambda path: Peer(path, start, b"\0" * 10000), "huge declared length")


def test_a_whole_request_without_keep_conn_then_a_byte_every_100_ms():
    # Served, then closed by libfcgi: with a plain close(), not its shutdown-and-drain.
    peers = run_peers(lambda path: Peer(path, F.get("/visits", keep=False), b"\0" * 10000),
                         "request without KEEP_CONN, then trickle")
    assert all(p.answered > 0 for p in peers), "every peer got its answer"


def test_peers_that_never_read_their_answers():
    peers = run_peers(lambda path: Unread(path, b""), "peers that do not read")
    assert all(p.closed > 0 for p in peers), "the responder closed them, not waited on them"


def test_an_incomplete_request_is_closed_at_its_deadline_from_the_first_byte():
    with Stack() as s:
        c = F.connect(s.socket_path)
        data = F.get("/visits")
        start = time.monotonic()
        c.settimeout(0.1)
        closed_after = None
        for byte in data[:-1]:  # never complete: at 100 ms a byte it would take 10 s
            c.send(bytes([byte]))
            try:
                if c.recv(100) == b"":
                    closed_after = time.monotonic() - start
                    break
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed_after = time.monotonic() - start
                break
        c.close()
        assert closed_after is not None, "a request trickled over 10 s was never closed"
        assert REQUEST_DEADLINE - 0.1 < closed_after < REQUEST_DEADLINE + 3, closed_after
        logged(s, "no whole request 2000 ms after its first byte")


def test_more_incomplete_requests_than_the_cap_close_the_oldest_first():
    n = PENDING_MAX + 100
    with Stack() as s:
        conns = []
        for _ in range(n):
            c = F.connect(s.socket_path)
            c.sendall(F.begin())
            conns.append(c)
        try:
            results = http_while(s, 0.5)

            def closed(c):
                c.settimeout(0)
                try:
                    return c.recv(1) == b""
                except BlockingIOError:
                    return False
                except ConnectionResetError:
                    return True

            gone = [i for i, c in enumerate(conns) if closed(c)]
            # Well before the deadline, only what exceeds the cap is gone, oldest first
            # (a batch of 64 may be listed before the cap is enforced).
            assert len(gone) >= n - PENDING_MAX, f"{len(gone)} closed of {n}"
            assert max(gone) < n - PENDING_MAX + 64, f"closed: {gone}"
            wait_for(lambda: all(closed(c) for c in conns), timeout=REQUEST_DEADLINE + 5,
                     what="every incomplete request to be closed at its deadline")
        finally:
            for c in conns:
                c.close()
        assert_http_unharmed(results, f"{n} incomplete requests")
        logged(s, "the oldest of more than 256 incomplete requests")


def test_unknown_management_records_do_not_grow_the_responder():
    # libfcgi 2.4.2 leaks 48 bytes for each (ProcessManagementRecord): 200k were 10 MB.
    record = F.record(200, 0)
    chunk = record * 1000

    def send_chunk(path):
        with F.connect(path) as c:
            try:
                c.sendall(chunk)
                c.shutdown(socket.SHUT_WR)
                while c.recv(65536):  # libfcgi answers each with FCGI_UNKNOWN_TYPE
                    pass
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed at the first record

    with Stack() as s:
        for _ in range(20):  # warm up: thread stacks, malloc arenas
            send_chunk(s.socket_path)
        before = F.rss_kib(s.responder.pid)
        for _ in range(200):
            send_chunk(s.socket_path)
        F.assert_rss_flat(s.responder.pid, before, 1024, "200k unknown management records")
        assert s.get("/visits").status == 200
