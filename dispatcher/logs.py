"""Forwarding a worker's stderr (its log), and the supervisor's own lines.

In Text format lines are forwarded as `<request id>\\t<line>` while an
invocation is in flight and as plain lines otherwise, like Lambda's own log
lines; in JSON format each line is one JSON record (`logformat.py`).  When
Lambda passes `_LAMBDA_TELEMETRY_LOG_FD`, records go to that fd as telemetry
frames instead of to stderr, one frame per record.  A line
longer than MAX_LINE is cut into pieces marked ` [...]` at the cut and
`[...] ` on the continuation, so nothing is lost and no single write is
unbounded.  The last lines are kept for Runtime.ExitError messages.

`LineSplitter` and `logformat` are sans-IO; `LogForwarder` and `say` add the
write to a file descriptor.  `configure()` is called once by the bootstrap.
"""

from __future__ import annotations

import os
import time
from _collections import deque  # C; the `collections` package costs ~1 ms of cold start

from dispatcher.logformat import LEVELS, LogFormat, frame, json_forward, json_record, text_line

__all__ = ["LineSplitter", "LogForwarder", "MAX_LINE", "TAIL_LINES", "TAIL_BYTES", "configure", "say", "OUTPUT"]

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


class _Output:
    """Where records go and in which format (one per process, set by configure())."""

    __slots__ = ("fmt", "telemetry_fd", "quiet", "tty")

    def __init__(self) -> None:
        self.fmt = LogFormat()
        self.telemetry_fd: int | None = None  # replaces stderr when set
        # stderr is a terminal (`dispatcher invoke` run by hand): a `\r` that
        # joins a multi-line record would make the terminal overwrite its lines,
        # so Text records are shown with their newlines back.
        self.tty = False
        # DISPATCHER_LOG_LEVEL=warn|error hides the supervisor's routine lines
        # (`dispatcher invoke` sets it); AWS_LAMBDA_LOG_LEVEL also does in JSON.
        self.quiet = False

    @property
    def plain(self) -> bool:
        """Text format on stderr: lines go out exactly as before this module knew formats."""
        return not self.fmt.json and self.telemetry_fd is None and not self.tty


OUTPUT = _Output()


def configure(environ: object, *, bootstrap: bool = True) -> None:
    """Read the logging configuration: AWS_LAMBDA_LOG_FORMAT/LEVEL and DISPATCHER_LOG_LEVEL;
    for the bootstrap (`dispatcher run`), also the _LAMBDA_TELEMETRY_LOG_FD that Lambda
    passes to the runtime, and say what in the configuration cannot be used."""
    get = getattr(environ, "get")
    OUTPUT.fmt = LogFormat.from_env(environ)
    OUTPUT.quiet = (get("DISPATCHER_LOG_LEVEL") or "info").lower() in ("warn", "warning", "error")
    OUTPUT.telemetry_fd = None
    OUTPUT.tty = os.isatty(2)
    if not bootstrap:
        return
    level = get("AWS_LAMBDA_LOG_LEVEL") or ""
    if OUTPUT.fmt.json and level and level.upper() not in LEVELS:
        say(f"AWS_LAMBDA_LOG_LEVEL={level!r} is not a level (TRACE, DEBUG, INFO, WARN, ERROR or FATAL); "
            "every record is logged")
    raw = get("_LAMBDA_TELEMETRY_LOG_FD")
    if raw:
        try:
            fd = int(raw)
            os.fstat(fd)
        except (ValueError, OSError) as exc:
            say(f"_LAMBDA_TELEMETRY_LOG_FD={raw!r} is not an open file descriptor ({exc}); logging to stderr")
            return
        os.set_inheritable(fd, False)  # the workers write to their stderr, never to this fd
        OUTPUT.telemetry_fd = fd


configure(os.environ, bootstrap=False)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            import select

            select.select([], [fd], [], 1.0)
            continue
        except OSError:
            return  # our stderr is gone: nothing sensible left to do
        view = view[n:]


def render(lines: list[bytes], request_id: str | None, framed: bool) -> bytes:
    """Worker lines as the configured format makes them (filtered by level under JSON)."""
    fmt = OUTPUT.fmt
    now = time.time()
    out: list[bytes] = []
    for line in lines:
        if fmt.json:
            rec, rank = json_forward(line, request_id, now)
            if rank < fmt.min_rank:
                continue
        else:
            rec, rank = text_line(line, request_id), 0
        if framed:
            out.append(frame(fmt.json, rank, rec if fmt.json else rec.replace(b"\r", b"\n"), now))
        elif OUTPUT.tty and not fmt.json:
            out.append(rec.replace(b"\r", b"\n") + b"\n")
        else:
            out.append(rec + b"\n")
    return b"".join(out)


def say(msg: str, *, info: bool = False, level: str | None = None, request_id: str | None = None) -> None:
    """The supervisor's own lines (lifecycle and problems), in the configured format.

    `info` lines (a normal shutdown) are left out when DISPATCHER_LOG_LEVEL is
    warn or error, as `dispatcher invoke` sets it; everything that reports a
    problem is always written (WARN, or `level`), except below
    AWS_LAMBDA_LOG_LEVEL under JSON format."""
    if info and OUTPUT.quiet:
        return
    name = level or ("INFO" if info else "WARN")
    fmt = OUTPUT.fmt
    rank = LEVELS[name]
    if rank < fmt.min_rank:
        return
    now = time.time()
    if fmt.json:
        rec = json_record(name, msg, request_id, now, ',"logger":"dispatcher"')
    else:
        rec = text_line(f"[dispatcher] {msg}".encode("utf-8", "replace"), request_id)
    fd = OUTPUT.telemetry_fd
    if fd is not None:
        _write_all(fd, frame(fmt.json, rank, rec, now))
    else:
        _write_all(2, rec + b"\n")


class LogForwarder:
    """Writes a worker's log lines to `out_fd`, prefixed with the request id
    (or as JSON records; or as telemetry frames instead of stderr)."""

    def __init__(self, out_fd: int = 2) -> None:
        self.out_fd = out_fd
        self.request_id: str | None = None
        self._split = LineSplitter()
        self._tail: deque[bytes] = deque(maxlen=TAIL_LINES)

    def feed(self, data: bytes) -> None:
        self._emit(self._split.feed(data))

    def flush(self) -> None:
        self._emit(self._split.flush())

    @property
    def pending(self) -> bool:
        """Part of a line is waiting for its newline (or for `flush`)."""
        return bool(self._split._partial)  # noqa: SLF001 - the splitter is this class's own

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
        if not OUTPUT.plain:
            fd = OUTPUT.telemetry_fd if self.out_fd == 2 else None
            data = render(lines, self.request_id, fd is not None)
            _write_all(self.out_fd if fd is None else fd, data)
            return
        if self.request_id is not None:
            # A record that names the request id already (the adapters' own
            # records, as AWS's runtimes write them) is not prefixed twice.
            rid = self.request_id.encode("utf-8", "replace")
            prefix = rid + b"\t"
            data = b"".join(line + b"\n" if rid in line else prefix + line + b"\n" for line in lines)
        else:
            data = b"".join(line + b"\n" for line in lines)
        _write_all(self.out_fd, data)
