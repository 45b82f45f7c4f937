"""The byte stream: finding the channel, and reading frames (writing: _writer.py).

The channel is stdin and stdout, moved to private descriptors (``take_over_stdio``), unless
the host put it on descriptors of its own and said so in POLYFORK_CHANNEL_FDS (SPEC 1.1).

Frames are a 4-byte big-endian length and that many bytes of msgpack (SPEC section 2). The
file descriptors stay blocking: the asyncio loop learns readiness from ``add_reader`` and
``FrameReader.read_once`` then reads what is available with one ``os.read``.
"""
from __future__ import annotations

import logging
import os
import select
import struct
import sys
from typing import Any, Callable, Optional, Tuple

from .errors import BridgeError, ProtocolError
from ._malloc import tune_once
from ._scan import DEFAULT_MAX_VALUES

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "FrameReader",
    "max_frame_size_from_env",
    "max_values_from_env",
    "open_channel",
    "take_over_stdio",
]

log = logging.getLogger(__name__)

#: The maximum frame size when POLYFORK_MAX_FRAME_SIZE is not set: 64 MiB.
DEFAULT_MAX_FRAME_SIZE = 64 << 20

_HDR = struct.Struct(">I")
_unpack_from = _HDR.unpack_from
_read = os.read
_CHUNK = 65536  # one os.read; kept below glibc's mmap threshold so reads stay cheap
_BIG = 1 << 16  # frames larger than this are read straight into a buffer of their size
_STATE_ATTR = "_polyfork_stdio"  # on the sys module, so two copies of the package agree


def max_frame_size_from_env() -> int:
    """Returns POLYFORK_MAX_FRAME_SIZE as an int, or the 64 MiB default when it is unset."""
    raw = os.environ.get("POLYFORK_MAX_FRAME_SIZE", "").strip()
    if not raw:
        return DEFAULT_MAX_FRAME_SIZE
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise BridgeError("polyfork: POLYFORK_MAX_FRAME_SIZE=%r is not a positive number of "
                          "bytes" % raw)
    return value


def max_values_from_env() -> int:
    """Returns POLYFORK_MAX_VALUES as an int, or the default (4194304) when it is unset."""
    raw = os.environ.get("POLYFORK_MAX_VALUES", "").strip()
    if not raw:
        return DEFAULT_MAX_VALUES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise BridgeError("polyfork: POLYFORK_MAX_VALUES=%r is not a positive number of "
                          "values" % raw)
    return value


CHANNEL_FDS = "POLYFORK_CHANNEL_FDS"


def open_channel() -> Tuple[int, int]:
    """Returns the channel's (read_fd, write_fd), opening it the first time.

    With POLYFORK_CHANNEL_FDS=r,w (SPEC section 1.1) the channel is on those descriptors:
    they are made close-on-exec and blocking, the variable leaves os.environ (so processes
    this one starts neither inherit the channel nor take themselves for polyfork children),
    and descriptors 0 and 1 stay as they are (the host relays descriptor 1 as a log; only
    sys.stdout is made line-buffered, so printed lines reach it promptly). Otherwise the
    channel is stdin/stdout, taken over by ``take_over_stdio``. Raises BridgeError naming
    the variable and its value when it is not two descriptor numbers or one is not open.
    Idempotent, also across two copies of the package in one process.
    """
    state: Optional[Tuple[int, int]] = getattr(sys, _STATE_ATTR, None)
    if state is not None:
        return state
    raw = os.environ.get(CHANNEL_FDS)
    if raw is None:
        return take_over_stdio()
    r, w = _parse_channel_fds(raw)
    for fd in (r, w):
        try:
            os.fstat(fd)
        except OSError as e:
            raise BridgeError("polyfork: %s=%r: descriptor %d is not open (%s)"
                              % (CHANNEL_FDS, raw, fd, e.strerror or e)) from None
    for fd in (r, w):
        os.set_inheritable(fd, False)
        try:
            os.set_blocking(fd, True)
        except OSError:
            pass
    del os.environ[CHANNEL_FDS]
    _line_buffer_stdout()
    state = (r, w)
    setattr(sys, _STATE_ATTR, state)
    return state


def _parse_channel_fds(raw: str) -> Tuple[int, int]:
    parts = raw.split(",")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    raise BridgeError("polyfork: %s=%r is not two descriptor numbers \"<read>,<write>\", "
                      "such as \"3,4\"" % (CHANNEL_FDS, raw))


def _line_buffer_stdout() -> None:
    out = sys.stdout
    if out is not None and hasattr(out, "reconfigure"):
        try:
            out.reconfigure(line_buffering=True)
        except (OSError, ValueError, AttributeError):
            pass


def take_over_stdio() -> Tuple[int, int]:
    """Moves the protocol off file descriptors 0 and 1; returns (read_fd, write_fd).

    The protocol gets private, close-on-exec duplicates of stdin and stdout. Descriptor 1 then
    points at stderr, so print() and subprocesses that inherit stdout write to the log, and
    descriptor 0 at /dev/null, so nothing else can consume protocol bytes. Text still buffered
    in sys.stdout is then flushed, to the log, and sys.stdout becomes line-buffered so that
    printed lines reach the host's log relay promptly. Idempotent, also across two copies of
    the package in one process.
    """
    state: Optional[Tuple[int, int]] = getattr(sys, _STATE_ATTR, None)
    if state is not None:
        return state
    try:
        read_fd = os.dup(0)
        write_fd = os.dup(1)
    except OSError as e:
        raise BridgeError("polyfork: cannot take over stdin/stdout (%s); a polyfork child "
                          "must be started with pipes on file descriptors 0 and 1" % e) from e
    try:
        os.dup2(2, 1)
    except OSError:  # no stderr: send stray output nowhere rather than into the channel
        _point_at_devnull(1, os.O_WRONLY)
    _point_at_devnull(0, os.O_RDONLY)
    for fd in (read_fd, write_fd):
        try:
            os.set_blocking(fd, True)
        except OSError:
            pass
    out = sys.stdout
    try:
        # Flushed after the switch: text printed before the import goes to the log too.
        if out is not None:
            out.flush()
    except (OSError, ValueError):
        pass
    _line_buffer_stdout()
    state = (read_fd, write_fd)
    setattr(sys, _STATE_ATTR, state)
    return state


