"""Streamed responses (protocol feature `stream`, docs/protocol.md "Streaming").

A handler streams by returning an iterator or generator (sync or async) of
bytes or str instead of a value; `StreamingResponse` adds a content type, and
`http_response()` the HTTP-integration prelude of a function URL:

    def handler(event, context):
        def body():
            yield "first line\n"
            yield b"second line\n"
        return http_response(body(), status_code=200, headers={"content-type": "text/plain"})

Every write becomes a `stream_chunk` frame (cut at CHUNK bytes) as soon as the
handler produces it.  An exception in the middle ends the stream with an
`error` frame: the supervisor posts it as the error trailers.
"""

from __future__ import annotations

import collections.abc as _abc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, Mapping, Sequence

__all__ = [
    "StreamingResponse",
    "http_response",
    "is_stream",
    "HTTP_INTEGRATION_CONTENT_TYPE",
    "CHUNK",
]

HTTP_INTEGRATION_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
PRELUDE_END = b"\0" * 8
CHUNK = 128 * 1024  # the largest stream_chunk an adapter sends (docs/protocol.md)


class StreamingResponse:
    """A streamed body (an iterable or async iterable of bytes/str) and its content type."""

    __slots__ = ("body", "content_type")

    def __init__(self, body: Any, content_type: str | None = None) -> None:
        if isinstance(body, (bytes, bytearray, memoryview, str)):
            body = iter((body,))
        elif not isinstance(body, (_abc.Iterable, _abc.AsyncIterable)):
            raise TypeError(f"StreamingResponse body must be an iterable or async iterable of bytes or str, not {type(body).__name__}")
        self.body = body
        self.content_type = content_type


def http_response(
    body: Any,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    cookies: Sequence[str] | None = None,
) -> StreamingResponse:
    """A function-URL response: the JSON prelude (status, headers, cookies),
    8 NUL bytes, then `body` streamed as it is produced."""
    import json

    if isinstance(status_code, bool) or not isinstance(status_code, int) or not 100 <= status_code <= 599:
        raise ValueError(f"status_code must be an int in 100..599, got {status_code!r}")
    prelude: dict[str, Any] = {"statusCode": status_code}
    if headers:
        prelude["headers"] = dict(headers)
    if cookies:
        prelude["cookies"] = list(cookies)
    head = json.dumps(prelude, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if b"\0" in head:
        raise ValueError("the HTTP response prelude (status, headers, cookies) must not contain NUL characters")
    return StreamingResponse(_prefixed(head + PRELUDE_END, body), HTTP_INTEGRATION_CONTENT_TYPE)


def _prefixed(first: bytes, body: Any) -> Any:
    if isinstance(body, (_abc.AsyncIterable)) and not isinstance(body, _abc.Iterable):
        async def agen() -> Any:
            yield first
            async for piece in body:
                yield piece

        return agen()

    def gen() -> Any:
        yield first
        if isinstance(body, (bytes, bytearray, memoryview, str)):
            yield body
        else:
            yield from body

    return gen()


def is_stream(value: Any) -> bool:
    """Does a handler's return value ask for a streamed response?

    Iterators (generators included) and async iterators do; lists, tuples,
    dicts and other plain values are JSON as before.
    """
    return isinstance(value, (StreamingResponse, _abc.Iterator, _abc.AsyncIterator))


def as_bytes(piece: Any) -> bytes | bytearray | memoryview:
    if isinstance(piece, (bytes, bytearray)):
        return piece
    if isinstance(piece, str):
        return piece.encode("utf-8")
    if isinstance(piece, memoryview):
        return piece.cast("B") if piece.c_contiguous else piece.tobytes()
    raise TypeError(f"a streamed response yields bytes or str, not {type(piece).__name__}")


def pieces(value: Any) -> tuple[Iterable[Any], str | None]:
    """(sync iterable of bytes-like pieces, content type) for a stream value.

    An async iterator is driven to completion piece by piece on a private
    event loop, so each piece is still sent as soon as it is produced.
    """
    content_type = None
    if isinstance(value, StreamingResponse):
        content_type, value = value.content_type, value.body
    if isinstance(value, _abc.AsyncIterable) and not isinstance(value, _abc.Iterable):
        return _drive_async(value), content_type
    return value, content_type


def _drive_async(aiter: Any) -> Any:
    import asyncio

    loop = asyncio.new_event_loop()
    it = aiter.__aiter__()
    try:
        while True:
            try:
                yield loop.run_until_complete(it.__anext__())
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            try:
                loop.run_until_complete(aclose())
            except Exception:
                pass
        loop.close()
