"""Buffers for large bodies, reused once nothing refers to them any more.

A 6 MB event or reply read into a new `bytearray(n)` costs more than the
data it receives: the bytearray is zeroed (a 6 MB memset) and the allocator
serves it from new pages (about 1,500 page faults) and returns them when it
is freed, so every large invocation paid for it twice, body and reply
(docs/protocol.md "Large frames" has the measurement).  `take(n)` hands out a
bytearray of exactly `n` bytes, reusing one of the last few it handed out
when nothing refers to it any more: not the response or invocation it was
the body of, not a memoryview of it (a payload being written, a reply's
bin), nothing.  CPython's reference count says so exactly; a buffer that is
still referenced anywhere is never handed out again.

Only bodies of at least MIN_SIZE bytes come from here.  At most KEEP buffers
are kept, shared by every parser and decoder of the process (the HTTP
client's, each worker's): three covers the steady state of one slot (the
next event's body is read while the previous event and its reply are still
referenced, because GET /next is pipelined behind the post).  A free kept
buffer too large or too small for a body stays until room is needed for a
new one: at most three buffers are ever kept, of the recent body sizes.

The contents of a reused buffer are whatever it held before: callers read
into all `n` bytes before anything else sees it.  Pure bookkeeping, no IO;
safe with threads (a buffer is popped from the list before it is examined,
so two callers never get the same one).
"""

from __future__ import annotations

from sys import getrefcount

__all__ = ["take", "MIN_SIZE", "KEEP"]

MIN_SIZE = 256 * 1024
KEEP = 3
_kept: list[bytearray] = []


def take(n: int) -> bytearray:
    """A bytearray of exactly `n` bytes, its contents unspecified."""
    if n < MIN_SIZE:
        return bytearray(n)
    kept = _kept
    misfit = None  # a free one of the wrong size: let go only to make room
    for _ in range(len(kept)):
        try:
            buf = kept.pop(0)
        except IndexError:  # another thread took the rest
            break
        # Two references: `buf` and getrefcount's argument.  Any holder
        # (a Response, an Invocation, a memoryview of it) adds one.
        if getrefcount(buf) == 2:
            alloc = buf.__alloc__()
            if n < alloc <= 2 * n:
                # Within its allocation (that of the largest body it held)
                # and at least half of it: resized in place, never moved
                # (CPython's bytearray resize rule).
                size = len(buf)
                if n < size:
                    del buf[n:]
                elif n > size:
                    buf += bytes(n - size)
                kept.append(buf)
                if misfit is not None:
                    kept.append(misfit)
                return buf
            if misfit is None:
                misfit = buf
                continue
        kept.append(buf)
    buf = bytearray(n)
    if len(kept) < KEEP:
        kept.append(buf)
    if misfit is not None and len(kept) < KEEP:
        kept.append(misfit)
    return buf
