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

# Bodies up to this size are read into one reused buffer; larger ones get a
# buffer of their own sized from the header, so a 6 MB event is read straight
# into place with a few large readinto() calls instead of being grown.
_SCRATCH_SIZE = 256 * 1024


class TruncatedFrame(FrameError):
    """EOF inside a frame: the stream ended mid-message."""


class Channel:
    """Reads supervisor messages from `in_fd` and writes frames to `out_fd`."""

    def __init__(self, in_fd: int, out_fd: int, max_frame: int) -> None:
        self._in = open(in_fd, "rb", buffering=0, closefd=True)
        self._out_fd = out_fd
        self.max_frame = max_frame
        self._header = bytearray(HEADER_SIZE)
        self._scratch = bytearray(_SCRATCH_SIZE)

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

    def _read_exact(self, view: memoryview, at_boundary: bool) -> bool:
        """Fill `view`; False on EOF before the first byte when at a frame boundary."""
        got, want = 0, len(view)
        while got < want:
            n = self._in.readinto(view[got:])
            if not n:  # 0 = EOF (None cannot happen: the fd is blocking)
                if got == 0 and at_boundary:
                    return False
                raise TruncatedFrame(
                    "truncated_frame", f"end of input after {got} of {want} bytes of a frame"
                )
            got += n
        return True

    def read(self) -> dict[str, Any] | None:
        """The next validated message, or None on EOF between frames."""
        with memoryview(self._header) as header:
            if not self._read_exact(header, at_boundary=True):
                return None
        n = frame_length(self._header, self.max_frame)
        buf = self._scratch if n <= _SCRATCH_SIZE else bytearray(n)
        with memoryview(buf) as whole, whole[:n] as body:
            self._read_exact(body, at_boundary=False)
            return decode_body(body)

    def write(self, parts: list[Any]) -> None:
        """Write one frame given as buffers, with a single writev when the pipe allows."""
        views = [memoryview(p).cast("B") for p in parts]
        total = sum(len(v) for v in views)
        written = os.writev(self._out_fd, views)
        # A blocking pipe normally takes it all; a signal can cut it short.
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
