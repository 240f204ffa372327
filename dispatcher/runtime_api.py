"""Runtime API requests as values, the invocation they deliver, error documents.

Each call of the Lambda Runtime API (docs/runtime-api.md: "Endpoints",
"Headers on /next", "Error reporting") is a frozen dataclass that knows how to become HTTP/1.1 request
bytes; the client only sends them.  Nothing here does IO, so the tests assert
method, path and headers without a network.

JSON is produced with the C encoder in `_json` rather than `json`: importing
`json` costs ~7 ms of cold start and only string escaping is needed here.
"""

from __future__ import annotations

TYPE_CHECKING = False  # `import typing` and `dataclasses` cost ~18 ms of cold start
if TYPE_CHECKING:
    from dataclasses import dataclass, field
else:
    from dispatcher._record import field, record as dataclass
if TYPE_CHECKING:
    from typing import Sequence

from _json import encode_basestring as _json_str  # C, no `re` import

from dispatcher.errors import ProtocolError

__all__ = [
    "Invocation",
    "NextRequest",
    "ResponseRequest",
    "response_head",
    "response_template",
    "ErrorRequest",
    "StreamingResponseRequest",
    "stream_chunk",
    "stream_error_end",
    "STREAM_END",
    "HTTP_INTEGRATION_CONTENT_TYPE",
    "MAX_STREAMED_RESPONSE",
    "InitErrorRequest",
    "ExtensionRegisterRequest",
    "ExtensionNextRequest",
    "error_document",
    "error_type_header",
    "MAX_ERROR_TEXT",
    "MAX_TIMEOUT_MS",
]

API_VERSION = "/2018-06-01/runtime"
EXT_VERSION = "/2020-01-01/extension"
ERROR_CONTENT_TYPE = "application/vnd.aws.lambda.error+json"
MAX_ERROR_TEXT = 256 * 1024  # message + stack trace, in bytes of posted JSON
# Streamed responses (docs/streaming.md): Lambda's
# limit on a streamed body, and the content type of a function-URL response
# (JSON prelude, 8 NULs, body).
MAX_STREAMED_RESPONSE = 200 * 1024 * 1024
HTTP_INTEGRATION_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
STREAM_DEFAULT_CONTENT_TYPE = "application/octet-stream"
_ERROR_TRAILERS = "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"
MAX_TIMEOUT_MS = 900_000  # Lambda's longest function timeout: no deadline is further ahead
_CUT_MARK = " [cut by lambda-dispatcher: {} more characters]"

Buffers = list  # list of bytes-like objects, for socket.sendmsg


