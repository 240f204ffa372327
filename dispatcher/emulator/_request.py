"""What the emulator's HTTP parser produces: `Request` (one parsed request, its
headers looked up lazily), `BodyPart` (a piece of a streamed request's body)
and `HttpRequestError` (what to answer a peer whose bytes will not parse).

Sans-IO values; the incremental parser that makes them is `_http.RequestParser`,
which re-exports these names.
"""

from __future__ import annotations

from ..errors import HttpError

__all__ = ["Request", "BodyPart", "HttpRequestError", "parse_fields"]


class HttpRequestError(HttpError):
    """The peer sent something we will not parse.  Answer `status`, then close."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{status}: {message}")


_KEYS: dict[bytes, bytes] = {}  # header name -> the b"\r\nname:" searched for


class Request:
    """One parsed request.

    Header lookups are lazy: `header(name)` finds one header in the raw head
    (the hot path needs two or three), `headers` builds the full dict of
    lower-case names to stripped values on first use.  Repeated headers are
    joined with ", " either way.
    """

    __slots__ = (
        "method", "target", "head", "lower", "body", "keep_alive", "too_large", "trailers", "declared_length",
        "streaming", "_headers",
    )  # fmt: skip

    def __init__(
        self,
        method: bytes,
        target: bytes,
        head: bytes,
        lower: bytes,
        body: bytes,
        keep_alive: bool,
        too_large: bool = False,
        trailers: dict[bytes, bytes] | None = None,
        declared_length: int | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.head = head  # request line and header lines, each ending in CRLF
        self.lower = lower  # the same, lower-cased, for case-insensitive search
        self.body = body
        self.keep_alive = keep_alive
        self.too_large = too_large
        self.trailers = trailers
        self.declared_length = declared_length
        # A streamed response (Lambda-Runtime-Function-Response-Mode: streaming):
        # produced at its head; the body follows as BodyPart items.
        self.streaming = False
        self._headers: dict[bytes, bytes] | None = None

    def header(self, name: bytes) -> bytes | None:
        """Value of header `name` (lower-case), or None."""
        key = _KEYS.get(name)
        if key is None:
            key = _KEYS.setdefault(name, b"\r\n" + name + b":")
        lower = self.lower
        i = lower.find(key)
        if i < 0:
            return None
        if lower.find(key, i + 1) >= 0:
            return self.headers.get(name)
        start = i + len(key)
        return self.head[start : lower.find(b"\r\n", start)].strip(b" \t")

    @property
    def headers(self) -> dict[bytes, bytes]:
        if self._headers is None:
            self._headers = parse_fields(self.head.split(b"\r\n")[1:-1], "header")
        return self._headers

    def __repr__(self) -> str:
        return f"Request({self.method!r}, {self.target!r}, body={len(self.body)}B, too_large={self.too_large})"


class BodyPart:
    """A piece of a streamed request's body, as it arrives; `end` on the last
    (then `request.trailers` holds the trailers, lower-case names)."""

    __slots__ = ("request", "data", "end")

    def __init__(self, request: Request, data: bytes, end: bool = False) -> None:
        self.request = request
        self.data = data
        self.end = end

    # What the server loop reads off any parsed item.
    @property
    def keep_alive(self) -> bool:
        return self.request.keep_alive

    @property
    def method(self) -> bytes:
        return self.request.method

    @property
    def target(self) -> bytes:
        return self.request.target

    def __repr__(self) -> str:
        return f"BodyPart({len(self.data)}B, end={self.end})"


def parse_fields(lines: list[bytes], what: str) -> dict[bytes, bytes]:
    """Header (or trailer) lines to a dict of lower-case names; repeats joined with ", "."""
    fields: dict[bytes, bytes] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not name or name[-1] in b" \t" or name[0] in b" \t":
            # obs-fold continuation lines start with whitespace: refused, as RFC 9112 allows.
            raise HttpRequestError(400, f"malformed {what} line {line[:80]!r}: expected 'Name: value'")
        name = name.lower()
        value = value.strip(b" \t")
        old = fields.get(name)
        fields[name] = value if old is None else old + b", " + value
    return fields
