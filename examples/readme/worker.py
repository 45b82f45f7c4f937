# worker.py  (PYTHONPATH=clients/python/src, or pip install clients/python)
import polyfork

@polyfork.handle("add")
def add(a, b):
    return a + b

@polyfork.on("message")
def on_message(value):
    print("got", value)            # print() goes to stderr, never into the channel
    polyfork.send({"echo": value})

polyfork.run()                     # serve until the host says $stop or stdin closes
