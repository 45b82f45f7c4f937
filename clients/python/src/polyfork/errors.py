"""The exceptions polyfork raises.

Everything derives from :class:`BridgeError`, so ``except polyfork.BridgeError`` catches every
failure of the channel to the host, and nothing else::

    BridgeError
    ├── ProtocolError        the host broke the wire protocol; the session is over
    ├── ChannelClosedError   the host closed the channel or sent $stop; the call is not answered
    ├── EncodeError          a value cannot be sent (type, int range, nesting)
    │   ├── FrameTooLargeError   the encoded message is above the maximum frame size
    │   └── TooManyValuesError   the encoded message holds more values than the maximum
    ├── DecodeError          a value from the host cannot be represented in Python
    └── RemoteError          the host's handler raised: type, message, traceback, data
        └── MethodNotFoundError  the host has no handler for the method
"""
from __future__ import annotations

from typing import Any, Optional

__all__ = [
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


class BridgeError(Exception):
    """Base class of every error raised by polyfork."""


class ProtocolError(BridgeError):
    """The host sent bytes that break the wire protocol (protocol/SPEC.md).

    The session cannot go on: pending calls fail with this error and ``run()`` exits the
    process with status 1 after logging it. ``frame`` holds the first bytes of the offending
    frame (at most 64), when there is one.
    """

    def __init__(self, message: str, frame: Optional[bytes] = None) -> None:
        super().__init__(message)
        #: The first bytes (at most 64) of the frame that broke the protocol, or None.
        self.frame = frame


class ChannelClosedError(BridgeError):
    """The channel to the host is closed, or the host asked the child to stop.

    Raised by calls that were pending when the host sent ``$stop`` or closed stdin (the host
    answers nothing after ``$stop``), by calls made after that, and by sends once the host has
    stopped reading.
    """


class EncodeError(BridgeError):
    """A value cannot be encoded as msgpack under the polyfork profile.

    Examples: an object of an unsupported type, an int outside the int64/uint64 range, a
    datetime without a timezone, containers nested deeper than 128. Nothing was sent and the
    session stays usable.
    """


class FrameTooLargeError(EncodeError):
    """The encoded message is larger than the maximum frame size, so it was not sent.

    ``size`` is the encoded size in bytes and ``limit`` the maximum
    (``POLYFORK_MAX_FRAME_SIZE``, 64 MiB by default). The session stays usable.
    """

    def __init__(self, message: str, size: int, limit: int) -> None:
        super().__init__(message)
        #: The size of the encoded message body, in bytes.
        self.size = size
        #: The maximum frame size in force, in bytes.
        self.limit = limit


class TooManyValuesError(EncodeError):
    """The encoded message holds more msgpack values than one frame may, so it was not sent.

    Every nil, bool, number, str, bin, ext, array and map counts one, a map pair two, the
    message array and its fields included (SPEC section 3). ``count`` is how far the count
    got before it stopped (more than ``limit``), ``limit`` the maximum
    (``POLYFORK_MAX_VALUES``, 4194304 by default). The session stays usable.
    """

    def __init__(self, message: str, count: int, limit: int) -> None:
        super().__init__(message)
        #: How many values the count had reached when it passed the limit.
        self.count = count
        #: The maximum number of values per frame in force.
        self.limit = limit


class DecodeError(BridgeError):
    """A value sent by the host has no exact Python equivalent.

    For instance a map whose key is an array (unhashable in Python) or a str that is not
    valid UTF-8. Only the one message that carried it fails; the session goes on.
    """


class RemoteError(BridgeError):
    """The host's handler for a call raised an error.

    Attributes mirror the error map of the protocol: ``type`` (the error's kind, such as
    ``"ValueError"``), ``message``, ``traceback`` (the host's stack as text, or None) and
    ``data`` (anything structured the host attached, or None).
    """

    def __init__(
        self,
        type: str,
        message: str,
        traceback: Optional[str] = None,
        data: Any = None,
    ) -> None:
        super().__init__("%s: %s" % (type, message))
        #: The kind of error, as the host named it (an exception class name or a reserved type).
        self.type = type
        #: The human-readable text of the error.
        self.message = message
        #: The host's stack trace as text, or None.
        self.traceback = traceback
        #: Structured data attached by the host, or None.
        self.data = data

    def __reduce__(self) -> Any:  # keeps the attributes through pickling (multiprocessing, logging)
        return (type(self), (self.type, self.message, self.traceback, self.data))


class MethodNotFoundError(RemoteError):
    """The host has no handler for the method that was called (error type ``MethodNotFound``)."""
