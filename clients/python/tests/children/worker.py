"""A test child with sync and async handlers, calls to the host, and listeners.

argv[1] picks how run() serves: "sync" registers only plain handlers at start (the blocking
loop; async handlers are added by the request "enable_async", which makes run() switch to
asyncio), "async" registers everything at start (asyncio from the beginning).
"""
import asyncio
import datetime
import subprocess
import sys
import threading

import polyfork

mode = sys.argv[1] if len(sys.argv) > 1 else "async"
events = {}


class CustomError(Exception):
    """An error carrying data."""

    def __init__(self, message, data):
        super().__init__(message)
        self.data = data


def event(name):
    if name not in events:
        events[name] = asyncio.Event()
    return events[name]


@polyfork.handle("echo")
def echo(v):
    return v


@polyfork.handle
def sum_host(a, b):
    # A plain handler: call() blocks and reads the channel itself.
    return polyfork.call("host_add", a, b)


@polyfork.handle("boom")
def boom():
    raise CustomError("it went boom", {"code": 7, "why": ["a", "b"]})


@polyfork.handle("bad_result")
def bad_result(kind):
    if kind == "object":
        return object()
    if kind == "naive":
        return datetime.datetime(2020, 1, 1)
    if kind == "bigint":
        return [1, {"k": 2 ** 70}]
    if kind == "deep":
        v = []
        for _ in range(200):
            v = [v]
        return v
    return None


@polyfork.handle("big")
def big(n):
    return b"x" * n


@polyfork.handle("send_big")
def send_big(n):
    try:
        polyfork.send(b"x" * n)
    except polyfork.FrameTooLargeError as e:
        return {"type": type(e).__name__, "size": e.size, "limit": e.limit, "text": str(e)}
    return "sent"


@polyfork.handle("many")
def many(n):
    return list(range(n))


@polyfork.handle("send_many")
def send_many(n):
    try:
        polyfork.send(list(range(n)))
    except polyfork.TooManyValuesError as e:
        return {"type": type(e).__name__, "count": e.count, "limit": e.limit}
    return "sent"


@polyfork.handle("host_error")
def host_error():
    try:
        polyfork.call("host_fail", "nope")
    except polyfork.RemoteError as e:
        return {"class": type(e).__name__, "type": e.type, "message": e.message,
                "traceback": e.traceback, "data": e.data}
    return "no error"


@polyfork.handle("missing_on_host")
def missing_on_host():
    try:
        polyfork.call("no_such_host_method")
    except polyfork.MethodNotFoundError as e:
        return [type(e).__name__, e.type, e.message]
    return "no error"


@polyfork.handle("thread_sum")
def thread_sum(a, b):
    # From another thread while run() serves on this one: call() blocks that thread only.
    # This handler must not wait for the thread (the serving thread reads the answer), so it
    # returns at once and the thread reports through a notification.
    def work():
        try:
            polyfork.notify("thread_result", polyfork.call("host_add", a, b))
        except Exception as e:  # pragma: no cover - reported to the test
            polyfork.notify("thread_result", repr(e))

    threading.Thread(target=work).start()
    return "started"


@polyfork.handle("returns_awaitable")
def returns_awaitable(v):
    # A plain function that returns an awaitable: it is awaited like an async handler.
    return asyncio.sleep(0, v)


@polyfork.handle("stdio")
def stdio():
    # What a subprocess inherits, and what reading stdin gives: the protocol is out of reach.
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(sorted(int(f) for f in os.listdir('/proc/self/fd')))"],
        stdout=subprocess.PIPE, check=True)
    return {"subprocess_fds": out.stdout.decode().strip(), "stdin": sys.stdin.read()}


@polyfork.handle("subprocess_view")
def subprocess_view():
    # What a process started by this child sees: its descriptors and the polyfork variables.
    code = ("import json, os; "
            "fds = sorted(int(f) for f in os.listdir('/proc/self/fd') "
            "if os.path.exists('/proc/self/fd/' + f)); "
            "print(json.dumps([fds, {k: v for k, v in os.environ.items() "
            "if k.startswith(('POLYFORK_CHANNEL', 'LISTEN_'))}]))")
    out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, check=True)
    return out.stdout.decode()


@polyfork.handle("time")
def time_(iso):
    return datetime.datetime.fromisoformat(iso)


@polyfork.on("message")
def on_message(value):
    polyfork.send({"got": value})


@polyfork.on("note")
def on_note(*params):
    polyfork.send(["note"] + list(params))


@polyfork.on("raise")
def on_raise(*params):
    raise RuntimeError("listener failed on purpose")


def register_async():
    @polyfork.handle("aecho")
    async def aecho(v):
        await asyncio.sleep(0)
        return v

    @polyfork.handle("asum_host")
    async def asum_host(a, b):
        return await polyfork.call("host_add", a, b)

    @polyfork.handle("gate")
    async def gate(name):
        await event(name).wait()
        return "opened " + name

    @polyfork.handle("open")
    def open_(name):
        event(name).set()
        return True

    @polyfork.handle("started_sleep")
    async def started_sleep(ms):
        polyfork.notify("started", ms)
        try:
            await asyncio.sleep(ms / 1000)
        except asyncio.CancelledError:
            polyfork.notify("cancelled", ms)
            raise
        polyfork.send("finished %d" % ms)
        return "slept"

    @polyfork.handle("swallow_cancel")
    async def swallow_cancel():
        polyfork.notify("started", 0)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            return "finished anyway"
        return "not cancelled"

    @polyfork.handle("call_unanswered")
    async def call_unanswered():
        polyfork.notify("started", 0)
        try:
            await polyfork.call("never_answers")
        except polyfork.ChannelClosedError as e:
            return ["ChannelClosedError", str(e)]
        return "answered"

    @polyfork.handle("call_with_timeout")
    async def call_with_timeout():
        # The host never answers: wait_for cancels the call, which sends $cancel.
        try:
            await asyncio.wait_for(polyfork.call("slow_host"), 0.05)
        except asyncio.TimeoutError:
            return "timed out"
        return "answered"

    @polyfork.handle("executor_sum")
    async def executor_sum(a, b):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, polyfork.call, "host_add", a, b)

    @polyfork.handle("is_async_mode")
    def is_async_mode():
        try:
            asyncio.get_running_loop()
            return True
        except RuntimeError:
            return False

    @polyfork.on("anote")
    async def on_anote(*params):
        await asyncio.sleep(0)
        polyfork.send(["anote"] + list(params))


@polyfork.handle("enable_async")
def enable_async():
    register_async()
    return True


if mode == "async":
    register_async()
else:
    @polyfork.handle("is_async_mode")
    def is_async_mode():
        try:
            asyncio.get_running_loop()
            return True
        except RuntimeError:
            return False

polyfork.run()
sys.stderr.write("worker: run() returned\n")
