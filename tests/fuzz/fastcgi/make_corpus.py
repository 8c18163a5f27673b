#!/usr/bin/python3
"""Writes the seed corpus of fuzz-fastcgi: requests as nginx sends them, and broken ones.

Each seed is two bytes (big-endian: where the input splits into the two
writes the harness makes) and the bytes a peer sends. Run from anywhere;
rewrites tests/fuzz/fastcgi/corpus/.
"""

import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration"))
import fcgi_client as F  # noqa: E402


def seeds():
    visits, root = F.get("/visits"), F.get("/")
    json = F.get("/", accept="application/json")
    yield "visits", len(visits), visits
    yield "root-then-visits", len(root), root + visits
    yield "head-no-keep", None, F.get("/", method="HEAD", keep=False)
    yield "readyz-json", None, F.get("/readyz", accept="application/json, text/*;q=0.5")
    yield "post-405", None, F.get("/", method="POST")
    yield "unknown-path", None, F.get("/nope?x=1")
    yield "body-split", 40, F.get("/visits", stdin=b"b" * 100)
    yield "half-header", 4, visits
    yield "split-in-params", 30, json
    yield "request-id-65535", None, F.get("/visits", request_id=65535)
    yield "many-params", None, F.request(dict(F.NGINX_PARAMS, **{f"P{i}": "v" for i in range(60)}))
    yield "long-param", None, F.request(dict(F.NGINX_PARAMS, HTTP_X=b"x" * 3000))
    four = struct.pack("!II", 0x8000000e, 0x80000003) + b"REQUEST_METHODGET"
    yield "four-byte-lengths", None, (F.begin() + F.record(F.PARAMS, 1, four)
                                      + F.record(F.PARAMS, 1) + F.record(F.STDIN, 1))
    yield "get-values", None, F.record(F.GET_VALUES, 0, F.pairs({"FCGI_MAX_CONNS": ""}))
    yield "unknown-type", None, F.record(200, 0) + visits
    yield "abort", None, visits + F.record(F.ABORT_REQUEST, 1)
    yield "overflowing-lengths", None, F.begin() + F.record(
        F.PARAMS, 1, struct.pack("!II", 0xfffffffe, 0xfffffffe) + b"A")
    yield "multiplexed", None, F.begin() + F.begin(2)


def main():
    out = os.path.join(HERE, "corpus")
    shutil.rmtree(out, ignore_errors=True)
    os.mkdir(out)
    for name, split, data in seeds():
        split = len(data) if split is None else split
        with open(os.path.join(out, name), "wb") as f:
            f.write(struct.pack("!H", split) + data)


if __name__ == "__main__":
    main()
