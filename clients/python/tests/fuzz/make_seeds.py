"""Writes the seed corpus in tests/fuzz_seeds/ (Go's format), used until the Go corpus lands.

    python3 clients/python/tests/fuzz/make_seeds.py

Each file is named like Go names its corpus entries: the first 16 hex digits of the SHA-256
of its content.
"""
import hashlib
import os
import struct

import msgpack

from gocorpus import quote, HEADER

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "fuzz_seeds"))


def frame(body):
    return struct.pack(">I", len(body)) + body


def nest(n):
    return b"\x91" * (n - 1) + b"\x90"


MSG = b"\x93\x02\xa7message\x91"  # a message notification, its one param to follow
REQ = b"\x94\x00\x01\xa4echo\x91"  # an echo request, its one param to follow

SEEDS = {
    "FuzzDecodeMessage": [
        REQ + b"\x01",
        msgpack.packb([1, 7, {"type": "E", "message": "m", "data": [1, {"k": b"\x00"}]}, None]),
        MSG + b"\xdd\xff\xff\xff\xff",  # an array claiming 2^32-1 elements
        MSG + b"\xdd\x00\x00\x10\x00" + b"\x90" * 4096,  # 4096 empty arrays
        MSG + nest(200),
        REQ + b"\xd5\xff\x00\x00",  # a timestamp of 2 bytes
        REQ + b"\xd7\xff" + struct.pack(">Q", ((1 << 30) - 1) << 34),  # nanoseconds > 999999999
        REQ + b"\xc7\x0c\xff" + struct.pack(">Iq", 10 ** 9, 0),
        REQ + b"\xd8\xff" + b"\x00" * 16,
        REQ + b"\x81\x91\x01\x02",  # {[1]: 2}: an unhashable key
        b"\x93\x02\xa2\xff\xfe\x90",  # a method that is not UTF-8
        REQ + b"\xa2\xff\xfe",  # a param that is not UTF-8
        MSG + b"\xc1",
        MSG + b"\x01\x02",
    ],
    "FuzzDecodeValue": [
        b"\xdd\xff\xff\xff\xff",
        b"\xdf\xff\xff\xff\xff",
        b"\xdb\xff\xff\xff\xff",
        b"\xc9\xff\xff\xff\xff\xff",
        nest(129),
        b"\xdc\x01\x00" + b"\x80" * 256,
        b"\x92\xd6\xff\x00\x00\x00\x01\xc7\x03\xff\x00\x00\x00",
        msgpack.packb({"a": [1.5, -(2 ** 63), 2 ** 64 - 1, None, True, b"x" * 300]}),
    ],
    "FuzzFrameReader": [
        frame(REQ + b"\x01") + frame(MSG + b"\x02"),
        b"\x00\x00\x00\x00",
        b"\xff\xff\xff\xff\x00",
        b"\x00\x00",
        b"\x00\x00\x00\x0a\x94\x00",
        frame(MSG + b"\xc5\x11\x70" + b"a" * 70000),  # above 64 KiB: read into its own buffer
        frame(MSG + b"\xc5\x11\x70" + b"a" * 100),  # the same, cut short
        frame(REQ + b"\xd5\xff\x00\x00") + frame(REQ + b"\x02"),
    ],
}


def main():
    for target, inputs in SEEDS.items():
        d = os.path.join(OUT, target)
        os.makedirs(d, exist_ok=True)
        for data in inputs:
            text = "%s\n[]byte(%s)\n" % (HEADER, quote(data))
            name = hashlib.sha256(text.encode()).hexdigest()[:16]
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                f.write(text)


if __name__ == "__main__":
    main()
