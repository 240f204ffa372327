"""Values the emulator hands to its callers: invoke results, counters, error documents.

Everything here is immutable and has no IO, so the CLI, the front door and the
tests can share and compare results freely.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from ..errors import DispatcherError

__all__ = [
    "Outcome",
    "InvokeResult",
    "StreamStart",
    "EmulatorStats",
    "EmulatorError",
    "EmulatorClosedError",
    "sanitize_error_type",
    "error_document",
    "ARN_PREFIX",
]

Outcome = Literal["success", "error", "timeout", "exit", "init_error", "too_large", "unavailable"]

ARN_PREFIX = "arn:aws:lambda:us-east-1:012345678912:function:"  # the RIE's account and region

# errorType strings the platform itself produces (RIE: internal/lambda/fatalerror).
SANDBOX_TIMEDOUT = "Sandbox.Timedout"
RUNTIME_EXIT_ERROR = "Runtime.ExitError"
RESPONSE_SIZE_TOO_LARGE = "Function.ResponseSizeTooLarge"
RUNTIME_UNAVAILABLE = "Runtime.Unavailable"  # LMI mode: an invoke found no open /next

# HTTP status the RIE's invoke endpoint gives for each outcome.
STATUS_FOR: dict[str, int] = {
    "success": 200,
    "error": 200,
    "timeout": 200,
    "too_large": 200,
    "exit": 502,
    "init_error": 502,
}

# LMI mode (recorded from RIE v1.30 with AWS_LAMBDA_MAX_CONCURRENCY set): a runtime
# exit answers the invokes in flight 200 + Error-Type, and an invoke that finds
# no open /next gets 400 at once.
LMI_STATUS_FOR: dict[str, int] = {**STATUS_FOR, "exit": 200, "unavailable": 400}

_VALID_ERROR_TYPE = re.compile(r"(Runtime|Function)\.[A-Z][a-zA-Z]+")


def sanitize_error_type(value: str | None) -> str:
    """What RAPID records for a Lambda-Runtime-Function-Error-Type header.

    RIE: internal/lambda/fatalerror/fatalerror.go GetValidRuntimeOrFunctionErrorType;
    the regex is deliberately unanchored, as there.
    """
    if value is None:
        return "Runtime.Unknown"
    if _VALID_ERROR_TYPE.search(value):
        return value
    if value.startswith("Function."):
        return "Function.Unknown"
    return "Runtime.Unknown"


def error_document(error_type: str, message: str) -> bytes:
    """The JSON error document the platform gives the caller."""
    return json.dumps({"errorType": error_type, "errorMessage": message}, separators=(",", ":")).encode()


class EmulatorError(DispatcherError):
    """The emulator could not do what was asked (misuse, or its server thread died)."""


class EmulatorClosedError(EmulatorError):
    """The emulator was closed before (or while) the invoke could be served."""


@dataclass(frozen=True)
class InvokeResult:
    """What the caller of one invoke gets back.

    `body` is the runtime's response body for "success", what it posted to /error
    for "error", and the platform's error document otherwise (for "exit" after an
    answer was posted it is that answer, as the RIE's 502 carries it).
    """

    request_id: str
    outcome: Outcome
    body: bytes
    error_type: str | None  # errorType of the body, when it is an error document
    error_type_header: str | None  # the runtime's Lambda-Runtime-Function-Error-Type, sanitised
    content_type: str | None  # the runtime's Content-Type on its post
    duration_ms: float  # hand-out to answer (or to the failure)
    init_duration_ms: float | None  # set when this invoke had to start the runtime
    status: int  # what the RIE invoke endpoint would answer: 200, or 502
    invocation_id_echoed: bool | None = None  # did the post carry Lambda-Runtime-Invocation-Id back?
    # A streamed response (docs/streaming.md): `body` is what arrived (empty
    # when the caller took the pieces as they came, Emulator.invoke_stream);
    # an error after the first byte comes from the trailers.
    streamed: bool = False
    stream_error_type: str | None = None  # Lambda-Runtime-Function-Error-Type trailer, sanitised
    stream_error_body: bytes | None = None  # Lambda-Runtime-Function-Error-Body trailer, base64-decoded

    @property
    def ok(self) -> bool:
        return self.outcome == "success"


@dataclass(frozen=True)
class StreamStart:
    """Emulator.invoke_stream's first item for a streamed answer: the bytes follow."""

    request_id: str
    content_type: str | None  # the runtime's Content-Type on its streamed post


@dataclass(frozen=True)
class EmulatorStats:
    """Counters since the emulator started (a snapshot)."""

    handed_out: int  # /next answers that carried an invoke
    answered: int  # /response or /error posts that got 202
    errors: int  # of those, /error posts
    posts_without_invocation_id_echo: int  # 202 posts lacking the /next's Lambda-Runtime-Invocation-Id
    rejected: int  # Runtime API requests answered 4xx
    init_errors: int  # /init/error posts accepted
    launches: int  # runtime processes started
    timeouts: int
    exits: int  # runtime processes that ended by themselves
    invokes: int  # invokes completed (any outcome)
    next_chunked: int = 0  # /next answers sent Transfer-Encoding: chunked (bodies over 2,048 bytes)


def body_error_type(body: bytes) -> str | None:
    """errorType of a JSON error document, or None when the body is not one."""
    if not body.startswith(b"{") or b"errorType" not in body:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    value = doc.get("errorType") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None
