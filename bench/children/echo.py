"""The polyfork Python echo child of the benchmark: one handler, written as a user would."""
import polyfork


@polyfork.handle("echo")
def echo(value):
    return value


polyfork.run()
