"""The session: dispatch of requests and notifications, calls to the host, cancellation, stopping.

Threads and loops. Exactly one thread reads the channel at a time (the *reader*): the thread
in ``run()`` or ``serve()``, or, outside of them, a thread blocked in ``call()`` that pumps
the channel until its response arrives. Frames are dispatched on the reader's thread. Writes
come from any thread and are serialized by the FrameWriter's lock.

``run()`` serves on a plain blocking loop while every handler is synchronous (the fastest
path), and moves to an asyncio event loop the first time an ``async def`` handler or
listener is needed, or at once when one is registered before ``run()``. ``serve()`` always
uses the running asyncio loop.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import inspect
import logging
import os
import threading
import weakref
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple, TypeVar, overload

from . import _errormap
from ._channel import FrameReader, max_frame_size_from_env, max_values_from_env, open_channel
from ._codec import (MAX_DEPTH, ValueProblem, check_decoded, check_request_depth, decode_message,
                     ext_hook, has_wide_timestamp, unpackb)
from ._pending import CallInCoroutine, PendingCalls, settle
from ._registry import Registry
from ._version import __version__
from ._writer import FrameWriter
from .errors import (BridgeError, ChannelClosedError, DecodeError, EncodeError,
                     FrameTooLargeError, ProtocolError, TooManyValuesError)

__all__ = ["Session", "LIB"]

F = TypeVar("F", bound=Callable[..., Any])  # a handler or listener, returned as it came
H = TypeVar("H", bound=Callable[[Any], Any])  # an encoder hook

log = logging.getLogger(__name__)

#: The library name and version sent in the $ready handshake.
LIB = "polyfork-python/" + __version__

_EOF = object()  # backlog marker: the host closed stdin here
_RESULT_OF = 'the result of handler "%s"'
_get_running_loop = getattr(asyncio, "_get_running_loop", None)
_current_task = asyncio.current_task
_CFuture = concurrent.futures.Future


def _running_loop() -> Optional[asyncio.AbstractEventLoop]:
    if _get_running_loop is not None:
        loop: Optional[asyncio.AbstractEventLoop] = _get_running_loop()
        return loop
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _name_of(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _safe_text(s: Any, limit: int = 65536) -> str:
    s = s if isinstance(s, str) else repr(s)
    text: str = s[:limit]
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


#: Every session of this process, so that a fork can disarm them in the copy.
_SESSIONS: "weakref.WeakSet[Session]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for s in list(_SESSIONS):
        s._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Await:
    """Backlog item: an awaitable returned by a plain handler, to run once asyncio is up."""

    __slots__ = ("msgid", "method", "awaitable")

    def __init__(self, msgid: int, method: str, awaitable: Any) -> None:
        self.msgid, self.method, self.awaitable = msgid, method, awaitable


class Session:
    """One polyfork channel to the host: handlers, listeners, sends and calls.

    ``Session()`` uses the channel the host gave: the descriptors named by
    POLYFORK_CHANNEL_FDS, or else the process's stdin/stdout, moved off file descriptors 0
    and 1 (see ``open_channel``); ``read_fd``/``write_fd`` give it other blocking descriptors.
    ``max_frame_size`` defaults to POLYFORK_MAX_FRAME_SIZE, or 64 MiB, and ``max_values`` (the
    most msgpack values in one frame, both ways) to POLYFORK_MAX_VALUES, or 4194304.
    ``default`` is an encoder hook (see ``encoder``). The module-level
    functions of ``polyfork`` use one default Session.

    Registering handlers and listeners is meant for start-up (before ``run()``). ``send``,
    ``notify`` and ``call`` are safe from any thread.
    """

    def __init__(self, read_fd: Optional[int] = None, write_fd: Optional[int] = None, *,
                 max_frame_size: Optional[int] = None, max_values: Optional[int] = None,
                 default: Optional[Callable[[Any], Any]] = None) -> None:
        if (read_fd is None) != (write_fd is None):
            raise ValueError("polyfork: give both read_fd and write_fd, or neither")
        if read_fd is None or write_fd is None:
            read_fd, write_fd = open_channel()
        limit = max_frame_size if max_frame_size is not None else max_frame_size_from_env()
        if limit < 1:
            raise ValueError("polyfork: max_frame_size must be positive, got %r" % limit)
        values = max_values if max_values is not None else max_values_from_env()
        if values < 1:
            raise ValueError("polyfork: max_values must be positive, got %r" % values)
        self._max_values = values
        self._read_fd = read_fd
        self._registry = Registry()
        self._handlers = self._registry.handlers  # read on the hot path
        self._listeners = self._registry.listeners
        self._calls = PendingCalls()
        self._cv = threading.Condition()
        self._owner: Optional[int] = None  # thread ident of the reader
        self._serving = False
        self._switch = False  # the blocking loop must hand over to asyncio
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._done: "Optional[asyncio.Future[None]]" = None
        self._reading: Optional[str] = None  # "selector" or "poll" while asyncio reads
        self._backlog: Deque[Any] = collections.deque()
        self._backlog_ids: Set[int] = set()  # ids of the requests waiting in the backlog
        self._tasks: "Dict[int, asyncio.Task[Any]]" = {}
        self._bg: "Set[asyncio.Task[Any]]" = set()
        self._current = -1  # id of the request whose plain handler runs (or ran last)
        self._pumping: List[int] = []  # ids of plain handlers blocked in call() on this thread
        self._stopping = False
        self._eof = False
        self._finished = False
        self._fatal: Optional[ProtocolError] = None
        self._lost = False  # a write to the host failed: the session is over
        self._pid = os.getpid()
        self._copy_of: Optional[int] = None  # in a forked copy: the pid of the worker
        self._write_fd = write_fd
        self._writer = FrameWriter(write_fd, limit, self._ready_message, values)
        self._reader = FrameReader(read_fd, limit, self._on_frame, self._writer.flush)
        if default is not None:
            self.encoder(default)
        _SESSIONS.add(self)

    # --- registration ------------------------------------------------------------------------

    @overload
    def handle(self, name: F) -> F: ...
    @overload
    def handle(self, name: str) -> Callable[[F], F]: ...
    @overload
    def handle(self, name: str, fn: F) -> F: ...

    def handle(self, name: Any = None, fn: Any = None) -> Any:
        """Registers fn as the handler of requests for method ``name``.

        Usable as ``@session.handle("name")``, ``@session.handle`` (the function's name) or
        ``session.handle("name", fn)``; each returns fn unchanged, so its type is kept. The
        handler gets the request's params as positional arguments; its return value is the
        result and an exception it raises becomes an error map (type = class qualname,
        message = str(e), traceback). ``async def`` handlers run as asyncio tasks, so several
        can be in flight and ``$cancel`` reaches them as ``asyncio.CancelledError``; plain
        handlers run inline, one at a time, and cannot be interrupted. A later registration
        for the same name replaces the earlier one.
        """
        if callable(name) and fn is None:
            return self.handle(name.__name__, name)
        if not isinstance(name, str):
            raise TypeError("polyfork: a method name is a str, got %r" % (name,))

        def register(f: F) -> F:
            self._registry.add_handler(name, f)
            return f

        return register(fn) if fn is not None else register

    @overload
    def on(self, name: F) -> F: ...
    @overload
    def on(self, name: str) -> Callable[[F], F]: ...
    @overload
    def on(self, name: str, fn: F) -> F: ...

    def on(self, name: Any, fn: Any = None) -> Any:
        """Adds fn as a listener of notifications called ``name``.

        ``@session.on("message")`` receives each value the host sends with ``send``; any other
        name receives that notification's params as positional arguments. Listeners may be
        ``async def``. An exception a listener does not catch (a ``send`` that failed, say)
        is logged once with the listener's name; nothing is sent to the host. Names starting
        with ``$`` are reserved by the protocol. Returns fn unchanged, like ``handle``.
        """
        if callable(name) and fn is None:
            return self.on(name.__name__, name)
        if not isinstance(name, str):
            raise TypeError("polyfork: a notification name is a str, got %r" % (name,))

        def register(f: F) -> F:
            self._registry.add_listener(name, f)
            return f

        return register(fn) if fn is not None else register

    def encoder(self, fn: H) -> H:
        """Sets fn as the encoder hook, for values msgpack cannot pack by itself.

        Like ``json.dumps(default=...)``: fn(obj) returns something encodable in obj's place
        (it is encoded in turn, so it may hold more such objects) or raises TypeError to
        decline, and then the built-in conversions apply (sets, Enums, dataclasses, numpy;
        README "Values"), else an EncodeError naming the type. Usable as a decorator; it
        replaces any earlier hook and returns fn. Set it at start-up.
        """
        if not callable(fn):
            raise TypeError("polyfork: an encoder hook must be callable, got %r" % (fn,))
        self._writer.hook = fn
        return fn

    def off(self, name: str, fn: Callable[..., Any]) -> None:
        """Removes a listener added with ``on``; does nothing if it is not there."""
        self._registry.remove_listener(name, fn)

    # --- sending -----------------------------------------------------------------------------

    def send(self, value: Any) -> None:
        """Sends value to the host's message listener (the notification ``message``).

        Raises EncodeError (nothing is sent) or ChannelClosedError. Thread-safe.
        """
        self._writer.write([2, "message", (value,)], "the value given to send()")

    def notify(self, name: str, *params: Any) -> None:
        """Sends the notification ``name`` with params to the host. Thread-safe."""
        if type(name) is not str:
            raise TypeError("polyfork: a notification name is a str, got %r" % (name,))
        self._writer.write([2, name, params], 'the params of notification "%s"', name)

    def call(self, method: str, *params: Any) -> Any:
        """Calls the host's handler for ``method`` with params; returns its result.

        Blocking where that is safe and an awaitable where the caller is asyncio code:

        - no event loop running in this thread (module top level, a plain script, another
          thread): blocks until the response arrives;
        - in a plain handler or listener (they run on the serving thread, and its loop waits
          for them): blocks, reading the channel itself meanwhile;
        - in a coroutine: the request is sent and an awaitable returned (``await`` it; one
          never awaited logs a warning); cancelling the await sends ``$cancel`` to the host.
          ``call_async`` says the same in a way type checkers see.

        Raises RemoteError when the host's handler raised, ChannelClosedError when the host
        stopped or closed the channel first, EncodeError when the params cannot be sent.
        """
        loop = _running_loop()
        if loop is not None and (loop is not self._loop or _current_task(loop) is not None):
            return CallInCoroutine(self.call_async(method, *params), method)
        return self._call_blocking(method, params)

    def call_async(self, method: str, *params: Any) -> "asyncio.Future[Any]":
        """Like ``call`` but always returns an awaitable; needs a running event loop.

        The request is written before this returns. On the loop that serves this session the
        awaitable is a Future, and cancelling it sends ``$cancel`` for the request; on another
        loop the call runs in the loop's default executor.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            return loop.run_in_executor(None, self._call_blocking, method, params)
        fut = loop.create_future()
        msgid = self._start_call(method, params, fut)
        fut.add_done_callback(functools.partial(self._on_call_future_done, msgid))
        return fut

    @property
    def stopping(self) -> bool:
        """True once the host sent ``$stop`` or closed the channel."""
        return self._stopping or self._calls.closed is not None

    # --- serving -----------------------------------------------------------------------------

    def run(self) -> None:
        """Serves the host's requests and notifications until ``$stop`` or end of stdin.

        Sends the ``$ready`` handshake first (unless something was sent before). On ``$stop``
        or end of file it starts no new handler, lets the running ones finish (their responses
        and sends still go out) and returns, so the script can end with status 0. When the
        host breaks the protocol it logs the error and exits the process with status 1.
        Requests that arrived while the script blocked in ``call()`` before ``run()`` are
        served first, in order.
        """
        if _running_loop() is not None:
            raise RuntimeError("polyfork: run() cannot be called while an asyncio event loop "
                               "runs in this thread; use `await polyfork.serve()` instead")
        try:
            self._acquire_role()
            try:
                if self._fatal is not None:
                    raise self._fatal
                if self._finished:
                    return
                if self._registry.any_async() or self._serve_blocking():
                    asyncio.run(self._serve_asyncio())
                self._end_calls()
            finally:
                self._release_role()
        except ProtocolError as e:
            log.error("%s; exiting with status 1", e)
            raise SystemExit(1) from None

    async def serve(self) -> None:
        """Serves on the running asyncio event loop until ``$stop`` or end of stdin.

        The coroutine form of ``run()``: the same handshake and stopping rules, but a
        ProtocolError from the host is raised instead of exiting the process.
        """
        self._acquire_role()
        try:
            if self._fatal is not None:
                raise self._fatal
            if not self._finished:
                await self._serve_asyncio()
            self._end_calls()
        finally:
            self._release_role()

    def _end_calls(self) -> None:
        """Serving is over: nobody reads the host's answers any more, so fail what waits."""
        if self._finished:
            self._calls.close("the child stopped serving after $stop")

    # --- internals: the reader role ----------------------------------------------------------

    def _acquire_role(self) -> None:
        me = threading.get_ident()
        with self._cv:
            if self._owner == me:
                raise RuntimeError("polyfork: run()/serve() is already running in this thread")
            while self._owner is not None:
                self._cv.wait()
            self._owner = me

    def _release_role(self) -> None:
        with self._cv:
            self._owner = None
            self._cv.notify_all()

    def _wake(self, _: Any = None) -> None:
        with self._cv:
            self._cv.notify_all()

    def _ready_message(self) -> List[Any]:
        return [2, "$ready", [{"protocol": 1, "lang": "python", "pid": os.getpid(), "lib": LIB}]]

    # --- internals: the blocking loop --------------------------------------------------------

    def _serve_blocking(self) -> bool:
        """Serves with blocking reads; returns True when asyncio must take over."""
        self._serving = True
        try:
            self._ensure_first()
            self._drain_backlog()
            reader = self._reader
            # `while True` and a test inside, not `while not (...)`: CPython 3.11 specializes
            # the bytecode of a function entered once (this loop serves the whole session)
            # only after some unconditional backward jumps, which `while <test>` never makes.
            while True:
                if self._stopping or self._switch:
                    break
                if self._copy_of is not None:
                    self._exit_copy()
                try:
                    ok = reader.read_once()
                except ProtocolError as e:
                    self._fail(e)
                    break
                if not ok:
                    self._on_eof()
        finally:
            self._serving = False
        if self._fatal is not None:
            raise self._fatal
        if not self._switch:
            self._finished = True
        return self._switch

    # --- internals: the asyncio loop ---------------------------------------------------------

    async def _serve_asyncio(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._serving = True
        self._switch = False
        self._done = done = loop.create_future()
        try:
            self._ensure_first()
            # The backlog is served from a plain callback, where handlers see no current task.
            loop.call_soon(self._begin_reading)
            await done
            self._finished = True
        finally:
            self._stop_reading()
            self._serving = False
            left = list(self._tasks.values()) + list(self._bg)
            for t in left:
                t.cancel()
            if left:  # let them end here, where their outcome is handled, not in asyncio.run
                await asyncio.wait(left)
            self._loop = None
            self._done = None

    def _ensure_first(self) -> None:
        try:
            self._writer.ensure_first()
        except ChannelClosedError as e:
            self._write_failed(e)

    def _begin_reading(self) -> None:
        self._drain_backlog()
        loop = self._loop
        if loop is None or self._eof or self._fatal is not None or self._lost or self._done is None:
            self._maybe_finish()
            return
        try:
            loop.add_reader(self._read_fd, self._on_readable)
            self._reading = "selector"
        except (OSError, ValueError, NotImplementedError):
            # Not pollable (a regular file on Linux): reads never block, so read in a loop of
            # callbacks instead.
            self._reading = "poll"
            loop.call_soon(self._on_readable_poll)
        self._maybe_finish()

    def _stop_reading(self) -> None:
        if self._reading == "selector" and self._loop is not None:
            self._loop.remove_reader(self._read_fd)
        self._reading = None

    def _on_readable(self) -> None:
        # The selector calls this when the channel is readable (remove_reader cancels it).
        if self._copy_of is not None:
            self._exit_copy()
        try:
            if self._reader.read_once():
                return
        except ProtocolError as e:
            self._fail(e)
            return
        self._on_eof()

    def _on_readable_poll(self) -> None:
        # For channels a selector cannot watch (regular files): read in a chain of callbacks.
        if self._reading != "poll":
            return
        self._on_readable()
        if self._reading == "poll" and self._loop is not None:
            self._loop.call_soon(self._on_readable_poll)

    def _maybe_finish(self) -> None:
        if self._stopping and not self._tasks and not self._bg:
            done = self._done
            if done is not None and not done.done():
                done.set_result(None)

    # --- internals: frames in ----------------------------------------------------------------

    def _on_frame(self, body: Any, more: bool = False) -> None:
        # The per-message hot path: decode_message and, for a request to a plain handler,
        # _run_plain inlined. Anything unusual (a value count to check, a wide timestamp, bytes
        # unpackb refuses) goes to _on_odd_frame, which lets decode_message decode again and
        # tell; every other message to _on_message. (Kept short: CPython 3.11 specializes a
        # comparison only when the jump after it is short.)
        if self._writer.broken is not None:  # a write failed (in another thread, say)
            self._lose()
            return
        size = len(body)
        if size > self._max_values or (255 in body and has_wide_timestamp(body)):
            self._on_odd_frame(body, more)
            return
        try:
            msg = unpackb(body, strict_map_key=False, ext_hook=ext_hook, timestamp=3)
        except Exception:
            self._on_odd_frame(body, more)
            return
        if type(msg) is not list or len(msg) != 4:
            self._on_message(check_decoded(body, msg), more)
            return
        kind, msgid, method, params = msg
        # msgid >> 32 is 0 exactly for ints from 0 to 4294967295 (negative ones shift to -1).
        if not (kind == 0 and type(kind) is int and type(msgid) is int and not msgid >> 32
                and type(method) is str and type(params) is list):
            self._on_message(check_decoded(body, msg), more)
            return
        if size > MAX_DEPTH:
            check_request_depth(body, msg)
        entry = self._handlers.get(method)
        if (entry is None or entry[1] or not self._serving or self._tasks or self._pumping
                or self._backlog or self._switch or self._stopping):
            self._on_message(msg, more)
            return
        self._current = msgid
        try:
            result = entry[0](*params)
        except Exception as e:
            self._send_error_map(msgid, _errormap.error_map(e, 1))
            return
        try:
            # deferred when more frames are buffered: the answers of one read in one write
            self._writer.respond(msgid, result, more, _RESULT_OF, method)
        except BridgeError as e:
            self._respond_failed(msgid, method, result, e)

    def _on_odd_frame(self, body: Any, more: bool) -> None:
        try:
            msg = decode_message(body, self._max_values)
        except ValueProblem as p:
            self._on_value_problem(p)
            return
        self._on_message(msg, more)

    def _on_message(self, msg: List[Any], more: bool) -> None:
        """Dispatches a decoded and checked message (see _on_frame for the usual request)."""
        kind = msg[0]
        if kind == 0 and (self._tasks or self._pumping or self._backlog):
            self._check_unique(msg[1], msg[2])
        if kind == 0 and self._serving and not self._switch and not self._stopping:
            entry = self._handlers.get(msg[2])
            if entry is not None and not entry[1]:
                self._run_plain(entry[0], msg[1], msg[2], msg[3], more)
                return
        if kind == 1:
            self._on_response(msg[1], msg[2], msg[3])
        elif self._serving and not self._switch:
            if kind == 0:
                self._on_request(msg[1], msg[2], msg[3])
            else:
                self._on_notification(msg[1], msg[2])
        else:
            # Not serving yet (a call() pumps before run()), or handing over to asyncio: keep
            # the message, in order.
            self._backlog.append(msg)
            if kind == 0:
                self._backlog_ids.add(msg[1])

    def _run_plain(self, fn: Callable[..., Any], msgid: int, method: str, params: List[Any],
                   more: bool) -> None:
        """Runs a plain handler and answers; the answer is deferred when more frames are
        buffered, so that the answers of one read leave in one write."""
        self._current = msgid
        try:
            result = fn(*params)
        except Exception as e:
            self._send_error_map(msgid, _errormap.error_map(e, 1))
            return
        try:
            self._writer.respond(msgid, result, more, _RESULT_OF, method)
        except BridgeError as e:
            self._respond_failed(msgid, method, result, e)

    def _check_unique(self, msgid: int, method: str) -> None:
        """SPEC 4.1: a request whose id is that of a request in flight (its handler runs, or it
        waits in the backlog) is a protocol error: the host could not tell the answers apart."""
        if msgid in self._tasks or msgid in self._pumping or msgid in self._backlog_ids:
            raise ProtocolError(
                'polyfork: protocol error: request id %d ("%s") is already in flight; ids must '
                "be unique among the requests in flight" % (msgid, _safe_text(_errormap.cut_name(method))))

    def _drain_backlog(self) -> None:
        backlog = self._backlog
        while backlog and not self._switch:
            item = backlog.popleft()
            if item is _EOF:
                self._stopping = True
            elif type(item) is _Await:
                self._backlog_ids.discard(item.msgid)
                self._adopt_awaitable(item.msgid, item.method, item.awaitable)
            elif item[0] == 0:
                self._backlog_ids.discard(item[1])
                self._on_request(item[1], item[2], item[3])
            else:
                self._on_notification(item[1], item[2])
        self._maybe_finish()

    def _need_asyncio(self, item: Any) -> None:
        """In the blocking loop: item needs asyncio; keep it first and hand over."""
        self._switch = True
        self._backlog.appendleft(item)
        if type(item) is _Await:
            self._backlog_ids.add(item.msgid)
        elif item[0] == 0:
            self._backlog_ids.add(item[1])

    def _on_value_problem(self, p: ValueProblem) -> None:
        msg = p.message
        if msg[0] == 0:
            # SPEC section 7: the type names the receiver's exception class.
            self._send_error_map(msg[1], {
                "type": "DecodeError",
                "message": 'polyfork-python cannot decode the params of "%s": they hold %s'
                           % (_safe_text(msg[2]), p.reason)})
        elif msg[0] == 1:
            item = self._calls.pop(msg[1])
            if item is not None:
                fut, method = item
                settle(fut, None, DecodeError(
                    'polyfork: cannot decode the response to call "%s" (id %d): it holds %s'
                    % (method, msg[1], p.reason)))
        else:
            log.warning('polyfork: dropping notification "%s" from the host: it holds %s',
                        _safe_text(msg[1]), p.reason)

    def _on_response(self, msgid: int, err: Any, result: Any) -> None:
        item = self._calls.pop(msgid)
        if item is None:
            log.debug("polyfork: dropping a response for id %d: no call in flight has it", msgid)
            return
        if err is None:
            settle(item[0], result, None)
        else:
            settle(item[0], None, _errormap.remote_error(err))

    def _on_request(self, msgid: int, method: str, params: List[Any]) -> None:
        entry = self._handlers.get(method)
        if entry is None or self._stopping:
            self._reject(msgid, method)
            return
        fn, is_async = entry
        if is_async:
            if self._loop is None:
                self._need_asyncio([0, msgid, method, params])
                return
            try:
                coro = fn(*params)
            except Exception as e:
                self._send_error_map(msgid, _errormap.error_map(e, 1))
                return
            self._start_task(msgid, method, coro)
            return
        self._current = msgid
        try:
            result = fn(*params)
        except Exception as e:
            self._send_error_map(msgid, _errormap.error_map(e, 1))
            return
        self._respond(msgid, method, result)

    def _reject(self, msgid: int, method: str) -> None:
        if self._stopping:
            m = _errormap.stopping(method)
        else:
            m = _errormap.method_not_found(method)
        self._send_error_map(msgid, m)

    def _start_task(self, msgid: int, method: str, awaitable: Any) -> None:
        loop = self._loop
        assert loop is not None
        task = asyncio.ensure_future(awaitable, loop=loop)
        self._tasks[msgid] = task
        task.add_done_callback(functools.partial(self._on_task_done, msgid, method))

    def _on_task_done(self, msgid: int, method: str, task: "asyncio.Task[Any]") -> None:
        if self._tasks.get(msgid) is task:
            del self._tasks[msgid]
        if self._fatal is not None or self._lost:  # the session is over: nothing is answered
            if not task.cancelled():
                task.exception()  # retrieved, so asyncio does not log it
        elif task.cancelled():
            self._send_error_map(msgid, _errormap.cancelled(method))
        else:
            exc = task.exception()
            if exc is None:
                self._respond(msgid, method, task.result())
            else:
                self._send_error_map(msgid, _errormap.error_map(exc))
        self._maybe_finish()

    def _adopt_awaitable(self, msgid: int, method: str, awaitable: Any) -> None:
        if self._loop is None:
            self._need_asyncio(_Await(msgid, method, awaitable))
        else:
            self._start_task(msgid, method, awaitable)

    def _on_notification(self, method: str, params: List[Any]) -> None:
        if method[:1] == "$":
            if method == "$cancel":
                self._on_cancel(params)
            elif method == "$stop":
                # Handlers still running may call the host: it keeps answering until they
                # are done (SPEC section 6), so calls are failed only when serving ends.
                self._stopping = True
                self._maybe_finish()
            else:
                log.debug("polyfork: ignoring the unknown reserved notification %r", method)
            return
        entry = self._listeners.get(method)
        if entry is None:
            log.debug('polyfork: no listener for notification "%s"; dropped', method)
            return
        if method == "message" and len(params) != 1:
            log.warning('polyfork: dropping a "message" notification with %d params; it '
                        'carries exactly one value', len(params))
            return
        fns, any_async = entry
        if any_async and self._loop is None:
            self._need_asyncio([2, method, params])
            return
        self._current = -1  # a listener that calls the host holds no request in flight
        for fn, is_async in fns:
            try:
                r = fn(*params)
            except ChannelClosedError as e:
                if self._write_failed(e):
                    return
                log.exception('polyfork: listener %s of notification "%s" raised',
                              _name_of(fn), method)
                continue
            except Exception:
                log.exception('polyfork: listener %s of notification "%s" raised',
                              _name_of(fn), method)
                continue
            if r is not None and (is_async or inspect.isawaitable(r)):
                if self._loop is None:  # a plain function returned an awaitable
                    log.error('polyfork: listener %s of notification "%s" returned an '
                              'awaitable; declare it with async def', _name_of(fn), method)
                    close = getattr(r, "close", None)
                    if close is not None:
                        close()
                    continue
                task = asyncio.ensure_future(r, loop=self._loop)
                self._bg.add(task)
                task.add_done_callback(functools.partial(self._on_listener_done, fn, method))

    def _on_listener_done(self, fn: Callable[..., Any], method: str,
                          task: "asyncio.Task[Any]") -> None:
        self._bg.discard(task)
        exc = None if task.cancelled() else task.exception()
        if isinstance(exc, ChannelClosedError) and self._write_failed(exc):
            exc = None
        if exc is not None and not (self._fatal is not None and isinstance(exc, BridgeError)):
            log.error('polyfork: listener %s of notification "%s" raised',
                      _name_of(fn), method, exc_info=exc)
        self._maybe_finish()

    def _on_cancel(self, params: List[Any]) -> None:
        if len(params) != 1 or type(params[0]) is not int:
            log.warning("polyfork: ignoring a malformed $cancel %r; it carries [id]", params)
            return
        task = self._tasks.get(params[0])
        if task is not None and self._loop is not None:
            # Cancel on the next loop turn, so a handler that has not started yet first runs
            # up to its first await and can see the CancelledError.
            self._loop.call_soon(task.cancel)

    def _on_eof(self) -> None:
        if self._eof:
            return
        self._eof = True
        self._calls.close("the host closed the channel (end of file on stdin)")
        if not self._serving or self._switch:
            self._backlog.append(_EOF)
            return
        self._stopping = True
        self._stop_reading()
        self._maybe_finish()

    def _fail(self, exc: ProtocolError) -> None:
        """The host broke the protocol: the session is over (SPEC section 6).

        Stops reading, fails the child's own calls to the host with the error and writes
        nothing more: no answers to the requests being handled (the handlers are cancelled
        when serving ends), no sends. ``run()`` then logs one line and exits with status 1.
        """
        if self._fatal is None:
            self._fatal = exc
        self._writer.close("the host broke the protocol (%s)" % exc)
        self._calls.close(str(exc), ProtocolError)
        self._end_serving(exc)

    def _write_failed(self, e: BridgeError) -> bool:
        """A write raised e: when the host stopped reading (not a protocol error's close, not
        an encoding error), the session is over; returns True then."""
        if self._writer.broken is None or self._fatal is not None:
            log.debug("%s", e)
            return False
        self._lose()
        return True

    def _lose(self) -> None:
        """A write to the host failed: it closed its end of the channel (docs/faults.md 8).

        The same as PHP: one line on stderr, no new handler or listener runs, nothing more is
        read, the handlers in flight are cancelled (their answers could not go out), the calls
        to the host fail, and ``run()`` returns (status 0, as at end of stdin).
        """
        if self._copy_of is not None:
            self._exit_copy()
        if self._lost or self._fatal is not None:
            return
        self._lost = True
        log.error("polyfork: the host closed the channel: writing a frame failed (%s); "
                  "stopping", self._writer.broken)
        self._calls.close("the host closed the channel (writing a frame failed: %s)"
                          % self._writer.broken)
        self._backlog.clear()
        self._backlog_ids.clear()
        self._end_serving(None)

    def _forked(self) -> None:
        """After os.fork(), in the copy (every thread but the forking one is gone).

        The channel is the worker's: the copy must neither read it (it would take requests
        the worker never sees) nor write to it (a second answer to a request, frames
        interleaved with the worker's). Its sends and calls raise ChannelClosedError; its
        descriptors of the channel are pointed at /dev/null, so that the host sees the
        channel end when the worker exits, however long the copy lives; and when control
        comes back to the session (a handler or listener returned in the copy, or it was
        inside run()'s loop), the copy exits with status 1 and one line saying why.
        """
        parent, self._pid = self._pid, os.getpid()
        if self._copy_of is None:
            self._copy_of = parent
        reason = ("this process (pid %d) is a fork of the polyfork worker (pid %d), whose "
                  "channel it must not use" % (self._pid, self._copy_of))
        self._writer.forked(reason)
        self._calls.forked(reason)
        self._cv = threading.Condition()
        self._owner = None
        # Never remove_reader in the copy: the epoll instance is shared with the worker.
        self._reading = None
        try:
            null = os.open(os.devnull, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return
        try:
            for fd in {self._read_fd, self._write_fd}:
                try:
                    os.dup2(null, fd, inheritable=False)
                except OSError:
                    pass
        finally:
            os.close(null)

    def _exit_copy(self) -> None:
        """Control came back to the session in a forked copy: exit it, as os._exit does (no
        atexit handlers, no flush of buffers that are copies of the worker's)."""
        line = ("polyfork: process %d is a fork of the worker (pid %d) and came back to "
                "polyfork's serving loop (a handler or listener returned in the copy); the copy "
                "cannot answer the host: exiting it with status 1. End a forked copy with "
                "os._exit()\n" % (self._pid, self._copy_of or 0))
        try:
            os.write(2, line.encode("utf-8", "replace"))
        finally:
            os._exit(1)

    def _end_serving(self, exc: Optional[BaseException]) -> None:
        """Stops reading and ends run()/serve(): with exc (a protocol error), or cleanly."""
        self._stopping = True
        self._stop_reading()
        done = self._done
        if done is not None and not done.done():
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)

    # --- internals: frames out ---------------------------------------------------------------

    def _respond(self, msgid: int, method: str, result: Any) -> None:
        try:
            self._writer.respond(msgid, result, False, _RESULT_OF, method)
        except BridgeError as e:
            self._respond_failed(msgid, method, result, e)

    def _respond_failed(self, msgid: int, method: str, result: Any, e: BridgeError) -> None:
        if isinstance(e, (FrameTooLargeError, TooManyValuesError)):
            self._send_error_map(msgid, _errormap.protocol_error_map(str(e)))
        elif isinstance(e, EncodeError):
            if inspect.isawaitable(result):
                self._adopt_awaitable(msgid, method, result)
            else:
                self._send_error_map(msgid, {"type": "EncodeError", "message": str(e)})
        else:
            self._write_failed(e)

    def _send_error_map(self, msgid: int, m: Dict[str, Any]) -> None:
        try:
            self._writer.write([1, msgid, m, None], "the error response for id %d", msgid)
            return
        except ChannelClosedError as e:
            self._write_failed(e)
            return
        except EncodeError as e:
            note = " (the full error could not be sent: %s)" % e
        fallback = {"type": _safe_text(m.get("type"), 200),
                    "message": _safe_text(m.get("message")) + note}
        try:
            self._writer.write([1, msgid, fallback, None], "the error response for id %d",
                               msgid)
        except BridgeError as e:
            log.error("polyfork: cannot send the error response for id %d: %s", msgid, e)

    # --- internals: calls out ----------------------------------------------------------------

    def _start_call(self, method: str, params: Tuple[Any, ...], fut: Any) -> int:
        if type(method) is not str:
            raise TypeError("polyfork: a method name is a str, got %r" % (method,))
        msgid = self._calls.add(fut, method)
        try:
            self._writer.write([0, msgid, method, params], 'the params of call "%s"', method)
        except BaseException:
            self._calls.pop(msgid)
            raise
        return msgid

    def _on_call_future_done(self, msgid: int, fut: "asyncio.Future[Any]") -> None:
        if fut.cancelled() and self._calls.pop(msgid) is not None:
            try:
                self._writer.write([2, "$cancel", [msgid]], "the %s notification", "$cancel")
            except ChannelClosedError as e:
                self._write_failed(e)
            except BridgeError as e:
                log.debug("polyfork: cannot send $cancel for id %d: %s", msgid, e)

    def _call_blocking(self, method: str, params: Tuple[Any, ...]) -> Any:
        cf: "concurrent.futures.Future[Any]" = _CFuture()
        self._start_call(method, params, cf)
        me = threading.get_ident()
        if self._owner == me:
            # A plain handler on the serving thread: read the channel here. Its request stays
            # in flight meanwhile (the requests read now may not reuse its id).
            current = self._current
            self._pumping.append(current)
            try:
                self._pump(cf)
            finally:
                self._pumping.pop()
                self._current = current
        else:
            cf.add_done_callback(self._wake)
            with self._cv:
                while not cf.done() and self._owner is not None:
                    self._cv.wait()
                took = not cf.done()
                if took:
                    self._owner = me
            if took:
                try:
                    self._pump(cf)
                finally:
                    self._release_role()
        exc = cf.exception()
        if exc is not None:
            raise exc.with_traceback(None)  # without concurrent.futures' frames
        return cf.result()

    def _pump(self, cf: "concurrent.futures.Future[Any]") -> None:
        reader = self._reader
        while not cf.done():
            if self._eof or self._fatal is not None or self._lost:
                break
            if self._copy_of is not None:
                self._exit_copy()
            try:
                ok = reader.read_once()
            except ProtocolError as e:
                self._fail(e)
                break
            if not ok:
                self._on_eof()
        if not cf.done():  # the channel ended without settling it (cannot happen, but never hang)
            settle(cf, None, ChannelClosedError("polyfork: the channel to the host ended"))
