"""The polyfork Python echo child of the benchmark: handlers written as a user would."""
import time

import polyfork


@polyfork.handle("echo")
def echo(value):
    return value


@polyfork.handle("sleep")
def sleep(ms):
    """A slow call of the mixed workload: blocks the worker for ms milliseconds."""
    time.sleep(ms / 1000)
    return ms


polyfork.run()
