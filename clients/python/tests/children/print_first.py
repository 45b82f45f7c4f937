"""Prints before importing polyfork: buffered text must reach the log, not the channel."""
print("printed before the import")

import polyfork  # noqa: E402


@polyfork.handle("echo")
def echo(v):
    return v


polyfork.run()
