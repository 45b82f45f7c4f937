"""User-space instructions per ``echo`` call of a Python child, counted with callgrind.

    python3 clients/python/bench/instructions.py [--size 16] [--calls 2000] [--mode one|batch]
        [--child PATH] [--first-id 1000001] [--keep DIR] [--python PYTHON]

The child runs under ``valgrind --tool=callgrind`` twice, with N and 2N echo requests, and the
difference is divided by N, so start-up and shutdown drop out; the machine's load does not
disturb the count (it is exact from run to run, up to a few instructions). Like
clients/php/bench/instructions.php:

- one: one call in flight, each request written after the previous answer was read (one
  frame per read in the child, each answer written at once);
- batch: 64 requests written at once, then their 64 answers read (as with 64 calls in
  flight: 64 frames per read, answers deferred and written together).

CHILD (default: count_child.py next to this file, echo.py with the watchdog out of reach)
speaks the protocol on stdin/stdout with the client found through PYTHONPATH, which is set to
the src directory of the checkout holding this file (give --src to count another checkout);
a child named bare.py (bench/children/bare.py) is sent bare values and no ``$ready`` is
expected. Ids start at --first-id: a host that has run a while sends uint32 ids. --keep keeps
the callgrind output files in DIR, for ``callgrind_annotate``.
"""
import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile

import msgpack

from child_cpu import read_frame  # (bench/ is on sys.path: this script's directory)

H = struct.Struct(">I")
HERE = os.path.dirname(os.path.abspath(__file__))



def count(args, calls):
    """Runs the child under callgrind with ``calls`` requests; returns its total instructions."""
    bare = os.path.basename(args.child) == "bare.py"
    keep = args.keep is not None
    if keep:
        os.makedirs(args.keep, exist_ok=True)  # valgrind would fail, and the child with it
        out = os.path.join(args.keep, "callgrind.%s.%d" % (args.mode, calls))
    else:
        fd, out = tempfile.mkstemp(prefix="cg")
        os.close(fd)
    # A fixed hash seed: with a random one, dict and set layouts (and so the count) vary.
    env = dict(os.environ, PYTHONPATH=args.src, POLYFORK_PROTOCOL="1", PYTHONHASHSEED="0")
    env.pop("PYTHONUNBUFFERED", None)
    p = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                          args.python, args.child],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, bufsize=0, env=env)
    pack = msgpack.Packer().pack
    payload = "x" * args.size
    window = 64 if args.mode == "batch" else 1
    end = args.first_id + 2 * args.calls
    if not bare:
        read_frame(p.stdout.fileno())  # $ready
    # The smaller run uses the larger one's second half of the ids: both pay the same widths.
    for start in range(end - calls, end, window):
        ids = range(start, min(start + window, end))
        frames = []
        for i in ids:
            body = pack(payload) if bare else pack([0, i, "echo", [payload]])
            frames.append(H.pack(len(body)) + body)
        p.stdin.write(b"".join(frames))
        for _ in ids:
            read_frame(p.stdout.fileno())
    p.stdin.close()
    p.stdout.read()
    p.wait()
    with open(out) as f:
        m = re.search(r"^totals: (\d+)", f.read(), re.M)
    if not keep:
        os.unlink(out)
    if m is None:
        sys.exit("no totals in " + out)
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--mode", choices=("one", "batch"), default="one")
    ap.add_argument("--child", default=os.path.join(HERE, "count_child.py"))
    ap.add_argument("--src", default=os.path.join(os.path.dirname(HERE), "src"))
    ap.add_argument("--first-id", type=int, default=1000001)
    ap.add_argument("--keep")
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    small = count(args, args.calls)
    large = count(args, 2 * args.calls)
    print("%s, %d B, %s: %.0f instructions per call (%d calls: %d, %d calls: %d)"
          % (os.path.basename(args.child), args.size, args.mode, (large - small) / args.calls,
             args.calls, small, 2 * args.calls, large))


if __name__ == "__main__":
    main()
