"""A long-lived worker speaking one JSON line each way (docs/jsonl.md).

The process, stderr log, write queue, crash and stop handling are the base
session's; this module adds the line codec (dispatcher/jsonl_codec.py) and
three decisions of its own:
- an event that is not JSON is answered Runtime.UnmarshalError at once, and
  never reaches the worker;
- a bad line or a reply for another id during an invocation answers it as
  Runtime.ProtocolError with the line (cut short) in the error body, while
  `broken`, which the supervisor logs, only says what was wrong: a line may
  hold the caller's data and must not end up in the default logs;
- shutdown is EOF on stdin (there is no shutdown line).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping

from dispatcher import errors as E
from dispatcher.config import WorkerConfig
from dispatcher.jsonl_codec import BadEvent, JsonlError, LineDecoder, encode_event, encode_invoke, parse_reply, shown
from dispatcher.runtime_api import Invocation
from dispatcher.worker import Event, WorkerSession

__all__ = ["JsonlWorker"]

_READ = 256 * 1024


class JsonlWorker(WorkerSession):
    shutdown_message = b""  # EOF on stdin is the shutdown

    def __init__(self, config: WorkerConfig, env: Mapping[str, str], log_fd: int = 2) -> None:
        env = dict(env)
        env["DISPATCHER_PROTOCOL"] = "jsonl"
        super().__init__(config, env, log_fd)
        self.decoder = LineDecoder(config.max_frame)
        self.features: list[str] = []
        self.inflight: str | None = None  # request id awaiting a reply
        if config.ready == "spawn":
            self.ready = True

    # -- worker -> supervisor -------------------------------------------------
    def _on_stdout(self) -> list[Event]:
        fd = self.proc.stdout
        events: list[Event] = []
        while fd is not None and self.broken is None:
            try:
                data = os.read(fd, _READ)
            except BlockingIOError:
                break
            except OSError as exc:
                events.append(Event("protocol_error", detail=f"reading the worker's stdout failed: {exc}"))
                break
            if not data:
                # EOF: a worker that exits closes stdout first; look at the
                # process before calling it a protocol error.
                os.close(fd)
                self.proc.stdout = None
                if self.proc.wait_exit(0.2) is not None:
                    events.extend(self.exited())
                else:
                    events.append(Event("protocol_error", detail="the worker closed its stdout while still running"))
                break
            lines, error = self.decoder.feed(data)
            for line in lines:
                events.append(self._on_line(line))
                if self.broken is not None:
                    return events
            if error is not None:
                events.append(self._bad_line(error))
                break
        return events

    def _on_line(self, line: bytes) -> Event:
        try:
            msg = parse_reply(line)
        except JsonlError as exc:
            return self._bad_line(exc)
        if msg["type"] in ("result", "error") and self.inflight is not None:
            if msg["id"] != self.inflight:
                # The wrong id came from the worker's line: it is not logged either.
                return self._bad_line(JsonlError(f"replied for another invocation than {self.inflight!r}, the one in flight", line))
            self.inflight = None
        return Event("message", message=msg)

    def _bad_line(self, exc: JsonlError) -> Event:
        """During an invocation: answer it with the line; otherwise report without it."""
        reason = f"{exc.reason} (the line is shown in the invocation's error only)" if self.inflight else exc.reason
        self.broken = reason
        if self.inflight is None:
            return Event("protocol_error", detail=reason + " (stdout carries protocol lines only; log to stderr)")
        rid, self.inflight = self.inflight, None
        return Event(
            "message",
            message={
                "type": "error",
                "id": rid,
                "error_type": E.PROTOCOL_ERROR,
                "error_message": f"worker {self.name!r} {exc.reason}: {shown(exc.line)} (stdout carries one JSON reply per line; log to stderr)",
                "stack_trace": [],
            },
        )

    # -- supervisor -> worker ------------------------------------------------
    def send_invoke(self, inv: Invocation) -> list[Event]:
        try:
            event = encode_event(inv.payload)
        except BadEvent as exc:
            # Answered here: the worker never sees it and stays.
            msg: dict[str, Any] = {
                "type": "error",
                "id": inv.request_id,
                "error_type": E.UNMARSHAL_ERROR,
                "error_message": f"Unable to unmarshal input: {exc}",
                "stack_trace": [],
            }
            return [Event("message", message=msg)]
        self.inflight = inv.request_id
        self.queue(
            encode_invoke(
                inv.request_id, event, inv.deadline_ms, inv.function_arn,
                inv.trace_id, inv.client_context, inv.cognito_identity, inv.tenant_id,
            )
        )
        return self.write_pending()

    def stop(self, grace: float) -> int:
        """EOF on stdin, a third of `grace` to exit, then SIGTERM and SIGKILL."""
        self._out.clear()
        self.proc.close_stdin()
        if self.proc.wait_exit(grace / 3) is None:
            self.proc.stop(grace - grace / 3)
        self.drain_stderr()
        status = self.proc.poll_exit() or 0
        self.proc.close_fds()
        return status
