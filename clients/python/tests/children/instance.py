"""The instance API: a Session object instead of the module-level functions."""
import polyfork

session = polyfork.Session()
seen = []


@session.handle("add")
def add(a, b):
    return a + b


def remember(value):
    seen.append(value)
    session.send({"seen": list(seen)})


session.on("message", remember)


@session.handle
def forget():
    session.off("message", remember)
    return len(seen)


session.run()
