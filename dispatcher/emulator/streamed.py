"""Streamed answers in the emulated sandbox (docs/streaming.md): the actions
of state.TRANSITIONS for a `Lambda-Runtime-Function-Response-Mode: streaming`
post, as a mixin of `Sandbox` (same loop thread, same state).

Each piece of the body goes on to the caller's sink as it is read (or is
collected when the caller has none).  A caller that falls behind by more
than STREAM_HIGH bytes stops the reading of the runtime's connection until
it is back under STREAM_LOW: the back-pressure reaches the function.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from . import state as st
from ._http import BodyPart, Request
from ._render import accepted, render_error
from .model import RESPONSE_SIZE_TOO_LARGE, StreamStart, error_document

if TYPE_CHECKING:
    from .invoke import Invoke
    from .server import Connection

__all__ = ["StreamedAnswers", "STREAM_HIGH", "STREAM_LOW", "MAX_STREAMED", "decode_error_body"]

STREAM_HIGH = 4 * 1024 * 1024
STREAM_LOW = 1024 * 1024
MAX_STREAMED = 200 * 1024 * 1024  # a streamed answer's limit, as the supervisor enforces it


class StreamedAnswers:
    """Sandbox's streaming actions (mixed into Sandbox; uses its attributes)."""

    loop: Any
    state: str
    current: Invoke | None
    stream_conn: Connection | None
    no_echo: int
    answered: int
    rejected: int
    _echo: bytes | None

    def _fire(self, event: str, conn: Connection | None = None, req: Request | None = None) -> None: ...  # Sandbox

    def _a_open_stream(self, conn: Connection | None, req: Request | None) -> None:
        assert conn is not None and req is not None and self.current is not None
        inv = self.current
        inv.echoed = self._echo == inv.invocation_id
        if not inv.echoed:
            self.no_echo += 1
        ctype = req.header(b"content-type")
        inv.answer_type = None if ctype is None else ctype.decode("latin-1")
        inv.streamed = True
        self.stream_conn = conn
        if inv.sink is not None:
            inv.sink.put(StreamStart(inv.request_id, inv.answer_type))
        else:
            inv.answer = bytearray()  # type: ignore[assignment]

    def _stream_part(self, conn: Connection, part: BodyPart) -> None:
        """A piece of the streamed answer: straight on to the caller."""
        inv = self.current
        if conn is not self.stream_conn or inv is None or self.state != st.STREAMING:
            return  # the rest of a post that was refused, or of a failed invoke
        if part.end:
            self._fire(st.STREAM_END, conn, part.request)
            return
        inv.stream_size += len(part.data)
        if inv.stream_size > MAX_STREAMED:
            self._fire(st.TOO_LARGE, conn, part.request)
        elif inv.sink is not None:
            inv.sink.put(part.data)
            inv.queued += len(part.data)
            if inv.queued > STREAM_HIGH:
                self.loop.pause_reading(conn)
        else:
            inv.answer += part.data  # type: ignore[operator]

    def stream_taken(self, inv: Invoke, n: int) -> None:
        """The caller took `n` bytes of a streamed answer (called on the loop thread)."""
        inv.queued -= n
        conn = self.stream_conn
        if conn is not None and conn.paused and inv is self.current and inv.queued < STREAM_LOW:
            self.loop.resume_reading(conn)

    def _a_end_stream(self, conn: Connection | None, req: Request | None) -> None:
        assert conn is not None and req is not None and self.current is not None
        inv = self.current
        inv.answered_at = time.monotonic()
        inv.outcome = "success"
        inv.trailers = req.trailers
        inv.answer = bytes(inv.answer) if inv.sink is None else b""
        self.stream_conn = None
        self.answered += 1
        self.loop.send(conn, accepted())

    def _a_reject_stream_too_large(self, conn: Connection | None, req: Request | None) -> None:
        """A streamed answer over the limit: 413, the rest of it is not read."""
        assert conn is not None and self.current is not None
        inv = self.current
        inv.answered_at = time.monotonic()
        inv.outcome = "too_large"
        inv.answer = error_document(
            RESPONSE_SIZE_TOO_LARGE,
            f"Response payload size (more than {MAX_STREAMED} bytes) exceeded maximum allowed payload size ({MAX_STREAMED} bytes).",
        )
        self.stream_conn = None
        self.rejected += 1
        self.loop.send(
            conn,
            render_error(413, "RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({MAX_STREAMED} bytes)."),
            close=True,
        )


def decode_error_body(value: bytes | None) -> bytes | None:
    """The Lambda-Runtime-Function-Error-Body trailer: base64 of the error document (RAPID decodes it)."""
    if value is None:
        return None
    import binascii

    try:
        return binascii.a2b_base64(value)
    except binascii.Error:
        return value  # not base64: shown as sent
