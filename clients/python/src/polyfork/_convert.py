"""What Python values the encoder turns into msgpack beyond the native types (SPEC 7).

msgpack-python packs None, bool, int, float, str, bytes, list, tuple, dict, aware datetimes,
msgpack.Timestamp and msgpack.ExtType (and their subclasses) by itself, and hands anything
else to ``default``. Ours, ``make_default(hook_of)``, tries in order:

1. the user's encoder hook, when one is set (``polyfork.encoder``): like ``json``'s
   ``default=``, it returns something encodable or raises TypeError to decline;
2. the built-in conversions: a set or frozenset becomes an array (in iteration order), an
   Enum its ``.value``, a dataclass instance a map of its fields, a numpy scalar its Python
   equivalent (``.item()``) and a numpy array a nested array (``.tolist()``);
3. a clear EncodeError naming the type, module-qualified (``numpy.datetime64``).

numpy is never imported here: its types can only reach the encoder if the program imported
it, so they are looked up in ``sys.modules``.
"""
from __future__ import annotations

import datetime as _dt
import enum
import inspect
import sys
from typing import Any, Callable, Optional

import msgpack  # type: ignore[import-untyped]

from .errors import EncodeError

__all__ = ["make_default", "type_name"]

Hook = Callable[[Any], Any]
_NOTHING = object()


def type_name(obj: Any) -> str:
    """The type of obj, qualified by its module unless it is a built-in (``numpy.bool``)."""
    t = type(obj)
    module = getattr(t, "__module__", None)
    name = getattr(t, "__qualname__", t.__name__)
    if module in (None, "builtins"):
        return name
    return "%s.%s" % (module, name)


def _builtin(obj: Any) -> Any:
    """The built-in conversion of obj, or _NOTHING when there is none."""
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if hasattr(type(obj), "__dataclass_fields__") and not isinstance(obj, type):
        import dataclasses  # already imported by whoever defined the dataclass

        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, np.generic):
            value = obj.item()
            if type(value) is type(obj):  # no Python equivalent (a structured numpy.void)
                return _NOTHING
            return value
    return _NOTHING


def _refuse(obj: Any) -> Any:
    if isinstance(obj, _dt.datetime):
        if obj.tzinfo is None or obj.utcoffset() is None:
            raise EncodeError("a datetime without a timezone (%s): give it one, such as "
                              "datetime.timezone.utc, to send it as a msgpack timestamp" % obj)
        return msgpack.Timestamp.from_datetime(obj)
    if isinstance(obj, int):  # msgpack hands ints that overflow 64 bits to default
        raise EncodeError("the int %d, outside the range msgpack can carry (-2**63 to 2**64-1)"
                          % obj)
    if inspect.isawaitable(obj):
        raise TypeError("an awaitable (%s) that was never awaited: await it first (in a "
                        "coroutine, polyfork.call() returns an awaitable; "
                        "`await polyfork.call_async(...)` says so)" % type_name(obj))
    raise TypeError("an object of type %s; polyfork sends None, bool, int, float, str, bytes, "
                    "list, tuple, dict, set, datetime (with a timezone), Enum, dataclasses, "
                    "numpy scalars and arrays, msgpack.Timestamp and msgpack.ExtType, and what "
                    "an encoder hook (polyfork.encoder) turns into those" % type_name(obj))


def make_default(hook_of: Optional[Callable[[], Optional[Hook]]] = None) -> Hook:
    """Returns the ``default`` function for a msgpack Packer: see the module doc.

    ``hook_of()`` returns the user's hook at the time of the call (or None), so a hook set
    after the packer was made is used.
    """

    def default(obj: Any) -> Any:
        hook = hook_of() if hook_of is not None else None
        if hook is not None:
            try:
                return hook(obj)
            except TypeError:
                pass  # declined, as json's default= does
        value = _builtin(obj)
        if value is not _NOTHING:
            return value
        return _refuse(obj)

    return default
