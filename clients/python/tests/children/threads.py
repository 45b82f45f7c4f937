"""Several threads call the host at once before run(): one reads the channel at a time and
hands over when its own answer has come; the others get theirs from it."""
import threading

import polyfork

results = {}


def work(i):
    results[i] = polyfork.call("host_add", i, 100)


threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
polyfork.send(sorted(results.items()))


@polyfork.handle("echo")
def echo(v):
    return v


polyfork.run()
