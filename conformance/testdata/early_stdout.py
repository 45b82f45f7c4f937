"""Writes to descriptor 1 before the polyfork client is loaded, then from a handler in the
lowest-level ways Python has. With the channel on descriptors of its own (polyfork
-channel fd) these are log lines; over stdin and stdout the first one breaks the channel."""
import os

os.write(1, b"early bytes before the client\n")

import polyfork  # noqa: E402


@polyfork.handle("noisy")
def noisy():
    os.write(1, b"from os.write\n")
    os.system("echo from a shell")
    print("from print", flush=True)
    return "ok"


polyfork.run()
