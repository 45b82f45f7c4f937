"""A worker written with types: `mypy --strict` must pass on it (test_values.py)."""
import dataclasses
import enum
from typing import Any

import polyfork


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


@polyfork.handle("add")
def add(a: int, b: int) -> int:
    return a + b


@polyfork.handle
def point(x: int) -> Point:
    return Point(x, add(x, 1))


@polyfork.handle("price")
async def price(sku: str) -> float:
    found = await polyfork.call_async("lookup", sku)
    return float(found)


@polyfork.on("message")
def on_message(value: object) -> None:
    polyfork.send({"echo": value, "color": Color.RED})


@polyfork.encoder
def encode(obj: Any) -> Any:
    if isinstance(obj, complex):
        return [obj.real, obj.imag]
    raise TypeError


def by_hand(a: int) -> int:
    return a


polyfork.handle("by_hand", by_hand)
total: int = add(1, 2) + by_hand(3)
sockets = polyfork.listen_sockets()
names: list[str] = polyfork.listen_socket_names()

if __name__ == "__main__":
    polyfork.run()
