"""The ``echo`` child of instructions.py: bench/children/echo.py with the watchdog out of reach.

Under valgrind every handler runs some 50 times slower, so with the default _MAX_DELAY (2 ms)
the watchdog thread would write kept answers itself, which it never does at native speed;
with the delay out of reach the answers of one read leave together in the reader's flush, as
they do without valgrind, and the count does not depend on the machine's speed.
"""
import polyfork
from polyfork import _writer

_writer._MAX_DELAY = 3600.0


@polyfork.handle("echo")
def echo(value):
    return value


polyfork.run()
