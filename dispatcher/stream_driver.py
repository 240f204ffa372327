"""The supervisor's side of a streamed response (protocol feature `stream`,
docs/streaming.md), as a mixin of the driver in supervisor.py.

When a worker's answer starts with `stream_open`, the driver hands the
stream to dispatcher/stream_relay.py, which forwards it to the end (holding
the poll loop meanwhile: `stream` is offered with one slot only).  The core
is then told the invocation was answered, as if by a `result`; the Post it
asks for finds the relay's answer here and posts nothing more (or the
ordinary /error when the stream failed before its first byte).  Signals
that come during the stream are kept and given to the core after it.
"""

from __future__ import annotations

import _signal as signal  # `signal` imports enum: ~4 ms of cold start

from dispatcher.answers import Failure, timeout_failure
from dispatcher.process import reap_orphans

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dispatcher.runtime_api import Invocation
    from dispatcher.worker import Event, WorkerSession

__all__ = ["StreamDriver"]


class StreamDriver:
    """Streaming for the driver; uses its core, config, apis, clocks and signals."""

    core: Any
    config: Any
    apis: list[Any]
    signals: Any

    def _init_streaming(self) -> None:
        # The invocation each worker was sent, by request id, and the answer a
        # relay already gave for it.
        self._sent: dict[str, tuple[int, Invocation]] = {}
        self._relayed: dict[str, Any] = {}
        self._stream_stop: float | None = None  # SIGTERM/SIGINT during a stream, handled after it
        self._stream_sigs: set[int] = set()

    def _do(self, actions: list[Any]) -> None: ...  # the driver's
    def clock(self) -> float: ...  # the driver's (an attribute there)
    def wall(self) -> float: ...  # the driver's (an attribute there)

    def _stream(self, wid: int, session: WorkerSession, events: list[Event], now: float) -> None:
        """A worker answers with a stream: relay it to the end, then tell the
        core the invocation was answered (the Post that follows finds the
        relay's answer in self._relayed and posts nothing more)."""
        msg: Any = events[0].message
        kind, rid = msg["type"], msg.get("id")
        sent = self._sent.get(rid) if isinstance(rid, str) else None
        if kind != "stream_open" or sent is None or "stream" not in getattr(session, "features", ()) or len(self.apis) > 1:
            if "stream" not in getattr(session, "features", ()):
                detail = f"sent `{kind}` without announcing feature `stream` in `ready`"
            elif len(self.apis) > 1:
                detail = f"sent `{kind}`, but streaming is offered only with one slot"
            elif kind != "stream_open":
                detail = f"sent `{kind}` before `stream_open`"
            else:
                detail = f"sent `stream_open` for invocation {rid!r}, which is not in flight"
            session.broken = detail
            self._do(self.core.worker_broke(wid, f"worker {self.config.name!r} {detail}", now))
            return
        sid, inv = sent
        deadline = now + (inv.deadline_ms / 1000.0 - self.wall()) - self.config.timeout_margin
        # Imported at the first stream, not at every cold start (~0.3 ms).
        from dispatcher.stream_relay import relay_stream

        answer = relay_stream(self, self.apis[sid], session, inv, events, deadline, pipeline_next=False)
        self._relayed[rid] = answer
        now = self.clock()
        self._do(self.core.worker_message(wid, {"type": "result", "id": rid, "payload": b""}, now))
        if session.proc.status is not None or session.proc.pidfd is None:  # died during the stream
            self._do(self.core.worker_exited(wid, "exited", session.log.tail(), True, now))
        sigs, self._stream_sigs, self._stream_stop = self._stream_sigs, set(), None
        if signal.SIGTERM in sigs:
            self._do(self.core.signal("SIGTERM", now))
        elif signal.SIGINT in sigs:
            self._do(self.core.signal("SIGINT", now))

    # -- what the stream relay asks of its host --------------------------------
    def wake_fd(self) -> int:
        return self.signals.rfd  # type: ignore[union-attr]

    def on_wake(self) -> None:
        sigs = self.signals.drain()  # type: ignore[union-attr]
        if signal.SIGCHLD in sigs:
            reap_orphans(set(), kill=False)
        if sigs & {signal.SIGTERM, signal.SIGINT}:
            self._stream_sigs |= sigs & {signal.SIGTERM, signal.SIGINT}
            if self._stream_stop is None:
                self._stream_stop = self.clock() + self.config.shutdown_grace

    def invocation_limit(self, deadline: float) -> tuple[float, bool]:
        if self._stream_stop is not None:
            # Keep a third of the grace period to stop the worker afterwards.
            stop = self._stream_stop - self.config.shutdown_grace / 3
            if stop < deadline:
                return stop, True
        return deadline, False

    def stopping_now(self) -> bool:
        return self._stream_stop is not None

    def exit_message(self, w: WorkerSession, ev: Event) -> str:
        tail = w.log.tail()
        detail = ev.detail.replace("exit status", "exited with status").replace("killed by", "was killed by")
        return f"worker {w.name!r} {detail} during the invocation" + (f"; last stderr lines:\n{tail}" if tail else "")

    def timeout_answer(self, inv: Invocation) -> Failure:
        fixed = self.core.function_timeout
        seconds = fixed if fixed is not None else float(round(inv.deadline_ms / 1000.0 - inv.received_at))
        return timeout_failure(seconds)
