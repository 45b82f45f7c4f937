"""The Python client against bare-python, through the Go benchmark driver, interleaved.

    go build -o /tmp/benchrun ./bench/cmd/benchrun      # from the repository's root
    env -u PYTHONUNBUFFERED taskset -c 1 python3 clients/python/bench/vs_bare.py \\
        --benchrun /tmp/benchrun --rounds 5 now=. [before=/path/to/an/older/checkout ...]

Each round runs ``benchrun drive`` once for bare-python and once per named checkout (system
polyfork-python with that checkout's clients/python/src and bench/children/echo.py), in
turns, so that a noisy machine slows all of them alike. It prints per size the medians over
the rounds of the p50 latency of sequential calls and of calls/s with ``--conc`` calls in
flight, and each checkout's ratio to bare. Run it under ``taskset -c 1``: the driver and
the child then share one CPU, as the project's benchmarks do.
"""
import argparse
import json
import os
import statistics
import subprocess

SIZES = "16,1024,65536,1048576"


def drive(benchrun, root, system, args):
    out = subprocess.run(
        [benchrun, "drive", "root=" + os.path.abspath(root), "system=" + system,
         "sizes=" + args.sizes, "warm_ms=%d" % args.warm_ms, "lat_ms=%d" % args.lat_ms,
         "tput_ms=%d" % args.tput_ms, "conc=%d" % args.conc],
        capture_output=True, text=True, check=True).stdout
    trial = json.loads(out)
    rows = {}
    for p in trial["payloads"]:
        lat = sorted(p["lat_ns"])
        rows[p["payload_bytes"]] = (lat[len(lat) // 2] / 1000.0,
                                    p["tput_calls"] / (p["tput_ns"] / 1e9))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchrun", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sizes", default=SIZES)
    ap.add_argument("--warm-ms", type=int, default=200)
    ap.add_argument("--lat-ms", type=int, default=1500)
    ap.add_argument("--tput-ms", type=int, default=1500)
    ap.add_argument("--conc", type=int, default=64)
    ap.add_argument("checkouts", nargs="+", help="NAME=PATH of a checkout to measure")
    args = ap.parse_args()
    checkouts = [c.split("=", 1) for c in args.checkouts]
    results = {}  # name -> size -> [(p50, calls/s)]
    for _ in range(args.rounds):
        for name, root in [("bare", checkouts[0][1])] + checkouts:
            system = "bare-python" if name == "bare" else "polyfork-python"
            for size, r in drive(args.benchrun, root, system, args).items():
                results.setdefault(name, {}).setdefault(size, []).append(r)
    print("%-8s %9s %10s %11s %12s %9s" % ("size", "checkout", "p50 us", "x bare", "calls/s",
                                           "x bare"))
    for size in sorted(results["bare"]):
        bare_p50 = statistics.median(r[0] for r in results["bare"][size])
        bare_tput = statistics.median(r[1] for r in results["bare"][size])
        for name in ["bare"] + [c[0] for c in checkouts]:
            p50 = statistics.median(r[0] for r in results[name][size])
            tput = statistics.median(r[1] for r in results[name][size])
            print("%-8d %9s %10.1f %10.2fx %12.0f %9.2f" % (size, name, p50, p50 / bare_p50,
                                                          tput, tput / bare_tput))


if __name__ == "__main__":
    main()
