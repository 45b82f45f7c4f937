"""A test child that sends from a signal handler and from its encoder hook, both of which run
while the library writes a frame of the same thread."""
import itertools
import os
import signal
import sys

import polyfork

ticks = itertools.count()  # (next() is atomic: a handler may interrupt another)


class Signals:
    """Encoded by the hook below, which raises SIGUSR1 at itself: Python runs the signal
    handler at once, inside the hook, while the writer holds its lock."""


class Sends:
    """Encoded by the hook below, which sends a message itself."""


def on_usr1(signum, frame):
    polyfork.notify("from_signal", "usr1")


def on_alarm(signum, frame):
    polyfork.notify("tick", next(ticks))


@polyfork.encoder
def hook(v):
    if isinstance(v, Signals):
        os.kill(os.getpid(), signal.SIGUSR1)
        return "signalled"
    if isinstance(v, Sends):
        polyfork.send("from the hook")
        return "sent"
    raise TypeError("unexpected %r" % (v,))


signal.signal(signal.SIGUSR1, on_usr1)
signal.signal(signal.SIGALRM, on_alarm)


@polyfork.handle("signals")
def signals():
    return Signals()


@polyfork.handle("sends")
def sends():
    return Sends()


@polyfork.handle("big_with_ticks")
def big_with_ticks(n):
    # A timer's signal handler sends while the answer is written (often blocked on the pipe).
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    return b"x" * n


@polyfork.handle("stop_ticks")
def stop_ticks():
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    return True


if len(sys.argv) > 1 and sys.argv[1] == "async":
    @polyfork.handle("nothing")
    async def nothing():
        return None

polyfork.run()
