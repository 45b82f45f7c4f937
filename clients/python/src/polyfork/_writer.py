"""Writing frames: encoding under the profile, one lock, and answers written together.

A frame is a 4-byte big-endian length and that many bytes of msgpack (SPEC section 2). Under
load the host sends many requests at once and the child reads them in one ``os.read``; their
answers are then *deferred* and leave in one ``write`` once the child has handled the frames
at hand, instead of one system call (and one wake-up of the host) per answer. A lone request
is never deferred. A watchdog thread bounds the wait: if a handler of the same batch takes
longer than _MAX_DELAY, the answers kept before it are written without waiting for it.
"""
from __future__ import annotations

import errno
import logging
import os
import select
import struct
import threading
from typing import Any, Callable, List, Optional

from .errors import ChannelClosedError, FrameTooLargeError
from ._codec import (DEFAULT_MAX_VALUES, MAX_DEPTH, check_depth, check_values, encode_error,
                     new_packer)
from ._convert import make_default
from ._malloc import tune_once

__all__ = ["FrameWriter"]

log = logging.getLogger(__name__)

_hdr_pack = struct.Struct(">I").pack
_write = os.write
_BIG = 1 << 16  # larger bodies are written from their own buffer (writev), never copied
_DEFER_MAX = 1 << 14  # defer writes larger frames at once: batching them gains nothing
_FLUSH_AT = 1 << 16  # defer writes everything once this many bytes are kept
_MAX_DELAY = 0.002  # seconds a kept frame waits for a slow handler before the watchdog writes it
_WATCH_IDLE = 10.0  # seconds without deferred frames after which the watchdog thread ends
_SCALARS = frozenset((str, int, float, bool, bytes, type(None)))
# The length prefix and head of a response [1, id, nil, result], by the width of the id in
# msgpack's shortest form (positive fixint, uint8, uint16, uint32): struct makes them for
# less than msgpack packing the list (see FrameWriter.respond).
_HEAD_FIX = struct.Struct(">IHBB").pack  # length, 0x94 0x01, id, 0xc0
_HEAD_U8 = struct.Struct(">IHBBB").pack  # length, 0x94 0x01, 0xcc, id, 0xc0
_HEAD_U16 = struct.Struct(">IHBHB").pack
_HEAD_U32 = struct.Struct(">IHBIB").pack


def _describe(what: str, name: Any) -> str:
    return what if name is None else what % (name,)


