"""The emulator's sans-IO HTTP request parser: no sockets, every input split at every byte."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.emulator._http import BodyPart, HttpRequestError, Request, RequestParser

GET = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
POST = (
    b"POST /2018-06-01/runtime/invocation/abc/response HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type:application/json \r\nLambda-Runtime-Invocation-Id: inv-1\r\nContent-Length: 11\r\n\r\n"
    b'{"ok":true}'
)
CHUNKED = (
    b"POST /2018-06-01/runtime/invocation/abc/response HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\n"
    b"Lambda-Runtime-Function-Error-Type: Function.X\r\n\r\n"
)
# A streamed response: the same body, handed out piece by piece as it arrives.
STREAMED = CHUNKED.replace(b"chunked\r\n", b"chunked\r\nLambda-Runtime-Function-Response-Mode: streaming\r\n", 1)


def parse_all(data: bytes, cuts: list[int], **limits: int) -> list[Request]:
    """The requests in `data`; a streamed one with its parts joined back into its body."""
    parser = RequestParser(**limits)
    out: list[Request] = []
    prev = 0
    for cut in [*cuts, len(data)]:
        parser.feed(data[prev:cut])
        prev = cut
        while (req := parser.next_request()) is not None:
            if isinstance(req, BodyPart):
                assert req.request is out[-1] and not req.request.body and req.request.streaming
                _PARTS.setdefault(id(out[-1]), []).append(req)
                continue
            out.append(req)
    assert parser.buffered == 0
    for r in out:
        if r.streaming:
            got = _PARTS.pop(id(r))
            assert got[-1].end and not got[-1].data and all(not p.end for p in got[:-1])
            r.body = b"".join(p.data for p in got)
    return out


_PARTS: dict[int, list[BodyPart]] = {}


def summary(reqs: list[Request]) -> list[tuple[bytes, bytes, bytes, bool, bool]]:
    return [(r.method, r.target, r.body, r.keep_alive, r.too_large) for r in reqs]


@pytest.mark.parametrize(
    "data", [GET, POST, CHUNKED, STREAMED, GET + POST + CHUNKED + STREAMED + GET], ids=["get", "post", "chunked", "streamed", "all"]
)
def test_every_single_split_gives_the_same_requests(data: bytes) -> None:
    whole = parse_all(data, [])
    for cut in range(1, len(data)):
        assert summary(parse_all(data, [cut])) == summary(whole), cut
    # and byte by byte
    assert summary(parse_all(data, list(range(1, len(data))))) == summary(whole)


def test_fields() -> None:
    (get,) = parse_all(GET, [])
    assert (get.method, get.target, get.body, get.keep_alive) == (b"GET", b"/2018-06-01/runtime/invocation/next", b"", True)
    (post,) = parse_all(POST, [])
    assert post.headers[b"content-type"] == b"application/json"  # blanks around the value stripped
    assert post.headers[b"lambda-runtime-invocation-id"] == b"inv-1"
    assert post.body == b'{"ok":true}' and post.declared_length == 11
    (chunked,) = parse_all(CHUNKED, [])
    assert chunked.body == b"hello world!"
    assert chunked.trailers == {b"lambda-runtime-function-error-type": b"Function.X"}
    (streamed,) = parse_all(STREAMED, [])
    assert streamed.streaming and not chunked.streaming
    assert streamed.body == b"hello world!"
    assert streamed.trailers == {b"lambda-runtime-function-error-type": b"Function.X"}


def test_a_streamed_body_comes_out_as_it_arrives() -> None:
    """Each piece of chunk data is handed out at once, before the chunk (or the body) is complete."""
    parser = RequestParser()
    head, rest = STREAMED.split(b"\r\n\r\n", 1)
    parser.feed(head + b"\r\n\r\n")
    req = parser.next_request()
    assert isinstance(req, Request) and req.streaming and req.body == b""
    parser.feed(b"5\r\nhel")
    part = parser.next_request()
    assert isinstance(part, BodyPart) and part.data == b"hel" and not part.end
    assert parser.next_request() is None
    parser.feed(b"lo\r\n")
    part = parser.next_request()
    assert isinstance(part, BodyPart) and part.data == b"lo"
    parser.feed(b"0\r\n\r\n")
    end = parser.next_request()
    assert isinstance(end, BodyPart) and end.end and end.request is req and req.trailers == {}


def test_a_streamed_body_has_no_6mb_limit() -> None:
    """The 6 MB payload limit is for buffered responses; a stream goes on (the supervisor enforces 200 MiB)."""
    parser = RequestParser(max_body=10)
    parser.feed(STREAMED.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + b"20\r\n" + b"x" * 32 + b"\r\n0\r\n\r\n")
    got = []
    while (item := parser.next_request()) is not None:
        got.append(item)
    assert not got[0].too_large
    assert b"".join(p.data for p in got[1:]) == b"x" * 32 and got[-1].end


def test_connection_header_and_http10() -> None:
    (req,) = parse_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", [])
    assert req.keep_alive is False
    (req,) = parse_all(b"GET / HTTP/1.0\r\n\r\n", [])
    assert req.keep_alive is False
    (req,) = parse_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", [])
    assert req.keep_alive is True


def test_repeated_headers_are_joined() -> None:
    (req,) = parse_all(b"GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\n\r\n", [])
    assert req.headers[b"x-a"] == b"1, 2"


@pytest.mark.parametrize(
    ("data", "status", "fragment"),
    [
        (b"GARBAGE\r\n\r\n", 400, "malformed request line"),
        (b"GET / HTTP/2.0\r\n\r\n", 400, "unsupported HTTP version"),
        (b"get / HTTP/1.1\r\n\r\n", 400, "malformed request line"),
        (b"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "malformed header line"),
        (b"GET / HTTP/1.1\r\nName : v\r\n\r\n", 400, "malformed header line"),
        (b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", 400, "malformed header line"),
        (b"GET / HTTP/1.1\r\nA: 1\nB: 2\r\n\r\n", 400, "bare LF"),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "invalid Content-Length"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n", 400, "invalid Content-Length"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "both"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "only 'chunked'"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "invalid chunk size"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400, "chunk data not followed by CRLF"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(data: bytes, status: int, fragment: str) -> None:
    parser = RequestParser()
    parser.feed(data)
    with pytest.raises(HttpRequestError) as info:
        while parser.next_request() is not None:
            pass
    assert info.value.status == status and fragment in info.value.message


def test_head_and_line_limits_are_enforced_before_the_head_ends() -> None:
    parser = RequestParser(max_header_block=1024, max_line=256)
    parser.feed(b"GET / HTTP/1.1\r\nX: " + b"a" * 300)  # no end of line yet
    with pytest.raises(HttpRequestError, match="line longer than 256"):
        parser.next_request()
    parser = RequestParser(max_header_block=1024, max_line=256)
    parser.feed(b"GET / HTTP/1.1\r\n" + b"X: aaaa\r\n" * 200)
    with pytest.raises(HttpRequestError, match="head larger than 1024"):
        parser.next_request()
    # the real limits: 64 KiB block
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 10_000 + b"\r\n" + b"X: y\r\n" * 12_000)
    with pytest.raises(HttpRequestError, match="larger than 65536"):
        parser.next_request()


def test_too_large_body_is_refused_early_and_then_skipped() -> None:
    body = b"x" * 101
    data = b"POST /r HTTP/1.1\r\nContent-Length: 101\r\n\r\n" + body + GET
    for cut in (20, 45, 60, 141, 150):
        reqs = parse_all(data, [cut], max_body=100)
        assert summary(reqs) == [(b"POST", b"/r", b"", True, True), (b"GET", b"/2018-06-01/runtime/invocation/next", b"", True, False)]
        assert reqs[0].declared_length == 101
    # refused as soon as the head is complete, before any body byte arrived
    parser = RequestParser(max_body=100)
    parser.feed(b"POST /r HTTP/1.1\r\nContent-Length: 101\r\n\r\n")
    first = parser.next_request()
    assert first is not None and first.too_large
    # far above: close instead of draining
    parser = RequestParser(max_body=100, discard_limit=1000)
    parser.feed(b"POST /r HTTP/1.1\r\nContent-Length: 5000\r\n\r\n")
    with pytest.raises(HttpRequestError) as info:
        parser.next_request()
    assert info.value.status == 413


def test_too_large_chunked_body_is_refused_midway_and_skipped() -> None:
    data = b"POST /r HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"40\r\n" + b"y" * 64 + b"\r\n" + b"40\r\n" + b"z" * 64 + b"\r\n0\r\n\r\n" + GET
    for cut in range(1, len(data), 7):
        reqs = parse_all(data, [cut], max_body=100)
        assert [(r.target, r.too_large, r.body) for r in reqs] == [(b"/r", True, b""), (b"/2018-06-01/runtime/invocation/next", False, b"")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(GET + POST + CHUNKED) - 1), max_size=8, unique=True))
def test_random_splits(cuts: list[int]) -> None:
    data = GET + POST + CHUNKED
    assert summary(parse_all(data, sorted(cuts))) == summary(parse_all(data, []))
