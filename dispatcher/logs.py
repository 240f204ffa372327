"""Forwarding a worker's stderr (its log) to the supervisor's stderr.

Lines are forwarded as `<request id>\\t<line>` while an invocation is in
flight and as plain lines otherwise, like Lambda's own log lines.  A line
longer than MAX_LINE is cut into pieces marked ` [...]` at the cut and
`[...] ` on the continuation, so nothing is lost and no single write is
unbounded.  The last lines are kept for Runtime.ExitError messages.

`LineSplitter` is sans-IO; `LogForwarder` adds the write to a file descriptor.
"""

from __future__ import annotations

import os
from collections import deque

__all__ = ["LineSplitter", "LogForwarder", "MAX_LINE", "TAIL_LINES", "TAIL_BYTES"]

MAX_LINE = 64 * 1024
TAIL_LINES = 20
TAIL_BYTES = 4096
CUT = b" [...]"
CONTINUED = b"[...] "


class LineSplitter:
    """Bytes in, complete (possibly cut) lines out, without the newline."""

    __slots__ = ("max_line", "_partial", "_continued")

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._partial = bytearray()
        self._continued = False  # the partial line is the rest of a cut line

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        start = 0
        n = len(data)
        while start < n:
            nl = data.find(b"\n", start)
            end = n if nl < 0 else nl
            self._partial += data[start:end]
            # Cut first: a long line whose newline came in this same read
            # must be cut too, not emitted whole.
            while len(self._partial) > self.max_line:
                piece = bytes(self._partial[: self.max_line])
                del self._partial[: self.max_line]
                out.append(self._mark(piece) + CUT)
                self._continued = True
            if nl >= 0:
                out.append(self._take(final=True))
                start = nl + 1
            else:
                start = n
        return out

    def flush(self) -> list[bytes]:
        """The unterminated rest, as a line (used before an answer is posted)."""
        if not self._partial:
            return []
        return [self._take(final=True)]

    def _mark(self, piece: bytes) -> bytes:
        return CONTINUED + piece if self._continued else piece

    def _take(self, final: bool) -> bytes:
        line = self._mark(bytes(self._partial))
        self._partial.clear()
        self._continued = False
        return line


class LogForwarder:
    """Writes a worker's log lines to `out_fd`, prefixed with the request id."""

    def __init__(self, out_fd: int = 2) -> None:
        self.out_fd = out_fd
        self.request_id: str | None = None
        self._split = LineSplitter()
        self._tail: deque[bytes] = deque(maxlen=TAIL_LINES)

    def feed(self, data: bytes) -> None:
        self._emit(self._split.feed(data))

    def flush(self) -> None:
        self._emit(self._split.flush())

    def tail(self) -> str:
        """The last lines (at most TAIL_LINES, TAIL_BYTES), for error messages."""
        lines: list[bytes] = []
        size = 0
        for line in reversed(self._tail):
            if size + len(line) + 1 > TAIL_BYTES:
                if not lines:
                    lines.append(line[-TAIL_BYTES:])
                break
            lines.append(line)
            size += len(line) + 1
        return b"\n".join(reversed(lines)).decode("utf-8", "replace")

    def _emit(self, lines: list[bytes]) -> None:
        if not lines:
            return
        self._tail.extend(lines)
        if self.request_id is not None:
            prefix = self.request_id.encode("utf-8", "replace") + b"\t"
            data = b"".join(prefix + line + b"\n" for line in lines)
        else:
            data = b"".join(line + b"\n" for line in lines)
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.out_fd, view)
            except BlockingIOError:
                import select

                select.select([], [self.out_fd], [], 1.0)
                continue
            except OSError:
                return  # our stderr is gone: nothing sensible left to do
            view = view[n:]
