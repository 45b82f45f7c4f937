"""Prints the functions with the most samples in collapsed stacks ("a;b;c COUNT" lines), by
self time (the last frame) and by total time (anywhere in the stack):

    python3 bench/profile/collapsed_top.py FILE [N]
"""
import collections
import sys


def main(path, n=25):
    self_t, total_t, all_samples = collections.Counter(), collections.Counter(), 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            c = int(count)
            frames = stack.split(";")
            all_samples += c
            self_t[frames[-1]] += c
            for fr in set(frames):
                total_t[fr] += c
    print(f"{all_samples} samples")
    for title, counter in (("self", self_t), ("total", total_t)):
        print(f"-- by {title} time")
        for fr, c in counter.most_common(n):
            print(f"{100 * c / all_samples:6.1f}%  {fr}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25)
