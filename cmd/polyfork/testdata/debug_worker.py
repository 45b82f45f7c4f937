"""A worker for the console tests and the README's debugging example.

Run it under polyfork with a console (polyfork call -console, or serve -console DIR and
polyfork attach): debug() stops in pdb, where `p value` and `c` work as at a terminal.
"""
import os
import sys
import time

import polyfork


@polyfork.handle("stdout_isatty")
def stdout_isatty():
    return sys.stdout.isatty()


@polyfork.handle("debug")
def debug(value):
    doubled = value * 2
    breakpoint()  # the console's user types `p value`, then `c`
    return doubled


@polyfork.handle("sleep")
def sleep(seconds):
    print("sleeping", flush=True)
    time.sleep(seconds)
    return "slept"


@polyfork.handle("crash")
def crash(code):
    print("crashing on purpose", flush=True)
    os._exit(code)


polyfork.run()
