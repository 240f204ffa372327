"""Sans-IO HTTP/1.1 request parsing and response writing for the emulator.

The parser never touches a socket: feed it bytes with `feed()`, then call
`next_request()` until it answers None (it needs more data).  It understands
exactly what a Lambda runtime sends to the Runtime API: one request at a time
on a keep-alive connection, bodies framed by Content-Length or chunked
(streamed responses).  Everything else is refused with an `HttpRequestError`
that carries the status to answer before closing the connection.

Responses are rendered by `_render`; the values the parser produces (Request,
BodyPart, HttpRequestError) are defined in `_request`; both are re-exported here.

Bodies above `max_body` are refused *early*: as soon as the head (or the
running chunked total) shows the body is too large, a Request with
`too_large=True` and an empty body is produced so that the server can answer
413 at once, and the rest of the body is read and thrown away so that the
connection stays usable (a synchronous client that writes the whole body
before reading must not get a reset instead of the 413).
"""

from __future__ import annotations

import re

from ._render import render_error, render_response  # re-exported: the parser's users answer with them
from ._request import BodyPart, HttpRequestError, Request, parse_fields  # re-exported: the values it produces

__all__ = [
    "Request",
    "BodyPart",
    "RequestParser",
    "HttpRequestError",
    "render_response",
    "render_error",
    "MAX_HEADER_BLOCK",
    "MAX_LINE",
    "MAX_PAYLOAD",
]

MAX_HEADER_BLOCK = 64 * 1024  # request line + headers, like Go's 1 MiB but tighter
MAX_LINE = 16 * 1024  # any single line of the head, and a chunk-size line
MAX_PAYLOAD = 6 * 1024 * 1024 + 100  # RAPID interop.MaxPayloadSize
# Above this, a too-large body is not worth draining: answer and close.
DISCARD_LIMIT = 64 * 1024 * 1024

_HEAD = 0
_BODY = 1  # reading Content-Length bytes
_CHUNK_SIZE = 2
_CHUNK_DATA = 3
_CHUNK_CRLF = 4
_TRAILERS = 5
_DISCARD = 6  # skipping the rest of a refused Content-Length body

_METHOD_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# A well-formed request head: request line, then token-named header lines.
_HEAD_RE = re.compile(rb"([A-Z]+) ([^ \r\n]+) HTTP/1\.([01])\r\n(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*\r\n)*")


def _field(head: bytes, lower: bytes, key: bytes) -> bytes | None:
    """The value of a framing header; a repeated one is refused (request smuggling)."""
    i = lower.find(key)
    if i < 0:
        return None
    if lower.find(key, i + 1) >= 0:
        raise HttpRequestError(400, f"header {key[2:-1].decode()} given twice: send it once")
    start = i + len(key)
    return head[start : head.find(b"\r\n", start)].strip(b" \t")


def _diagnose_head(head: bytes) -> None:
    """Raise the 400 that says what is wrong with a head the fast match refused."""
    if b"\n" in head.replace(b"\r\n", b""):
        raise HttpRequestError(400, "bare LF in request head: lines must end with CRLF")
    request_line, *lines = head[:-2].split(b"\r\n")
    method, sp1, rest = request_line.partition(b" ")
    target, sp2, version = rest.partition(b" ")
    if not sp1 or not sp2 or not target or b" " in target or not _METHOD_CHARS.issuperset(method) or not method:
        raise HttpRequestError(400, f"malformed request line {request_line[:80]!r}: expected 'METHOD /path HTTP/1.1'")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise HttpRequestError(400, f"unsupported HTTP version {version[:20]!r}: send HTTP/1.1")
    parse_fields(lines, "header")  # raises for the bad line
    raise HttpRequestError(400, "malformed request head")


_STREAMING_MODE = b"\r\nlambda-runtime-function-response-mode:"


