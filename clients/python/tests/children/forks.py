"""A test child whose handlers fork (os.fork, multiprocessing's "fork" start method).

argv[1] is "sync" (plain handlers: the blocking loop) or "async" (an async handler is
registered too, so run() serves on asyncio).
"""
import os
import signal
import sys
import threading
import time

import polyfork

mode = sys.argv[1] if len(sys.argv) > 1 else "sync"


@polyfork.handle("pid")
def pid():
    return os.getpid()


@polyfork.handle("forget_exit")
def forget_exit():
    # A careless fork: the copy returns from the handler as the worker does.
    return "from-copy" if os.fork() == 0 else "from-worker"


@polyfork.on("forget_exit_in_listener")
def forget_exit_in_listener():
    os.fork()  # both return to the loop; only the worker may go on


@polyfork.handle("copy_uses_the_channel")
def copy_uses_the_channel(hold_the_lock):
    """Forks a copy that tries send, notify and call; returns what each did in the copy.

    hold_the_lock: another thread of the worker holds the writer's lock (its encoder hook
    blocks) when the fork happens.
    """
    entered, release = threading.Event(), threading.Event()
    if hold_the_lock:
        class Slow:
            pass

        def hook(v):
            if isinstance(v, Slow):
                entered.set()
                release.wait()
                return "slow"
            raise TypeError("unexpected %r" % (v,))

        polyfork.encoder(hook)
        t = threading.Thread(target=polyfork.send, args=(Slow(),))
        t.start()
        entered.wait()
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(30)  # a copy stuck on a lock taken before the fork must not live on
        os.close(r)
        out = []
        for name, fn in (("send", lambda: polyfork.send("from-copy")),
                         ("notify", lambda: polyfork.notify("from_copy", 1)),
                         ("call", lambda: polyfork.call("host_add", 1, 2))):
            try:
                fn()
                out.append("%s: done" % name)
            except polyfork.ChannelClosedError as e:
                out.append("%s: %s" % (name, e))
            except BaseException as e:  # noqa: BLE001 - reported to the test
                out.append("%s: %s: %s" % (name, type(e).__name__, e))
        os.write(w, "\n".join(out).encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    os.waitpid(child, 0)
    if hold_the_lock:
        release.set()
        t.join()
    return b"".join(chunks).decode()


@polyfork.handle("background_copy")
def background_copy():
    """Forks a copy that outlives the worker (a background job ended with os._exit)."""
    child = os.fork()
    if child == 0:
        time.sleep(600)
        os._exit(0)
    return child


if mode == "async":
    @polyfork.handle("async_pid")
    async def async_pid():
        return os.getpid()

polyfork.run()
