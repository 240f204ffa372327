"""Sans-IO HTTP/1.1 response parser for the Runtime API client.

Feed bytes (or read straight into `writable()` and call `advance()`), pull a
`Response` with `next()`; call `eof()` when the peer closes the connection.
Every response framing RFC 9112 section 6 allows a server is understood:

- Content-Length: the body is read into one buffer allocated from the
  length, so a 6 MB event costs one allocation and no re-copies (the hot
  path: Lambda sends Content-Length up to 2,048 bytes);
- Transfer-Encoding: chunked (what Lambda sends above 2,048 bytes, see
  docs/runtime-api.md "RAPID on the wire"): sizes in either hex case, chunk
  extensions ignored, trailer fields read and ignored.  Each chunk's data is
  read straight into the body buffer as well;
- neither: no body for 1xx, 204 and 304, else the body runs until the
  connection closes (`eof()` completes it).

1xx interim responses are skipped.  Header blocks, chunk-size lines and
bodies are bounded; anything malformed raises HttpError quoting the
offending bytes, so a broken peer is a clear error, never a hang and never a
silently truncated body.
"""

from __future__ import annotations

from dispatcher.errors import HttpError
from dispatcher.http_head import parse_head as _parse_head

__all__ = ["Response", "ResponseParser", "MAX_HEAD", "MAX_BODY", "MAX_CHUNK_LINE"]

MAX_HEAD = 64 * 1024  # status line + header fields (and a trailer section), like RAPID's own limits
MAX_BODY = 64 * 1024 * 1024  # far above Lambda's 6 MB event limit
MAX_CHUNK_LINE = 4096  # a chunk-size line with its extensions, as Go's net/http
_SCRATCH = 64 * 1024
_SHOW = 60  # bytes of offending input quoted in an error
_HEX = b"0123456789abcdefABCDEF"

# Body framing of the response being received (once its head is parsed).
_LENGTH = 0  # Content-Length (or no body)
_CHUNKED = 1
_UNTIL_CLOSE = 2
_INTERIM = object()  # a 1xx response was skipped


class Response:
    """One parsed response.  `headers` keys are lower-case; `body` is a bytearray
    (`b""` for a 204 or 304, which have none)."""

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


def _show(data: bytes | bytearray | memoryview) -> str:
    """The offending bytes for an error message: repr, cut short."""
    shown = repr(bytes(data[:_SHOW]))
    return shown if len(data) <= _SHOW else f"{shown}... ({len(data)} bytes)"


_AGAIN_MAX = 256  # the longest body a repeated response is remembered with, whole


def _chunk_size(line: bytes | bytearray) -> int:
    """The size on a chunk-size line (`1*HEXDIG [BWS ; chunk-ext]`)."""
    if line and len(line) <= 15 and not line.strip(_HEX):
        return int(line, 16)  # the common case: hex digits alone
    digits = line.split(b";", 1)[0].rstrip(b" \t")
    if not digits or digits.strip(_HEX) or len(digits.lstrip(b"0")) > 15:
        raise HttpError(f"bad chunk size line {_show(line)}: expected hex digits, then optional ;extensions")
    return int(digits, 16)


def _check_trailers(section: bytes) -> None:
    for line in section.split(b"\r\n"):
        name, sep, _ = line.partition(b":")
        if not sep or not name or name[:1] in b" \t" or name[-1:] in b" \t":
            raise HttpError(f"bad trailer line {_show(line)} after the last chunk")


def _buffer(n: int) -> bytearray:
    """A buffer for a large body: dispatcher/bigbuf.py reuses one that is
    free (imported here, on first use: no cost at cold start)."""
    from dispatcher.bigbuf import take

    return take(n)


