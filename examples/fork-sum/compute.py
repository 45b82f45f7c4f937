"""The seed's compute.js, in Python: a child that sums 0..99999 when its parent says so.

Run by main.go, one process per request. print() goes to stderr, which the host relays
tagged with this child's name and pid; stdout belongs to the protocol.
"""
import os

import polyfork


def get_sum():
    total = 0
    for i in range(100000):
        total += i
    return total


@polyfork.on("message")
def on_message(data):
    print("child pid", os.getpid())
    print("child received:", data)
    if data == "crash":
        print("crashing on purpose")
        os._exit(1)
    polyfork.send(get_sum())


polyfork.run()
