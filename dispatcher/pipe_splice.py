"""Writing a large invoke payload into the worker's stdin pipe without copying it.

`vmsplice(2)` puts references to the payload's own pages in the pipe; the
worker's read() copies from them.  A plain write() copies the payload into
pipe pages the kernel allocates (and frees after the read), which on Linux
costs about four times as much per byte as the read itself
(docs/protocol.md "Large frames" has the measurements).

The price: the payload's memory must not change until the worker has read
it.  The worker session (dispatcher/worker.py) keeps a reference to each
spliced payload until FIONREAD on the pipe shows its last byte was read, or
until the session is gone with its worker; while referenced, the buffer is
never handed out again for another body (dispatcher/bigbuf.py).  Only
writable buffers (a bytearray the HTTP client read the event into) are
spliced: an immutable bytes object's memory is reused by the interpreter as
soon as it is freed.

Python has no os.vmsplice: it is called through ctypes, imported on the
first large payload (never at cold start).  Where the call is not available
or refused (another libc, a seccomp filter), `available` turns False and the
caller writes as before.
"""

from __future__ import annotations

import os

__all__ = ["MIN_SIZE", "available", "vmsplice"]

MIN_SIZE = 256 * 1024  # below this the copy is cheap and one writev does header and body together
_SPLICE_F_NONBLOCK = 2
_call = None
available = True


def _load() -> object:
    global _call
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fn = libc.vmsplice
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_uint]
    fn.restype = ctypes.c_ssize_t

    class Iovec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

    def call(fd: int, view: memoryview) -> int:
        chars = (ctypes.c_char * len(view)).from_buffer(view)
        try:
            iov = Iovec(ctypes.addressof(chars), len(view))
            n = fn(fd, ctypes.byref(iov), 1, _SPLICE_F_NONBLOCK)
        finally:
            del chars  # releases its export of the buffer at once
        if n < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))  # BlockingIOError, BrokenPipeError, ... by errno
        return int(n)

    _call = call
    return call


def vmsplice(fd: int, view: memoryview) -> int:
    """Splice the pages of `view` (writable, C-contiguous bytes) into the pipe
    `fd` (non-blocking); the number of bytes taken, like os.write.  Raises
    what os.write would (BlockingIOError when the pipe is full,
    BrokenPipeError); any other refusal turns `available` False and raises
    OSError, and the caller writes the rest with os.writev."""
    global available
    call = _call
    if call is None:
        try:
            call = _load()
        except (ImportError, OSError, AttributeError) as exc:
            available = False
            raise OSError(f"vmsplice is not available: {exc}") from None
    while True:
        try:
            return call(fd, view)  # type: ignore[operator]
        except InterruptedError:  # EINTR: retried, as os.write does (PEP 475)
            continue
        except (BlockingIOError, BrokenPipeError, ConnectionResetError):
            raise
        except OSError:
            available = False
            raise
