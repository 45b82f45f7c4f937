"""The client's own cost per request, in one process, without a host: a microbenchmark.

    taskset -c 1 python3 clients/python/bench/per_frame.py [--batch 64] [--size 16]

A Session reads --batch echo requests from a pipe in one read_once (as a child does with
that many calls in flight; --batch 1 is the sequential case), runs the handler and writes
the answers to /dev/null, 1024 requests per repetition. It prints the best time per request
over the repetitions, beside the bare loop's (one read per batch, then unpackb, packb and a
write per message, as bench/children/bare.py does). Times are CPU time of this thread
(time.thread_time) and leave out the host and the scheduler, so other processes on the
machine barely move them. --src measures another checkout's client.
"""
import argparse
import os
import struct
import sys
import time

import msgpack

# --src DIR measures the client in DIR (another checkout's clients/python/src) instead.
_SRC = (sys.argv[sys.argv.index("--src") + 1] if "--src" in sys.argv else
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
sys.path.insert(0, _SRC)

import polyfork  # noqa: E402

H = struct.Struct(">I")


def frames(batch, payload):
    out = b""
    for i in range(batch):
        body = msgpack.packb([0, i, "echo", [payload]])
        out += H.pack(len(body)) + body
    return out


def polyfork_per_request(data, batch, reps):
    r, w = os.pipe()
    null = os.open(os.devnull, os.O_WRONLY)
    s = polyfork.Session(r, null)
    s.handle("echo", lambda v: v)
    s._writer.ensure_first()
    s._serving = True  # as run() sets it; the loop itself is what is left out
    best = float("inf")
    inner = max(1, 1024 // batch)
    for _ in range(reps):
        t = 0.0
        for _ in range(inner):
            os.write(w, data)
            t0 = time.thread_time()
            s._reader.read_once()
            t += time.thread_time() - t0
        best = min(best, t)
    os.close(r), os.close(w), os.close(null)
    return best / batch / inner * 1e6


def bare_per_request(data, batch, reps):
    r, w = os.pipe()
    null = os.open(os.devnull, os.O_WRONLY)
    unpackb, packb, pack, write = msgpack.unpackb, msgpack.packb, H.pack, os.write
    best = float("inf")
    inner = max(1, 1024 // batch)
    sent = data
    for _ in range(reps):
        t = 0.0
        for _ in range(inner):
            os.write(w, sent)
            t0 = time.thread_time()
            data = os.read(r, 65536)  # one read for the batch, as the client does
            pos = 0
            while pos < len(data):
                n = H.unpack_from(data, pos)[0]
                v = unpackb(data[pos + 4:pos + 4 + n])
                body = packb([1, v[1], None, v[3][0]])
                write(null, pack(len(body)) + body)
                pos += 4 + n
            t += time.thread_time() - t0
        best = min(best, t)
    os.close(r), os.close(w), os.close(null)
    return best / batch / inner * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--src", help="the clients/python/src to measure (default: this one)")
    args = ap.parse_args()
    data = frames(args.batch, "x" * args.size)
    if len(data) > 65536:
        ap.error("--batch x --size must fit in one pipe buffer (64 KiB)")
    p = polyfork_per_request(data, args.batch, args.reps)
    b = bare_per_request(data, args.batch, args.reps)
    print("%d B, %d per read: polyfork %.2f us, bare %.2f us per request (%.2fx)"
          % (args.size, args.batch, p, b, p / b))


if __name__ == "__main__":
    main()
