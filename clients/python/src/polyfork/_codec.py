"""The msgpack profile of protocol/SPEC.md sections 3, 4 and 7, on top of msgpack-python.

Decoding: ``decode_message`` turns one frame body into a validated message list and
``decode_value`` one msgpack value into Python. Encoding: ``Encoder`` packs messages with the
profile's rules. Nothing here does I/O or keeps state between messages.

Python mapping (SPEC section 7): nil None, bool bool, int int, float32/float64 float, str str,
bin bytes, array list (tuples encode as arrays), map dict, timestamp ext datetime in UTC (a
msgpack.Timestamp when a datetime cannot hold it exactly), other ext msgpack.ExtType.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Callable, List, Optional, Tuple

import msgpack  # type: ignore[import-untyped]

from . import _scan
from ._convert import Hook, make_default
from ._scan import DEFAULT_MAX_VALUES
from .errors import DecodeError, EncodeError, ProtocolError, TooManyValuesError

__all__ = ["MAX_DEPTH", "DEFAULT_MAX_VALUES", "Encoder", "check_decoded", "check_depth",
           "check_envelope", "check_request_depth", "check_values", "decode_message",
           "decode_value", "describe_frame", "encode_error", "ext_hook", "has_wide_timestamp",
           "new_packer", "unpackb"]

#: The deepest nesting of containers a message may have, the message array counting as 1.
MAX_DEPTH = 128

_unpackb = msgpack.unpackb
_ExtType = msgpack.ExtType
_tuple_new = tuple.__new__


def _ext(code: int, data: bytes) -> Any:
    # msgpack.ExtType refuses the type codes -128 to -2 ("code must be 0~127"), so the
    # default hook would turn a well-formed ext of such a type into a failed frame and end the
    # session. Build the ExtType without that check: SPEC section 3 delivers other ext types
    # as opaque values, and msgpack-python packs such an ExtType back as it came.
    return _tuple_new(_ExtType, (code, data))


#: How decode_message decodes a body on its hot path, for Session._on_frame, which inlines
#: that: ``unpackb(body, strict_map_key=False, ext_hook=ext_hook, timestamp=3)`` (raw=False
#: is msgpack's default since 1.0).
unpackb = _unpackb
ext_hook = _ext


_Timestamp = msgpack.Timestamp
_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_UINT32_MAX = 0xFFFFFFFF

# Checking the nesting depth (SPEC section 3) has two costs: a walk over the value costs per
# element (about 20 ns each), counting the bytes of the body that could be container headers
# costs per byte (translate, about 0.25 ns each). A value nested deeper than MAX_DEPTH needs
# more than MAX_DEPTH header bytes, so a body with fewer needs no walk. The walk goes first,
# allowed one element per _WALK_BYTES bytes of the body (plus _WALK_MIN): it settles the
# common case of few containers holding big strings without reading the bytes again. When it
# runs out, the header count and then the full walk decide, as before.
_NOT_CONTAINER = bytes(
    b for b in range(256) if not (0x80 <= b <= 0x9F or 0xDC <= b <= 0xDF)
)
_WALK_BYTES_SHIFT = 8  # one element per 256 bytes: at most ~30% on top of translate
_WALK_MIN = 16

# Timestamp ext headers whose value may not fit a datetime exactly (64 and 96-bit forms, in
# fixext and ext8/16/32 spellings). 32-bit timestamps always fit and take the fast path.
_WIDE_TIMESTAMPS = (
    b"\xd7\xff",
    b"\xc7\x08\xff",
    b"\xc7\x0c\xff",
    b"\xc8\x00\x08\xff",
    b"\xc8\x00\x0c\xff",
    b"\xc9\x00\x00\x00\x08\xff",
    b"\xc9\x00\x00\x00\x0c\xff",
)


class ValueProblem(Exception):
    """Internal: the message is well-formed but one of its values has no Python equivalent.

    ``message`` is the decoded message (the bad value replaced by a placeholder) and ``reason``
    says what was wrong. The session fails just that message (SPEC section 3).
    """

    def __init__(self, message: List[Any], reason: str) -> None:
        super().__init__(reason)
        self.message = message
        self.reason = reason


class _Unusable:
    """Placeholder for a map that cannot be a dict (an unhashable key)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return "<undecodable map: %s>" % self.reason


