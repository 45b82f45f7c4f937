"""The seed's compute.js as a remote worker: it sums 0..99999 when a caller asks.

Started by a polyfork agent, possibly on another machine than the HTTP host that calls it:

    polyfork agent -embed-nats -service sum -- python3 compute.py

print() goes to the agent's stderr, tagged with this worker's name and pid.
"""
import os
import socket

import polyfork


@polyfork.handle("get_sum")
def get_sum(crash=False):
    print("worker pid", os.getpid(), "computing a sum")
    if crash:
        print("crashing on purpose")
        os._exit(1)
    total = 0
    for i in range(100000):
        total += i
    return {"sum": total, "pid": os.getpid(), "host": socket.gethostname()}


polyfork.run()
