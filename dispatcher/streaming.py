"""One streamed response, without IO: worker frames in, Runtime API bytes out.

A worker that announced feature `stream` answers an invoke with
`stream_open`, `stream_chunk`s and `stream_end` (or `error`), see
docs/protocol.md "Streaming".  `Stream` decides what goes on the wire for
each of them; `dispatcher/stream_relay.py` moves the bytes.

    PENDING --first byte--> OPEN --end / failure--> ENDED
       |                      |
       |                      +--over the limit--> DISCARDING --end / failure--> ENDED
       +--end--> ENDED (an empty body: head and last-chunk together)
       +--failure--> ENDED, nothing sent: the caller posts an ordinary /error

The POST starts with the first byte, not with `stream_open`: until then a
failure can still be an ordinary /error, which every caller understands.
After it, a failure can only be told in the error trailers.
"""

from __future__ import annotations

from dispatcher import errors as E
from dispatcher.answers import Failure
from dispatcher.runtime_api import (
    MAX_STREAMED_RESPONSE,
    STREAM_DEFAULT_CONTENT_TYPE,
    STREAM_END,
    Invocation,
    StreamingResponseRequest,
    stream_chunk,
    stream_error_end,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Stream", "PENDING", "OPEN", "DISCARDING", "ENDED", "bad_content_type"]

# States, as named values (compared by identity).
PENDING = "pending"  # stream_open received; nothing sent yet
OPEN = "open"  # the POST head and some body went out
DISCARDING = "discarding"  # the body was cut (limit, or the API gave up); drop the rest
ENDED = "ended"  # the worker's stream is over


def bad_content_type(value: str) -> str | None:
    """Why a worker's content type cannot go in an HTTP header, or None."""
    if not value or len(value) > 1024:
        return "must be 1 to 1024 characters"
    if not all(" " <= c <= "~" or c == "\t" for c in value):
        return "must be printable ASCII (no CR, LF or other control characters)"
    return None


class Stream:
    """The state of one streamed response and the bytes each step sends."""

    __slots__ = ("request", "host", "limit", "state", "sent", "failure", "cut")

    def __init__(self, inv: Invocation, content_type: str | None, host: str, limit: int = MAX_STREAMED_RESPONSE) -> None:
        self.request = StreamingResponseRequest(
            inv.request_id, content_type or STREAM_DEFAULT_CONTENT_TYPE, inv.invocation_id
        )
        self.host = host
        self.limit = limit
        self.state = PENDING
        self.sent = 0  # body bytes forwarded
        self.failure: Failure | None = None  # how the stream ended, when it failed
        self.cut = False  # the body was cut at the limit

    @property
    def started(self) -> bool:
        """Has any byte of the POST gone out (so a failure needs the trailers)?"""
        return self.state is not PENDING and not (self.state is ENDED and self.sent == 0 and self.failure is not None)

    def chunk(self, data: Any) -> list[Any]:
        """Buffers to send for one stream_chunk (maybe none)."""
        state = self.state
        if state is DISCARDING or state is ENDED or not len(data):
            return []
        out = self.request.encode(self.host) if state is PENDING else []
        self.state = OPEN
        room = self.limit - self.sent
        if len(data) <= room:
            self.sent += len(data)
            return out + stream_chunk(data)
        # Over Lambda's limit: send what fits, then end the body with the error.
        out += stream_chunk(memoryview(data)[:room])
        self.sent += room
        self.cut = True
        self.state = DISCARDING
        self.failure = Failure(
            E.RESPONSE_SIZE_TOO_LARGE,
            f"Response payload size exceeded maximum allowed payload size ({self.limit} bytes).",
        )
        out.append(stream_error_end(self.failure.error_type, self.failure.message))
        return out

    def end(self) -> list[Any]:
        """Buffers for stream_end: the last-chunk (with the head, for an empty body)."""
        state = self.state
        self.state = ENDED
        if state is PENDING:
            return self.request.encode(self.host) + [STREAM_END]
        if state is OPEN:
            return [STREAM_END]
        return []  # cut at the limit: its end went out already

    def fail(self, failure: Failure) -> list[Any]:
        """Buffers for a failure (worker error, deadline, crash, bad frame).

        Before the first byte there are none: the caller posts `failure` as an
        ordinary /error (`started` is False).  After it, the error trailers.
        """
        state = self.state
        self.state = ENDED
        if state is DISCARDING:
            return []
        self.failure = failure
        if state is PENDING:
            return []
        return [stream_error_end(failure.error_type, failure.message, failure.stack_trace, failure.header_type)]

    def abandon(self) -> None:
        """The Runtime API connection is gone mid-stream: drop the rest."""
        if self.state is not ENDED:
            self.state = DISCARDING
