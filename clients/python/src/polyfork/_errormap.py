"""Error maps (SPEC section 4.2): Python exceptions to maps and maps to RemoteError."""
from __future__ import annotations

import traceback as _tb
from typing import Any, Dict

from .errors import MethodNotFoundError, RemoteError

__all__ = ["error_map", "remote_error", "method_not_found", "cancelled", "stopping",
           "protocol_error_map"]


def error_map(exc: BaseException, skip_frames: int = 0) -> Dict[str, Any]:
    """Describes exc as an error map: type (class qualname), message, traceback, data.

    ``data`` is included when the exception has a ``data`` attribute that is not None (a
    RemoteError re-raised by a handler keeps the host's data this way). skip_frames drops that
    many outermost frames (the library's own dispatch frame) from the traceback.
    """
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not break the response
        message = "<%s with an unprintable message>" % type(exc).__qualname__
    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    m: Dict[str, Any] = {
        "type": type(exc).__qualname__,
        "message": message,
        "traceback": "".join(_tb.format_exception(type(exc), exc, tb)),
    }
    data = getattr(exc, "data", None)
    if data is not None:
        m["data"] = data
    return m


def remote_error(m: Dict[str, Any]) -> RemoteError:
    """Turns an error map from the host into a RemoteError (MethodNotFoundError when it says so)."""
    cls = MethodNotFoundError if m["type"] == "MethodNotFound" else RemoteError
    tb = m.get("traceback")
    return cls(m["type"], m["message"], tb if isinstance(tb, str) else None, m.get("data"))


def cut_name(method: str) -> str:
    """A method name for an error message: whole up to 200 bytes of UTF-8, else its first 200
    (at a character boundary) and its length, as the host and the other clients cut it. A
    name is the caller's input, and may be huge."""
    raw = method.encode("utf-8", "surrogateescape")
    if len(raw) <= 200:
        return method
    n = 200
    while n > 0 and raw[n] & 0xC0 == 0x80:
        n -= 1
    return "%s... (%d bytes)" % (raw[:n].decode("utf-8", "surrogateescape"), len(raw))


def method_not_found(method: str) -> Dict[str, Any]:
    """The error map for a request whose method has no handler."""
    return {"type": "MethodNotFound", "message": 'no handler for method "%s"' % cut_name(method)}


def cancelled(method: str) -> Dict[str, Any]:
    """The error map for a handler that ended by $cancel."""
    return {"type": "CancelledError",
            "message": 'the handler of "%s" was cancelled by the host ($cancel)' % method}


def stopping(method: str) -> Dict[str, Any]:
    """The error map for a request that arrived after $stop: it was never run (SPEC 4.2)."""
    return {"type": "Stopping",
            "message": 'request "%s" arrived after $stop: the child starts no new handlers, '
                       'so it was not run' % method}


def protocol_error_map(message: str) -> Dict[str, Any]:
    """An error map of the reserved type ProtocolError: the request could not be served."""
    return {"type": "ProtocolError", "message": message}
