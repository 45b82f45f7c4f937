"""Sends and calls before run(): $ready must still come first, and requests that arrive
while the top-level call() blocks are served once run() starts."""
import polyfork

polyfork.send("early")
total = polyfork.call("host_add", 20, 22)  # no loop yet: blocks, reading the channel itself
polyfork.send({"total": total})


@polyfork.handle("echo")
def echo(v):
    return v


polyfork.run()
