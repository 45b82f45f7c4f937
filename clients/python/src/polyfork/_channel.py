"""The byte stream: taking the protocol off stdio, and reading and writing frames.

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
import threading
from typing import Any, Callable, Optional, Tuple

from .errors import BridgeError, ChannelClosedError, FrameTooLargeError, ProtocolError
from ._codec import MAX_DEPTH, check_depth, encode_error, new_packer

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "FrameReader",
    "FrameWriter",
    "max_frame_size_from_env",
    "take_over_stdio",
]

log = logging.getLogger(__name__)

#: The maximum frame size when POLYFORK_MAX_FRAME_SIZE is not set: 64 MiB.
DEFAULT_MAX_FRAME_SIZE = 64 << 20

_HDR = struct.Struct(">I")
_hdr_pack = _HDR.pack
_unpack_from = _HDR.unpack_from
_read = os.read
_write = os.write
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


def take_over_stdio() -> Tuple[int, int]:
    """Moves the protocol off file descriptors 0 and 1; returns (read_fd, write_fd).

    The protocol gets private, close-on-exec duplicates of stdin and stdout. Descriptor 1 then
    points at stderr, so print() and subprocesses that inherit stdout write to the log, and
    descriptor 0 at /dev/null, so nothing else can consume protocol bytes. Text still buffered
    in sys.stdout is then flushed, to the log, and sys.stdout becomes line-buffered so that
    printed lines reach the host's log relay promptly. Idempotent, also across two copies of
    the package in one process.
    """
    state = getattr(sys, _STATE_ATTR, None)
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
    if out is not None and hasattr(out, "reconfigure"):
        try:
            out.reconfigure(line_buffering=True)
        except (OSError, ValueError, AttributeError):
            pass
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
    every complete frame it then holds. It is re-entrant: on_frame may call read_once again
    (a blocking call inside a handler pumps the channel this way), and the outer call goes on
    after the frames the inner one consumed. Bodies are bytes or bytearray and stay valid
    after on_frame returns.
    """

    __slots__ = ("_fd", "_max", "_on_frame", "_buf", "_pos", "_big", "_fill")

    def __init__(self, fd: int, max_frame_size: int, on_frame: Callable[[Any], None]) -> None:
        self._fd = fd
        self._max = max_frame_size
        self._on_frame = on_frame
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
        if not data:
            left = len(self._buf) - self._pos
            if left:
                raise self._truncated(left)
            return False
        if self._pos < len(self._buf):
            data = self._buf[self._pos:] + data
        self._buf = data
        self._pos = 0
        on_frame = self._on_frame
        limit = self._max
        while True:
            # Re-read the state each time: on_frame may have read further (re-entrancy).
            buf = self._buf
            pos = self._pos
            avail = len(buf) - pos
            if avail < 4:
                return True
            n = _unpack_from(buf, pos)[0]
            if n == 0 or n > limit:
                self._buf, self._pos = b"", 0
                raise self._bad_length(n)
            end = pos + 4 + n
            if end > len(buf):
                if n > _BIG:  # read the rest straight into a buffer of the frame's size
                    big = bytearray(n)
                    have = avail - 4
                    big[:have] = buf[pos + 4:]
                    self._big, self._fill = big, have
                    self._buf, self._pos = b"", 0
                return True
            self._pos = end
            on_frame(buf[pos + 4:end])

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
            self._on_frame(big)
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


def _describe(what: str, name: Any) -> str:
    return what if name is None else what % (name,)


class FrameWriter:
    """Encodes messages and writes them as frames to a blocking file descriptor.

    Thread-safe: one lock covers encoding and writing, so frames never interleave. The first
    frame written is always ``first()`` (the ``$ready`` handshake, built on demand), whatever
    message triggered the write; ``first=None`` writes no handshake.
    """

    __slots__ = ("_fd", "_max", "_check_from", "_pack", "_lock", "_first", "_closed")

    def __init__(self, fd: int, max_frame_size: int,
                 first: Optional[Callable[[], Any]] = None) -> None:
        self._fd = fd
        self._max = max_frame_size
        # Bodies up to this size need neither the depth check nor the size check.
        self._check_from = min(MAX_DEPTH, max_frame_size)
        self._pack = new_packer()
        self._lock = threading.Lock()
        self._first: Optional[Callable[[], Any]] = first
        self._closed: Optional[str] = None

    def write(self, obj: Any, what: str, name: Any = None) -> None:
        """Encodes obj and writes it as one frame.

        ``what`` (``what % name`` when name is not None) describes obj in error messages; it is
        formatted only on error. Raises EncodeError (FrameTooLargeError when the body is above
        the maximum frame size) without writing anything, and ChannelClosedError when the host
        stopped reading.
        """
        lock = self._lock
        lock.acquire()  # cheaper than `with` on the hot path
        try:
            try:
                body = self._pack(obj)
            except Exception as e:
                raise encode_error(obj, _describe(what, name), e) from e
            n = len(body)
            if n > self._check_from:
                self._check(obj, body, _describe(what, name))
            if self._first is not None:
                self._write_first()
            try:
                if n <= _BIG:
                    data = _hdr_pack(n) + body
                    try:
                        done = _write(self._fd, data)
                    except BlockingIOError:
                        done = 0
                    if done != n + 4:
                        self._write_views([memoryview(data)[done:]])
                else:
                    self._write_views([memoryview(_hdr_pack(n)), memoryview(body)])
            except OSError as e:
                raise self._broken(e) from e
        finally:
            lock.release()

    def ensure_first(self) -> None:
        """Writes the first frame now if it has not been written yet."""
        with self._lock:
            if self._first is not None:
                try:
                    self._write_first()
                except OSError as e:
                    raise self._broken(e) from e

    def _check(self, obj: Any, body: bytes, what: str) -> None:
        n = len(body)
        if n > self._max:
            raise FrameTooLargeError(
                "polyfork: cannot send %s: it encodes to %d bytes, above the maximum frame "
                "size of %d bytes (POLYFORK_MAX_FRAME_SIZE)" % (what, n, self._max), n, self._max)
        if n > MAX_DEPTH:
            check_depth(obj, body, what)

    def _write_first(self) -> None:
        make, self._first = self._first, None
        assert make is not None
        body = self._pack(make())
        self._write_views([memoryview(_hdr_pack(len(body)) + body)])

    def _write_views(self, views: list) -> None:
        fd = self._fd
        while views:
            try:
                n = os.writev(fd, views)
            except BlockingIOError:  # someone made the fd non-blocking: wait, then retry
                select.select([], [fd], [])
                continue
            while views and n >= len(views[0]):
                n -= len(views[0])
                views.pop(0)
            if views and n:
                views[0] = views[0][n:]

    def _broken(self, e: OSError) -> ChannelClosedError:
        if self._closed is None:
            self._closed = "the host stopped reading the channel (%s)" % (e.strerror or e)
        return ChannelClosedError("polyfork: cannot write to the host: %s" % self._closed)