def _point_at_devnull(fd: int, flags: int) -> None:
    null = os.open(os.devnull, flags)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


class FrameReader:
    """Reads frames from a blocking file descriptor and hands each body to on_frame.

    ``read_once`` does a single read (it blocks only when nothing is available) and delivers
    every complete frame it then holds, as ``on_frame(body, more)``: ``more`` is True when
    bytes of a further frame are already buffered, so the receiver may defer its answer. If it
    delivered such a frame, it then calls ``on_idle()`` (also when it raises), where deferred
    answers must go out; a lone frame costs no such call. It is
    re-entrant: on_frame may call read_once again (a blocking call inside a handler pumps the
    channel this way), and the outer call goes on after the frames the inner one consumed.
    Bodies are bytes or bytearray and stay valid after on_frame returns.
    """

    __slots__ = ("_fd", "_max", "_on_frame", "_on_idle", "_buf", "_pos", "_big", "_fill")

    def __init__(self, fd: int, max_frame_size: int, on_frame: Callable[[Any, bool], None],
                 on_idle: Optional[Callable[[], None]] = None) -> None:
        self._fd = fd
        self._max = max_frame_size
        self._on_frame = on_frame
        self._on_idle = on_idle if on_idle is not None else _nothing
        self._buf: Any = b""
        self._pos = 0
        self._big: Optional[bytearray] = None
        self._fill = 0

    def read_once(self) -> bool:
        """Reads once and delivers complete frames; returns False at a clean end of file.

        Raises ProtocolError for a zero or oversized length and for end of file inside a frame.
        """
        # One function on purpose: this is the per-message hot path.
        if self._big is not None:
            return self._read_big()
        try:
            data = _read(self._fd, _CHUNK)
        except BlockingIOError:  # someone made the fd non-blocking: wait for data
            select.select([self._fd], [], [])
            return True
        if self._pos == len(self._buf):
            # Nothing was buffered. A lone frame (one call in flight) goes straight out.
            size = len(data)
            if size > 4:
                n = _unpack_from(data)[0]
                if n + 4 == size and n <= self._max:
                    self._buf, self._pos = data, size
                    on_frame = self._on_frame  # (CPython 3.11 does not specialize a method
                    on_frame(data[4:], False)  # call on a slot, but does the slot's read)
                    return True
            elif not size:
                return False
        elif not data:
            raise self._truncated(len(self._buf) - self._pos)
        else:
            data = self._buf[self._pos:] + data
        self._buf = data
        self._pos = 0
        on_frame = self._on_frame
        limit = self._max
        more = False  # some frame was delivered with more=True: on_idle is due
        try:
            while True:
                # Re-read the state each time: on_frame may have read further (re-entrancy).
                buf = self._buf
                pos = self._pos
                size = len(buf)
                avail = size - pos
                if avail < 4:
                    return True
                n = _unpack_from(buf, pos)[0]
                if n == 0 or n > limit:
                    self._buf, self._pos = b"", 0
                    raise self._bad_length(n)
                end = pos + 4 + n
                if end > size:
                    if n > _BIG:  # read the rest straight into a buffer of the frame's size
                        tune_once()
                        big = bytearray(n)
                        have = avail - 4
                        big[:have] = memoryview(buf)[pos + 4:]  # no copy of the slice first
                        self._big, self._fill = big, have
                        self._buf, self._pos = b"", 0
                    return True
                self._pos = end
                if end < size:
                    more = True
                    on_frame(buf[pos + 4:end], True)
                else:
                    on_frame(buf[pos + 4:end], False)
        finally:
            if more:
                self._on_idle()

    def _read_big(self) -> bool:
        big = self._big
        assert big is not None
        n = self._read_into(memoryview(big)[self._fill:])
        if n == 0:
            raise ProtocolError(
                "polyfork: protocol error: truncated frame: end of file after %d of %d "
                "body bytes" % (self._fill, len(big)), bytes(big[:64]))
        self._fill += n
        if self._fill == len(big):
            self._big = None
            self._on_frame(big, False)
        return True

    def _read_into(self, view: memoryview) -> int:
        while True:
            try:
                return os.readv(self._fd, [view])
            except BlockingIOError:
                select.select([self._fd], [], [])

    def _bad_length(self, n: int) -> ProtocolError:
        if n == 0:
            what = "a frame length of 0 (a frame holds one msgpack value, so at least 1 byte)"
        else:
            what = ("a frame length of %d bytes, above the maximum frame size of %d bytes "
                    "(POLYFORK_MAX_FRAME_SIZE)" % (n, self._max))
        return ProtocolError("polyfork: protocol error: %s" % what, _HDR.pack(n))

    def _truncated(self, left: int) -> ProtocolError:
        rest = bytes(self._buf[self._pos:self._pos + 64])
        if left < 4:
            what = "end of file after %d of the 4 length bytes" % left
        else:
            what = "end of file after %d of %d body bytes" % (left - 4, _HDR.unpack_from(rest)[0])
        return ProtocolError("polyfork: protocol error: truncated frame: %s" % what, rest)


def _nothing() -> None:
    pass
