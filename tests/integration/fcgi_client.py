"""A small FastCGI client for the tests: records as nginx sends them, and broken ones.

Speaks FastCGI 1.0 (https://fastcgi-archives.github.io/FastCGI_Specification.html)
over the responder's unix socket, the way nginx does (ngx_http_fastcgi_module:
BEGIN_REQUEST with id 1, all params in one PARAMS record padded to 8 bytes, an
empty PARAMS record, an empty STDIN record), so that a test can send exactly
what nginx sends, or anything else.
"""

import re
import socket
import struct
import time

VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
DATA, GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = 8, 9, 10, 11
RESPONDER, AUTHORIZER, FILTER = 1, 2, 3
KEEP_CONN = 1
REQUEST_COMPLETE = 0

NGINX_PARAMS = {"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/visits", "REQUEST_URI": "/visits",
                "HTTP_ACCEPT": "*/*"}


def header(rtype, request_id, length, padding=0, version=VERSION):
    return struct.pack("!BBHHBB", version, rtype, request_id, length, padding, 0)


def record(rtype, request_id, content=b"", padding=None):
    """One record; padded to a multiple of 8 as nginx does unless padding is given."""
    if padding is None:
        padding = -len(content) % 8
    return header(rtype, request_id, len(content), padding) + content + b"\0" * padding


def begin(request_id=1, role=RESPONDER, flags=KEEP_CONN):
    return record(BEGIN_REQUEST, request_id, struct.pack("!HB5x", role, flags))


def length(n):
    return struct.pack("!B", n) if n < 128 else struct.pack("!I", n | 0x80000000)


def pairs(params):
    out = b""
    for name, value in params.items():
        name = name.encode() if isinstance(name, str) else name
        value = value.encode() if isinstance(value, str) else value
        out += length(len(name)) + length(len(value)) + name + value
    return out


def request(params=None, request_id=1, keep=True, stdin=b""):
    """The bytes nginx sends for one request (fastcgi_keep_conn on, no body by default)."""
    p = pairs(NGINX_PARAMS if params is None else params)
    out = begin(request_id, flags=KEEP_CONN if keep else 0)
    out += record(PARAMS, request_id, p) + record(PARAMS, request_id)
    for i in range(0, len(stdin), 32768):
        out += record(STDIN, request_id, stdin[i:i + 32768])
    return out + record(STDIN, request_id)


def get(path="/visits", method="GET", accept="*/*", **kw):
    return request({"REQUEST_METHOD": method, "DOCUMENT_URI": path, "REQUEST_URI": path,
                    "HTTP_ACCEPT": accept}, **kw)


class Closed(Exception):
    """The responder closed the connection before the response was complete."""


def connect(path, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)  # blocking: waits for room in a full backlog instead of EAGAIN
    s.settimeout(timeout)
    return s


def _read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise Closed(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def read_record(sock):
    """(type, request id, content) of the next record."""
    version, rtype, rid, clen, plen, _ = struct.unpack("!BBHHBB", _read_exact(sock, 8))
    if version != VERSION:
        raise AssertionError(f"record version {version}")
    content = _read_exact(sock, clen + plen)[:clen]
    return rtype, rid, content


class Response:
    def __init__(self, stdout, stderr, app_status, protocol_status):
        self.stdout, self.stderr = stdout, stderr
        self.app_status, self.protocol_status = app_status, protocol_status
        head, _, self.body = stdout.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.headers = dict(line.split(": ", 1) for line in lines if ": " in line)
        self.status = int(self.headers.get("Status", "200").split()[0])


def read_response(sock, request_id=1):
    """Reads records up to END_REQUEST for request_id; raises Closed if the peer closed."""
    stdout = stderr = b""
    while True:
        rtype, rid, content = read_record(sock)
        if rid != request_id:
            raise AssertionError(f"record type {rtype} for request {rid}, expected {request_id}")
        if rtype == STDOUT:
            stdout += content
        elif rtype == STDERR:
            stderr += content
        elif rtype == END_REQUEST:
            app, proto = struct.unpack("!IB3x", content)
            return Response(stdout, stderr, app, proto)
        else:
            raise AssertionError(f"unexpected record type {rtype}")


def exchange(path, data, timeout=5.0):
    """Sends data on a new connection and reads one response."""
    with connect(path, timeout) as s:
        s.sendall(data)
        return read_response(s)


def closed_by_peer(sock, timeout=5.0):
    """True if the responder closes sock (EOF or reset) within timeout, sending nothing."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            data = sock.recv(4096)
            if not data:
                return True
            raise AssertionError(f"the responder answered {data[:64]!r} instead of closing")
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return False


def rss_kib(pid):
    """The resident set of a process (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def sanitized(pid):
    """True for the ASan build: its quarantine keeps freed memory, so RSS says nothing
    about leaks there (LeakSanitizer checks them when it exits)."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def assert_rss_flat(pid, before_kib, limit_kib, what):
    if not sanitized(pid):
        after = rss_kib(pid)
        assert after - before_kib < limit_kib, f"{what}: RSS grew from {before_kib} to {after} KiB"
