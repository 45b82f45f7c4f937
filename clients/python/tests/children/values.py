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


class Fragile:
    """Its encoder hook raises: the error names where it was."""


@polyfork.encoder
def encode(obj):
    if isinstance(obj, Fragile):
        raise ValueError("fragile on purpose")
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


@polyfork.handle("bad_at")
def bad_at(kind):
    # Each returns a value whose one bad part sits deep inside; the error must say where.
    if kind == "type":
        return {"a": [1, decimal.Decimal("2")]}
    if kind == "bigint":
        return [0, {"k": [2 ** 70]}]
    if kind == "naive":
        return {"when": [None, __import__("datetime").datetime(2020, 1, 1)]}
    if kind == "surrogate":
        return {"it's": "\udc80"}
    if kind == "hook":
        return [{"x": Money(1)}, {"y": Fragile()}]
    if kind == "converted":
        return {"p": Point(1, 2.0, frozenset({decimal.Decimal("3")}))}
    if kind == "deep":
        v = []
        for _ in range(200):
            v = [v]
        return {"d": v}
    if kind == "self":
        v = []
        v.append(v)
        return [v]
    if kind == "many":
        return [[1], list(range(300))]
    return None


@polyfork.handle("send_bad_at")
def send_bad_at(how):
    # What user code gets back when it sends, notifies or calls with a bad value.
    value = {"a": [1, decimal.Decimal("2")]}
    try:
        if how == "send":
            polyfork.send(value)
        elif how == "notify":
            polyfork.notify("note", 1, value)
        else:
            polyfork.call("host_method", value)
    except polyfork.EncodeError as e:
        return str(e)
    return "sent"


polyfork.run()
