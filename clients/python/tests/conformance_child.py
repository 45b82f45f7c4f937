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


@polyfork.handle("isatty")
def isatty():
    return [os.isatty(0), os.isatty(1), os.isatty(2)]


@polyfork.handle("write_fd1")
def write_fd1(text):
    data = text.encode("utf-8")
    while data:
        data = data[os.write(1, data):]
    return True


@polyfork.handle("env")
def env(name):
    return os.environ.get(name)


@polyfork.handle("fds")
def fds():
    # listdir opens a descriptor of its own to list them and closes it before returning:
    # that entry no longer exists, the child's do.
    return sorted(int(f) for f in os.listdir("/proc/self/fd")
                  if os.path.exists("/proc/self/fd/" + f))


@polyfork.handle("listeners")
def listeners():
    return polyfork.listen_socket_names()


@polyfork.on("message")
def on_message(value):
    polyfork.send(value)


if __name__ == "__main__":
    polyfork.run()
