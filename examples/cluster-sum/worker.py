"""A cluster-sum worker in Python: answers one request, as the seed's cluster workers do."""
import os

import polyfork


@polyfork.handle("handle_request")
def handle_request(path):
    print("process pid", os.getpid(), "serves", path)  # to the host's log, tagged
    total = 0
    for i in range(100000):
        total += i
    return {"pid": os.getpid(), "lang": "python", "sum": total}


polyfork.run()
