"""Listening sockets passed down by a host or by systemd (SPEC section 1.2).

The convention is systemd's socket activation: descriptors 3 to 3+N-1 are listening sockets,
with ``LISTEN_FDS=N``, ``LISTEN_PID=<the pid they are meant for>`` and optionally
``LISTEN_FDNAMES=name:name...``. A polyfork host that shares sockets with its workers sets
exactly these, so the helpers here work under a polyfork host, under systemd, or under any
launcher that follows the convention, and need no polyfork channel at all.
"""
from __future__ import annotations

import os
import socket
import stat
import threading
from typing import List, Optional, Tuple

from .errors import BridgeError

__all__ = ["listen_sockets", "listen_socket", "listen_socket_names"]

_FIRST_FD = 3  # SD_LISTEN_FDS_START
_VARS = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
_lock = threading.Lock()
_taken: Optional[List[Tuple[str, socket.socket]]] = None


def _take() -> List[Tuple[str, socket.socket]]:
    global _taken
    with _lock:
        if _taken is not None:
            return _taken
        env = os.environ
        raw_n = env.get("LISTEN_FDS")
        if raw_n is None or env.get("LISTEN_PID", "").strip() != str(os.getpid()):
            return []  # none passed, or passed to another process: not ours to take
        try:
            n = int(raw_n)
        except ValueError:
            n = -1
        if n < 0:
            raise BridgeError("polyfork: LISTEN_FDS=%r is not a number of descriptors" % raw_n)
        raw_names = env.get("LISTEN_FDNAMES")
        names = raw_names.split(":") if raw_names is not None else ["unknown"] * n
        if len(names) != n:
            raise BridgeError("polyfork: LISTEN_FDNAMES=%r names %d sockets, LISTEN_FDS=%d "
                              "passes %d" % (raw_names, len(names), n, n))
        taken = []
        for i, name in enumerate(names):
            fd = _FIRST_FD + i
            try:
                mode = os.fstat(fd).st_mode
            except OSError as e:
                raise BridgeError("polyfork: LISTEN_FDS=%d passes descriptor %d, which is not "
                                  "open (%s)" % (n, fd, e.strerror or e)) from None
            if not stat.S_ISSOCK(mode):
                raise BridgeError("polyfork: LISTEN_FDS=%d passes descriptor %d, which is not "
                                  "a socket" % (n, fd))
            os.set_inheritable(fd, False)
            sock = socket.socket(fileno=fd)  # family and type from the fd
            # A polyfork host passes the socket non-blocking, and that mode belongs to the
            # open socket every worker shares: Python's view must match it (socket() assumes
            # blocking), and nothing here may switch it (the other workers' accept loops
            # would stall). A launcher that passes a blocking socket (systemd's default)
            # keeps it blocking.
            import fcntl  # POSIX only, like LISTEN_FDS itself
            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK:
                sock.setblocking(False)
            taken.append((name, sock))
        for var in _VARS:
            env.pop(var, None)
        _taken = taken
        return taken


def listen_sockets() -> List[socket.socket]:
    """Returns the listening sockets this process was given, in order; [] when none.

    Sockets are found through ``LISTEN_FDS`` (descriptors 3 to 3+N-1) and are this process's
    only when ``LISTEN_PID`` is its pid: variables inherited from a parent that was activated
    itself name another pid, and then no socket is returned (nor the variables touched).
    The first call takes the sockets: each becomes a ``socket.socket`` of its own family
    (AF_INET, AF_INET6, AF_UNIX) and type, its descriptor is made close-on-exec, and
    ``LISTEN_PID``, ``LISTEN_FDS`` and ``LISTEN_FDNAMES`` leave ``os.environ``, so that
    processes started later do not take them for theirs. Later calls return the same objects.
    Raises BridgeError when the variables are malformed or a descriptor is not a socket.
    Works with or without a polyfork host. Thread-safe.
    """
    return [s for _, s in _take()]


def listen_socket_names() -> List[str]:
    """The names of the sockets of ``listen_sockets()``, in the same order.

    They come from ``LISTEN_FDNAMES`` (a polyfork host names a socket after its address
    unless the user named it); ``"unknown"`` for each when that variable is not set, as
    systemd does.
    """
    return [name for name, _ in _take()]


def listen_socket(name: Optional[str] = None) -> Optional[socket.socket]:
    """Returns one inherited listening socket, or None when there is none to return.

    Without ``name``: the only socket passed (BridgeError if several were passed: give a
    name). With ``name``: the first socket of that name. See ``listen_sockets``.
    """
    taken = _take()
    if name is not None:
        for n, s in taken:
            if n == name:
                return s
        return None
    if len(taken) > 1:
        names = ", ".join(n for n, _ in taken)
        raise BridgeError("polyfork: %d listening sockets were passed (%s); name the one you "
                          "want: listen_socket(name)" % (len(taken), names))
    return taken[0][1] if taken else None
