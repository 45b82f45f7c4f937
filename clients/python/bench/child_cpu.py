"""CPU time a Python child spends per call, the client against a bare loop, and where it goes.

    taskset -c 1 python3 clients/python/bench/child_cpu.py [--calls 20000] [--inflight 1]
        [--size 16] [--profile polyfork.prof] [--root .]

A host written in Python sends echo calls of --size bytes (a str) to bench/children/bare.py
(a bare msgpack echo) and to bench/children/echo.py (the polyfork client), --inflight at a
time, and prints the child's CPU time (user + system, from wait4) per call and the ratio.
Unlike wall-clock latency this barely moves when other processes share the machine, so it
shows what the client itself costs. --profile also runs the polyfork child under cProfile
and prints its top functions by own time (cProfile slows it: compare shares, not times).
"""
import argparse
import os
import pstats
import struct
import subprocess
import sys
import threading

import msgpack

H = struct.Struct(">I")


def read_exact(fd, n):
    chunks, left = [], n
    while left:
        b = os.read(fd, min(left, 1 << 20))
        if not b:
            raise EOFError("the child closed its stdout")
        chunks.append(b)
        left -= len(b)
    return b"".join(chunks)


def read_frame(fd):
    return read_exact(fd, H.unpack(read_exact(fd, 4))[0])


def run(root, child, bare, calls, inflight, payload, profile=None):
    env = dict(os.environ, PYTHONPATH=os.path.join(root, "clients", "python", "src"),
               POLYFORK_PROTOCOL="1")
    env.pop("PYTHONUNBUFFERED", None)
    argv = [sys.executable]
    if profile:
        argv += ["-m", "cProfile", "-o", profile]
    p = subprocess.Popen(argv + [os.path.join(root, "bench", "children", child)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    w, r = p.stdin.fileno(), p.stdout.fileno()
    if not bare:
        read_frame(r)  # $ready
    pack = msgpack.Packer().pack
    if bare:
        frames = [pack(payload)] * calls
    else:
        frames = [pack([0, i & 0xFFFFFFFF, "echo", [payload]]) for i in range(calls)]
    sem = threading.Semaphore(inflight)

    def writer():
        for body in frames:
            sem.acquire()
            os.write(w, H.pack(len(body)) + body)

    t = threading.Thread(target=writer)
    t.start()
    for _ in range(calls):
        read_frame(r)
        sem.release()
    t.join()
    p.stdin.close()
    _, _, usage = os.wait4(p.pid, 0)
    p.stdout.close()
    return (usage.ru_utime + usage.ru_stime) / calls * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--inflight", type=int, default=1)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--root", default=".")
    ap.add_argument("--profile")
    args = ap.parse_args()
    payload = "x" * args.size
    best = {}
    for _ in range(args.rounds):
        for name, child, bare in [("bare", "bare.py", True), ("polyfork", "echo.py", False)]:
            us = run(args.root, child, bare, args.calls, args.inflight, payload)
            best[name] = min(best.get(name, us), us)
    print("size %d, %d in flight: child CPU per call: bare %.2f us, polyfork %.2f us (%.2fx)"
          % (args.size, args.inflight, best["bare"], best["polyfork"],
             best["polyfork"] / best["bare"]))
    if args.profile:
        run(args.root, "echo.py", False, args.calls, args.inflight, payload, args.profile)
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(14)


if __name__ == "__main__":
    main()
