"""How an invoke's caller learns its outcome in the emulated sandbox: the
`InvokeResult` built from what the runtime (or a failure) produced, the END
line of the lifecycle log, the caller's sink and `done` event; and how waiting
callers are failed when the sandbox cannot serve them.  A mixin of `Sandbox`
(same loop thread, same state), as posts.py and failures.py are.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .model import InvokeResult, Outcome, body_error_type, sanitize_error_type
from .streamed import decode_error_body

if TYPE_CHECKING:
    from .invoke import Invoke

__all__ = ["Callers"]


class Callers:
    """Sandbox's answers to its callers (mixed into Sandbox; uses its attributes)."""

    config: Any
    runtime: Any
    queue: Any
    current: Invoke | None
    invokes: int
    status_for: Any

    def _deliver(
        self,
        inv: Invoke,
        outcome: Outcome,
        body: bytes,
        *,
        error_type: str | None = None,
        content_type: str | None = None,
        error_header: str | None = None,
        end: float | None = None,
    ) -> None:
        self.invokes += 1
        if inv.done is None:
            return
        end = time.monotonic() if end is None else end
        trailers = inv.trailers or {}
        raw_type = trailers.get(b"lambda-runtime-function-error-type")
        duration = (end - inv.handed_at) * 1000 if inv.handed_at else 0.0
        if error_type is None and outcome == "error":
            error_type = body_error_type(body)
        inv.result = InvokeResult(
            request_id=inv.request_id,
            outcome=outcome,
            body=body,
            error_type=error_type,
            error_type_header=error_header,
            content_type=content_type,
            duration_ms=round(duration, 3),
            init_duration_ms=inv.init_ms,
            status=self.status_for[outcome],
            invocation_id_echoed=inv.echoed,
            streamed=inv.streamed,
            stream_error_type=None if raw_type is None else sanitize_error_type(raw_type.decode("latin-1")),
            stream_error_body=decode_error_body(trailers.get(b"lambda-runtime-function-error-body")),
        )
        life = self.config.lifecycle
        if life is not None and inv.handed_at:  # written before the caller goes on
            rt = self.runtime
            life.end(inv.request_id, duration, inv.init_ms, outcome, error_type, None if rt is None else rt.pid)
        if inv.sink is not None:
            inv.sink.put(inv.result)
        inv.done.set()

    def _fail_waiter(self, inv: Invoke, exc: BaseException) -> None:
        if inv.done is not None:
            inv.exc = exc
            if inv.sink is not None:
                inv.sink.put(exc)
            inv.done.set()

    def _fail_all(self, exc: BaseException) -> None:
        if self.current is not None:
            self._fail_waiter(self.current, exc)
            self.current = None
        while self.queue:
            self._fail_waiter(self.queue.popleft(), exc)
