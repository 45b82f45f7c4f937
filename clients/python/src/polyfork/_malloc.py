"""Keeps glibc's malloc from giving big buffers back to the kernel after every big message.

A message of a few hundred KiB or more needs a few buffers of its size (the frame read, the
decoded value, the encoded answer). With glibc's default, adaptive thresholds, freeing them
often trims the heap or unmaps them, and the next message faults every page back in: at
1 MiB, ~740 page faults and twice the time per call. ``tune_once`` therefore sets, the first
time a frame above 64 KiB is read or written, the mmap threshold to 16 MiB and the trim
threshold to 64 MiB: buffers up to 16 MiB come from the heap, and up to 64 MiB of free heap
is kept for the next message. The cost is that a process which moved big messages keeps up to
that much freed memory. Nothing is changed when the C library is not glibc, or when the user
set either threshold (GLIBC_TUNABLES with ``glibc.malloc.mmap_threshold`` or
``glibc.malloc.trim_threshold``, or MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_).
"""
from __future__ import annotations

import logging
import os

__all__ = ["tune_once"]

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 16 << 20  # glibc accepts at most 32 MiB on 64-bit systems
_TRIM_THRESHOLD = 64 << 20
_done = False


def _user_chose() -> bool:
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return ("glibc.malloc.mmap_threshold" in tunables
            or "glibc.malloc.trim_threshold" in tunables
            or "MALLOC_MMAP_THRESHOLD_" in os.environ
            or "MALLOC_TRIM_THRESHOLD_" in os.environ)


def tune_once() -> None:
    """Sets glibc's mmap and trim thresholds for big messages (see the module doc), once."""
    global _done
    if _done:
        return
    _done = True
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION") or _user_chose():
            return
        import ctypes  # here, not at import: only processes that see big frames pay for it

        mallopt = ctypes.CDLL(None).mallopt
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        ok = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD,
                                                                    _TRIM_THRESHOLD)
        log.debug("polyfork: glibc mmap threshold %d, trim threshold %d bytes: %s",
                  _MMAP_THRESHOLD, _TRIM_THRESHOLD, "set" if ok else "refused")
    except (ValueError, OSError, AttributeError, ImportError) as e:  # not glibc, no ctypes
        log.debug("polyfork: malloc thresholds left as they are: %s", e)
