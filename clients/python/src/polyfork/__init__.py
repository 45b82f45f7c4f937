"""polyfork: serve a polyfork host from Python, over the child's stdin and stdout.

A worker in five lines::

    import polyfork

    @polyfork.on("message")
    def on_message(value):
        polyfork.send({"echo": value})

    @polyfork.handle("add")
    def add(a, b):
        return a + b

    polyfork.run()

The module-level functions use one default :class:`Session` on the channel the host gave.
Importing the package under a polyfork host (POLYFORK_PROTOCOL set) opens it at once: the
descriptors named by POLYFORK_CHANNEL_FDS when the host set it (descriptors 0 and 1 are then
left alone), else private copies of file descriptors 0 and 1, with descriptor 1 pointed at
stderr, so ``print()`` and subprocesses cannot corrupt the channel. Otherwise that happens
when the default session is first used. See README.md for the value mapping and the rules of
``call`` (blocking or awaitable), cancellation and stopping.
"""
from __future__ import annotations

import sys

# What a worker run with the wrong interpreter, or without msgpack (PYTHONPATH instead of
# pip install), would otherwise learn from a traceback deep in the package.
if sys.version_info < (3, 9):
    raise ImportError("polyfork needs Python 3.9 or later; %s is Python %s"
                      % (sys.executable, sys.version.split()[0]))
try:
    import msgpack as _msgpack  # type: ignore[import-untyped] # noqa: F401
except ImportError:
    raise ModuleNotFoundError(
        "polyfork needs the msgpack package (msgpack>=1.0), which %s cannot import: "
        "pip install msgpack (pip install /path/to/polyfork/clients/python brings it), or on "
        "Debian apt install python3-msgpack" % sys.executable, name="msgpack") from None

import asyncio
import os
import threading
from typing import Any, Callable, Optional, overload

from ._channel import CHANNEL_FDS, open_channel
from ._listen import listen_socket, listen_socket_names, listen_sockets
from ._version import __version__
from ._session import LIB, F, H, Session
from .errors import (BridgeError, ChannelClosedError, DecodeError, EncodeError,
                     FrameTooLargeError, MethodNotFoundError, ProtocolError, RemoteError,
                     TooManyValuesError)

__all__ = [
    "__version__",
    "LIB",
    "Session",
    "default_session",
    "send",
    "notify",
    "call",
    "call_async",
    "on",
    "off",
    "handle",
    "encoder",
    "run",
    "serve",
    "listen_sockets",
    "listen_socket",
    "listen_socket_names",
    "BridgeError",
    "ProtocolError",
    "ChannelClosedError",
    "EncodeError",
    "FrameTooLargeError",
    "TooManyValuesError",
    "DecodeError",
    "RemoteError",
    "MethodNotFoundError",
]


_default: Optional[Session] = None
_default_lock = threading.Lock()


def default_session() -> Session:
    """Returns the Session the module-level functions use, creating it on first use."""
    global _default
    s = _default
    if s is None:
        with _default_lock:
            if _default is None:
                _default = Session()
            s = _default
    return s


def send(value: Any) -> None:
    """Sends value to the host's message listener; see :meth:`Session.send`."""
    default_session().send(value)


def notify(name: str, *params: Any) -> None:
    """Sends the notification ``name`` with params; see :meth:`Session.notify`."""
    default_session().notify(name, *params)


def call(method: str, *params: Any) -> Any:
    """Calls the host's ``method``: blocking, or an awaitable in a coroutine; see :meth:`Session.call`."""
    return default_session().call(method, *params)


def call_async(method: str, *params: Any) -> "asyncio.Future[Any]":
    """Calls the host's ``method`` and returns an awaitable; see :meth:`Session.call_async`."""
    return default_session().call_async(method, *params)


@overload
def on(name: F) -> F: ...
@overload
def on(name: str) -> Callable[[F], F]: ...
@overload
def on(name: str, fn: F) -> F: ...


def on(name: Any, fn: Any = None) -> Any:
    """Adds a listener for notifications ``name`` (decorator); see :meth:`Session.on`."""
    return default_session().on(name, fn)


def off(name: str, fn: Callable[..., Any]) -> None:
    """Removes a listener added with :func:`on`."""
    default_session().off(name, fn)


@overload
def handle(name: F) -> F: ...
@overload
def handle(name: str) -> Callable[[F], F]: ...
@overload
def handle(name: str, fn: F) -> F: ...


def handle(name: Any = None, fn: Any = None) -> Any:
    """Registers the handler of method ``name`` (decorator); see :meth:`Session.handle`."""
    return default_session().handle(name, fn)


def encoder(fn: H) -> H:
    """Sets the encoder hook for values msgpack cannot pack (decorator); see
    :meth:`Session.encoder`."""
    return default_session().encoder(fn)


def run() -> None:
    """Serves until ``$stop`` or end of stdin, then returns; see :meth:`Session.run`."""
    default_session().run()


async def serve() -> None:
    """Serves on the running asyncio loop until ``$stop`` or end of stdin; see :meth:`Session.serve`."""
    await default_session().serve()


if os.environ.get("POLYFORK_PROTOCOL") or CHANNEL_FDS in os.environ:
    try:
        open_channel()
    except BridgeError as e:  # a start-up error (SPEC 1.1): one line on stderr, status 1
        raise SystemExit(str(e)) from None