@dataclass(frozen=True, slots=True)
class Invocation:
    """The typed context of one event, built once from the /next response."""

    request_id: str
    deadline_ms: int
    function_arn: str
    trace_id: str | None
    client_context: str | None
    cognito_identity: str | None
    tenant_id: str | None
    invocation_id: str | None  # echoed on /response and /error when present
    content_type: str
    payload: bytes | bytearray = field(repr=False)
    received_at: float = 0.0  # wall clock (time.time()) when /next answered
    note: str | None = None  # what was unusable in the headers and what was done instead, for the log

    @classmethod
    def from_headers(
        cls, headers: dict[str, str], body: bytes | bytearray, now: float, timeout: float | None = None
    ) -> "Invocation":
        """Build from lower-cased /next headers.  Raises ProtocolError when unusable.

        Every consumer sees a deadline within 900 s (Lambda's longest
        function timeout) of `now` (docs/runtime-api.md, "Values the
        supervisor cannot use"): one further ahead is clamped to now + 900 s;
        one that is missing, not a whole number of milliseconds, or not in the
        future is replaced by now + `timeout` (the function's timeout in
        seconds when known, AWS_LAMBDA_FUNCTION_TIMEOUT, else 900 s): the event
        is served, as AWS's runtimes (which never enforce the header) serve it.
        `note` then says what was wrong, for the log.
        """
        get = headers.get
        rid = get("lambda-runtime-aws-request-id")
        if not rid:
            raise ProtocolError(
                f"GET /next answered an event of {len(body)} bytes without a Lambda-Runtime-Aws-Request-Id header; "
                "its answer cannot be posted (the id is part of the URL), so it is dropped"
            )
        now_ms = int(now * 1000)
        raw = get("lambda-runtime-deadline-ms")
        deadline = int(raw) if raw is not None and raw.isascii() and raw.isdigit() and len(raw) <= 30 else -1
        note = None
        if deadline > now_ms + MAX_TIMEOUT_MS:
            if deadline > now_ms + MAX_TIMEOUT_MS + 1000:  # beyond clock jitter: say so
                note = (
                    f"Lambda-Runtime-Deadline-Ms {raw!r} is {(deadline - now_ms) / 1000:.0f} s ahead, beyond "
                    f"Lambda's longest timeout; clamped to now + {MAX_TIMEOUT_MS // 1000} s"
                )
            deadline = now_ms + MAX_TIMEOUT_MS
        elif deadline <= now_ms:
            if raw is None:
                why = "Lambda-Runtime-Deadline-Ms is missing"
            elif deadline < 0:
                why = f"Lambda-Runtime-Deadline-Ms {raw[:40]!r} is not a usable number of milliseconds since the epoch"
            else:
                why = f"Lambda-Runtime-Deadline-Ms {raw!r} is {(now_ms - deadline) / 1000:.3f} s in the past"
            budget = int(min(timeout, MAX_TIMEOUT_MS / 1000) * 1000) if timeout and timeout > 0 else MAX_TIMEOUT_MS
            deadline = now_ms + budget
            note = f"{why}; serving it with the function timeout, a deadline of now + {budget / 1000:g} s"
        # Positional, in field order: an Invocation is built per event.
        return cls(
            rid,
            deadline,
            get("lambda-runtime-invoked-function-arn", ""),
            get("lambda-runtime-trace-id"),
            get("lambda-runtime-client-context"),
            get("lambda-runtime-cognito-identity"),
            get("lambda-runtime-aws-tenant-id"),
            get("lambda-runtime-invocation-id"),
            get("content-type", "application/json"),
            body,
            now,
            note,
        )


