"""A test child for answers written together: plain handlers, one that blocks, one that exits.

argv[1] is "sync" (run() serves without asyncio) or "async" (an async handler is registered,
so run() serves on asyncio; the plain handlers below still run inline).
"""
import sys
import threading

import polyfork

if len(sys.argv) > 1 and sys.argv[1] == "async":
    @polyfork.handle("aecho")
    async def aecho(v):
        return v


@polyfork.handle("echo")
def echo(v):
    return v


@polyfork.handle("read_fifo")
def read_fifo(path):
    # Blocks until the test opens the FIFO and writes to it.
    with open(path) as f:
        return f.read()


@polyfork.handle("sum_host")
def sum_host(a, b):
    return polyfork.call("host_add", a, b)


@polyfork.handle("threads")
def threads():
    return sorted(t.name for t in threading.enumerate())


@polyfork.handle("exit")
def exit_(code):
    sys.exit(code)


@polyfork.on("message")
def on_message(value):
    polyfork.send(value)


polyfork.run()
