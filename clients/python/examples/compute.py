"""The seed's compute.js as a polyfork worker in Python.

On any message it computes sum(range(100000)) and sends the result back (4999950000); the
method get_sum returns the same. Run it under a polyfork host, for example:

    polyfork call get_sum '[]' -- python3 clients/python/examples/compute.py
"""
import os
import sys

# Use the library from this repository when it is not installed.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import polyfork  # noqa: E402


def compute():
    print("computing the sum...")  # goes to the host's log, not into the channel
    return sum(range(100000))


@polyfork.on("message")
def on_message(message):
    polyfork.send(compute())


@polyfork.handle("get_sum")
def get_sum():
    return compute()


polyfork.run()