def _request(method: str, path: str, host: str, headers: Sequence[tuple[str, str]], body: bytes | bytearray | memoryview | None) -> Buffers:
    lines = [f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"]
    for name, value in headers:
        lines.append(f"{name}: {value}\r\n")
    if body is None:
        lines.append("\r\n" if method == "GET" else "Content-Length: 0\r\n\r\n")
        return [("".join(lines)).encode("latin-1")]
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    head = "".join(lines).encode("latin-1")
    if len(body) < 4096:
        return [head + bytes(body)]
    return [head, body]  # large bodies are sent without a copy


@dataclass(frozen=True, slots=True)
class NextRequest:
    def encode(self, host: str) -> Buffers:
        return [f"GET {API_VERSION}/invocation/next HTTP/1.1\r\nHost: {host}\r\n\r\n".encode("latin-1")]


@dataclass(frozen=True, slots=True)
class ResponseRequest:
    request_id: str
    body: bytes | bytearray | memoryview = field(repr=False)
    content_type: str = "application/json"
    invocation_id: str | None = None

    def encode(self, host: str) -> Buffers:
        headers = [("Content-Type", self.content_type)]
        if self.invocation_id is not None:
            headers.append(("Lambda-Runtime-Invocation-Id", self.invocation_id))
        return _request("POST", f"{API_VERSION}/invocation/{self.request_id}/response", host, headers, self.body)


def response_template(host: str, content_type: str = "application/json", *, invocation_id: bool = False) -> bytes:
    """The head of a POST /response as a bytes template: `template %
    (request_id_bytes, body_length)`, or with `invocation_id` `template %
    (request_id_bytes, invocation_id_bytes, body_length)`, gives what
    ResponseRequest(...).encode(host)[0] starts with (tests/test_runtime_api.py
    holds them to it)."""
    fixed = f"HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n".encode("latin-1").replace(b"%", b"%%")
    if invocation_id:
        fixed += b"Lambda-Runtime-Invocation-Id: %s\r\n"
    return b"POST " + API_VERSION.encode() + b"/invocation/%s/response " + fixed + b"Content-Length: %d\r\n\r\n"


def response_head(templates: tuple[bytes, bytes], request_id: str, invocation_id: str | None, length: int) -> bytes:
    """The head of a JSON POST /response from the two templates of
    `response_template` (without, with the invocation id): ResponseRequest's
    bytes for a fraction of the work, every invocation."""
    if invocation_id is None:
        return templates[0] % (request_id.encode("latin-1"), length)
    return templates[1] % (request_id.encode("latin-1"), invocation_id.encode("latin-1"), length)


@dataclass(frozen=True, slots=True)
class ErrorRequest:
    request_id: str
    error_type: str  # precise type: goes in the body
    message: str
    stack_trace: tuple[str, ...] = ()
    invocation_id: str | None = None
    header_type: str | None = None  # None: derived with error_type_header()
    xray_cause: str | None = None  # ASCII JSON (dispatcher/xray.py); None: no header

    def encode(self, host: str) -> Buffers:
        headers = [
            ("Content-Type", ERROR_CONTENT_TYPE),
            ("Lambda-Runtime-Function-Error-Type", self.header_type or error_type_header(self.error_type)),
        ]
        if self.invocation_id is not None:
            headers.append(("Lambda-Runtime-Invocation-Id", self.invocation_id))
        if self.xray_cause is not None:
            headers.append(("Lambda-Runtime-Function-XRay-Error-Cause", self.xray_cause))
        body = error_document(self.error_type, self.message, self.stack_trace)
        return _request("POST", f"{API_VERSION}/invocation/{self.request_id}/error", host, headers, body)


@dataclass(frozen=True, slots=True)
class StreamingResponseRequest:
    """POST /response with a chunked body that is sent as it is produced.

    `encode` gives only the head: the body follows as `stream_chunk(data)`
    pieces and ends with `STREAM_END`, or with `stream_error_end(...)` when
    the function failed after its first byte (the error goes in the trailers
    the head announces).
    """

    request_id: str
    content_type: str = STREAM_DEFAULT_CONTENT_TYPE
    invocation_id: str | None = None

    def encode(self, host: str) -> Buffers:
        lines = [
            f"POST {API_VERSION}/invocation/{self.request_id}/response HTTP/1.1\r\nHost: {host}\r\n"
            "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
            f"Content-Type: {self.content_type}\r\n"
        ]
        if self.invocation_id is not None:
            lines.append(f"Lambda-Runtime-Invocation-Id: {self.invocation_id}\r\n")
        lines.append(f"Transfer-Encoding: chunked\r\nTrailer: {_ERROR_TRAILERS}\r\n\r\n")
        return ["".join(lines).encode("latin-1")]


STREAM_END = b"0\r\n\r\n"  # last-chunk and an empty trailer section


def stream_chunk(data: bytes | bytearray | memoryview) -> Buffers:
    """One HTTP chunk carrying `data`, as buffers (the data is not copied).

    Empty data gives no buffers at all: a chunk of size 0 would end the body.
    """
    n = len(data)
    if n == 0:
        return []
    return [b"%x\r\n" % n, data, b"\r\n"]


def stream_error_end(error_type: str, message: str, stack_trace: Sequence[str] = (), header_type: str | None = None) -> bytes:
    """The end of a streamed body that failed after its first byte: last-chunk,
    then the error trailers (the error document base64-encoded, as RAPID expects)."""
    from binascii import b2a_base64  # C module; only needed when a stream fails

    doc = error_document(error_type, message, stack_trace)
    return (
        b"0\r\nLambda-Runtime-Function-Error-Type: "
        + (header_type or error_type_header(error_type)).encode("latin-1")
        + b"\r\nLambda-Runtime-Function-Error-Body: "
        + b2a_base64(doc, newline=False)
        + b"\r\n\r\n"
    )


@dataclass(frozen=True, slots=True)
class InitErrorRequest:
    error_type: str
    message: str
    stack_trace: tuple[str, ...] = ()

    def encode(self, host: str) -> Buffers:
        headers = [
            ("Content-Type", ERROR_CONTENT_TYPE),
            ("Lambda-Runtime-Function-Error-Type", error_type_header(self.error_type)),
        ]
        body = error_document(self.error_type, self.message, self.stack_trace)
        return _request("POST", f"{API_VERSION}/init/error", host, headers, body)


@dataclass(frozen=True, slots=True)
class ExtensionRegisterRequest:
    """Register an internal no-op extension so that Lambda delivers SIGTERM
    (docs/runtime-api.md, "Lifecycle": with no extension the runtime is SIGKILLed)."""

    name: str

    def encode(self, host: str) -> Buffers:
        return _request("POST", f"{EXT_VERSION}/register", host, [("Lambda-Extension-Name", self.name)], b'{"events":[]}')


@dataclass(frozen=True, slots=True)
class ExtensionNextRequest:
    extension_id: str

    def encode(self, host: str) -> Buffers:
        return [
            f"GET {EXT_VERSION}/event/next HTTP/1.1\r\nHost: {host}\r\n"
            f"Lambda-Extension-Identifier: {self.extension_id}\r\n\r\n".encode("latin-1")
        ]


def _size(text: str) -> int:
    """Bytes `text` takes inside its JSON string (escapes and UTF-8 included,
    quotes not): for plain ASCII text, its length."""
    return len(_json_str(text).encode("utf-8", "surrogatepass")) - 2


def _cut(text: str, budget: int) -> str:
    """The longest prefix of `text` whose JSON form fits in `budget` bytes."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _size(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def _cap(message: str, stack: Sequence[str]) -> tuple[str, list[str]]:
    """Keep message + stack within MAX_ERROR_TEXT bytes of posted JSON, marking any cut."""
    budget = MAX_ERROR_TEXT
    size = _size(message)
    if size > budget:
        kept = _cut(message, budget)
        return kept + _CUT_MARK.format(len(message) - len(kept)), [f"[{len(stack)} stack lines cut]"] if stack else []
    budget -= size
    out: list[str] = []
    for i, line in enumerate(stack):
        size = _size(line) + 3  # its quotes and the separating comma
        if size > budget:
            kept = _cut(line, max(0, budget - 3))
            rest = sum(len(x) for x in stack[i:]) - len(kept)
            if kept:
                out.append(kept)
            out.append(_CUT_MARK.format(rest).strip())
            break
        out.append(line)
        budget -= size
    return message, out


def error_document(error_type: str, message: str, stack_trace: Sequence[str] = ()) -> bytes:
    """The /error body: {"errorMessage","errorType","stackTrace"} as AWS's runtimes post it."""
    message, stack = _cap(message, stack_trace)
    return (
        '{"errorMessage":' + _json_str(message)
        + ',"errorType":' + _json_str(error_type)
        + ',"stackTrace":[' + ",".join(_json_str(s) for s in stack) + "]}"
    ).encode("utf-8", "surrogatepass")


def _is_full_type(t: str) -> bool:
    """Does `t` match ^(Runtime|Function)\\.[A-Z][a-zA-Z]+$ exactly?"""
    prefix, dot, rest = t.partition(".")
    return (
        dot == "."
        and prefix in ("Runtime", "Function")
        and len(rest) >= 2
        and rest.isascii()
        and rest.isalpha()
        and "A" <= rest[0] <= "Z"
    )


def error_type_header(error_type: str) -> str:
    """Map a precise error type onto what Lambda keeps in its error-type header.

    RAPID replaces any value that does not match `(Runtime|Function)\\.[A-Z][a-zA-Z]+`
    with Runtime.Unknown, which loses the information; so a language type name
    becomes Function.<last identifier>: `my_crate::MyError` -> Function.MyError.
    """
    if _is_full_type(error_type):
        return error_type
    # Last identifier: the last run of [A-Za-z0-9_] that contains a letter.
    ident = ""
    run: list[str] = []
    for ch in error_type + " ":
        if ch.isascii() and (ch.isalnum() or ch == "_"):
            run.append(ch)
        else:
            if run:
                letters = "".join(c for c in run if c.isalpha())
                if letters:
                    ident = letters
                run = []
    if not ident:
        return "Function.Unknown"
    ident = ident[0].upper() + ident[1:]
    if len(ident) < 2:
        return "Function.Unknown"
    return "Function." + ident
