"""Draws docs/benchmarks.png from the rows of a benchmark run (bench/out/full.json's format).

    python3 bench/chart/plot.py ROWS.json OUT.png

Two panels, log-log over the payload size: p50 round-trip latency, and calls/s with 64 in
flight on one CPU. polyfork systems are solid and thick, peers dashed, the raw limits dotted.
Needs matplotlib (python3 -m pip install matplotlib); `make bench` installs it.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# The systems drawn, with their style: the one-child systems measured on one CPU.
STYLE = {
    "polyfork-python": dict(color="#1f77b4", ls="-", lw=2.6, marker="o"),
    "polyfork-php": dict(color="#9467bd", ls="-", lw=2.6, marker="o"),
    "polyfork-node": dict(color="#2ca02c", ls="-", lw=2.6, marker="o"),
    "bare-python": dict(color="#1f77b4", ls=":", lw=1.4, marker="."),
    "bare-php": dict(color="#9467bd", ls=":", lw=1.4, marker="."),
    "bare-node": dict(color="#2ca02c", ls=":", lw=1.4, marker="."),
    "node-fork-json": dict(color="#ff7f0e", ls="--", lw=1.6, marker="s"),
    "node-fork-advanced": dict(color="#d62728", ls="--", lw=1.6, marker="s"),
    "python-mp-pipe": dict(color="#8c564b", ls="--", lw=1.6, marker="^"),
    "python-ppe": dict(color="#e377c2", ls="--", lw=1.6, marker="^"),
    "raw-pipe": dict(color="#000000", ls=":", lw=2.0, marker="x"),
    "raw-socketpair": dict(color="#7f7f7f", ls=":", lw=1.4, marker="x"),
}


def label(n):
    if n >= 1 << 20:
        return f"{n >> 20} MiB"
    if n >= 1 << 10:
        return f"{n >> 10} KiB"
    return f"{n} B"


def main(rows_file, out_file):
    with open(rows_file) as f:
        rows = json.load(f)
    by_system = {}
    for r in rows:
        by_system.setdefault(r["system"], []).append(r)
    fig, (lat, tput) = plt.subplots(1, 2, figsize=(13, 5.5))
    sizes = sorted({r["payload_bytes"] for r in rows})
    for name, style in STYLE.items():
        pts = sorted(by_system.get(name, []), key=lambda r: r["payload_bytes"])
        if not pts:
            continue
        xs = [r["payload_bytes"] for r in pts]
        lat.plot(xs, [r["p50_us"] for r in pts], label=name, **style)
        tput.plot(xs, [r["calls_per_s"] for r in pts], label=name, **style)
    for ax, title, unit in ((lat, "p50 round trip (lower is better)", "microseconds"),
                            (tput, "calls/s, 64 in flight, one CPU (higher is better)", "calls per second")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sizes)
        ax.set_xticklabels([label(n) for n in sizes])
        ax.set_xlabel("payload (str echoed back)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="major", alpha=0.35)
    handles, labels = lat.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=9, frameon=False)
    fig.suptitle("polyfork and its peers, parent and child pinned to one CPU (median of rounds)")
    fig.tight_layout(rect=(0, 0.1, 1, 0.96))
    fig.savefig(out_file, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py ROWS.json OUT.png")
    main(sys.argv[1], sys.argv[2])
