"""Sans-IO rendering of the emulator's HTTP responses, byte for byte as RAPID sends them.

RAPID is a Go net/http server, and everything a client can see of that is
reproduced here (docs/emulator.md lists the recorded facts):

- Header order: the handler's own headers sorted by name (Go writes a header
  map in sorted order), then `Date`, then `Content-Length`, then `Connection:
  close` when the connection ends; names in Go's canonical case.
- `Date` on every response, in IMF-fixdate (`Tue, 01 Dec 2026 20:26:28 GMT`).
- JSON bodies from Go's json.Encoder: compact, HTML characters escaped, and a
  trailing newline (`{"status":"OK"}\\n` is 16 bytes).
- Body framing (`frame_body`): net/http buffers 2,048 bytes of a response whose
  length the handler did not declare.  A body that fits goes out with
  `Content-Length`; a larger one with `Transfer-Encoding: chunked`, in the
  chunk sizes a `ChunkPolicy` gives (classic RAPID: the whole body as one
  chunk, as its single `Write` produces).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

__all__ = [
    "ChunkPolicy",
    "CLASSIC_CHUNKS",
    "GO_BUFFER",
    "chunks_of",
    "date_line",
    "frame_body",
    "go_json_str",
    "render_response",
    "render_error",
    "accepted",
    "with_connection_close",
    "REASONS",
]

GO_BUFFER = 2048  # net/http's response buffer: bodies up to this size get a Content-Length

# How a body larger than GO_BUFFER is cut into chunks: sizes that add up to n.
ChunkPolicy = Callable[[int], Sequence[int]]


def CLASSIC_CHUNKS(n: int) -> Sequence[int]:  # noqa: N802 - a constant-like policy
    """Classic RAPID writes the event with one Write: one chunk of the whole body."""
    return (n,)


def chunks_of(size: int) -> ChunkPolicy:
    """A policy of chunks of at most `size` bytes (the last one shorter)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1 byte, got {size}")

    def policy(n: int) -> Sequence[int]:
        full, rest = divmod(n, size)
        return [size] * full + ([rest] if rest else [])

    return policy


def frame_body(body: bytes, policy: ChunkPolicy = CLASSIC_CHUNKS, buffer: int = GO_BUFFER) -> list[bytes]:
    """The framing header line, the blank line and the framed body, as parts to join.

    `len(body) <= buffer`: `Content-Length`.  Above: `Transfer-Encoding:
    chunked`, chunk sizes in lower-case hex as Go writes them, no trailers.
    """
    n = len(body)
    if n <= buffer:
        return [b"Content-Length: %d\r\n\r\n" % n, body]
    sizes = policy(n)
    if sum(sizes) != n or any(s <= 0 for s in sizes):
        raise ValueError(f"chunk policy gave sizes {list(sizes)[:8]}... that do not cut {n} bytes")
    parts = [b"Transfer-Encoding: chunked\r\n\r\n"]
    if len(sizes) == 1:
        parts += (b"%x\r\n" % n, body, b"\r\n0\r\n\r\n")
        return parts
    view = memoryview(body)
    at = 0
    for size in sizes:
        parts += (b"%x\r\n" % size, view[at : at + size], b"\r\n")
        at += size
    parts.append(b"0\r\n\r\n")
    return parts


# -- Date ---------------------------------------------------------------------

_DAYS = (b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun")
_MONTHS = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec")
_date_until = 0.0  # the cached Date line is good until this wall-clock time
_date_line = b""
_accepted = b""
_time = time.time


def _refresh_date(now: float) -> None:
    global _date_until, _date_line, _accepted
    second = int(now)
    t = time.gmtime(second)
    _date_line = b"Date: %s, %02d %s %d %02d:%02d:%02d GMT\r\n" % (
        _DAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec
    )  # fmt: skip
    _accepted = b"".join((_ACCEPTED_HEAD, _date_line, b"Content-Length: %d\r\n\r\n" % len(ACCEPTED_BODY), ACCEPTED_BODY))
    _date_until = second + 1.0


def date_line(now: float | None = None) -> bytes:
    """`Date: <IMF-fixdate>\r\n` for `now` (default: the current time), rendered once a second."""
    if now is None:
        now = _time()
    if now >= _date_until or now < _date_until - 1.0:  # a new second, or the clock stepped back
        _refresh_date(now)
    return _date_line


REASONS = {
    200: b"OK",
    202: b"Accepted",
    400: b"Bad Request",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    410: b"Gone",
    413: b"Request Entity Too Large",
    500: b"Internal Server Error",
    502: b"Bad Gateway",
}

ACCEPTED_BODY = b'{"status":"OK"}\n'
_ACCEPTED_HEAD = b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"


def accepted() -> bytes:
    """RAPID's 202 to /response, /error and /init/error (cached for the current second)."""
    now = _time()
    if now >= _date_until or now < _date_until - 1.0:
        _refresh_date(now)
    return _accepted


def render_response(
    status: int,
    body: bytes = b"",
    *,
    content_type: bytes | None = b"application/json",
    headers: Sequence[tuple[bytes, bytes]] = (),
    close: bool = False,
    policy: ChunkPolicy | None = None,
) -> bytes:
    """A complete response as Go's net/http writes it.

    `headers` are the handler's own (canonical names); with `policy` a body
    larger than Go's buffer is sent chunked, otherwise it gets a Content-Length.
    """
    own = list(headers)
    if content_type is not None:
        own.append((b"Content-Type", content_type))
    own.sort()
    parts = [b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b"Unknown"))]
    parts += [name + b": " + value + b"\r\n" for name, value in own]
    parts.append(date_line())
    if policy is not None and len(body) > GO_BUFFER:
        framed = frame_body(body, policy)
        if close:
            parts.append(b"Connection: close\r\n")
        parts += framed
        return b"".join(parts)
    parts.append(b"Content-Length: %d\r\n" % len(body))
    if close:
        parts.append(b"Connection: close\r\n")
    parts += (b"\r\n", body)
    return b"".join(parts)


def with_connection_close(response: bytes) -> bytes:
    """The same response, saying `Connection: close` where Go puts it (after
    Content-Length, before Transfer-Encoding): how Go answers a request that
    asked to close, or an HTTP/1.0 one."""
    end = response.find(b"\r\n\r\n")
    if end < 0 or b"\r\nConnection: close\r\n" in response[: end + 2]:
        return response
    te = response.rfind(b"\r\nTransfer-Encoding: ", 0, end)
    at = te + 2 if te >= 0 else end + 2
    return response[:at] + b"Connection: close\r\n" + response[at:]


_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json_str(text: str) -> bytes:
    """A JSON string as Go's json.Encoder writes it (HTML-escaped, \\u00XX for controls)."""
    out = "".join(_GO_ESCAPES.get(c) or (c if c >= " " else "\\u%04x" % ord(c)) for c in text)
    return b'"' + out.encode("utf-8") + b'"'


def render_error(status: int, error_type: str, message: str, *, close: bool = False) -> bytes:
    """RAPID's error answer: `{"errorMessage":..,"errorType":..}` and a newline."""
    body = b'{"errorMessage":' + go_json_str(message) + b',"errorType":' + go_json_str(error_type) + b"}\n"
    return render_response(status, body, close=close)
