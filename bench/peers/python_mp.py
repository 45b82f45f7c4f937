"""Peer drivers in Python, measured in Python; each prints one JSON trial (bench/driver/spec.go).

    python3 python_mp.py kind=pipe system=python-mp-pipe sizes=16,1024 ...
    python3 python_mp.py kind=ppe  system=python-ppe ...

kind=pipe: multiprocessing.Pipe() to a multiprocessing.Process that echoes with
conn.recv() / conn.send(), as the docs show; pipelined throughput has a sender thread and
the main thread receiving, at most `conc` messages in flight.

kind=ppe: concurrent.futures.ProcessPoolExecutor(max_workers=1) and submit(echo, s).result();
pipelined throughput keeps `conc` futures in flight. One worker, like every other system of
the benchmark (one child); the pools are compared separately.
"""
import collections
import concurrent.futures
import json
import multiprocessing
import sys
import threading
import time

DEFAULTS = dict(system="", kind="pipe", sizes="16", warm_ms=20, warm_max=200, lat_ms=60,
                lat_min=10, lat_max=3000, tput_ms=50, conc=64, lat=1, tput=1)


def parse_args(argv):
    s = dict(DEFAULTS)
    for a in argv:
        k, sep, v = a.partition("=")
        if not sep:
            sys.exit(f"python_mp: argument {a!r} is not KEY=VALUE")
        s[k] = int(v) if isinstance(DEFAULTS.get(k), int) else v
    s["size_list"] = [int(x) for x in s["sizes"].split(",")]
    return s


def echo(value):
    """The task of the ProcessPoolExecutor: return the argument."""
    return value


def echo_loop(conn):
    """The multiprocessing.Process of kind=pipe: echo until the parent sends None."""
    while True:
        m = conn.recv()
        if m is None:
            return
        conn.send(m)


def check(m, n):
    if not isinstance(m, str) or len(m) != n:
        sys.exit(f"python_mp: wrong echo for a {n}-byte string")


class PipeSystem:
    def __init__(self):
        self.conn, child = multiprocessing.Pipe()
        self.proc = multiprocessing.Process(target=echo_loop, args=(child,), daemon=True)
        self.proc.start()
        child.close()

    def roundtrip(self, s):
        self.conn.send(s)
        check(self.conn.recv(), len(s))

    def throughput(self, s, ms, conc):
        window = threading.BoundedSemaphore(conc)
        start = time.perf_counter_ns()
        deadline = start + ms * 1_000_000
        sent = [0]
        finished = threading.Event()

        def sender():
            while True:
                window.acquire()
                if time.perf_counter_ns() >= deadline:
                    break
                sent[0] += 1
                self.conn.send(s)
            finished.set()

        t = threading.Thread(target=sender)
        t.start()
        got = 0
        while not (finished.is_set() and got == sent[0]):
            if got == sent[0]:
                time.sleep(0)
                continue
            check(self.conn.recv(), len(s))
            got += 1
            window.release()
        ns = time.perf_counter_ns() - start
        t.join()
        return got, ns

    def close(self):
        # The forked child holds a copy of our end too, so closing it is no EOF: say stop.
        self.conn.send(None)
        self.proc.join()
        self.conn.close()


class PPESystem:
    def __init__(self):
        self.ex = concurrent.futures.ProcessPoolExecutor(max_workers=1)

    def roundtrip(self, s):
        check(self.ex.submit(echo, s).result(), len(s))

    def throughput(self, s, ms, conc):
        start = time.perf_counter_ns()
        deadline = start + ms * 1_000_000
        inflight = collections.deque()
        got = 0
        while True:
            if time.perf_counter_ns() < deadline and len(inflight) < conc:
                inflight.append(self.ex.submit(echo, s))
                continue
            if not inflight:
                break
            check(inflight.popleft().result(), len(s))
            got += 1
        return got, time.perf_counter_ns() - start

    def close(self):
        self.ex.shutdown()


def main():
    args = parse_args(sys.argv[1:])
    system = {"pipe": PipeSystem, "ppe": PPESystem}[args["kind"]]()
    out = {"system": args["system"], "payloads": []}
    now = time.perf_counter_ns
    for n in args["size_list"]:
        s = "x" * n
        t0 = now()
        i = 0
        while i < args["warm_max"] and (i < 3 or now() - t0 < args["warm_ms"] * 1_000_000):
            system.roundtrip(s)
            i += 1
        r = {"payload_bytes": n}
        if args["lat"]:
            lat = []
            t0 = now()
            while len(lat) < args["lat_max"] and (
                    len(lat) < args["lat_min"] or now() - t0 < args["lat_ms"] * 1_000_000):
                a = now()
                system.roundtrip(s)
                lat.append(now() - a)
            r["lat_ns"] = lat
        if args["tput"]:
            r["tput_calls"], r["tput_ns"] = system.throughput(s, args["tput_ms"], args["conc"])
        out["payloads"].append(r)
    system.close()
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
