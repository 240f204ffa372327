"""A worker session: one WorkerProcess plus the protocol spoken over its pipes.

The session only *reports* what happened on its file descriptors (a
message, a protocol error, the process exit); the supervisor's loop makes
every decision.  `MsgpackWorker` speaks wire protocol v1.  The base class
holds what every worker kind shares: the process, the stderr log, the
non-blocking write queue to stdin.
"""

from __future__ import annotations

import _signal
import os
TYPE_CHECKING = False  # `import typing` and `dataclasses` cost ~18 ms of cold start
if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    from dispatcher._record import record as dataclass
if TYPE_CHECKING:
    from typing import Any, Callable, Mapping
from select import POLLERR, POLLHUP, POLLIN, POLLOUT

from dispatcher.config import WorkerConfig
from dispatcher.frames import STREAM_KINDS, FrameDecoder, FrameError, encode, encode_invoke, parse_worker_message
from dispatcher.logs import LogForwarder
from dispatcher.process import WorkerProcess, describe_status
from dispatcher.runtime_api import Invocation

__all__ = ["Event", "WorkerSession", "MsgpackWorker", "SHUTDOWN_FRAME"]

SHUTDOWN_FRAME = encode({"type": "shutdown"})
_READ = 256 * 1024


@dataclass(frozen=True, slots=True)
class Event:
    """Something a worker did.  kind: message | protocol_error | exited | undelivered
    (the invoke could not be written and nothing of it reached the worker)."""

    kind: str
    message: dict[str, Any] | None = None
    detail: str = ""
    status: int | None = None


def _unread(fd: int) -> int:
    """Bytes written to a pipe and not yet read by the other end (FIONREAD)."""
    import fcntl

    try:
        return int.from_bytes(fcntl.ioctl(fd, 0x541B, bytes(4)), "little", signed=True)
    except OSError:
        return 0


class WorkerSession:
    """Process + stderr forwarding + buffered non-blocking writes to stdin."""

    # Written to stdin before a polite stop; b"" for kinds where EOF says it.
    shutdown_message: bytes = SHUTDOWN_FRAME

    def __init__(self, config: WorkerConfig, env: Mapping[str, str], log_fd: int = 2) -> None:
        self.config = config
        self.name = config.name
        self.log = LogForwarder(log_fd)
        self.proc = self.start_process(env)
        self.ready = False
        self.invocations = 0
        self.broken: str | None = None  # why this worker must be replaced
        self._out: list[memoryview] = []
        self.bytes_written = 0  # of the current invoke frame (0: nothing reached it)
        self.unread_at_exit = 0  # bytes still in its stdin pipe when it exited
        self.started_at = 0.0  # set by the supervisor, on its clock

    def start_process(self, env: Mapping[str, str]) -> WorkerProcess:
        """The worker's process; a kind that starts one per invocation overrides it."""
        return WorkerProcess(self.config.command, cwd=self.config.cwd, env=env, name=self.config.name)

    # -- polling ------------------------------------------------------------
    def poll_fds(self) -> list[tuple[int, int]]:
        p = self.proc
        fds = []
        if p.stdout is not None:
            fds.append((p.stdout, POLLIN))
        if p.stderr is not None:
            fds.append((p.stderr, POLLIN))
        if p.pidfd is not None:
            fds.append((p.pidfd, POLLIN))
        if self._out and p.stdin is not None:
            fds.append((p.stdin, POLLOUT))
        return fds

    def handle(self, fd: int, revents: int) -> list[Event]:
        p = self.proc
        if fd == p.stderr:
            self.drain_stderr()
            return []
        if fd == p.stdout:
            return self._on_stdout()
        if fd == p.stdin:
            if revents & (POLLERR | POLLHUP) and not revents & POLLOUT:
                return self._stdin_closed()
            return self.write_pending()
        if fd == p.pidfd:
            return self.exited()
        return []

    def frame_consumed(self) -> bool:
        """Did the worker read any of the invoke frame last written to it?  (Asked
        after its exit: False means the event can go to a fresh worker.)"""
        return self.bytes_written > 0 and self.unread_at_exit < self.bytes_written

    def pgid(self) -> int:
        return self.proc.pgid

    def exited(self) -> list[Event]:
        """The process is gone: report what it wrote first, then its exit."""
        if self.proc.stdin is not None:
            self.unread_at_exit = _unread(self.proc.stdin)
        events = self._on_stdout() if self.proc.stdout is not None else []
        self.drain_stderr()
        status = self.proc.poll_exit()
        self.proc.close_fds()
        events.append(Event("exited", status=status, detail=describe_status(status or 0)))
        return events

    def drain_stderr(self) -> None:
        """Forward everything already in the stderr pipe (never blocks)."""
        fd = self.proc.stderr
        while fd is not None:
            try:
                data = os.read(fd, _READ)
            except BlockingIOError:
                return
            except OSError:
                return
            if not data:
                self.log.flush()
                os.close(fd)
                self.proc.stderr = None
                return
            self.log.feed(data)

    # -- writing ------------------------------------------------------------
    def queue(self, buffers: list[Any]) -> None:
        self._out.extend(memoryview(b).cast("B") for b in buffers if len(b))
        self.bytes_written = 0

    @property
    def writing(self) -> bool:
        return bool(self._out)

    def write_pending(self) -> list[Event]:
        fd = self.proc.stdin
        while self._out and fd is not None:
            try:
                n = os.writev(fd, self._out[:64])
            except BlockingIOError:
                return []
            except (BrokenPipeError, ConnectionResetError):
                return self._stdin_closed()
            self.bytes_written += n
            while n:
                head = self._out[0]
                if n >= len(head):
                    n -= len(head)
                    self._out.pop(0)
                else:
                    self._out[0] = head[n:]
                    n = 0
        return []

    def _stdin_closed(self) -> list[Event]:
        self._out.clear()
        if self.bytes_written == 0:
            # Nothing of the invoke frame reached the worker: the event can go
            # to a fresh worker instead of failing (the supervisor decides).
            self.proc.close_stdin()
            return [Event("undelivered", detail="the worker's stdin was closed before the event reached it")]
        self.proc.close_stdin()
        if self.proc.wait_exit(0.1) is not None:
            return self.exited()
        return [Event("protocol_error", detail="the worker closed its stdin while still running")]

    def _on_stdout(self) -> list[Event]:  # pragma: no cover - subclass
        raise NotImplementedError

    # -- invocations ----------------------------------------------------------
    def send_invoke(self, inv: Invocation) -> list[Event]:  # pragma: no cover
        raise NotImplementedError

    def terminate(self, end: float, clock: Callable[[], float], *, polite: bool) -> None:
        """Stop now, within one budget ending at `end` (on `clock`): the kind's
        stop message when `polite` (a hung or broken worker gets none), EOF on
        stdin and SIGTERM to the group at once, SIGKILL when the budget ends."""
        proc = self.proc
        if polite and self.shutdown_message and proc.stdin is not None and not self.writing:
            try:
                os.write(proc.stdin, self.shutdown_message)
            except OSError:
                pass
        proc.close_stdin()
        proc.kill_group(_signal.SIGTERM)
        if proc.wait_exit(end - clock()) is None:
            proc.kill_group(_signal.SIGKILL)
            proc.wait_exit(5.0)
        proc.poll_exit()
        self.drain_stderr()
        proc.close_fds()

    def stop(self, grace: float) -> int:
        self._out.clear()
        status = self.proc.stop(grace, polite=self.shutdown_message or None)
        self.drain_stderr()
        self.proc.close_fds()
        return status


