"""The worker the remote tests serve behind an agent (PYTHONPATH=clients/python/src)."""
import asyncio
import os
import signal
import sys

import polyfork


class WorkerError(Exception):
    """The error the fail method raises."""


@polyfork.handle("echo")
def echo(v):
    return v


@polyfork.handle("add")
def add(a, b):
    return a + b


@polyfork.handle("getenv")
def getenv(name):
    return os.environ.get(name)


@polyfork.handle("fail")
def fail(message):
    raise WorkerError(message)


@polyfork.handle("fail_big")
def fail_big(path, n):
    """Appends a line to the file at path, then raises with a message of n bytes."""
    with open(path, "a") as f:
        f.write("ran\n")
    raise WorkerError("e" * n)


@polyfork.handle("big")
def big(n):
    return b"x" * n


@polyfork.handle("sleep")
async def sleep(ms):
    try:
        await asyncio.sleep(ms / 1000)
    except asyncio.CancelledError:
        polyfork.notify("cancelled", ms)
        raise
    return "slept"


@polyfork.handle("whoami")
async def whoami(ms):
    """Sleeps ms milliseconds, then returns this worker's pid and its agent's tag."""
    await asyncio.sleep(ms / 1000)
    return {"pid": os.getpid(), "agent": os.environ.get("AGENT_TAG", "")}


@polyfork.handle("job")
async def job(v):
    """The durable method: reports v as done, slowly enough to be caught by a kill."""
    await asyncio.sleep(0.02)
    polyfork.send({"done": v, "agent": os.environ.get("AGENT_TAG", "")})
    return True


@polyfork.handle("charge")
async def charge(path):
    """Not idempotent: appends a line to the file at path, then takes 2 s to answer."""
    with open(path, "a") as f:
        f.write("charged\n")
    await asyncio.sleep(2)
    return "ok"


@polyfork.handle("exit")
def exit_(code):
    sys.stderr.flush()
    os._exit(code)


@polyfork.on("message")
def on_message(value):
    polyfork.send(value)


@polyfork.on("note")
def on_note(a, b):
    polyfork.notify("noted", a, b)


if __name__ == "__main__":
    if os.environ.get("WORKER_EXIT_ON_TERM"):
        # A graceful-stop handler, as servers have: SIGTERM ends the worker with status 0.
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    polyfork.run()
