"""A worker for serve's tests, on the Python client's public API.

At a clean exit (after $stop or at end of stdin) it writes "worker PID stopped cleanly" to
stderr; a worker ended by a signal never does, so the tests can tell a drain from a kill.
"""
import asyncio
import atexit
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python", "src"))

import polyfork  # noqa: E402


@polyfork.handle("echo")
def echo(v):
    return v


@polyfork.handle("big")
def big(n):
    return "x" * n


@polyfork.handle("raise_big")
def raise_big(n):
    raise ValueError("x" * n)


@polyfork.handle("keys")
def keys(n=0):
    # n > 0: a large result, streamed by serve, with the colliding keys at its end
    return [{"pad": "x" * n}, {1: "an integer key", "1": "a string key"}]


@polyfork.handle("sleep")
async def sleep(ms):
    await asyncio.sleep(ms / 1000)
    return "slept"


@polyfork.handle("pid")
def pid():
    return os.getpid()


@polyfork.handle("stderr")
def stderr(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
    return True


def _bye():
    sys.stderr.write("worker %d stopped cleanly\n" % os.getpid())
    sys.stderr.flush()


atexit.register(_bye)
polyfork.run()
