"""The calls this child made to the host and awaits answers for, by request id."""
from __future__ import annotations

import logging
import threading
from typing import Any, Dict, Generator, Optional, Tuple

from .errors import ChannelClosedError

__all__ = ["CallInCoroutine", "PendingCalls", "settle"]

log = logging.getLogger(__name__)

_MASK = 0xFFFFFFFF


def settle(fut: Any, result: Any, exc: Optional[BaseException]) -> None:
    """Resolves an asyncio or concurrent.futures Future, unless it is already done."""
    if fut.done():  # an asyncio future its caller cancelled
        return
    if exc is None:
        fut.set_result(result)
    else:
        fut.set_exception(exc)


class PendingCalls:
    """Request ids in flight, each with its future and method name.

    Ids count up from 1 and wrap at 2**32, skipping ids still in flight (SPEC 4.1). ``add`` is
    thread-safe; ``pop`` and ``close`` run on the thread that reads the channel. Once closed
    (the host sent $stop or closed the channel), every pending future fails and ``add``
    refuses new calls with the same reason, so no call can wait forever.
    """

    __slots__ = ("_map", "_next", "_lock", "closed")

    def __init__(self) -> None:
        self._map: Dict[int, Tuple[Any, str]] = {}
        self._next = 1
        self._lock = threading.Lock()
        #: Why no more calls are answered, or None while the channel is open.
        self.closed: Optional[str] = None

    def add(self, fut: Any, method: str) -> int:
        """Registers fut for a new call to method; returns its id."""
        with self._lock:
            if self.closed is not None:
                raise ChannelClosedError('polyfork: cannot call "%s": %s' % (method, self.closed))
            pending = self._map
            i = self._next
            while i in pending:
                i = (i + 1) & _MASK
            self._next = (i + 1) & _MASK
            pending[i] = (fut, method)
        return i

    def pop(self, msgid: int) -> Optional[Tuple[Any, str]]:
        """Removes and returns (future, method) for msgid, or None if it is not in flight."""
        return self._map.pop(msgid, None)

    def forked(self, reason: str) -> None:
        """In a forked copy of the process: refuses new calls with reason. The calls in flight
        are the parent's (their answers go to it); the lock is made anew, untaken."""
        self._lock = threading.Lock()
        self._map = {}
        self.closed = reason

    def close(self, reason: str, cls: type = ChannelClosedError) -> None:
        """Fails every pending call with cls(reason) and refuses new ones."""
        with self._lock:
            if self.closed is None:
                self.closed = reason
            pending, self._map = self._map, {}
        for msgid, (fut, method) in pending.items():
            settle(fut, None, cls('polyfork: call "%s" (id %d) will not be answered: %s'
                                  % (method, msgid, reason)))


class CallInCoroutine:
    """What ``call()`` returns in a coroutine: the call is sent; await this for its result.

    It is awaitable once (``await``, ``asyncio.wait_for``, ``gather``), and cancelling the
    await cancels the call (``$cancel``). One that is dropped without being awaited logs a
    warning saying so, since a call used as if it were its result is a common slip: the
    encoder, too, refuses it with a hint to await.
    """

    __slots__ = ("_future", "_method", "_awaited")

    def __init__(self, future: Any, method: str) -> None:
        self._future = future
        self._method = method
        self._awaited = False

    def __await__(self) -> Generator[Any, None, Any]:
        self._awaited = True
        return self._future.__await__()  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return "<polyfork call %r: await it for its result>" % (self._method,)

    def __del__(self) -> None:
        if not self._awaited:
            log.warning('polyfork: the result of polyfork.call("%s") in a coroutine was never '
                        'awaited: write `await polyfork.call(...)` or `await '
                        'polyfork.call_async(...)`; the call was sent, its answer is lost',
                        self._method)
