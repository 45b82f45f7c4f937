"""Walking msgpack bytes without decoding them: value counts, nesting depth, timestamps.

``scan`` checks what msgpack-python does not before it allocates (SPEC section 3): how many
values a frame holds in all (``POLYFORK_MAX_VALUES``) and how deep its containers nest. It
reads headers only, allocates nothing per value and stops at the first container header that
takes the count over the limit, so a 64 MiB frame of empty arrays is refused after a few
bytes. It also finds timestamp exts (type -1) whose data is malformed, for the decoder's
slow path. Nothing here does I/O or knows about messages.

A walk costs about half a microsecond per value in pure Python, so callers run it only on
bodies longer than the value limit (a body of n bytes holds at most n values) or on bodies
that msgpack-python refused.
"""
from __future__ import annotations

from typing import Any, List, Tuple

__all__ = ["DEFAULT_MAX_VALUES", "OK", "TOO_MANY", "TOO_DEEP", "INVALID", "scan",
           "bad_timestamps"]

#: The maximum number of values in one frame when POLYFORK_MAX_VALUES is not set.
DEFAULT_MAX_VALUES = 4194304

# Outcomes of scan.
OK = 0
TOO_MANY = 1  # more values than allowed; the count reached is returned with it
TOO_DEEP = 2  # containers nested deeper than allowed
INVALID = 3  # not msgpack, cut short, a count the bytes left cannot hold, or bytes left over

_NS_MAX = 999999999


def _fixed_sizes() -> Tuple[int, ...]:
    """The whole size of each value that has a fixed size, by its first byte; 0 otherwise."""
    sizes = [0] * 256
    for b in range(0x00, 0x80):
        sizes[b] = 1  # positive fixint
    for b in range(0xE0, 0x100):
        sizes[b] = 1  # negative fixint
    for b in range(0xA0, 0xC0):
        sizes[b] = 1 + (b & 0x1F)  # fixstr
    for b in (0xC0, 0xC2, 0xC3):
        sizes[b] = 1
    for b, n in ((0xCC, 2), (0xD0, 2), (0xCD, 3), (0xD1, 3), (0xCE, 5), (0xD2, 5),
                 (0xCA, 5), (0xCF, 9), (0xD3, 9), (0xCB, 9)):
        sizes[b] = n
    return tuple(sizes)


_FIXED = _fixed_sizes()
_FIXEXT = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}  # data bytes after the type byte
_LEN_BYTES = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4, 0xC7: 1, 0xC8: 2,
              0xC9: 4, 0xDC: 2, 0xDD: 4, 0xDE: 2, 0xDF: 4}
_EXTS = (0xC7, 0xC8, 0xC9)
_ARRAYS = (0xDC, 0xDD)
_MAPS = (0xDE, 0xDF)


def scan(body: Any, max_values: int, max_depth: int, full: bool = False,
         timestamps: bool = False) -> Tuple[int, Any]:
    """Walks the one msgpack value in body; returns (outcome, detail).

    Outcomes: ``(OK, bad)``, where bad lists the malformed timestamps found (only with
    ``timestamps=True``, see ``bad_timestamps``); ``(TOO_MANY, count)`` as soon as the values
    announced by the headers read so far exceed max_values (every value counts one, a map pair
    two, the root included); ``(TOO_DEEP, None)``; ``(INVALID, None)`` for bytes the decoder
    will refuse anyway (it then says why). Unless ``full`` (implied by ``timestamps``), the
    walk ends early, with OK, once the bytes left cannot hold enough values to reach the
    limit: TOO_DEEP is then certain only for nesting met before that point.
    """
    early = not (full or timestamps)
    n = len(body)
    pos = 0
    count = 1  # values announced so far
    pending = 1  # announced values not reached yet; each needs at least one byte
    left = 1  # values still to read at the current level
    stack: List[int] = []  # the left of each enclosing level
    bad: List[Tuple[int, str]] = []
    fixed = _FIXED
    while True:
        if left == 0:
            if not stack:
                break
            left = stack.pop()
            continue
        if early and count - pending + (n - pos) <= max_values:
            return OK, bad  # even if every byte left were a value, the limit holds
        if pos >= n:
            return INVALID, None
        b = body[pos]
        left -= 1
        pending -= 1
        size = fixed[b]
        if size:
            pos += size
            continue
        if 0x90 <= b <= 0x9F:
            k, pos = b & 0x0F, pos + 1
        elif 0x80 <= b <= 0x8F:
            k, pos = (b & 0x0F) * 2, pos + 1
        elif b in _FIXEXT:
            data = _FIXEXT[b]
            if timestamps and pos + 1 < n and body[pos + 1] == 0xFF:
                _check_timestamp(body, pos + 2, data, bad)
            pos += 2 + data
            continue
        else:
            w = _LEN_BYTES.get(b)
            if w is None:  # 0xc1, never used
                return INVALID, None
            if pos + 1 + w > n:
                return INVALID, None
            k = int.from_bytes(body[pos + 1:pos + 1 + w], "big")
            pos += 1 + w
            if b in _EXTS:
                if timestamps and pos < n and body[pos] == 0xFF:
                    _check_timestamp(body, pos + 1, k, bad)
                pos += 1 + k
                continue
            if b in _MAPS:
                k *= 2
            elif b not in _ARRAYS:  # str, bin
                pos += k
                continue
        # A container of k values (k counts keys and values of a map).
        if len(stack) >= max_depth:
            return TOO_DEEP, None
        if k > n - pos:
            return INVALID, None
        count += k
        if count > max_values:
            return TOO_MANY, count
        pending += k
        stack.append(left)
        left = k
    if pos != n:
        return INVALID, None
    return OK, bad


def _check_timestamp(body: Any, start: int, size: int, bad: List[Tuple[int, str]]) -> None:
    # start: the first data byte; the type byte is at start - 1.
    if size not in (4, 8, 12):
        bad.append((start - 1, "a malformed timestamp (ext -1 with %d bytes of data; a "
                               "timestamp has 4, 8 or 12)" % size))
        return
    if start + size > len(body):
        return  # cut short: the decoder says so
    if size == 8:
        ns = int.from_bytes(body[start:start + 8], "big") >> 34
    elif size == 12:
        ns = int.from_bytes(body[start:start + 4], "big")
    else:
        return
    if ns > _NS_MAX:
        bad.append((start - 1, "a malformed timestamp (nanoseconds %d, above 999999999)" % ns))


def bad_timestamps(body: Any, max_depth: int) -> List[Tuple[int, str]]:
    """The malformed timestamp exts in body, as (offset of the type byte, reason), in order.

    Empty when there are none or when body is not valid msgpack.
    """
    outcome, bad = scan(body, len(body) + 1, max_depth, full=True, timestamps=True)
    return bad if outcome == OK else []
