"""Round-trip latency of a polyfork Python child against a bare msgpack loop over pipes.

    taskset -c 1 python3 clients/python/bench/rtt.py [--calls 20000] [--rounds 5]

A host written in Python (blocking os.read/os.write) sends echo requests one at a time to:

- bare:  a child with a blocking os.read / unpackb / packb / os.write loop and nothing else;
- sync:  a polyfork child whose handlers are all plain functions (run() serves without asyncio);
- async: the same echo handler in a child that also has an async handler (run() uses asyncio).

It prints the best round of each in microseconds per round trip and the ratio to bare. Latency
on a shared machine is bimodal unless host and child share one CPU: run it under taskset.
"""
import argparse
import os
import struct
import subprocess
import sys
import time

import msgpack

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

BARE = r"""
import os, struct, msgpack
H = struct.Struct(">I")
os.write(1, H.pack(1) + b"\xc0")
buf = b""
while True:
    d = os.read(0, 65536)
    if not d:
        break
    buf += d
    while len(buf) >= 4:
        n = H.unpack_from(buf)[0]
        if len(buf) < 4 + n:
            break
        m = msgpack.unpackb(buf[4:4 + n]); buf = buf[4 + n:]
        out = msgpack.packb([1, m[1], None, m[3][0]])
        os.write(1, H.pack(len(out)) + out)
"""

SYNC = r"""
import polyfork
@polyfork.handle("echo")
def echo(v):
    return v
polyfork.run()
"""

ASYNC = SYNC.replace("polyfork.run()", """@polyfork.handle("noop")
async def noop():
    pass
polyfork.run()""")

H = struct.Struct(">I")


def read_exact(fd, n):
    b = b""
    while len(b) < n:
        chunk = os.read(fd, n - len(b))
        if not chunk:
            raise EOFError("the child closed its stdout")
        b += chunk
    return b


def measure(code, calls, rounds, python):
    env = dict(os.environ, PYTHONPATH=SRC, POLYFORK_PROTOCOL="1")
    env.pop("PYTHONUNBUFFERED", None)
    p = subprocess.Popen([python, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         env=env)
    w, r = p.stdin.fileno(), p.stdout.fileno()
    read_exact(r, H.unpack(read_exact(r, 4))[0])  # $ready (or the bare child's nil)
    pack = msgpack.Packer().pack
    best = float("inf")
    try:
        for _ in range(rounds):
            t0 = time.perf_counter()
            for i in range(calls):
                body = pack([0, i, "echo", ["hello world"]])
                os.write(w, H.pack(len(body)) + body)
                resp = msgpack.unpackb(read_exact(r, H.unpack(read_exact(r, 4))[0]))
                if resp[1] != i or resp[3] != "hello world":
                    raise AssertionError("bad response %r" % (resp,))
            best = min(best, (time.perf_counter() - t0) / calls * 1e6)
    finally:
        p.stdin.close()
        p.wait()
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--python", default=os.environ.get("POLYFORK_PYTHON", sys.executable))
    args = ap.parse_args()
    results = {}
    for name, code in [("bare", BARE), ("sync", SYNC), ("async", ASYNC)]:
        results[name] = measure(code, args.calls, args.rounds, args.python)
        print("%-6s %6.2f us/round trip  %.2fx bare" % (name, results[name],
                                                        results[name] / results["bare"]))


if __name__ == "__main__":
    main()
