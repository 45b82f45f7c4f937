"""The conformance child of protocol/SPEC.md section 9, served with polyfork's public API.

Run it as a polyfork child: ``python3 clients/python/tests/conformance_child.py``. It finds
the package in ../src when polyfork is not installed.
"""
import asyncio
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import polyfork  # noqa: E402


class ConformanceError(Exception):
    """The error the fail method raises."""


@polyfork.handle("echo")
def echo(v):
    return v


@polyfork.handle("add")
def add(a, b):
    return a + b


@polyfork.handle("fail")
def fail(message):
    raise ConformanceError(message)


@polyfork.handle("sleep")
async def sleep(ms):
    try:
        await asyncio.sleep(ms / 1000)
    except asyncio.CancelledError:
        polyfork.notify("cancelled", ms)
        raise
    return "slept"


@polyfork.handle("call_host")
async def call_host(method, params):
    return await polyfork.call(method, *params)


@polyfork.handle("print")
def print_(text):
    print(text)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    os.write(1, (text + "\n").encode("utf-8"))
    subprocess.run([sys.executable, "-c", "import sys; print(sys.argv[1])", text], check=True)
    return True


@polyfork.handle("stderr")
def stderr(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
    return True


@polyfork.handle("exit")
def exit_(code):
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@polyfork.handle("pid")
def pid():
    return os.getpid()


@polyfork.on("message")
def on_message(value):
    polyfork.send(value)


if __name__ == "__main__":
    polyfork.run()
