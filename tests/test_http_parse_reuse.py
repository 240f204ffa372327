"""Large response bodies and buffer reuse in dispatcher/http_parse.py.

A body of 256 KiB or more is read into a buffer from dispatcher/bigbuf.py:
one that an earlier response used is reused once nothing refers to it.  The
client's pattern makes this matter: the next event arrives (GET /next is
pipelined behind the post) while the previous event is still held, so its
body must not be the buffer the next one is read into.
"""

from __future__ import annotations

import random

import pytest

from dispatcher import bigbuf
from dispatcher.http_parse import Response, ResponseParser

KiB = 1024
MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def empty_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bigbuf, "_kept", [])


def content_length(body: bytes) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def chunked(body: bytes, size: int) -> bytes:
    out = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"]
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        out.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
    return b"".join(out) + b"0\r\n\r\n"


def read(p: ResponseParser, data: bytes, rng: random.Random) -> Response:
    """One whole response through recv_into(writable())/advance() in random reads."""
    pos = 0
    got = None
    while pos < len(data):
        with p.writable() as room:
            n = min(len(room), len(data) - pos, rng.randint(1, 512 * KiB))
            room[:n] = data[pos : pos + n]
        p.advance(n)
        pos += n
        r = p.next()
        if r is not None:
            assert got is None and pos == len(data)
            got = r
    assert got is not None
    return got


@pytest.mark.parametrize("framing", ["content-length", "one chunk", "32 KiB chunks"])
def test_a_body_still_held_is_never_read_into_again(framing: str) -> None:
    rng = random.Random(framing)

    def wire(body: bytes) -> bytes:
        if framing == "content-length":
            return content_length(body)
        return chunked(body, len(body) if framing == "one chunk" else 32 * KiB)

    p = ResponseParser()
    events = [rng.randbytes(MiB + rng.randrange(KiB)) for _ in range(6)]
    held: list[Response] = []
    for i, event in enumerate(events):
        resp = read(p, wire(event), rng)
        assert resp.body == event
        held.append(resp)
        if len(held) > 2:  # the client holds the previous event while the next is read
            held.pop(0)
        for r, e in zip(held, events[i + 1 - len(held) : i + 1]):
            assert r.body == e, "a held body was overwritten"


def test_a_released_body_is_read_into_again_without_a_new_buffer() -> None:
    rng = random.Random(5)
    p = ResponseParser()
    first = read(p, content_length(rng.randbytes(2 * MiB)), rng)
    ident = id(first.body)
    del first
    event = rng.randbytes(2 * MiB - 3)
    second = read(p, content_length(event), rng)
    assert id(second.body) == ident and second.body == event and len(second.body) == 2 * MiB - 3
