"""One invoke as the emulator tracks it, and the ids and headers made for it.

An `Invoke` is created by the calling thread (so argument errors surface
there), then handed to the loop thread, which fills it in; the caller waits on
`done` and reads `result` or `exc`.
"""

from __future__ import annotations

from random import getrandbits
from typing import Any

from .model import InvokeResult, Outcome

__all__ = ["Invoke", "new_uuid", "render_optional_headers", "INVOCATION_PREFIX"]

INVOCATION_PREFIX = b"/2018-06-01/runtime/invocation/"


def new_uuid() -> str:
    """A random (version 4) UUID string; cheaper than uuid.uuid4() on the hot path."""
    h = "%032x" % ((getrandbits(128) & ~(0xF000 << 64) & ~(0xC << 60)) | (0x4000 << 64) | (0x8 << 60))
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Invoke:
    """One invoke from queueing to result; touched by the loop thread only (except `done`)."""

    __slots__ = (
        "event", "timeout", "headers", "request_id", "rid", "invocation_id", "resp_path", "err_path",
        "deadline", "handed_at", "init_ms", "next_response", "answer", "answer_type", "error_header",
        "echoed", "outcome", "answered_at", "done", "result", "exc", "lmi_headers", "sink", "streamed", "trailers",
        "queued", "stream_size",
    )  # fmt: skip

    def __init__(self, event: bytes, timeout: float, headers: tuple[bytes, bytes], done: Any, request_id: str | None = None) -> None:
        self.event = event
        self.timeout = timeout
        self.headers = headers  # optional /next header lines, pre-rendered (render_optional_headers)
        self.lmi_headers: tuple[bytes, bytes, bytes] | None = None  # LMI mode: Content-Type, Client-Context, Trace-Id values
        self.request_id = new_uuid() if request_id is None else request_id
        self.rid = self.request_id.encode()
        self.invocation_id = new_uuid().encode()
        self.resp_path = INVOCATION_PREFIX + self.rid + b"/response"
        self.err_path = INVOCATION_PREFIX + self.rid + b"/error"
        self.deadline = 0.0
        self.handed_at = 0.0
        self.init_ms: float | None = None
        self.next_response = b""
        self.answer = b""
        self.answer_type: str | None = None
        self.error_header: str | None = None
        self.echoed: bool | None = None
        self.outcome: Outcome = "success"
        self.answered_at = 0.0
        self.done = done  # threading.Event, or None for a synthetic (autoinvoke) invoke
        self.result: InvokeResult | None = None
        self.exc: BaseException | None = None
        # A streamed answer: its pieces go to `sink` (a queue the caller reads:
        # StreamStart, then bytes, then the InvokeResult or an exception) as
        # they arrive; without a sink they are collected into `answer`.
        self.sink: Any = None
        self.streamed = False
        self.trailers: dict[bytes, bytes] | None = None
        self.queued = 0  # bytes put in `sink` and not yet taken by the caller
        self.stream_size = 0  # body bytes of a streamed answer so far


def render_optional_headers(
    client_context: str | None, trace_id: str | None, tenant_id: str | None, cognito_identity: str | None
) -> tuple[bytes, bytes]:
    """The /next header lines RAPID sets only when they have a value.

    Two groups, so that the /next response keeps Go's sorted header order:
    those that sort between Aws-Request-Id and Deadline-Ms, and Trace-Id,
    which sorts after Invoked-Function-Arn.
    """
    groups = [b"", b""]
    for group, name, value in (
        (0, b"Lambda-Runtime-Aws-Tenant-Id", tenant_id),
        (0, b"Lambda-Runtime-Client-Context", client_context),
        (0, b"Lambda-Runtime-Cognito-Identity", cognito_identity),
        (1, b"Lambda-Runtime-Trace-Id", trace_id),
    ):
        if value is None:
            continue
        if "\r" in value or "\n" in value or "\0" in value:
            raise ValueError(f"{name.decode()} value must not contain CR, LF or NUL: {value[:60]!r}")
        groups[group] += b"\r\n" + name + b": " + value.encode("utf-8")
    return groups[0], groups[1]
