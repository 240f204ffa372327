"""The frame stream's file descriptors: taking them away from user code, and
reading and writing whole frames on them.

The supervisor talks to the worker over fds 0 and 1, but user code believes
those are its stdin and stdout (print(), input(), child processes).  So before
any user code runs, `Channel.take_stdio()` moves the stream to private
close-on-exec duplicates, points fd 0 at /dev/null and fd 1 at stderr.
"""

from __future__ import annotations

import os
import sys

# typing is only for annotations (strings here): importing it costs ~2 ms a start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from dispatcher_worker._wire import HEADER_SIZE, FrameError, decode_body, frame_length

__all__ = ["Channel", "TruncatedFrame"]

# Reads go into one reused buffer of this size: a frame that fits arrives
# with its header in one readinto() (the supervisor writes each frame with
# one writev).  A larger frame gets a buffer of its own sized from the
# header, so a 6 MB event is read straight into place with a few large
# readinto() calls instead of being grown.
_SCRATCH_SIZE = 256 * 1024


class TruncatedFrame(FrameError):
    """EOF inside a frame: the stream ended mid-message."""


class Channel:
    """Reads supervisor messages from `in_fd` and writes frames to `out_fd`."""

    def __init__(self, in_fd: int, out_fd: int, max_frame: int) -> None:
        self._in = open(in_fd, "rb", buffering=0, closefd=True)
        self._out_fd = out_fd
        self.max_frame = max_frame
        self._scratch = bytearray(_SCRATCH_SIZE)
        self._view = memoryview(self._scratch)
        # Bytes read but not consumed yet: scratch[_start:_end].  Between
        # frames this is empty in the steady state (the supervisor waits for
        # the reply before it writes again).
        self._start = 0
        self._end = 0

    @classmethod
    def take_stdio(cls, max_frame: int) -> Channel:
        """Move the stream off fds 0/1 (see the module docstring) and return it."""
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        in_fd = os.dup(0)  # os.dup makes non-inheritable (close-on-exec) fds
        out_fd = os.dup(1)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)
        # sys.stdout still writes to fd 1, which is now stderr; line buffering
        # keeps print() output in order with stderr and forwarded promptly.
        if sys.stdout is not None and hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(line_buffering=True)
        return cls(in_fd, out_fd, max_frame)

    def read(self) -> dict[str, Any] | None:
        """The next validated message, or None on EOF between frames."""
        start, end = self._start, self._end
        if start == end:  # nothing buffered: one read takes the whole frame, as a rule
            end = self._in.readinto(self._view)
            if not end:  # 0 = EOF (None cannot happen: the fd is blocking)
                self._start = self._end = 0
                return None
            start = 0
        if end - start >= HEADER_SIZE:
            stop = start + HEADER_SIZE + frame_length(self._scratch[start : start + HEADER_SIZE], self.max_frame)
            if stop <= end:
                self._start, self._end = (stop, end) if stop < end else (0, 0)
                return decode_body(self._view[start + HEADER_SIZE : stop])
        self._start, self._end = start, end
        return self._read_more()

    def _read_more(self) -> dict[str, Any] | None:
        """read() when the buffer does not hold a whole frame: read until it does."""
        scratch, view = self._scratch, self._view
        start, end = self._start, self._end
        if start:  # keep the partial frame at the front: room for the rest
            scratch[: end - start] = bytes(view[start:end])  # a copy: the ranges may overlap
            start, end = 0, end - start
        while end < HEADER_SIZE:
            end = self._fill(end, 0, HEADER_SIZE)
            if end == 0:
                self._start = self._end = 0
                return None  # EOF between frames
        n = frame_length(scratch[:HEADER_SIZE], self.max_frame)
        stop = HEADER_SIZE + n
        if stop > _SCRATCH_SIZE:  # a large frame: a buffer of its own, filled in place
            body = bytearray(n)
            have = end - HEADER_SIZE
            body[:have] = view[HEADER_SIZE:end]
            self._start = self._end = 0
            with memoryview(body) as whole:
                got = have
                while got < n:
                    got = self._fill_into(whole, got, HEADER_SIZE, n + HEADER_SIZE)
            return decode_body(body)
        while end < stop:
            end = self._fill(end, 0, stop)
        self._start, self._end = (stop, end) if stop < end else (0, 0)
        return decode_body(view[HEADER_SIZE:stop])

    def _fill(self, end: int, offset: int, want: int) -> int:
        return self._fill_into(self._view, end, offset, want)

    def _fill_into(self, view: memoryview, end: int, offset: int, want: int) -> int:
        """One readinto() at view[end:]: the new end.  `offset` and `want`
        place `end` in the frame for the message on a truncated stream."""
        got = self._in.readinto(view[end:])
        if not got:  # 0 = EOF (None cannot happen: the fd is blocking)
            if end + offset == 0:
                return 0
            raise TruncatedFrame(
                "truncated_frame", f"end of input after {end + offset} of {want} bytes of a frame"
            )
        return end + got

    def write(self, parts: list[Any]) -> None:
        """Write one frame given as byte buffers (bytes, bytearray, memoryview
        of format "B"), with a single writev when the pipe allows."""
        written = os.write(self._out_fd, parts[0]) if len(parts) == 1 else os.writev(self._out_fd, parts)
        total = sum(map(len, parts))
        # A blocking pipe normally takes it all; a signal can cut it short.
        if written < total:
            views = [memoryview(p).cast("B") for p in parts]
            while written < total:
                views = _skip(views, written)
                total -= written
                written = os.writev(self._out_fd, views)

    def write_bytes(self, frame: bytes) -> None:
        self.write([frame])


def _skip(views: list[memoryview], n: int) -> list[memoryview]:
    out = []
    for v in views:
        if n >= len(v):
            n -= len(v)
            continue
        out.append(v[n:])
        n = 0
    return out
