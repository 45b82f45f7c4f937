"""Misuses that `mypy --strict` must report (test_values.py): exactly three errors."""
import polyfork


@polyfork.handle("add")
def add(a: int, b: int) -> int:
    return a + b


@polyfork.on("message")
def on_message(value: str) -> None:
    polyfork.send(value)


@polyfork.handle
async def price(sku: str) -> float:
    return 1.0


text: str = add(1, 2)  # error: int is not str
on_message(5)  # error: int is not str
cost: float = price("x")  # error: a coroutine, not a float