def _lenient_pairs(pairs: List[Tuple[Any, Any]]) -> Any:
    try:
        return dict(pairs)
    except TypeError:
        for k, _ in pairs:
            try:
                hash(k)
            except TypeError:
                return _Unusable("a map key of type %s (Python dict keys must be hashable)"
                                 % _kind(k))
        return _Unusable("a map key that cannot be hashed")


def describe_frame(body: Any, limit: int = 64) -> str:
    """Returns the size and the first bytes of a frame body in hex, for error messages."""
    head = bytes(body[:limit]).hex(" ")
    more = " ..." if len(body) > limit else ""
    return "frame body of %d bytes: %s%s" % (len(body), head, more)


def _protocol_error(body: Any, what: str) -> ProtocolError:
    return ProtocolError(
        "polyfork: protocol error: %s (%s)" % (what, describe_frame(body)),
        bytes(body[:64]),
    )


def _kind(v: Any) -> str:
    """Names the msgpack kind of a decoded value, for error messages."""
    t = type(v)
    if v is None:
        return "nil"
    if t is bool:
        return "bool %r" % v
    if t is int:
        return "int %d" % v
    if t is float:
        return "float %r" % v
    if t is str:
        return "str %r" % (v if len(v) <= 40 else v[:40] + "...")
    if t is bytes:
        return "bin of %d bytes" % len(v)
    if t is list:
        return "array of %d elements" % len(v)
    if t is dict:
        return "map of %d pairs" % len(v)
    if isinstance(v, _Unusable):
        return repr(v)
    return t.__name__


def _walk_depth(root: Any, budget: int) -> Optional[bool]:
    """Whether decoded containers nest deeper than MAX_DEPTH (root at depth 1), or None when
    that takes visiting more than budget elements."""
    stack = [(root, 1)]
    pop = stack.pop
    push = stack.append
    while stack:
        v, d = pop()
        if d > MAX_DEPTH:
            return True
        d += 1
        items = v if type(v) is list else v.values()
        budget -= len(items)
        if budget < 0:
            return None
        for x in items:
            t = type(x)
            if t is list or t is dict:
                push((x, d))
    return False


def _too_deep_decoded(v: Any, body: Any) -> bool:
    """Whether v, a list or dict decoded from body, nests containers deeper than MAX_DEPTH."""
    r = _walk_depth(v, (len(body) >> _WALK_BYTES_SHIFT) + _WALK_MIN)
    if r is None:
        r = len(body.translate(None, _NOT_CONTAINER)) > MAX_DEPTH and _too_deep(v, MAX_DEPTH)
    return r


def _too_deep(root: Any, limit: int) -> bool:
    """Tells whether containers nest deeper than limit (root at depth 1). Iterative."""
    stack = [(root, 1)]
    pop = stack.pop
    push = stack.append
    while stack:
        v, d = pop()
        if d > limit:
            return True
        d += 1
        for x in (v if type(v) is list else v.values()):
            t = type(x)
            if t is list or t is dict:
                push((x, d))
    return False