class RequestParser:
    """Incremental HTTP/1.1 request parser (server side)."""

    def __init__(
        self,
        *,
        max_header_block: int = MAX_HEADER_BLOCK,
        max_line: int = MAX_LINE,
        max_body: int = MAX_PAYLOAD,
        discard_limit: int = DISCARD_LIMIT,
    ) -> None:
        self._buf: bytes | bytearray = b""
        self._state = _HEAD
        self._scan_from = 0  # where to resume looking for the end of the head
        self._max_head = max_header_block
        self._max_line = max_line
        self._max_body = max_body
        self._discard_limit = discard_limit
        self._pending: Request | None = None  # head parsed, body still coming
        self._remaining = 0  # body/chunk bytes still expected, or to discard
        self._chunks = bytearray()
        self._discarding = False  # chunked body refused: parse but drop the data

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed (for tests and diagnostics)."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        # The buffer stays an immutable bytes object while requests arrive whole
        # (the hot path: no copies); it becomes a bytearray once data accumulates.
        buf = self._buf
        if not buf:
            self._buf = data
        elif type(buf) is bytes:
            acc = bytearray(buf)
            acc += data
            self._buf = acc
        else:
            buf += data

    def _consume(self, n: int) -> None:
        buf = self._buf
        if isinstance(buf, bytes):
            self._buf = buf[n:]
        else:
            del buf[:n]

    def next_request(self) -> Request | BodyPart | None:
        """The next complete request, or None when more bytes are needed.

        A streamed request (response mode `streaming`, chunked) comes out at
        its head, then as BodyPart items, one per piece of chunk data read,
        the last with `end` set."""
        while True:
            state = self._state
            if state == _HEAD:
                if not self._buf:
                    return None
                return self._parse_head()
            if state == _BODY:
                return self._read_length_body()
            if state == _DISCARD:
                if not self._discard():
                    return None
                continue
            return self._read_chunked()

    # -- head ---------------------------------------------------------------

    def _parse_head(self) -> Request | None:
        buf = self._buf
        end = buf.find(b"\r\n\r\n", self._scan_from)
        if end < 0:
            self._check_incomplete_head()
            return None
        self._scan_from = 0
        if end + 4 > self._max_head:
            raise HttpRequestError(400, f"request head larger than {self._max_head} bytes")
        head = bytes(buf[: end + 2])  # keep the last CRLF: every line then ends with one
        rest_at = end + 4
        # One C-level match validates the whole head; only a bad head takes the
        # slow path, which names what is wrong with it.
        match = _HEAD_RE.fullmatch(head)
        if match is None:
            _diagnose_head(head)
        if end > self._max_line and max(len(line) for line in head.split(b"\r\n")) > self._max_line:
            raise HttpRequestError(400, f"request head line longer than {self._max_line} bytes")
        assert match is not None  # _diagnose_head raised otherwise
        method, target, minor = match.groups()
        keep_alive = minor == b"1"
        lower = head.lower()
        if b"\r\nconnection:" in lower:
            i = lower.find(b"\r\nconnection:")
            conn = lower[i : lower.find(b"\r\n", i + 2)]
            if b"close" in conn:
                keep_alive = False
            elif b"keep-alive" in conn:
                keep_alive = True
        cl = _field(head, lower, b"\r\ncontent-length:")
        te = _field(head, lower, b"\r\ntransfer-encoding:")
        if te is not None:
            if cl is not None:
                raise HttpRequestError(400, "both Transfer-Encoding and Content-Length given: send only one")
            if te.lower() != b"chunked":
                raise HttpRequestError(400, f"unsupported Transfer-Encoding {te[:40]!r}: only 'chunked' is accepted")
            self._consume(rest_at)
            self._pending = Request(method, target, head, lower, b"", keep_alive)
            self._chunks = bytearray()
            self._discarding = False
            self._state = _CHUNK_SIZE
            mode = _field(head, lower, _STREAMING_MODE)
            if mode is not None and mode.lower() == b"streaming":
                self._pending.streaming = True
                self._pending.trailers = {}
                return self._pending
            return self._read_chunked()
        if cl is None:
            self._consume(rest_at)
            return Request(method, target, head, lower, b"", keep_alive)
        if not cl.isdigit() or len(cl) > 18:
            raise HttpRequestError(400, f"invalid Content-Length {cl[:40]!r}: expected one decimal integer")
        length = int(cl)
        if length > self._max_body:
            self._consume(rest_at)
            if length > self._discard_limit:
                raise HttpRequestError(413, f"request body of {length} bytes is far above the {self._max_body}-byte limit")
            self._remaining = length
            self._state = _DISCARD
            return Request(method, target, head, lower, b"", keep_alive, too_large=True, declared_length=length)
        body_end = rest_at + length
        if len(buf) >= body_end:  # the common case: the whole body came with the head
            body = bytes(buf[rest_at:body_end])
            self._consume(body_end)
            return Request(method, target, head, lower, body, keep_alive, declared_length=length)
        self._consume(rest_at)
        self._pending = Request(method, target, head, lower, b"", keep_alive, declared_length=length)
        self._remaining = length
        self._state = _BODY
        return None

    def _check_incomplete_head(self) -> None:
        buf = self._buf
        n = len(buf)
        if n > self._max_head:
            raise HttpRequestError(400, f"request head larger than {self._max_head} bytes")
        last_nl = buf.rfind(b"\n")
        if n - last_nl - 1 > self._max_line:
            raise HttpRequestError(400, f"request head line longer than {self._max_line} bytes")
        self._scan_from = max(0, n - 3)

    # -- bodies -------------------------------------------------------------

    def _read_length_body(self) -> Request | None:
        buf = self._buf
        need = self._remaining
        if len(buf) < need:
            return None
        req = self._pending
        assert req is not None
        req.body = bytes(buf[:need])
        self._consume(need)
        self._pending = None
        self._state = _HEAD
        return req

    def _discard(self) -> bool:
        buf = self._buf
        take = min(len(buf), self._remaining)
        self._consume(take)
        self._remaining -= take
        if self._remaining:
            return False
        self._state = _HEAD
        return True

    def _read_line(self, what: str) -> bytes | None:
        buf = self._buf
        end = buf.find(b"\r\n")
        if end < 0:
            if len(buf) > self._max_line:
                raise HttpRequestError(400, f"{what} line longer than {self._max_line} bytes")
            return None
        if end > self._max_line:
            raise HttpRequestError(400, f"{what} line longer than {self._max_line} bytes")
        line = bytes(buf[:end])
        self._consume(end + 2)
        return line

    def _read_chunked(self) -> Request | BodyPart | None:
        req = self._pending
        assert req is not None
        streaming = req.streaming
        while True:
            buf = self._buf
            state = self._state
            if state == _CHUNK_SIZE:
                line = self._read_line("chunk-size")
                if line is None:
                    return None
                size_text = line.partition(b";")[0].strip(b" \t")
                try:
                    if not size_text or len(size_text) > 16:
                        raise ValueError
                    size = int(size_text, 16)
                except ValueError:
                    raise HttpRequestError(400, f"invalid chunk size {line[:40]!r}: expected hexadecimal digits") from None
                if size == 0:
                    self._state = _TRAILERS
                    req.trailers = {}
                    continue
                self._remaining = size
                self._state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                take = min(len(buf), self._remaining)
                if take == 0:
                    return None
                if streaming:
                    part = BodyPart(req, bytes(buf[:take]))
                    self._consume(take)
                    self._remaining -= take
                    if self._remaining == 0:
                        self._state = _CHUNK_CRLF
                    return part
                if not self._discarding:
                    self._chunks += buf[:take]
                self._consume(take)
                self._remaining -= take
                if self._remaining == 0:
                    self._state = _CHUNK_CRLF
                if not self._discarding and len(self._chunks) > self._max_body:
                    # Refuse now; keep decoding (and dropping) so the connection survives.
                    self._discarding = True
                    self._chunks = bytearray()
                    return Request(req.method, req.target, req.head, req.lower, b"", req.keep_alive, too_large=True)
            elif state == _CHUNK_CRLF:
                if len(buf) < 2:
                    return None
                if buf[:2] != b"\r\n":
                    raise HttpRequestError(400, "chunk data not followed by CRLF: chunk size and data disagree")
                self._consume(2)
                self._state = _CHUNK_SIZE
            else:  # _TRAILERS
                line = self._read_line("trailer")
                if line is None:
                    return None
                if line:
                    assert req.trailers is not None
                    req.trailers.update(parse_fields([line], "trailer"))
                    continue
                self._state = _HEAD
                self._pending = None
                if streaming:
                    return BodyPart(req, b"", end=True)
                if self._discarding:  # its 413 was handed out already
                    self._discarding = False
                    return self.next_request()
                req.body = bytes(self._chunks)
                self._chunks = bytearray()
                return req
