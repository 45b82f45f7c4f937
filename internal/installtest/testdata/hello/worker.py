import polyfork


@polyfork.handle("add")
def add(a, b):
    return {"total": a + b, "by": "python"}


polyfork.run()