class MsgpackWorker(WorkerSession):
    """Wire protocol v1 (docs/protocol.md)."""

    def __init__(self, config: WorkerConfig, env: Mapping[str, str], log_fd: int = 2) -> None:
        super().__init__(config, env, log_fd)
        self.decoder = FrameDecoder(config.max_frame)
        self.features: list[str] = []

    def read_once(self) -> list[Event]:
        """One read of stdout (at most a frame, or 256 KiB) and the messages it
        completes: the stream relay's back-pressure reads no more than that."""
        return self._on_stdout(once=True)

    def _on_stdout(self, once: bool = False) -> list[Event]:
        fd = self.proc.stdout
        dec = self.decoder
        events: list[Event] = []
        while fd is not None:
            buf = dec.writable()
            try:
                n = os.readv(fd, [buf])
            except BlockingIOError:
                break
            except OSError as exc:
                events.append(Event("protocol_error", detail=f"reading the worker's stdout failed: {exc}"))
                break
            if n == 0:
                # EOF: a worker that exits closes stdout first, so look at the
                # process itself before calling it a protocol error.
                os.close(fd)
                self.proc.stdout = None
                if self.proc.wait_exit(0.2) is not None:
                    events.extend(self.exited())
                else:
                    events.append(Event("protocol_error", detail="the worker closed its stdout while still running"))
                break
            if not self.received(n, events):
                break
            if n < len(buf) or once:
                break  # the pipe is drained: skip the read that would say EAGAIN
            if events and events[-1].message is not None and events[-1].message["type"] in STREAM_KINDS:
                break  # a stream began: the relay reads the rest, one read at a time, forwarding as it goes
        return events

    def received(self, n: int, events: list[Event]) -> bool:
        """`n` bytes were read into `decoder.writable()`: append the messages they
        complete to `events`.  False after a protocol error (appended too)."""
        dec = self.decoder
        dec.advance(n)
        try:
            while (msg := dec.next()) is not None:
                events.append(Event("message", message=parse_worker_message(msg)))
        except FrameError as exc:
            events.append(Event("protocol_error", detail=self._describe_bad_frame(exc)))
            return False
        return True

    def _describe_bad_frame(self, exc: FrameError) -> str:
        raw = bytes(self.decoder._buf[:80])  # noqa: SLF001 - diagnostics only
        if exc.code in ("frame_too_large", "empty_frame", "invalid_msgpack", "not_a_map") and raw[:4].isascii() and raw[:4].decode().isprintable():
            shown = raw.decode("utf-8", "replace")
            more = "\u2026" if len(self.decoder._buf) > 80 else ""  # noqa: SLF001
            return f"the worker printed to stdout: {shown!r}{more} (stdout carries protocol frames; log to stderr)"
        return f"malformed frame from the worker ({exc.code}): {exc.detail}"

    def send_invoke(self, inv: Invocation) -> list[Event]:
        frame = encode_invoke(
            inv.request_id, inv.payload, inv.deadline_ms, inv.function_arn,
            inv.trace_id, inv.client_context, inv.cognito_identity, inv.tenant_id,
        )
        fd = self.proc.stdin
        if self._out or fd is None:
            self.queue(frame)
            return self.write_pending()
        # The common case: nothing queued and the pipe takes the whole frame
        # in one writev; the queue is for what it does not take.
        try:
            n = os.writev(fd, frame)
        except BlockingIOError:
            n = 0
        except (BrokenPipeError, ConnectionResetError):
            self.bytes_written = 0
            return self._stdin_closed()
        total = 0
        for b in frame:
            total += len(b)
        if n == total:
            self.bytes_written = n
            return []
        rest, skip = [], n
        for b in frame:
            if skip >= len(b):
                skip -= len(b)
            else:
                rest.append(memoryview(b)[skip:] if skip else b)
                skip = 0
        self.queue(rest)
        self.bytes_written = n
        return self.write_pending()
