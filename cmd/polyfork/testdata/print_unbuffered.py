# Prints before it imports polyfork; under PYTHONUNBUFFERED=1 the line goes to stdout at
# once, before the library takes stdout over (TestStdoutHint).
print("loading the model")

import polyfork  # noqa: E402

polyfork.handle("add")(lambda a, b: a + b)
polyfork.run()
