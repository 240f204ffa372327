"""The HTTP-integration prelude of a streamed function-URL response, without IO.

A function answering a function URL (`InvokeMode: RESPONSE_STREAM`) streams
with the content type `application/vnd.awslambda.http-integration-response`:
a JSON prelude `{"statusCode": 200, "headers": {..}, "cookies": [..]}`, then
8 NUL bytes, then the body (docs/streaming.md).  The
function URL turns the prelude into the HTTP status line and headers and sends
the rest as the body; `dispatcher serve` and `dispatcher invoke` do the same
with `PreludeSplitter`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

__all__ = ["HTTP_INTEGRATION_CONTENT_TYPE", "Prelude", "PreludeError", "PreludeSplitter", "MAX_PRELUDE"]

HTTP_INTEGRATION_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
SEPARATOR = b"\0" * 8
MAX_PRELUDE = 64 * 1024  # the JSON must end within this many bytes
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class PreludeError(ValueError):
    """The function's prelude cannot be read: the message says what to fix."""


@dataclass(frozen=True)
class Prelude:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)  # Content-Type always among them
    cookies: list[str] = field(default_factory=list)


def is_http_integration(content_type: str | None) -> bool:
    return content_type is not None and content_type.split(";")[0].strip().lower() == HTTP_INTEGRATION_CONTENT_TYPE


def _header_text(value: object, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PreludeError(f"prelude {what} must be a string, got {json.dumps(value)[:80]}")
    text = str(value)
    if any(c in text for c in "\r\n\0"):
        raise PreludeError(f"prelude {what} must not contain CR, LF or NUL: {text[:80]!r}")
    return text


def parse_prelude(data: bytes) -> Prelude:
    """The prelude JSON (the bytes before the 8 NULs)."""
    try:
        doc = json.loads(data) if data.strip() else {}
    except ValueError as exc:
        raise PreludeError(f"the HTTP-integration prelude is not JSON ({exc}): {data[:120]!r}") from None
    if not isinstance(doc, dict):
        raise PreludeError(f"the HTTP-integration prelude must be a JSON object, got {data[:120]!r}")
    status = doc.get("statusCode", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise PreludeError(f"prelude statusCode must be an integer 100..599, got {status!r}")
    raw_headers = doc.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise PreludeError("prelude headers must be a JSON object of name: value")
    headers: list[tuple[str, str]] = []
    for name, value in raw_headers.items():
        if not name or not all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in name):
            raise PreludeError(f"prelude header name {name!r} is not an HTTP token")
        headers.append((name, _header_text(value, f"header {name}")))
    if not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", DEFAULT_CONTENT_TYPE))
    cookies = doc.get("cookies") or []
    if not isinstance(cookies, list):
        raise PreludeError("prelude cookies must be a JSON array of Set-Cookie strings")
    return Prelude(status, headers, [_header_text(c, "cookie") for c in cookies])


class PreludeSplitter:
    """Feed the streamed bytes; get the prelude once it is complete, then the body."""

    def __init__(self, limit: int = MAX_PRELUDE) -> None:
        self.limit = limit
        self.prelude: Prelude | None = None
        self._buf = bytearray()

    def feed(self, data: bytes) -> tuple[Prelude | None, bytes]:
        """(the prelude when this piece completed it, else None; body bytes in this piece)."""
        if self.prelude is not None:
            return None, data
        self._buf += data
        at = self._buf.find(SEPARATOR)
        if at < 0:
            if len(self._buf) > self.limit + len(SEPARATOR):
                raise PreludeError(
                    f"no 8 NUL bytes within the first {self.limit} bytes of an HTTP-integration response: "
                    "write the prelude (JSON), then 8 NULs, then the body (the adapters' prelude helpers do)"
                )
            return None, b""
        self.prelude = parse_prelude(bytes(self._buf[:at]))
        body = bytes(self._buf[at + len(SEPARATOR) :])
        self._buf = bytearray()
        return self.prelude, body

    def finish(self) -> Prelude:
        """At the end of the stream: the prelude (an empty body still needs one)."""
        if self.prelude is None:
            if not self._buf:
                self.prelude = Prelude(headers=[("Content-Type", DEFAULT_CONTENT_TYPE)])
            else:
                raise PreludeError(
                    "the HTTP-integration response ended before the 8 NUL bytes that close its prelude: "
                    "write the prelude (JSON), then 8 NULs, then the body"
                )
        return self.prelude
