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


# What a full-screen program (a curses debugger, prompt_toolkit's ipdb) turns on in the
# terminal: the alternate screen, a hidden cursor, mouse reports, bracketed paste,
# application keys, a colour.
ODD_MODES = "\x1b[?1049h\x1b[?25l\x1b[?1000h\x1b[?1006h\x1b[?2004h\x1b[?1h\x1b=\x1b[31m"


@polyfork.handle("odd_modes")
def odd_modes(code):
    sys.stdout.write(ODD_MODES + "odd modes on\r\n")
    sys.stdout.flush()
    if code is None:
        time.sleep(60)
    os._exit(code)


polyfork.run()
