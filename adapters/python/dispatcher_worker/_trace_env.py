"""`_X_AMZN_TRACE_ID` for the current invocation, without glibc's setenv leak.

`os.environ[name] = value` calls setenv(3) (CPython >= 3.9), and glibc's
setenv never frees a `NAME=value` string it allocated: with a new trace id
per invocation a long-lived worker grew ~160 bytes each time (7.8 MB RSS
over 50k invocations).  Instead the adapter owns two buffers holding
`_X_AMZN_TRACE_ID=value\\0` and putenv(3)s them in turn (through ctypes,
~2 ms to import: the first trace id goes through os.environ, one string
kept, and ctypes is loaded by `load()`, which the loop calls once that first
answer is written, off any invocation's path): putenv puts the buffer itself
into `environ`, copying and allocating nothing.  The buffer an invocation
writes is never the one `environ` holds, so C code still holding the last
value's getenv pointer sees it unchanged.  A value that does not fit gets a
bigger buffer; the old one is kept (as glibc would): growth steps only.

What the handler observes is what `os.environ` gave: `os.environ` and
`os.getenv` (its mapping is updated too), C's getenv and child processes see
the current invocation's value, and nothing when it has none.  Where ctypes
or libc's putenv is missing, `os.environ` is used as before.
"""

from __future__ import annotations

import os
import sys

NAME = "_X_AMZN_TRACE_ID"
_PREFIX = NAME.encode() + b"="
_KEY = NAME.encode()  # os.environ's key for it on POSIX
_FIRST_CAPACITY = 256  # a usual trace header is ~80 bytes, more with Lineage
# Every buffer ever made, never freed: environ may point into one for as long
# as the process lives (even past its TraceEnv), a getenv pointer even longer.
_BUFFERS: list = []


class TraceEnv:
    """Sets and unsets the variable; one per worker (the loop is one thread)."""

    __slots__ = ("_putenv", "_slots", "_last", "_encoding", "wanted")

    def __init__(self) -> None:
        self._putenv = None  # ctypes' putenv once load()ed; False: not available
        self.wanted = False  # a trace id came before load(): call it between invocations
        self._slots: list = [None, None]  # (bytearray, address, pinning array) per buffer
        self._last = 1
        self._encoding = sys.getfilesystemencoding()

    def set(self, trace_id: str | None) -> None:
        environ = os.environ
        if trace_id is None:
            if NAME in environ:  # cheaper than pop() of a missing key
                del environ[NAME]
            return
        putenv = self._putenv
        if putenv is None:
            # Until load(): as os.environ does it (glibc keeps this one string).
            environ[NAME] = trace_id
            self.wanted = True
            return
        value = trace_id.encode(self._encoding, "surrogateescape")
        if putenv is False or b"\0" in value:  # a NUL: os.environ's own ValueError
            environ[NAME] = trace_id
            return
        index = self._last = 1 - self._last
        slot = self._slots[index]
        end = len(_PREFIX) + len(value)
        if slot is None or len(slot[0]) <= end:
            slot = self._slots[index] = _new_buffer(end + 1)
        buf, address, _ = slot
        buf[len(_PREFIX) : end] = value
        buf[end] = 0
        if putenv(address) != 0:  # ENOMEM growing environ: os.environ raises
            environ[NAME] = trace_id
            return
        environ._data[_KEY] = value  # type: ignore[attr-defined]


    def load(self) -> None:
        """Load putenv (ctypes' import, ~2 ms): the loop calls it after the
        answer that first needed it is written, so no invocation waits for it."""
        self.wanted = False
        if self._putenv is None:
            self._putenv = _load_putenv()


def _new_buffer(needed: int) -> tuple:
    """(bytearray holding the prefix, its address, the array pinning it)."""
    import ctypes

    capacity = max(_FIRST_CAPACITY, 1 << (needed - 1).bit_length())
    buf = bytearray(capacity)
    buf[: len(_PREFIX)] = _PREFIX
    # from_buffer pins the bytearray (it can no longer be resized or moved)
    # for as long as the array lives: _BUFFERS keeps both.
    pin = (ctypes.c_char * capacity).from_buffer(buf)
    slot = (buf, ctypes.addressof(pin), pin)
    _BUFFERS.append(slot)
    return slot


def _load_putenv():  # type: ignore[no-untyped-def]
    """libc's putenv taking an address, or False where it cannot be had."""
    environ = os.environ
    # os.environ's mapping, updated beside putenv: a dict keyed by bytes on POSIX.
    if os.name != "posix" or not isinstance(getattr(environ, "_data", None), dict):
        return False
    if getattr(environ, "encodekey", str)(NAME) != _KEY:
        return False
    try:
        import ctypes

        putenv = ctypes.CDLL(None).putenv
    except (ImportError, OSError, AttributeError):
        return False
    putenv.argtypes = [ctypes.c_void_p]
    putenv.restype = ctypes.c_int
    return putenv
