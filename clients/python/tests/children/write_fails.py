"""A child for the tests of a failed write: every handler and listener logs that it ran.

argv[1]: "sync" (plain handlers only: the blocking loop) or "async" (also an async handler,
so run() serves on asyncio).
"""
import asyncio
import sys

import polyfork

mode = sys.argv[1] if len(sys.argv) > 1 else "sync"


def say(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


@polyfork.handle("log")
def log_(text):
    say(text)
    return True


if mode == "async":
    @polyfork.handle("sleep")
    async def sleep(seconds):
        await asyncio.sleep(seconds)
        return "slept"


@polyfork.on("message")
def on_message(value):
    say("message %s" % value)
    polyfork.send(value)


polyfork.run()