class FrameWriter:
    """Encodes messages and writes them as frames to a blocking file descriptor.

    Thread-safe: one lock covers encoding and writing, so frames never interleave. The first
    frame written is always ``first()`` (the ``$ready`` handshake, built on demand), whatever
    message triggered the write; ``first=None`` writes no handshake.

    ``defer`` may keep a small frame to write it later together with others; ``flush`` writes
    what was kept, and so does every ``write``, before its own frame: frames leave in the
    order of the calls. A kept frame waits at most about _MAX_DELAY for the caller's flush.
    """

    __slots__ = ("_fd", "_max", "_max_values", "_check_from", "_pack", "_lock", "_first",
                 "_closed", "broken", "_out", "_out_n", "_cond", "_batch", "_armed", "_watching", "hook",
                 "_late")

    def __init__(self, fd: int, max_frame_size: int,
                 first: Optional[Callable[[], Any]] = None,
                 max_values: int = DEFAULT_MAX_VALUES) -> None:
        self._fd = fd
        self._max = max_frame_size
        self._max_values = max_values
        # Bodies up to this size need none of the checks: depth, size, value count.
        self._check_from = min(MAX_DEPTH, max_frame_size, max_values)
        #: The user's encoder hook (see _convert.py), or None.
        self.hook: Optional[Callable[[Any], Any]] = None
        self._pack = new_packer(self._hook)
        # Reentrant only to be able to tell (_is_owned) that a write comes from code that
        # interrupted this thread's own write: a signal handler, or the encoder hook; such a
        # frame waits in _late (see _write_late), never re-enters the write under way.
        self._lock = threading.RLock()
        self._late: List[bytes] = []
        self._first: Optional[Callable[[], Any]] = first
        self._closed: Optional[str] = None
        #: Why a write failed (the host stopped reading the channel), or None: set once.
        self.broken: Optional[str] = None
        self._out: List[bytes] = []  # kept frames: each header, then its body
        self._out_n = 0  # their total size in bytes
        self._cond = threading.Condition(self._lock)  # wakes the watchdog
        self._batch = 0  # counts the times _out went from empty to not empty
        self._armed = False  # the watchdog watches the current batch
        self._watching = False  # the watchdog thread runs

    def write(self, obj: Any, what: str, name: Any = None) -> None:
        """Encodes obj and writes it as one frame, after any kept frames.

        ``what`` (``what % name`` when name is not None) describes obj in error messages; it is
        formatted only on error. Raises EncodeError (FrameTooLargeError when the body is above
        the maximum frame size, TooManyValuesError when it holds more values than the maximum
        per frame) without writing anything, and ChannelClosedError when the host
        stopped reading.
        """
        lock = self._lock
        if lock._is_owned():  # type: ignore[attr-defined]
            self._write_late(obj, what, name)
            return
        lock.acquire()  # cheaper than `with` on the hot path
        try:
            # _encode and _write_body inlined for the common case: the per-message hot path.
            pack = self._pack  # (a slot: CPython 3.11 specializes its read, not a method call)
            try:
                body = pack(obj)
            except Exception as e:
                raise self._encode_error(obj, what, name, e) from e
            n = len(body)
            if n > self._check_from:
                self._check(obj, body, what, name)
            if n > _BIG or self._out or self._first is not None or self._closed is not None:
                self._write_body(body)
                return
            data = _hdr_pack(n) + body
            try:
                try:
                    done = _write(self._fd, data)
                except BlockingIOError:  # someone made the fd non-blocking
                    done = 0
                if done != n + 4:
                    self._write_views([memoryview(data)[done:]])
            except OSError as e:
                raise self._broken(e) from e
        finally:
            lock.release()
            if self._late:
                self.flush()

    def respond(self, msgid: int, result: Any, more: bool, what: str, name: Any = None) -> None:
        """Sends the response ``[1, msgid, None, result]``: as ``write`` does, or as ``defer``
        does when more is True. msgid is an int from 0 to 4294967295 (a request's id).

        The bytes are those msgpack makes of that list, but only the result goes through
        msgpack: the length prefix and the head come from struct, which costs less per
        answer. Raises as write and defer do, with the same messages.
        """
        lock = self._lock
        if lock._is_owned():  # type: ignore[attr-defined]
            self._write_late([1, msgid, None, result], what, name)
            return
        lock.acquire()
        try:
            pack = self._pack  # (a slot: CPython 3.11 specializes its read, not a method call)
            try:
                packed = pack(result)
            except Exception as e:
                raise self._encode_error([1, msgid, None, result], what, name, e) from e
            if msgid > 0xFFFF:
                n = len(packed) + 8
                head = _HEAD_U32(n, 0x9401, 0xCE, msgid, 0xC0)
            elif msgid > 0x7F:
                if msgid > 0xFF:
                    n = len(packed) + 6
                    head = _HEAD_U16(n, 0x9401, 0xCD, msgid, 0xC0)
                else:
                    n = len(packed) + 5
                    head = _HEAD_U8(n, 0x9401, 0xCC, msgid, 0xC0)
            else:
                n = len(packed) + 4
                head = _HEAD_FIX(n, 0x9401, msgid, 0xC0)
            # write and defer inlined: the checks only past _check_from, then the frame is
            # kept (more frames are buffered), written after the kept ones, or written alone.
            if n > self._check_from:
                # _check's tests, of which a scalar result within the limits passes all
                if n > self._max or n > self._max_values or type(result) not in _SCALARS:
                    self._check([1, msgid, None, result], head[4:], what, name, packed)
                if n > _BIG:  # written from its own buffer, never copied
                    self._write_body(packed, head[4:])
                    return
            if self._first is not None or self._closed is not None:
                self._write_body(packed, head[4:])
            elif more and n <= _DEFER_MAX:
                if self._out_n + n >= _FLUSH_AT:
                    self._write_body(packed, head[4:])
                    return
                out = self._out
                if not out:
                    self._start_batch()
                out.append(head)
                out.append(packed)
                self._out_n += n + 4
            elif self._out:
                self._write_body(packed, head[4:])
            else:
                data = head + packed
                try:
                    try:
                        done = _write(self._fd, data)
                    except BlockingIOError:  # someone made the fd non-blocking
                        done = 0
                    if done != n + 4:
                        self._write_views([memoryview(data)[done:]])
                except OSError as e:
                    raise self._broken(e) from e
        finally:
            lock.release()
            if self._late:
                self.flush()

    def defer(self, obj: Any, what: str, name: Any = None) -> None:
        """Like write, but a small frame may be kept, to leave with the next write or flush.

        The caller calls ``flush`` when it has no more frames at hand; until then the watchdog
        writes kept frames that waited longer than _MAX_DELAY. Frames above _DEFER_MAX bytes,
        and everything once _FLUSH_AT bytes are kept, are written at once. Raises EncodeError
        like write; a broken channel is reported by the next write.
        """
        lock = self._lock
        if lock._is_owned():  # type: ignore[attr-defined]
            self._write_late(obj, what, name)
            return
        lock.acquire()
        try:
            # _encode inlined, as in write: this runs once per answer under load.
            pack = self._pack  # (a slot: CPython 3.11 specializes its read, not a method call)
            try:
                body = pack(obj)
            except Exception as e:
                raise self._encode_error(obj, what, name, e) from e
            n = len(body)
            if n > self._check_from:
                self._check(obj, body, what, name)
            if (n > _DEFER_MAX or self._first is not None or self._out_n + n >= _FLUSH_AT
                    or self._closed is not None):
                self._write_body(body)
                return
            out = self._out
            if not out:
                self._start_batch()
            out.append(_hdr_pack(n))  # header and body apart: the one copy is the join
            out.append(body)
            self._out_n += n + 4
        finally:
            lock.release()
            if self._late:
                self.flush()

    def flush(self) -> None:
        """Writes the kept frames, if any. Never raises: when the host stopped reading, they
        are dropped and the next ``write`` raises ChannelClosedError."""
        if not self._out and not self._late:  # read without the lock: a hint, checked again
            return
        if self._lock._is_owned():  # type: ignore[attr-defined]
            return  # in a signal handler that interrupted this thread's write: it flushes
        with self._lock:
            self._flush_locked()
        if self._late:  # sent by a signal handler that interrupted the flush
            self.flush()

    def _write_late(self, obj: Any, what: str, name: Any) -> None:
        # A write from code that interrupted this thread while it held the lock: a signal
        # handler (Python runs them between bytecodes, so also inside a write blocked on a
        # full pipe), or the encoder hook calling send. Writing now would put this frame inside
        # the one under way, and waiting for the lock would wait for ourselves (it deadlocked,
        # then crashed on recursion as the signals kept coming). So the frame is encoded with a
        # packer of its own (the other may be inside pack) and kept; the interrupted write
        # sends it once it released the lock.
        try:
            body = new_packer(self._hook)(obj)
        except Exception as e:
            raise self._encode_error(obj, what, name, e) from e
        if len(body) > self._check_from:
            self._check(obj, body, what, name)
        if self._closed is not None:
            raise ChannelClosedError("polyfork: cannot write to the host: %s" % self._closed)
        self._late.append(_hdr_pack(len(body)) + body)

    def _hook(self) -> Optional[Callable[[Any], Any]]:
        return self.hook

    def _encode_error(self, obj: Any, what: str, name: Any, e: BaseException) -> Exception:
        # Only on failure: walks obj again to name where the offending value is.
        return encode_error(obj, _describe(what, name), e, make_default(self._hook),
                            self.hook is not None)

    def close(self, reason: str) -> None:
        """Refuses every later write and defer with ChannelClosedError naming reason, and
        drops the kept frames. Idempotent; the descriptor itself stays open."""
        with self._lock:
            if self._closed is None:
                self._closed = reason
            self._out = []
            self._out_n = 0
            self._first = None
            self._late = []

    def forked(self, reason: str) -> None:
        """In a forked copy of the process (os.register_at_fork): refuses every write with
        ChannelClosedError naming reason and drops the kept frames, which are the parent's to
        write. The lock is made anew without being taken: another thread of the parent may have
        held it at the fork, and that thread does not exist here."""
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._late = []
        self._out = []
        self._out_n = 0
        self._first = None
        self._closed = reason
        self.broken = "forked"
        self._armed = False
        self._watching = False

    def ensure_first(self) -> None:
        """Writes the first frame now if it has not been written yet."""
        with self._lock:
            if self._first is not None:
                try:
                    self._write_first()
                except OSError as e:
                    raise self._broken(e) from e
        if self._late:
            self.flush()

    # --- under the lock ----------------------------------------------------------------------

    def _encode(self, obj: Any, what: str, name: Any) -> bytes:
        try:
            body = self._pack(obj)
        except Exception as e:
            raise self._encode_error(obj, what, name, e) from e
        if len(body) > self._check_from:
            self._check(obj, body, what, name)
        return body

    def _check(self, obj: Any, body: bytes, what: str, name: Any, rest: bytes = b"") -> None:
        # The frame's body is body + rest (rest: a response's packed result, see respond),
        # joined only for a check that reads the bytes.
        n = len(body) + len(rest)
        if n > self._max:
            raise FrameTooLargeError(
                "polyfork: cannot send %s: it encodes to %d bytes, above the maximum frame "
                "size of %d bytes (POLYFORK_MAX_FRAME_SIZE)" % (_describe(what, name), n,
                                                                self._max), n, self._max)
        if rest and (n > MAX_DEPTH or n > self._max_values):
            body += rest  # the whole body, for the checks below that read it
        if n > MAX_DEPTH:
            if type(obj) is list:  # a message of scalars only (a usual answer) is 1 deep
                for x in obj:
                    if type(x) not in _SCALARS:
                        check_depth(obj, body, what, name, self._hook)
                        break
            else:
                check_depth(obj, body, what, name, self._hook)
        if n > self._max_values:  # a shorter body cannot hold more values than it has bytes
            check_values(body, self._max_values, what, name, obj, self._hook)

    def _write_body(self, body: bytes, head: bytes = b"") -> None:
        # The handshake if due, the kept frames, then this frame (its body head + body: a
        # response's head comes apart from its result), in as few writes as can be.
        if self._closed is not None:
            raise ChannelClosedError("polyfork: cannot write to the host: %s" % self._closed)
        n = len(head) + len(body)
        if n > _BIG:
            tune_once()
        try:
            if self._first is not None:
                self._write_first()
            if self._out:
                out = self._take_out()
                out.append(_hdr_pack(n) + head)
                if n <= _BIG:
                    out.append(body)
                    self._write_views([memoryview(b"".join(out))])
                else:
                    self._write_views([memoryview(b"".join(out)), memoryview(body)])
            elif n <= _BIG:
                self._write_views([memoryview(_hdr_pack(n) + head + body)])
            else:
                self._write_views([memoryview(_hdr_pack(n) + head), memoryview(body)])
        except OSError as e:
            raise self._broken(e) from e

    def _take_out(self) -> List[bytes]:
        out = self._out
        self._out = []
        self._out_n = 0
        if self._late:  # (kept before this point, so they go before a frame written now)
            late, self._late = self._late, []
            out.extend(late)
        return out

    def _flush_locked(self) -> None:
        out = self._take_out()
        if not out:
            return
        data = b"".join(out)
        try:
            self._write_views([memoryview(data)])
        except OSError as e:
            log.debug("%s", self._broken(e))

    def _write_first(self) -> None:
        make, self._first = self._first, None
        assert make is not None
        body = self._pack(make())
        self._write_views([memoryview(_hdr_pack(len(body)) + body)])

    def _write_views(self, views: List[memoryview]) -> None:
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
        if self.broken is None:
            self.broken = errno.errorcode.get(e.errno or 0) or str(e.strerror or e)  # "EPIPE"
        return ChannelClosedError("polyfork: cannot write to the host: %s" % self._closed)

    # --- the watchdog ------------------------------------------------------------------------

    def _start_batch(self) -> None:
        # Under the lock, as the first frame is kept: make sure the watchdog looks at it.
        self._batch += 1
        if self._armed:
            return
        self._armed = True
        if self._watching:
            self._cond.notify()
            return
        try:
            threading.Thread(target=self._watch, name="polyfork-flush", daemon=True).start()
            self._watching = True
        except RuntimeError:  # interpreter shutdown: the caller's flush is all there is
            self._armed = False

    def _watch(self) -> None:
        # Writes a batch that is still kept _MAX_DELAY after it began: a handler after it in
        # the same read is slow, or blocks. Sleeps (no timer) while nothing is kept; ends
        # after _WATCH_IDLE of that, and _start_batch starts a new one when needed.
        cond = self._cond
        with cond:
            try:
                while True:
                    if not self._out:
                        self._armed = False
                        if not cond.wait(_WATCH_IDLE) and not self._armed:
                            return
                        continue
                    seen = self._batch
                    cond.wait(_MAX_DELAY)
                    if self._out and self._batch == seen:
                        self._flush_locked()
            finally:
                self._watching = False
                self._armed = False