class ResponseParser:
    """Incremental parser for a stream of responses on one connection."""

    __slots__ = (
        "max_head", "max_body", "_buf", "_head", "_body", "_have", "_scratch",
        "_mode", "_keep", "_crlf", "_trailer", "_memo", "_again",
    )

    def __init__(self, max_head: int = MAX_HEAD, max_body: int = MAX_BODY) -> None:
        self.max_head = max_head
        self.max_body = max_body
        self._buf = bytearray()
        self._head: tuple[int, str, dict[str, str]] | None = None
        self._body: bytearray | None = None
        self._have = 0  # bytes of _body filled; _body is full when _have == len(_body)
        self._scratch: bytearray | None = None
        self._mode = _LENGTH
        self._keep = True
        self._crlf = False  # chunked: the CRLF after a chunk's data is due
        self._trailer = False  # chunked: the last chunk came, the trailer section is due
        # The last two header blocks parsed, each followed by its parse and
        # its body length (-1: framed otherwise, see _length).
        self._memo: tuple = (None, None, -1, None, None, -1)
        # A small response that repeated a remembered header block, whole:
        # (its bytes, status, reason, headers, body, keep-alive).  The same
        # bytes again (the 202 of every post, until its Date changes) are the
        # same response: taken with one comparison.
        self._again: tuple | None = None

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
        else:  # what feed() does here: append (a full _body takes no more)
            self._buf += memoryview(self._scratch)[:n]  # type: ignore[arg-type]

    def _length(self, head: tuple[int, str, dict[str, str], bool]) -> int:
        """The body length of a response framed by Content-Length alone
        (checked); -1 for any other framing (chunked, until close, none, 1xx)."""
        headers = head[2]
        cl = headers.get("content-length")
        if "transfer-encoding" in headers or cl is None or head[0] < 200:
            return -1
        if not (cl.isascii() and cl.isdigit()) or len(cl) > 18:
            raise HttpError(f"bad Content-Length {cl[:40]!r}")
        n = int(cl)
        if n > self.max_body:
            raise HttpError(f"response body of {n} bytes exceeds {self.max_body}")
        return n

    def next(self) -> Response | None:
        """A complete response, or None when more bytes are needed."""
        again = self._again
        if again is not None and self._head is None and self._buf.startswith(again[0]):
            del self._buf[: len(again[0])]
            return Response(again[1], again[2], dict(again[3]), bytearray(again[4]), again[5])
        while self._head is None:
            buf = self._buf
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                # +3: the buffer may end inside the CRLFCRLF of a head at the limit.
                if len(buf) > self.max_head + 3:
                    raise HttpError(f"response header block exceeds {self.max_head} bytes")
                return None
            if end > self.max_head:
                raise HttpError(f"response header block exceeds {self.max_head} bytes")
            raw = buf[:end]
            memo = self._memo
            start = end + 4
            last = None
            if raw == memo[0]:
                # A header block seen one or two responses ago (the 202 of
                # every post, between /next answers): its parse again, with a
                # dict of its own, and its body length already checked.
                last, n = memo[1], memo[2]
                head = (last[0], last[1], dict(last[2]), last[3])
            elif raw == memo[3]:
                last, n = memo[4], memo[5]
                head = (last[0], last[1], dict(last[2]), last[3])
                # First again: the blocks seen in turn (a /next answer, a
                # post's 202) both stay remembered.
                self._memo = (raw, last, n, memo[0], memo[1], memo[2])
            else:
                head = _parse_head(raw)
                n = self._length(head)
                self._memo = (raw, head, n, memo[0], memo[1], memo[2])
            status, headers = head[0], head[2]
            if n < 0:  # not framed by a Content-Length alone (or a 1xx)
                got = self._other_framing(head, start)
                if got is _INTERIM:
                    continue
                return got  # type: ignore[return-value]
            if len(buf) - start >= n:
                # The common case: the whole response arrived in one read.
                small = buf[start : start + n]  # one copy (a bytearray, like every other body)
                if last is not None and n <= _AGAIN_MAX:  # a repeated head: its next repeat is likely whole
                    self._again = (bytes(buf[: start + n]), status, head[1], last[2], bytes(small), head[3])
                del buf[: start + n]
                return Response(status, head[1], headers, small, head[3])
            self._keep = head[3]
            del buf[:start]
            self._head = head[:3]
            body = _buffer(n)
            take = min(n, len(buf))
            with memoryview(buf) as mv:
                body[:take] = mv[:take]
            del buf[:take]
            self._body, self._have = body, take
            break
        else:
            if self._mode:  # not _LENGTH (0): the Content-Length path pays one test
                if self._mode == _CHUNKED:
                    return self._chunks()
                self._take_until_close()
                return None
        assert self._body is not None
        if self._have < len(self._body):
            return None
        return self._done()

    def eof(self) -> Response | None:
        """The peer closed the connection: the response whose body the close
        ends, if one was being received; otherwise None (a response cut short
        keeps its status and headers visible through `head`)."""
        if self._head is None and self._buf:
            got = self.next()
            if got is not None:
                return got
        if self._head is None or self._mode != _UNTIL_CLOSE:
            return None
        self._take_until_close()
        return self._done()

    # -- the rarer framings -------------------------------------------------
    def _done(self) -> Response:
        assert self._head is not None and self._body is not None
        status, reason, headers = self._head
        body, keep = self._body, self._keep
        self._head, self._body, self._have = None, None, 0
        self._mode, self._crlf, self._trailer = _LENGTH, False, False
        return Response(status, reason, headers, body, keep)

    def _other_framing(self, head: tuple[int, str, dict[str, str], bool], start: int) -> Response | object | None:
        """Start a response not framed by Content-Length; _INTERIM when it was
        a 1xx, skipped (the caller then parses the final response)."""
        buf = self._buf
        status, headers = head[0], head[2]
        if status < 200:
            if status == 101:
                raise HttpError(f"unexpected {status} {head[1]!r}: no protocol switch was requested")
            del buf[:start]  # an interim response: the final one follows
            return _INTERIM
        self._keep = head[3]
        te = headers.get("transfer-encoding")
        if status == 204 or status == 304:  # never a body (RFC 9112 section 6.3)
            del buf[:start]
            return Response(status, head[1], headers, b"", self._keep)
        if te is not None:
            if "content-length" in headers:
                raise HttpError(
                    f"response has both Transfer-Encoding {te[:40]!r} and Content-Length "
                    f"{headers['content-length'][:40]!r}; RFC 9112 section 6.3 allows only one"
                )
            if te != "chunked" and te.strip(" \t").lower() != "chunked":
                raise HttpError(f"unsupported Transfer-Encoding {te[:40]!r}: only 'chunked' is understood")
            mode = _CHUNKED
        else:
            mode = _UNTIL_CLOSE
            self._keep = False
        del buf[:start]
        self._head, self._mode = head[:3], mode
        self._body, self._have = bytearray(), 0
        return self._chunks() if mode == _CHUNKED else self._take_until_close()

    def _take_until_close(self) -> None:
        body, buf = self._body, self._buf
        assert body is not None
        if len(body) + len(buf) > self.max_body:
            raise HttpError(
                f"response body (delimited by the connection close) exceeds {self.max_body} bytes; "
                f"it continues {_show(buf)}"
            )
        body += buf
        buf.clear()
        self._have = len(body)
        return None

    def _chunks(self) -> Response | None:
        """Advance through chunk-size lines, chunk data and the trailer section."""
        buf = self._buf
        body = self._body
        assert body is not None
        pos = 0  # bytes of buf consumed, deleted once on the way out
        try:
            while self._have == len(body):
                if self._crlf:
                    if len(buf) - pos < 2 or buf[pos] != 13 or buf[pos + 1] != 10:
                        if len(buf) - pos < 2 and buf[pos:] in (b"", b"\r"):
                            return None
                        raise HttpError(
                            f"chunk data longer than its declared size, or not followed by CRLF: "
                            f"after {len(body)} body bytes came {_show(buf[pos:])}"
                        )
                    pos += 2
                    self._crlf = False
                if self._trailer:
                    if buf.startswith(b"\r\n", pos):
                        pos += 2
                        return self._done()
                    end = buf.find(b"\r\n\r\n", pos)
                    if end < 0:
                        if len(buf) - pos > self.max_head + 3:
                            raise HttpError(f"trailer section exceeds {self.max_head} bytes: {_show(buf[pos:])}")
                        return None
                    _check_trailers(bytes(buf[pos:end]))  # read and ignored
                    pos = end + 4
                    return self._done()
                eol = buf.find(b"\r\n", pos)
                if eol < 0 or eol - pos > MAX_CHUNK_LINE:
                    if eol >= 0 or len(buf) - pos > MAX_CHUNK_LINE:
                        raise HttpError(f"chunk size line longer than {MAX_CHUNK_LINE} bytes: {_show(buf[pos:])}")
                    return None
                size = _chunk_size(buf[pos:eol])
                pos = eol + 2
                if size == 0:
                    self._trailer = True
                    continue
                total = len(body) + size
                if total > self.max_body:
                    raise HttpError(
                        f"chunked response body exceeds {self.max_body} bytes: {len(body)} bytes, "
                        f"then a chunk of {size}"
                    )
                take = min(size, len(buf) - pos)
                if not body:  # the first chunk: one allocation (RAPID sends a single one)
                    if take == size:
                        self._body = body = buf[pos : pos + size]
                    else:
                        self._body = body = _buffer(size)
                        body[:take] = memoryview(buf)[pos : pos + take]
                else:
                    body += memoryview(buf)[pos : pos + take]
                    if take < size:
                        body += bytes(size - take)
                pos += take
                self._have = total - size + take
                self._crlf = True
            return None
        finally:
            if pos:
                del buf[:pos]
