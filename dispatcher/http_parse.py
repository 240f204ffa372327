"""Sans-IO HTTP/1.1 response parser for the Runtime API client.

Feed bytes (or read straight into `writable()` and call `advance()`), pull a
`Response` with `next()`.  Only what the Runtime API uses is supported: a
status line, header fields, and a body sized by Content-Length (or none).
The body of a large response is read into one buffer allocated from its
Content-Length, so a 6 MB event costs one allocation and no re-copies.
Header blocks are bounded; anything malformed raises HttpError.
"""

from __future__ import annotations

from dispatcher.errors import HttpError

__all__ = ["Response", "ResponseParser", "MAX_HEAD", "MAX_BODY"]

MAX_HEAD = 64 * 1024  # status line + header fields, like RAPID's own limits
MAX_BODY = 64 * 1024 * 1024  # far above Lambda's 6 MB event limit
_SCRATCH = 64 * 1024


class Response:
    """One parsed response.  `headers` keys are lower-case."""

    __slots__ = ("status", "reason", "headers", "body", "keep_alive")

    def __init__(
        self,
        status: int,
        reason: str,
        headers: dict[str, str],
        body: bytes | bytearray,
        keep_alive: bool,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive

    def __repr__(self) -> str:
        return f"Response({self.status} {self.reason!r}, {len(self.body)} bytes)"


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    text = head.decode("latin-1")  # latin-1 decodes every byte
    lines = text.split("\r\n")
    status_line = lines[0]
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HttpError(f"bad status line {status_line[:80]!r}")
    code = parts[1]
    if len(code) != 3 or not (code.isascii() and code.isdigit()):
        raise HttpError(f"bad status code in {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name[0] in " \t" or name[-1] in " \t":
            if not line:
                continue
            raise HttpError(f"bad header line {line[:80]!r}")
        key = name.lower()
        value = value.strip(" \t")
        if key in headers and key == "content-length" and headers[key] != value:
            # RFC 9112 section 6.3: differing lengths are a framing error.
            raise HttpError(f"conflicting Content-Length fields {headers[key]!r} and {value!r}")
        headers[key] = value
    return int(code), parts[2] if len(parts) > 2 else "", headers


class ResponseParser:
    """Incremental parser for a stream of responses on one connection."""

    __slots__ = ("max_head", "max_body", "_buf", "_head", "_body", "_have", "_scratch")

    def __init__(self, max_head: int = MAX_HEAD, max_body: int = MAX_BODY) -> None:
        self.max_head = max_head
        self.max_body = max_body
        self._buf = bytearray()
        self._head: tuple[int, str, dict[str, str]] | None = None
        self._body: bytearray | None = None
        self._have = 0
        self._scratch: bytearray | None = None

    @property
    def in_progress(self) -> bool:
        """True when some bytes of a response have arrived but not all."""
        return bool(self._buf) or self._head is not None

    @property
    def head(self) -> tuple[int, str, dict[str, str]] | None:
        """The status and headers of the response being received, once parsed."""
        return self._head

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._body is not None:
            take = min(len(self._body) - self._have, len(data))
            self._body[self._have : self._have + take] = data[:take]
            self._have += take
            if take < len(data):
                self._buf += data[take:]
        else:
            self._buf += data

    def writable(self) -> memoryview:
        """A buffer to recv_into directly; report the count with advance()."""
        if self._body is not None and self._have < len(self._body):
            return memoryview(self._body)[self._have :]
        if self._scratch is None:
            self._scratch = bytearray(_SCRATCH)
        return memoryview(self._scratch)

    def advance(self, n: int) -> None:
        if self._body is not None and self._have < len(self._body):
            self._have += n
        else:
            assert self._scratch is not None
            with memoryview(self._scratch) as mv:
                self.feed(mv[:n])

    def next(self) -> Response | None:
        """A complete response, or None when more bytes are needed."""
        if self._head is None:
            buf = self._buf
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                # +3: the buffer may end inside the CRLFCRLF of a head at the limit.
                if len(buf) > self.max_head + 3:
                    raise HttpError(f"response header block exceeds {self.max_head} bytes")
                return None
            if end > self.max_head:
                raise HttpError(f"response header block exceeds {self.max_head} bytes")
            head = _parse_head(bytes(buf[:end]))
            headers = head[2]
            if "transfer-encoding" in headers:
                raise HttpError(
                    f"unsupported Transfer-Encoding {headers['transfer-encoding']!r} "
                    "(the Runtime API sends Content-Length bodies)"
                )
            cl = headers.get("content-length", "0")
            if not (cl.isascii() and cl.isdigit()) or len(cl) > 18:
                raise HttpError(f"bad Content-Length {cl[:40]!r}")
            n = int(cl)
            if n > self.max_body:
                raise HttpError(f"response body of {n} bytes exceeds {self.max_body}")
            start = end + 4
            if len(buf) - start >= n:
                # The common case: the whole response arrived in one read.
                small = bytes(buf[start : start + n])
                del buf[: start + n]
                keep = headers.get("connection", "").lower() != "close"
                return Response(head[0], head[1], headers, small, keep)
            del buf[:start]
            self._head = head
            body = bytearray(n)
            take = min(n, len(buf))
            body[:take] = buf[:take]
            del buf[:take]
            self._body, self._have = body, take
        assert self._body is not None
        if self._have < len(self._body):
            return None
        status, reason, headers = self._head
        body = self._body
        self._head, self._body, self._have = None, None, 0
        keep = headers.get("connection", "").lower() != "close"
        return Response(status, reason, headers, body, keep)
