"""What the runtime posts for the invoke in flight, as RAPID takes it: a
response or an error accepted (202), one too large (413), one for another id
(400), and the answer handed to its caller.  Actions of state.TRANSITIONS, as
a mixin of `Sandbox` (same loop thread, same state).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ._http import MAX_PAYLOAD
from ._render import accepted, render_error
from .model import RESPONSE_SIZE_TOO_LARGE, Outcome, error_document, sanitize_error_type

if TYPE_CHECKING:
    from ._http import Request
    from .invoke import Invoke
    from .server import Connection

__all__ = ["Posts"]

_HDR_INVOCATION_ID = b"lambda-runtime-invocation-id"


class Posts:
    """Sandbox's actions for posted answers (mixed into Sandbox; uses its
    attributes and its _deliver)."""

    loop: Any
    current: Invoke | None
    no_echo: int
    answered: int
    errors: int
    rejected: int
    _echo: bytes | None

    def _record_answer(self, conn: Connection | None, req: Request | None, outcome: Outcome) -> Invoke:
        assert conn is not None and req is not None and self.current is not None
        inv = self.current
        inv.answered_at = time.monotonic()
        inv.outcome = outcome
        inv.echoed = self._echo == inv.invocation_id  # looked up by handle() already
        if not inv.echoed:
            self.no_echo += 1
        ctype = req.header(b"content-type")
        inv.answer_type = None if ctype is None else ctype.decode("latin-1")
        inv.answer = req.body
        self.answered += 1
        self.loop.send(conn, accepted())
        return inv

    def _a_accept_response(self, conn: Connection | None, req: Request | None) -> None:
        self._record_answer(conn, req, "success")

    def _a_accept_error(self, conn: Connection | None, req: Request | None) -> None:
        inv = self._record_answer(conn, req, "error")
        assert req is not None
        raw = req.header(b"lambda-runtime-function-error-type")
        inv.error_header = sanitize_error_type(None if raw is None else raw.decode("latin-1"))
        self.errors += 1

    def _a_reject_too_large(self, conn: Connection | None, req: Request | None) -> None:
        assert conn is not None and req is not None and self.current is not None
        inv = self.current
        inv.answered_at = time.monotonic()
        inv.outcome = "too_large"
        size = req.declared_length
        size_text = f"{size} bytes" if size is not None else f"more than {MAX_PAYLOAD} bytes"
        inv.answer = error_document(
            RESPONSE_SIZE_TOO_LARGE,
            f"Response payload size ({size_text}) exceeded maximum allowed payload size ({MAX_PAYLOAD} bytes).",
        )
        inv.echoed = self._echo == inv.invocation_id
        self.rejected += 1
        self.loop.send(
            conn,
            render_error(413, "RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({MAX_PAYLOAD} bytes)."),
        )

    def _a_reject_stale(self, conn: Connection | None, req: Request | None) -> None:
        assert conn is not None and req is not None
        self.rejected += 1
        msg = "Invalid request ID"  # RAPID's words, whatever the id
        echo = req.header(_HDR_INVOCATION_ID)
        # No current invoke while still INVOKING: close() failed its caller and
        # SIGTERMed the runtime, which may answer it before exiting.
        if echo is not None and self.current is not None and echo != self.current.invocation_id:
            msg = f"Invalid invocation ID {echo.decode('latin-1')!r}: this reply belongs to an earlier invoke"
        self.loop.send(conn, render_error(400, "InvalidRequestID", msg))

    def _deliver_answer(self, inv: Invoke, outcome: Outcome, body: bytes, error_type: str | None = None) -> None:
        if inv.outcome == "too_large" and outcome != "exit":
            error_type = RESPONSE_SIZE_TOO_LARGE
        self._deliver(
            inv,
            outcome,
            body,
            error_type=error_type,
            content_type=inv.answer_type,
            error_header=inv.error_header,
            end=inv.answered_at,
        )
