"""What an invocation ends with: a Success or a Failure, and how they are made.

The supervisor turns every worker event into one of these; `reporter.py`
turns them into Runtime API posts.  The timeout and size messages are worded
as Lambda's own.
"""

from __future__ import annotations

import os

from dispatcher import errors as E

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
    """A `result` payload: bin is the body; anything else is converted to JSON."""
    if not isinstance(payload, (bytes, bytearray)):
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


_QUIET = os.environ.get("DISPATCHER_LOG_LEVEL", "info").lower() in ("warn", "warning", "error")


def say(msg: str, *, info: bool = False) -> None:
    """Lifecycle lines, in one fixed form, on the supervisor's stderr.

    `info` lines (a normal shutdown) are left out when DISPATCHER_LOG_LEVEL is
    warn or error, as `dispatcher invoke` sets it; everything that reports a
    problem is always written."""
    if info and _QUIET:
        return
    try:
        os.write(2, f"[dispatcher] {msg}\n".encode("utf-8", "replace"))
    except OSError:
        pass
