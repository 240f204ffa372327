"""What an invocation ends with: a Success or a Failure, and how they are made.

The supervisor turns every worker event into one of these; `reporter.py`
turns them into Runtime API posts.  The timeout and size messages are worded
as Lambda's own.
"""

from __future__ import annotations

from dispatcher import errors as E
from dispatcher.logs import say

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any
else:
    from dispatcher._record import record as dataclass

__all__ = ["Success", "Failure", "Streamed", "convert_result", "timeout_failure", "say", "MAX_RESPONSE"]

MAX_RESPONSE = 6 * 1024 * 1024 + 100  # what RAPID accepts in a buffered /response: 6,291,556 bytes (6 MiB + 100)


@dataclass(frozen=True, slots=True)
class Success:
    body: Any  # bytes-like
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Failure:
    error_type: str  # precise: goes in the body
    message: str
    stack_trace: tuple[str, ...] = ()
    header_type: str | None = None  # None: derived from error_type


@dataclass(frozen=True, slots=True)
class Streamed:
    """A streamed response, already posted (dispatcher/stream_relay.py)."""

    next_sent: bool  # GET /next went out behind it (pipelined)
    failure: Failure | None  # what ended it in the error trailers, if anything
    size: int  # body bytes forwarded


def convert_result(payload: Any) -> Success | Failure:
    """A `result` payload: bin is the body (a memoryview when it was read in
    place from a large frame, dispatcher/frames.py); anything else is
    converted to JSON."""
    if not isinstance(payload, (bytes, memoryview, bytearray)):
        from dispatcher.jsonconv import NotConvertible, to_json

        try:
            payload = to_json(payload)
        except NotConvertible as exc:
            return Failure(E.MARSHAL_ERROR, f"the worker's result cannot be converted to JSON: {exc}")
    if len(payload) > MAX_RESPONSE:
        return Failure(
            E.RESPONSE_SIZE_TOO_LARGE,
            f"Response payload size ({len(payload)} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE} bytes).",
        )
    return Success(payload)


def timeout_failure(seconds: float) -> Failure:
    """Lambda's own words; the header type is one RAPID keeps (docs/runtime-api.md, "Error reporting")."""
    return Failure(E.SANDBOX_TIMEDOUT, f"Task timed out after {seconds:.2f} seconds", header_type=E.INVOKE_TIMEOUT)
