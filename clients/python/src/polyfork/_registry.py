"""Handlers of requests and listeners of notifications, by name."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Tuple

__all__ = ["Registry", "is_async"]

Listeners = Tuple[Tuple[Tuple[Callable[..., Any], bool], ...], bool]


def is_async(fn: Callable[..., Any]) -> bool:
    """Tells whether calling fn returns a coroutine (async def, also as a method or __call__)."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None))


class Registry:
    """What the session dispatches to.

    ``handlers`` maps a method name to ``(fn, is_async)``. ``listeners`` maps a notification
    name to ``(((fn, is_async), ...), any_async)``; the tuple is replaced, never mutated, so a
    dispatch in progress keeps the listeners it started with. The session reads both dicts
    directly on its hot path.
    """

    __slots__ = ("handlers", "listeners")

    def __init__(self) -> None:
        self.handlers: Dict[str, Tuple[Callable[..., Any], bool]] = {}
        self.listeners: Dict[str, Listeners] = {}

    def add_handler(self, name: str, fn: Callable[..., Any]) -> None:
        """Makes fn the handler of method name, replacing any earlier one."""
        if not isinstance(name, str):
            raise TypeError("polyfork: a method name is a str, got %r" % (name,))
        if not callable(fn):
            raise TypeError("polyfork: a handler must be callable, got %r" % (fn,))
        self.handlers[name] = (fn, is_async(fn))

    def add_listener(self, name: str, fn: Callable[..., Any]) -> None:
        """Adds fn to the listeners of notification name."""
        if not isinstance(name, str):
            raise TypeError("polyfork: a notification name is a str, got %r" % (name,))
        if name.startswith("$"):
            raise ValueError("polyfork: notification names starting with $ are reserved: %r"
                             % name)
        if not callable(fn):
            raise TypeError("polyfork: a listener must be callable, got %r" % (fn,))
        fns = self.listeners.get(name, ((), False))[0] + ((fn, is_async(fn)),)
        self.listeners[name] = (fns, any(a for _, a in fns))

    def remove_listener(self, name: str, fn: Callable[..., Any]) -> None:
        """Removes fn from the listeners of name; does nothing if it is not there."""
        fns = tuple(x for x in self.listeners.get(name, ((), False))[0] if x[0] is not fn)
        if fns:
            self.listeners[name] = (fns, any(a for _, a in fns))
        else:
            self.listeners.pop(name, None)

    def any_async(self) -> bool:
        """Tells whether any handler or listener is async (then serving needs asyncio)."""
        return (any(a for _, a in self.handlers.values())
                or any(a for _, a in self.listeners.values()))
