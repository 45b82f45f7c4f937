# Writes one byte to stdout before it imports polyfork: a frame-length error whose $ready
# frame follows the stray byte (TestStdoutHint).
import os

os.write(1, b"x")

import polyfork  # noqa: E402

polyfork.handle("add")(lambda a, b: a + b)
polyfork.run()
