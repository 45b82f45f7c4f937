"""A test child returning values msgpack cannot pack by itself: the encoder hook and the
built-in conversions (sets, Enums, dataclasses, numpy when argv[1] is "numpy")."""
import asyncio
import dataclasses
import decimal
import enum
import sys

import polyfork

if len(sys.argv) > 1 and sys.argv[1] == "numpy":
    import numpy as np


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Point:
    x: int
    y: float
    tags: frozenset


class Money:
    def __init__(self, cents):
        self.cents = cents


@polyfork.encoder
def encode(obj):
    if isinstance(obj, Money):
        return {"cents": obj.cents, "of": Color.RED}  # encoded in turn
    raise TypeError("not mine")  # declines: the built-in conversions apply


@polyfork.handle("builtins")
def builtins():
    return {"set": {3}, "frozenset": frozenset({"a"}), "enum": Color.RED,
            "int_enum": Level.HIGH, "point": Point(1, 2.5, frozenset({4})),
            "money": [Money(5)]}


@polyfork.handle("unknown")
def unknown():
    return {"n": decimal.Decimal("1.5")}


@polyfork.handle("numpy_values")
def numpy_values():
    return {"int64": np.int64(7), "float32": np.float32(1.5), "float64": np.float64(0.25),
            "bool": np.bool_(True), "array": np.arange(3), "matrix": np.zeros((2, 2), int),
            "float32s": np.array([0.5], dtype=np.float32), "str": np.str_("s")}


@polyfork.handle("numpy_unknown")
def numpy_unknown():
    return np.random.default_rng(0)


@polyfork.handle("numpy_loaded")
def numpy_loaded():
    return "numpy" in sys.modules


@polyfork.on("try_send")
def try_send():
    try:
        polyfork.send(object())
    except polyfork.EncodeError as e:
        polyfork.send({"caught": str(e)})


@polyfork.on("send_uncaught")
def send_uncaught():
    polyfork.send({"s": {object()}})


@polyfork.handle("forgot_await")
async def forgot_await():
    r = polyfork.call("host_add", 1, 2)  # an awaitable here, not the result
    return {"sum": r}


@polyfork.handle("awaited")
async def awaited():
    return await polyfork.call("host_add", 1, 2) + await polyfork.call_async("host_add", 3, 4)


@polyfork.handle("dropped_call")
async def dropped_call():
    polyfork.call("host_add", 5, 6)  # never awaited: a warning names it
    await asyncio.sleep(0)
    return "dropped"


polyfork.run()