def _timestamp_to_py(ts: Any) -> Any:
    """A datetime in UTC when it holds the timestamp exactly, else the msgpack.Timestamp."""
    if ts.nanoseconds % 1000:
        return ts
    try:
        return _EPOCH + _dt.timedelta(seconds=ts.seconds, microseconds=ts.nanoseconds // 1000)
    except OverflowError:
        return ts


def _fix_timestamps(v: Any) -> Any:
    t = type(v)
    if t is _Timestamp:
        return _timestamp_to_py(v)
    if t is list:
        for i, x in enumerate(v):
            if type(x) in (_Timestamp, list, dict):
                v[i] = _fix_timestamps(x)
        return v
    if t is dict:
        return {_fix_timestamps(k): _fix_timestamps(x) for k, x in v.items()}
    return v


def _check_count(body: Any, max_values: int) -> None:
    """Raises ProtocolError when body holds more than max_values values or nests too deep.

    Called only for bodies longer than max_values bytes: a shorter one cannot hold more.
    """
    outcome, detail = _scan.scan(body, max_values, MAX_DEPTH)
    if outcome == _scan.TOO_MANY:
        raise _protocol_error(body, "more than %d values in one frame (POLYFORK_MAX_VALUES): "
                                    "the headers read so far announce %d"
                              % (max_values, detail))
    if outcome == _scan.TOO_DEEP:
        raise _protocol_error(body, "containers nested deeper than %d" % MAX_DEPTH)


def has_wide_timestamp(body: Any) -> bool:
    """Whether body holds the header of a 64 or 96-bit timestamp ext (one that may not fit
    a datetime exactly); only worth asking when 255 (the type -1) is in body."""
    # Apart from the callers, so that they keep body in a plain local (a generator
    # expression over it there would make it a cell, built on every call).
    return any(p in body for p in _WIDE_TIMESTAMPS)


def _unpack(body: Any) -> Any:
    """Decodes one msgpack value that fills body, enforcing the profile's safety limits.

    Raises ProtocolError for bytes that are not exactly one valid msgpack value within the
    limits, and ValueProblem (with the value decoded leniently) when the value is valid msgpack
    that Python cannot hold exactly. The value count is the caller's to check first.
    """
    wide_ts = 255 in body and has_wide_timestamp(body)
    try:
        # msgpack >= 1.0 bounds every container and string count by len(body) here, so a
        # header that claims more than the frame holds fails before anything is allocated.
        if wide_ts:
            v = _unpackb(body, raw=False, strict_map_key=False, ext_hook=_ext, timestamp=0)
        else:
            v = _unpackb(body, raw=False, strict_map_key=False, ext_hook=_ext, timestamp=3)
    except (UnicodeDecodeError, TypeError) as e:
        return _unpack_lenient(body, _lenient_reason(e))
    except msgpack.ExtraData:
        raise _protocol_error(body, "bytes left over after the first msgpack value; "
                                    "a frame holds exactly one value") from None
    except msgpack.StackError:
        raise _protocol_error(body, "containers nested deeper than %d" % MAX_DEPTH) from None
    except msgpack.FormatError:
        raise _protocol_error(body, "invalid msgpack (a reserved type code such as 0xc1)") from None
    except Exception as e:
        if 255 in body:
            bad = _scan.bad_timestamps(body, MAX_DEPTH)
            if bad:  # well-formed msgpack with a malformed value: fail only that value
                return _unpack_lenient(body, bad[0][1])
        raise _protocol_error(
            body, "invalid msgpack: %s (a value cut short, a count larger than the bytes "
                  "left, or a malformed ext)" % (str(e) or type(e).__name__)) from None
    if len(body) > MAX_DEPTH and (type(v) is list or type(v) is dict):
        if _too_deep_decoded(v, body):
            raise _protocol_error(body, "containers nested deeper than %d" % MAX_DEPTH)
    if wide_ts:
        v = _fix_timestamps(v)
    return v


def _lenient_reason(first: Exception) -> str:
    if isinstance(first, UnicodeDecodeError):
        return "a str that is not valid UTF-8 (%s)" % first.reason
    if isinstance(first, TypeError):
        return "a map key Python cannot hold (%s)" % first
    return str(first)


def _unpack_lenient(body: Any, reason: str) -> Any:
    """Decodes body with every value Python cannot hold replaced, and raises ValueProblem."""
    bad = _scan.bad_timestamps(body, MAX_DEPTH) if 255 in body else []
    if bad:  # make each malformed timestamp an opaque ext, which msgpack-python accepts
        patched = bytearray(body)
        for offset, _ in bad:
            patched[offset] = 0
        body = patched
    try:
        v = _unpackb(body, raw=False, strict_map_key=False, ext_hook=_ext, timestamp=0,
                     unicode_errors="surrogateescape", object_pairs_hook=_lenient_pairs)
    except Exception as e:
        raise _protocol_error(body, "invalid msgpack: %s" % e) from None
    if type(v) is list or type(v) is dict:
        if _too_deep(v, MAX_DEPTH):
            raise _protocol_error(body, "containers nested deeper than %d" % MAX_DEPTH)
    v = _fix_timestamps(v)
    raise ValueProblem(v, reason)


def decode_value(data: Any, max_values: int = DEFAULT_MAX_VALUES) -> Any:
    """Decodes one msgpack value that fills data, with the profile's mapping and limits.

    Raises ProtocolError for invalid msgpack (and more than max_values values) and
    DecodeError for valid msgpack that has no exact Python equivalent (an unhashable map key,
    a str that is not UTF-8, a malformed timestamp).
    """
    if len(data) > max_values:
        _check_count(data, max_values)
    try:
        return _unpack(data)
    except ValueProblem as p:
        raise DecodeError("polyfork: cannot decode the value: it holds %s" % p.reason) from None


def _check_id(body: Any, v: Any, what: str) -> None:
    if type(v) is not int or v < 0 or v > _UINT32_MAX:
        raise _protocol_error(body, "the %s id is %s; ids are integers from 0 to 4294967295"
                              % (what, _kind(v)))


def _check_method(body: Any, v: Any, what: str) -> None:
    if type(v) is not str:
        raise _protocol_error(body, "the %s method is %s; it must be a str" % (what, _kind(v)))


def _check_params(body: Any, v: Any, what: str) -> None:
    if type(v) is not list:
        raise _protocol_error(body, "the %s params are %s; they must be an array" % (what, _kind(v)))


def _check_error(body: Any, err: Any) -> None:
    if err is None:
        return
    if type(err) is not dict:
        raise _protocol_error(body, "the response error is %s; it must be nil or an error map"
                              % _kind(err))
    if type(err.get("type")) is not str:
        raise _protocol_error(body, "the response error map has no str \"type\"")
    if type(err.get("message")) is not str:
        raise _protocol_error(body, "the response error map has no str \"message\"")


def check_envelope(body: Any, msg: Any) -> None:
    """Raises ProtocolError unless msg, decoded from body, is a message of SPEC section 4:
    ``[0, id, method, params]``, ``[1, id, error, result]`` or ``[2, method, params]``."""
    if type(msg) is not list:
        raise _protocol_error(body, "a message is an array, got %s" % _kind(msg))
    n = len(msg)
    kind = msg[0] if n else None
    if type(kind) is not int:
        raise _protocol_error(body, "a message is an array of 3 or 4 elements whose first "
                                    "element is the kind 0, 1 or 2; got %s with first element %s"
                              % (_kind(msg), _kind(kind)))
    if kind == 0:
        if n != 4:
            raise _protocol_error(body, "a request is [0, id, method, params]; got %d elements" % n)
        _check_id(body, msg[1], "request")
        _check_method(body, msg[2], "request")
        _check_params(body, msg[3], "request")
    elif kind == 1:
        if n != 4:
            raise _protocol_error(body, "a response is [1, id, error, result]; got %d elements" % n)
        _check_id(body, msg[1], "response")
        _check_error(body, msg[2])
    elif kind == 2:
        if n != 3:
            raise _protocol_error(body, "a notification is [2, method, params]; got %d elements" % n)
        _check_method(body, msg[1], "notification")
        _check_params(body, msg[2], "notification")
    else:
        raise _protocol_error(body, "unknown message kind %d; kinds are 0 (request), "
                                    "1 (response) and 2 (notification)" % kind)


def decode_message(body: Any, max_values: int = DEFAULT_MAX_VALUES) -> List[Any]:
    """Decodes and validates one frame body (SPEC section 4); returns the message list.

    The list is ``[0, id, method, params]``, ``[1, id, error, result]`` or
    ``[2, method, params]``. Raises ProtocolError when the body is not a valid message (or
    holds more than max_values values) and ValueProblem when it is but one of its values
    cannot be represented in Python.
    """
    size = len(body)
    if size > max_values:  # a shorter body cannot hold more values than it has bytes
        _check_count(body, max_values)
    # The hot path: one C call and a few type checks. Anything unusual (a failure, a wide
    # timestamp) takes _decode_message_slow, which decodes again with full diagnostics.
    # Session._on_frame inlines this for requests: keep the two alike.
    if 255 in body and has_wide_timestamp(body):
        return _decode_message_slow(body)
    try:
        msg = _unpackb(body, strict_map_key=False, ext_hook=_ext, timestamp=3)
    except Exception:
        return _decode_message_slow(body)
    if type(msg) is list and len(msg) == 4:
        kind, i, method, params = msg
        # i >> 32 is 0 exactly for ints from 0 to 4294967295 (negative ones shift to -1).
        if (kind == 0 and type(kind) is int and type(i) is int and not i >> 32
                and type(method) is str and type(params) is list):
            if size > MAX_DEPTH:
                check_request_depth(body, msg)
            return msg
    return check_decoded(body, msg)


def check_request_depth(body: Any, msg: List[Any]) -> None:
    """Raises ProtocolError when the request msg, decoded from body, nests too deep.

    A request nests deeper than 2 only through a param that is a container.
    """
    for x in msg[3]:
        t = type(x)
        if t is list or t is dict:
            if _too_deep_decoded(msg, body):
                raise _protocol_error(body, "containers nested deeper than %d" % MAX_DEPTH)
            break


def check_decoded(body: Any, msg: Any) -> List[Any]:
    """Returns msg, which ``unpackb`` (above) decoded from body without error, when it is a
    message within the depth limit; raises ProtocolError otherwise. The value count is the
    caller's to check first."""
    if len(body) > MAX_DEPTH and type(msg) is list:
        if _too_deep_decoded(msg, body):
            raise _protocol_error(body, "containers nested deeper than %d" % MAX_DEPTH)
    check_envelope(body, msg)
    checked: List[Any] = msg
    return checked


def _decode_message_slow(body: Any) -> List[Any]:
    try:
        msg = _unpack(body)
    except ValueProblem as p:
        msg = p.message
        check_envelope(body, msg)
        method = msg[2] if msg[0] == 0 else msg[1] if msg[0] == 2 else None
        if method is not None:
            try:
                method.encode("utf-8")
            except UnicodeEncodeError:
                raise _protocol_error(body, "the method name is not valid UTF-8") from None
        raise
    check_envelope(body, msg)
    checked: List[Any] = msg
    return checked


# --- encoding ---------------------------------------------------------------------------------

_CONTAINERS = (list, tuple, dict)
_SCALARS = frozenset((str, int, float, bool, bytes, type(None)))
_INT_MIN = -(1 << 63)
_INT_MAX = (1 << 64) - 1


def _find_big_int(obj: Any, depth: int = 0) -> Optional[int]:
    if depth > 600:
        return None
    if isinstance(obj, int) and not isinstance(obj, bool):
        return obj if not (_INT_MIN <= obj <= _INT_MAX) else None
    if isinstance(obj, dict):
        for k, v in obj.items():
            r = _find_big_int(k, depth + 1)
            if r is None:
                r = _find_big_int(v, depth + 1)
            if r is not None:
                return r
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            r = _find_big_int(v, depth + 1)
            if r is not None:
                return r
    return None


def _too_deep_out(root: Any, limit: int, budget: float = float("inf")) -> Optional[bool]:
    """Like _too_deep, for values about to be sent (tuples, subclasses, dict keys count).

    Returns None when that takes visiting more than budget elements, or when it meets an
    object that is neither a container nor a scalar (an encoder hook turns it into something
    whose depth only the encoded bytes tell).
    """
    stack = [(root, 1)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            return True
        d += 1
        items = list(v.keys()) + list(v.values()) if isinstance(v, dict) else v
        budget -= len(items)
        if budget < 0:
            return None
        for x in items:
            if type(x) in _SCALARS:
                continue
            if isinstance(x, (list, tuple, dict)):
                stack.append((x, d))
            else:
                return None
    return False


def _encode_reason(obj: Any, e: BaseException) -> str:
    if isinstance(e, EncodeError):
        return str(e)
    if isinstance(e, OverflowError):
        big = _find_big_int(obj)
        if big is not None:
            return ("the int %d, outside the range msgpack can carry (-2**63 to 2**64-1)" % big)
        return "an int outside the range msgpack can carry (-2**63 to 2**64-1)"
    if isinstance(e, UnicodeEncodeError):
        return "a str that is not valid UTF-8 (%s)" % e.reason
    if isinstance(e, ValueError) and "recursion" in str(e):
        return "containers nested deeper than %d" % MAX_DEPTH
    if isinstance(e, ValueError) and "tzinfo" in str(e):
        return ("a datetime without a timezone: give it one, such as datetime.timezone.utc, "
                "to send it as a msgpack timestamp")
    if isinstance(e, TypeError) and str(e).startswith(("an object of type", "an awaitable")):
        return str(e)
    return "%s: %s" % (type(e).__name__, e)


# --- where an encoding failed -----------------------------------------------------------------
#
# The encoder runs in C and says what was wrong but not where. Finding the place costs a walk
# over the value, so it is done only once encoding failed (or a check on the bytes refused
# them): _locate walks the value in the order the encoder writes it, with the encoder's rules,
# and returns the first place that breaks them. Paths read as the PHP client writes them:
# `result`, `params[0]`, `result['a'][1]`.

_NATIVE_LEAVES = (str, bytes, bytearray, memoryview, float, type(None))
_PATH_MAX = 60


def _key_text(k: Any) -> str:
    if isinstance(k, int) and not isinstance(k, bool):
        text = str(k)
    elif isinstance(k, str):  # as PHP's var_export writes it
        text = "'" + k.replace("\\", "\\\\").replace("'", "\\'") + "'"
    else:
        try:
            text = repr(k)
        except Exception:
            text = "<%s>" % type(k).__name__
    if len(text) > 40:
        text = text[:37] + "..."
    return text


def _short_path(path: str) -> str:
    if len(path) > _PATH_MAX:  # as PHP shortens it
        return path[:40] + "..." + path[-12:]
    return path


def _roots(obj: Any) -> List[Tuple[Any, str, int]]:
    """The parts of a message to walk, with their paths and depths (the message counts 1)."""
    if isinstance(obj, (list, tuple)) and obj and type(obj[0]) is int:
        n, kind = len(obj), obj[0]
        if kind == 0 and n == 4:
            return [(obj[2], "method", 2), (obj[3], "params", 2)]
        if kind == 1 and n == 4:
            return [(obj[2], "error", 2), (obj[3], "result", 2)]
        if kind == 2 and n == 3:
            return [(obj[1], "method", 2), (obj[2], "params", 2)]
    return [(obj, "value", 1)]


def _needs_default(v: Any) -> bool:
    """Whether msgpack-python hands v to the default hook rather than packing it itself."""
    if isinstance(v, _NATIVE_LEAVES) or isinstance(v, (list, tuple, dict)):
        return False
    if isinstance(v, int):  # bool included; ints beyond 64 bits go to default
        return not (_INT_MIN <= v <= _INT_MAX)
    if isinstance(v, (_Timestamp, _ExtType)):
        return False
    if type(v) is _dt.datetime:  # msgpack packs exact datetimes only, aware ones
        return v.tzinfo is None
    return True


def _locate(obj: Any, default: Optional[Hook], max_values: int = 0,
            hooked: bool = False) -> Optional[Tuple[str, str, int]]:
    """The first place, in encoding order, where obj breaks the profile, or None.

    Returns (path, reason, count): a value that cannot be packed (reason says why), a
    container nested deeper than MAX_DEPTH (reason "deep"), or, when max_values is not 0, the
    container that takes the value count past it (reason "many", count the count reached).
    ``default`` is the packer's default hook: it is called again on what it was called on.
    """
    roots = _roots(obj)
    count = 1 if roots[0][2] == 1 else 1 + len(obj)  # the message array's elements count
    stack = list(reversed(roots))
    pop = stack.pop
    push = stack.append
    while stack:
        v, path, d = pop()
        if _needs_default(v):
            try:
                if default is None:
                    raise TypeError("an object of type %s" % type(v).__name__)
                was, v = v, default(v)
            except Exception as e:
                return path, _failure_reason(v, e, hooked), count
            if _needs_default(v):
                return path, ("an object of type %s, which its conversion turned into an "
                              "object of type %s that msgpack cannot pack either"
                              % (_type_name(was), _type_name(v))), count
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError as e:
                return path, "a str that is not valid UTF-8 (%s)" % e.reason, count
        elif isinstance(v, (list, tuple)):
            if d > MAX_DEPTH:
                return path, "deep", count
            count += len(v)
            if max_values and count > max_values:
                return path, "many", count
            for i in range(len(v) - 1, -1, -1):
                push((v[i], "%s[%d]" % (path, i), d + 1))
        elif isinstance(v, dict):
            if d > MAX_DEPTH:
                return path, "deep", count
            count += 2 * len(v)
            if max_values and count > max_values:
                return path, "many", count
            for k, x in reversed(list(v.items())):
                push((x, "%s[%s]" % (path, _key_text(k)), d + 1))
                push((k, path + " (a map key)", d + 1))
    return None


def _locate_quietly(obj: Any, default: Optional[Hook], max_values: int = 0,
                    hooked: bool = False) -> Optional[Tuple[str, str, int]]:
    """_locate, or None when the walk fails in its own way: it only adds the place to an
    error already found, and must not hide that error."""
    try:
        return _locate(obj, default, max_values, hooked)
    except Exception:
        return None


def _type_name(v: Any) -> str:
    from ._convert import type_name
    return type_name(v)


def _failure_reason(v: Any, e: BaseException, hooked: bool) -> str:
    """What was wrong with v, whose conversion for the packer raised e."""
    if isinstance(e, EncodeError) or (
            isinstance(e, TypeError) and str(e).startswith(("an object of type",
                                                            "an awaitable"))):
        return str(e)
    return ("an object of type %s; %s raised %s: %s"
            % (_type_name(v), "the encoder hook (polyfork.encoder)" if hooked
               else "its conversion", type(e).__name__, e))


def _place(reason: str, path: str) -> str:
    """reason with "at <path>" after its first clause: "an object of type X at result[0]; ..."."""
    at = " at " + _short_path(path)
    cut = len(reason)
    if reason.startswith("an awaitable ("):  # "an awaitable (T) at result that was never..."
        cut = reason.find(") ") + 1 or cut
    for sep in ("; ", ": "):
        i = reason.find(sep)
        if 0 <= i < cut:
            cut = i
    return reason[:cut] + at + reason[cut:]


def encode_error(obj: Any, what: str, e: BaseException,
                 default: Optional[Hook] = None, hooked: bool = False) -> EncodeError:
    """The EncodeError for a failure of msgpack to pack obj (described by what).

    ``default`` is the packer's default hook; with it the error names where in obj the
    offending value is (found by walking obj again, only now that packing failed).
    """
    reason = None
    found = _locate_quietly(obj, default, 0, hooked)
    if found is not None:
        path, why, _ = found
        if why == "deep":
            reason = "containers nested deeper than %d at %s (the message array counts as 1)" % (
                MAX_DEPTH, _short_path(path))
        else:
            reason = _place(why, path)
    if reason is None:
        reason = _encode_reason(obj, e)
    return EncodeError("polyfork: cannot encode %s: it holds %s" % (what, reason))


def check_depth(obj: Any, body: bytes, what: str, name: Any = None,
                hook_of: Optional[Callable[[], Optional[Hook]]] = None) -> None:
    """Raises EncodeError when obj, encoded as body, nests containers deeper than MAX_DEPTH.

    The error reads ``cannot encode <what>`` (``what % name`` when name is not None) and
    names where; ``hook_of`` is the packer's (see new_packer), used only to find that place.
    """
    if isinstance(obj, (list, tuple)):
        for x in obj:  # a response with a scalar result, for one, is settled here
            if type(x) not in _SCALARS:
                break
        else:
            return
    elif not isinstance(obj, dict):
        return
    deep = _too_deep_out(obj, MAX_DEPTH, (len(body) >> _WALK_BYTES_SHIFT) + _WALK_MIN)
    if deep is None:  # many elements: count the bytes that may be headers first (see above)
        deep = (len(body.translate(None, _NOT_CONTAINER)) > MAX_DEPTH
                and _scan.scan(body, len(body) + 1, MAX_DEPTH, full=True)[0] == _scan.TOO_DEEP)
    if deep:
        if name is not None:
            what = what % (name,)
        where = ""
        found = _locate_quietly(obj, make_default(hook_of))
        if found is not None and found[1] == "deep":
            where = " at " + _short_path(found[0])
        raise EncodeError("polyfork: cannot encode %s: it holds containers nested deeper "
                          "than %d%s (the message array counts as 1)" % (what, MAX_DEPTH, where))


def check_values(body: bytes, max_values: int, what: str, name: Any = None,
                 obj: Any = None, hook_of: Optional[Callable[[], Optional[Hook]]] = None) -> None:
    """Raises TooManyValuesError when body holds more than max_values msgpack values.

    Only bodies longer than max_values bytes can; the walk stops at the first container that
    takes the count over the limit. With obj, the value encoded as body, the error names that
    container (``hook_of`` as for check_depth).
    """
    outcome, count = _scan.scan(body, max_values, MAX_DEPTH)
    if outcome == _scan.TOO_MANY:
        if name is not None:
            what = what % (name,)
        where = "the count reached %d before it stopped" % count
        if obj is not None:
            found = _locate_quietly(obj, make_default(hook_of), max_values)
            if found is not None and found[1] == "many":
                where = "the container at %s brings the count to %d" % (
                    _short_path(found[0]), count)
        raise TooManyValuesError(
            "polyfork: cannot send %s: it holds more than %d msgpack values, the maximum "
            "for one frame (POLYFORK_MAX_VALUES): %s" % (what, max_values, where),
            count, max_values)


def new_packer(hook_of: Optional[Callable[[], Optional[Hook]]] = None) -> Callable[[Any], bytes]:
    """Returns the pack function of a msgpack Packer set up for the profile (not thread-safe).

    Aware datetimes pack as timestamps (msgpack >= 1.0), tuples as arrays, str as str and
    bytes as bin; other types as _convert.py says, ``hook_of()`` giving the user's encoder
    hook. It raises msgpack's own exceptions; see encode_error and check_depth.
    """
    packer = msgpack.Packer(use_bin_type=True, datetime=True, default=make_default(hook_of))
    pack: Callable[[Any], bytes] = packer.pack
    return pack


class Encoder:
    """Packs values under the polyfork profile, with clear errors. Not thread-safe.

    ``encode(obj, what)`` returns the msgpack bytes of obj or raises EncodeError whose message
    reads ``cannot encode <what>: ...``.
    """

    __slots__ = ("_pack", "_max_values", "_hook_of")

    def __init__(self, max_values: int = DEFAULT_MAX_VALUES,
                 default: Optional[Hook] = None) -> None:
        self._hook_of: Callable[[], Optional[Hook]] = lambda: default
        self._pack = new_packer(self._hook_of)
        self._max_values = max_values

    def encode(self, obj: Any, what: str = "the value") -> bytes:
        """Returns the msgpack encoding of obj; see the class doc."""
        try:
            body = self._pack(obj)
        except Exception as e:
            raise encode_error(obj, what, e, make_default(self._hook_of),
                               self._hook_of() is not None) from e
        if len(body) > MAX_DEPTH:
            check_depth(obj, body, what, None, self._hook_of)
        if len(body) > self._max_values:
            check_values(body, self._max_values, what, None, obj, self._hook_of)
        return body
