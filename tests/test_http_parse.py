"""Unit tests for dispatcher/http_parse.py, the sans-IO HTTP/1.1 response parser.

Tables of (raw response, expected) cases fed whole, split at every byte, one
byte at a time and through writable()/advance(); malformed input must raise
HttpError (never another exception), and limits are enforced on the head
alone, before any body is buffered.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.errors import HttpError, ProtocolError
from dispatcher.http_parse import MAX_BODY, MAX_HEAD, Response, ResponseParser

KiB = 1024

Expected = tuple[int, str, dict[str, str], bytes, bool]


def summary(r: Response) -> Expected:
    return r.status, r.reason, r.headers, bytes(r.body), r.keep_alive


def finish(p: ResponseParser, out: list[Expected]) -> list[Expected]:
    """The peer closes: a body delimited by the close ends; nothing may be left."""
    r = p.eof()
    if r is not None:
        out.append(summary(r))
    assert not p.in_progress, "bytes left over after the last response"
    return out


def parse_chunks(chunks: list[bytes], **limits: int) -> list[Expected]:
    p = ResponseParser(**limits)
    out = []
    for chunk in chunks:
        p.feed(chunk)
        while (r := p.next()) is not None:
            out.append(summary(r))
    return finish(p, out)


def parse_reads(data: bytes, rng: random.Random, max_read: int, **limits: int) -> list[Expected]:
    """Parse the way the client reads a socket: recv_into(writable()), advance(n)."""
    p = ResponseParser(**limits)
    out = []
    pos = 0
    while pos < len(data):
        with p.writable() as buf:
            assert len(buf) > 0
            n = min(len(buf), rng.randint(1, max_read), len(data) - pos)
            buf[:n] = data[pos : pos + n]
        p.advance(n)
        pos += n
        while (r := p.next()) is not None:
            out.append(summary(r))
    return finish(p, out)


# (name, raw, expected responses)
VALID: list[tuple[str, bytes, list[Expected]]] = [
    ("next_event",
     b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
     b"Lambda-Runtime-Aws-Request-Id: 8476a536\r\nLambda-Runtime-Deadline-Ms: 1700000000123\r\n"
     b"Content-Length: 15\r\n\r\n{\"name\":\"Ada\"}\n",
     [(200, "OK", {"content-type": "application/json", "lambda-runtime-aws-request-id": "8476a536",
                   "lambda-runtime-deadline-ms": "1700000000123", "content-length": "15"},
       b'{"name":"Ada"}\n', True)]),
    ("accepted", b'HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{"status":"OK"}\n',
     [(202, "Accepted", {"content-length": "16"}, b'{"status":"OK"}\n', True)]),
    ("content_length_zero", b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
     [(202, "Accepted", {"content-length": "0"}, b"", True)]),
    ("content_length_absent", b"HTTP/1.1 204 No Content\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n",
     [(204, "No Content", {"date": "Mon, 01 Jan 2024 00:00:00 GMT"}, b"", True)]),
    ("no_headers", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", [(200, "OK", {"content-length": "0"}, b"", True)]),
    ("no_reason", b"HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx", [(200, "", {"content-length": "1"}, b"x", True)]),
    ("empty_reason", b"HTTP/1.1 204 \r\n\r\n", [(204, "", {}, b"", True)]),
    ("reason_with_spaces", b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 2\r\n\r\n{}",
     [(413, "Request Entity Too Large", {"content-length": "2"}, b"{}", True)]),
    ("http_1_0", b"HTTP/1.0 500 Internal Server Error\r\nConnection: close\r\n\r\n",
     [(500, "Internal Server Error", {"connection": "close"}, b"", False)]),
    ("header_names_case_insensitive",
     b"HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 3\r\nlambda-runtime-trace-id: Root=1\r\nX-MiXeD: v\r\n\r\nabc",
     [(200, "OK", {"content-length": "3", "lambda-runtime-trace-id": "Root=1", "x-mixed": "v"}, b"abc", True)]),
    ("header_value_whitespace_and_colons",
     b"HTTP/1.1 204 OK\r\nX-A:   spaced \t\r\nX-B:no-space\r\nX-Url: http://h:9001/x\r\nX-Empty:\r\n\r\n",
     [(204, "OK", {"x-a": "spaced", "x-b": "no-space", "x-url": "http://h:9001/x", "x-empty": ""}, b"", True)]),
    ("header_value_latin1", b"HTTP/1.1 204 OK\r\nX-Name: caf\xe9\r\n\r\n",
     [(204, "OK", {"x-name": "caf\xe9"}, b"", True)]),
    ("body_with_crlfcrlf", b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n\r\n\r\n\r\n\r\n",
     [(200, "OK", {"content-length": "8"}, b"\r\n\r\n\r\n\r\n", True)]),
    ("binary_body", b"HTTP/1.1 200 OK\r\nContent-Length: 256\r\n\r\n" + bytes(range(256)),
     [(200, "OK", {"content-length": "256"}, bytes(range(256)), True)]),
    ("content_length_leading_zeros", b"HTTP/1.1 200 OK\r\nContent-Length: 003\r\n\r\nabc",
     [(200, "OK", {"content-length": "003"}, b"abc", True)]),
    ("connection_close", b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
     [(200, "OK", {"connection": "close", "content-length": "2"}, b"ok", False)]),
    ("connection_close_any_case", b"HTTP/1.1 200 OK\r\nconnection: Close\r\n\r\n",
     [(200, "OK", {"connection": "Close"}, b"", False)]),
    ("connection_keep_alive", b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
     [(200, "OK", {"connection": "keep-alive", "content-length": "0"}, b"", True)]),
    ("connection_close_in_a_list", b"HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n",
     [(200, "OK", {"connection": "Upgrade, CLOSE", "content-length": "0"}, b"", False)]),
    ("http_1_0_default_close", b"HTTP/1.0 202 Accepted\r\nContent-Length: 2\r\n\r\nok",
     [(202, "Accepted", {"content-length": "2"}, b"ok", False)]),
    ("http_1_0_keep_alive", b"HTTP/1.0 202 Accepted\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok",
     [(202, "Accepted", {"connection": "Keep-Alive", "content-length": "2"}, b"ok", True)]),
    ("two_responses",
     b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext",
     [(202, "Accepted", {"content-length": "2"}, b"ok", True), (200, "OK", {"content-length": "4"}, b"next", True)]),
    ("three_responses_no_bodies",
     b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
     b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n",
     [(202, "Accepted", {"content-length": "0"}, b"", True), (204, "No Content", {}, b"", True),
      (400, "Bad Request", {"connection": "close"}, b"", False)]),
    # -- chunked (RFC 9112 section 7.1) -------------------------------------
    ("chunked_rapid_single_chunk",
     b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"b\r\n{\"a\":\"bcd\"}\r\n0\r\n\r\n",
     [(200, "OK", {"content-type": "application/json", "transfer-encoding": "chunked"}, b'{"a":"bcd"}', True)]),
    ("chunked_many_chunks_hex_either_case",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"1a\r\n" + b"x" * 26 + b"\r\n1A\r\n" + b"y" * 26 + b"\r\n001\r\nz\r\n0\r\n\r\n",
     [(200, "OK", {"transfer-encoding": "chunked"}, b"x" * 26 + b"y" * 26 + b"z", True)]),
    ("chunked_extensions_ignored",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"3;name=value\r\nabc\r\n2 ; a ; b=\"q;uo\\\"ted\"\r\nde\r\n0;last\r\n\r\n",
     [(200, "OK", {"transfer-encoding": "chunked"}, b"abcde", True)]),
    ("chunked_trailers_ignored",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
     b"4\r\nbody\r\n0\r\nX-Checksum: 1234\r\nLambda-Runtime-Function-Error-Type: Function.X\r\n\r\n",
     [(200, "OK", {"transfer-encoding": "chunked", "trailer": "X-Checksum"}, b"body", True)]),
    ("chunked_empty_body", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     [(200, "OK", {"transfer-encoding": "chunked"}, b"", True)]),
    ("chunked_any_case", b"HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
     [(200, "OK", {"transfer-encoding": "Chunked"}, b"ok", True)]),
    ("chunked_data_with_crlf_and_hex",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n\r\n0\r\n\r\n\r\n0\r\n\r\n",
     [(200, "OK", {"transfer-encoding": "chunked"}, b"\r\n0\r\n\r\n", True)]),
    ("chunked_then_connection_close",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nok\r\n0\r\n\r\n",
     [(200, "OK", {"transfer-encoding": "chunked", "connection": "close"}, b"ok", False)]),
    ("chunked_between_length_framed",
     b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
     b"HTTP/1.1 202 Accepted\r\nContent-Length: 3\r\n\r\nyes",
     [(202, "Accepted", {"content-length": "2"}, b"ok", True),
      (200, "OK", {"transfer-encoding": "chunked"}, b"abc", True),
      (202, "Accepted", {"content-length": "3"}, b"yes", True)]),
    # -- neither header: 1xx/204/304 have no body, others run to the close ----
    ("until_close", b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"big\":\"event\"}\r\n\r\nHTTP/1.1 x",
     [(200, "OK", {"content-type": "application/json"}, b'{"big":"event"}\r\n\r\nHTTP/1.1 x', False)]),
    ("until_close_empty", b"HTTP/1.1 200 OK\r\n\r\n", [(200, "OK", {}, b"", False)]),
    ("until_close_http_1_0", b"HTTP/1.0 500 Internal Server Error\r\n\r\noops",
     [(500, "Internal Server Error", {}, b"oops", False)]),
    ("no_body_304_then_more", b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
     [(304, "Not Modified", {"etag": "x"}, b"", True), (202, "Accepted", {"content-length": "0"}, b"", True)]),
    ("interim_1xx_skipped",
     b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
     b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok",
     [(202, "Accepted", {"content-length": "2"}, b"ok", True)]),
]
VALID_IDS = [v[0] for v in VALID]


@pytest.mark.parametrize("name,raw,expected", VALID, ids=VALID_IDS)
def test_valid_response_whole(name: str, raw: bytes, expected: list[Expected]) -> None:
    assert parse_chunks([raw]) == expected


@pytest.mark.parametrize("name,raw,expected", VALID, ids=VALID_IDS)
def test_valid_response_split_at_every_byte(name: str, raw: bytes, expected: list[Expected]) -> None:
    for cut in range(len(raw) + 1):
        assert parse_chunks([raw[:cut], raw[cut:]]) == expected, f"cut {cut}"


@pytest.mark.parametrize("name,raw,expected", VALID, ids=VALID_IDS)
def test_valid_response_one_byte_at_a_time(name: str, raw: bytes, expected: list[Expected]) -> None:
    assert parse_chunks([raw[i : i + 1] for i in range(len(raw))]) == expected


def test_all_valid_responses_back_to_back_through_writable() -> None:
    persistent = [(raw, exp) for _, raw, exp in VALID if all(e[4] for e in exp)]
    stream = b"".join(raw for raw, _ in persistent)
    expected = [e for _, exp in persistent for e in exp]
    for seed in range(5):
        rng = random.Random(seed)
        assert parse_reads(stream, rng, max_read=rng.choice([1, 13, 512])) == expected


def test_no_response_before_its_last_byte() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    for cut in range(len(raw)):
        p = ResponseParser()
        p.feed(raw[:cut])
        assert p.next() is None, f"cut {cut}"
        assert p.in_progress == (cut > 0)


def test_head_is_visible_before_the_body_arrives() -> None:
    p = ResponseParser()
    p.feed(b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r1\r\nContent-Length: 10\r\n\r\nabc")
    assert p.next() is None
    assert p.head == (200, "OK", {"lambda-runtime-aws-request-id": "r1", "content-length": "10"})
    assert p.in_progress
    p.feed(b"defghij")
    r = p.next()
    assert r is not None and bytes(r.body) == b"abcdefghij"
    assert p.head is None and not p.in_progress
    assert "200" in repr(r) and "10 bytes" in repr(r)


@pytest.mark.parametrize("size", [64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 6 * 1024 * 1024])
def test_large_body_through_writable_and_advance(size: int) -> None:
    rng = random.Random(size)
    body = rng.randbytes(size)
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n".encode()
    tail = b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"
    stream = head + body + tail
    expected = [(200, "OK", {"content-type": "application/octet-stream", "content-length": str(size)}, body, True),
                (202, "Accepted", {"content-length": "2"}, b"ok", True)]
    assert parse_reads(stream, rng, max_read=256 * KiB) == expected
    cuts = sorted({0, len(stream), *(rng.randrange(len(stream)) for _ in range(10))})
    assert parse_chunks([stream[a:b] for a, b in zip(cuts, cuts[1:])]) == expected


def test_large_body_is_read_straight_into_one_buffer() -> None:
    """After the head, writable() offers the whole rest of the body: one allocation, no re-copies."""
    size = 6 * 1024 * 1024
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode()
    body = random.Random(7).randbytes(size)
    p = ResponseParser()
    p.feed(head + body[:100])
    assert p.next() is None
    with p.writable() as room:
        assert len(room) == size - 100
        room[:] = body[100:]
    p.advance(size - 100)
    r = p.next()
    assert r is not None and r.body == body


@pytest.mark.parametrize("cl", ["0", "1", "10"])
def test_body_at_max_body_is_accepted(cl: str) -> None:
    n = int(cl)
    assert parse_chunks([f"HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\n".encode() + b"x" * n], max_body=10) == [
        (200, "OK", {"content-length": cl}, b"x" * n, True)]


def test_body_over_max_body_is_refused_on_the_head_alone() -> None:
    p = ResponseParser(max_body=10)
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n")
    with pytest.raises(HttpError, match="11 bytes exceeds 10"):
        p.next()
    p = ResponseParser()
    p.feed(f"HTTP/1.1 200 OK\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode())
    with pytest.raises(HttpError, match="exceeds"):
        p.next()


# ---------------------------------------------------------------------------
# Malformed responses: (name, raw, message fragment)

MALFORMED: list[tuple[str, bytes, str]] = [
    ("empty_status_line", b"\r\n\r\n", "bad status line"),
    ("garbage", b"garbage\r\n\r\n", "bad status line"),
    ("not_http", b"HTTX/1.1 200 OK\r\n\r\n", "bad status line"),
    ("http2", b"HTTP/2 200 OK\r\n\r\n", "bad status line"),
    ("lowercase_http", b"http/1.1 200 OK\r\n\r\n", "bad status line"),
    ("code_only", b"200 OK\r\n\r\n", "bad status line"),
    ("no_code", b"HTTP/1.1\r\n\r\n", "bad status line"),
    ("two_spaces", b"HTTP/1.1  200 OK\r\n\r\n", "bad status code"),
    ("code_glued", b"HTTP/1.1200 OK\r\n\r\n", "bad status code"),
    ("code_two_digits", b"HTTP/1.1 20 OK\r\n\r\n", "bad status code"),
    ("code_four_digits", b"HTTP/1.1 2000 OK\r\n\r\n", "bad status code"),
    ("code_letters", b"HTTP/1.1 abc OK\r\n\r\n", "bad status code"),
    ("code_negative", b"HTTP/1.1 -20 OK\r\n\r\n", "bad status code"),
    ("code_plus", b"HTTP/1.1 +20 OK\r\n\r\n", "bad status code"),
    ("header_no_colon", b"HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n", "bad header line"),
    ("header_empty_name", b"HTTP/1.1 200 OK\r\n: value\r\n\r\n", "bad header line"),
    ("header_space_before_colon", b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", "bad header line"),
    ("header_obs_fold", b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  continued\r\n\r\n", "bad header line"),
    ("header_leading_tab", b"HTTP/1.1 200 OK\r\n\tX-A: 1\r\n\r\n", "bad header line"),
    ("content_length_negative", b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
    ("content_length_letters", b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "bad Content-Length"),
    ("content_length_empty", b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", "bad Content-Length"),
    ("content_length_float", b"HTTP/1.1 200 OK\r\nContent-Length: 1.5\r\n\r\n", "bad Content-Length"),
    ("content_length_plus", b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", "bad Content-Length"),
    ("content_length_hex", b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", "bad Content-Length"),
    ("content_length_list", b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", "bad Content-Length"),
    ("content_length_inner_space", b"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", "bad Content-Length"),
    ("content_length_underscore", b"HTTP/1.1 200 OK\r\nContent-Length: 1_0\r\n\r\n", "bad Content-Length"),
    ("transfer_encoding_identity", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
     "unsupported Transfer-Encoding 'identity'"),
    ("transfer_encoding_gzip_chunked",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "unsupported Transfer-Encoding 'gzip, chunked'"),
    ("transfer_encoding_two_fields",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     "unsupported Transfer-Encoding 'chunked, chunked'"),
    ("transfer_encoding_with_length",
     b"HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: chunked\r\nContent-Length: 5\r\n\r\nhello",
     "both Transfer-Encoding 'chunked' and Content-Length '5'"),
    ("chunk_size_not_hex", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
     "bad chunk size line b'zz'"),
    ("chunk_size_empty", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n0\r\n\r\n", "bad chunk size line b''"),
    ("chunk_size_0x", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
     "bad chunk size line b'0x5'"),
    ("chunk_size_negative", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
     "bad chunk size line b'-5'"),
    ("chunk_size_leading_space", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
     "bad chunk size line b' 5'"),
    ("chunk_size_underscore", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n",
     "bad chunk size line b'1_0'"),
    ("chunk_size_too_many_digits",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 16 + b"\r\nx\r\n0\r\n\r\n", "bad chunk size line"),
    ("chunk_longer_than_declared",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", "after 2 body bytes came b'c"),
    ("chunk_without_crlf", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab0\r\n\r\n",
     "not followed by CRLF"),
    ("chunk_bare_lf", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\n0\r\n\r\n", "not followed by CRLF"),
    ("chunk_line_endless",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" + b"e" * 5000, "chunk size line longer than 4096"),
    ("chunk_line_too_long",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" + b"e" * 5000 + b"\r\nhello\r\n0\r\n\r\n",
     "chunk size line longer than 4096"),
    ("trailer_no_colon", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nNoColon\r\n\r\n",
     "bad trailer line b'NoColon'"),
    ("status_101", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", "unexpected 101"),
    ("second_response_bad", b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 2x2 Accepted\r\n\r\n", "bad status code"),
    # str.isdigit() accepts latin-1 superscripts, which int() refuses.
    ("status_superscript", b"HTTP/1.1 \xb200 OK\r\n\r\n", "bad status code"),
    ("content_length_superscript", b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n", "bad Content-Length"),
    # int() refuses more than 4300 digits (int_max_str_digits).
    ("content_length_5000_digits", b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
     "bad Content-Length"),
    # RFC 9112 section 6.3: differing lengths are a framing error.
    ("content_length_conflicting", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nhello",
     "Content-Length"),
]

def raises_http_error(raw: bytes, fragment: str) -> None:
    try:
        parse_chunks([raw])
    except HttpError as exc:
        assert fragment in str(exc), str(exc)
        assert isinstance(exc, ProtocolError)
        return
    except Exception as exc:  # the point of the test: only HttpError may escape
        raise AssertionError(f"{type(exc).__name__} instead of HttpError: {exc}") from exc
    raise AssertionError("no error raised")


@pytest.mark.parametrize("name,raw,fragment", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_response_raises_http_error(name: str, raw: bytes, fragment: str) -> None:
    raises_http_error(raw, fragment)


@pytest.mark.parametrize("name,raw,fragment", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_response_raises_http_error_split_at_every_byte(name: str, raw: bytes, fragment: str) -> None:
    for cut in range(len(raw) + 1):
        with pytest.raises(HttpError, match=fragment):
            parse_chunks([raw[:cut], raw[cut:]])


# ---------------------------------------------------------------------------
# The header-block limit


def head_of(size: int) -> bytes:
    """A response head of exactly `size` bytes before its blank line."""
    base = b"HTTP/1.1 200 OK\r\nX-Pad: "
    return base + b"p" * (size - len(base))


def test_head_at_the_limit_is_accepted_whole() -> None:
    raw = head_of(200) + b"\r\n\r\n"
    assert parse_chunks([raw], max_head=200)[0][0] == 200


def test_head_over_the_limit_is_refused() -> None:
    with pytest.raises(HttpError, match="header block exceeds 200"):
        parse_chunks([head_of(201) + b"\r\n\r\n"], max_head=200)


def test_endless_head_is_refused_without_waiting_for_its_end() -> None:
    p = ResponseParser(max_head=200)
    p.feed(head_of(200))
    assert p.next() is None
    p.feed(b"p" * 4)
    with pytest.raises(HttpError, match="header block exceeds 200"):
        p.next()
    p = ResponseParser()
    for _ in range(MAX_HEAD // 1024 + 1):
        p.feed(b"X-Junk: " + b"j" * 1014 + b"\r\n")
    with pytest.raises(HttpError, match=f"exceeds {MAX_HEAD}"):
        p.next()


def test_head_at_the_limit_is_accepted_at_every_split() -> None:
    raw = head_of(200) + b"\r\n\r\n"
    for cut in range(len(raw) + 1):
        assert parse_chunks([raw[:cut], raw[cut:]], max_head=200)[0][0] == 200, f"cut {cut}"


# ---------------------------------------------------------------------------
# Properties

JUNK = st.binary(max_size=12)


@st.composite
def near_responses(draw: st.DrawFn) -> bytes:
    """Responses built from plausible and hostile pieces, so the fuzz reaches the head's fields."""
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b""]) | JUNK)
    code = draw(st.sampled_from([b"200", b"202", b"000", b"\xb200", b"2 0", b""]) | JUNK)
    reason = draw(st.sampled_from([b" OK", b"", b" "]) | JUNK)
    lines = [version + b" " + code + reason]
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from([b"Content-Length", b"content-length", b"Transfer-Encoding", b"Connection",
                                     b"X-A", b" X-A", b""]) | JUNK)
        sep = draw(st.sampled_from([b": ", b":", b" : ", b"", b":\t"]))
        value = draw(st.sampled_from([b"0", b"5", b"99999999999", b"-1", b"close", b"chunked", b"\xb2", b"\xb9",
                                      b"1 2", b"", b"gzip, chunked", b"Chunked"]) | JUNK)
        lines.append(name + sep + value)
    end = draw(st.sampled_from([b"\r\n\r\n", b"\r\n", b"\n\n", b""]))
    body = draw(st.sampled_from([b"5\r\nhello\r\n0\r\n\r\n", b"5;x=y\r\nhel", b"0\r\nT: 1\r\n\r\n", b"A\r\n"]) | st.binary(max_size=20))
    return b"\r\n".join(lines) + end + body


def feed_all(p: ResponseParser, data: bytes, cuts: list[int]) -> None:
    points = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
    try:
        for a, b in zip(points, points[1:]):
            p.feed(data[a:b])
            while (r := p.next()) is not None:
                assert 0 <= r.status <= 999 and len(r.body) <= p.max_body
        r = p.eof()
        assert r is None or len(r.body) <= p.max_body
    except HttpError:
        pass


@settings(deadline=None, max_examples=300)
@given(data=st.binary(max_size=4096), cuts=st.lists(st.integers(0, 4096), max_size=4),
       max_head=st.sampled_from([16, 100, MAX_HEAD]), max_body=st.sampled_from([0, 10, MAX_BODY]))
def test_arbitrary_bytes_raise_only_http_error(data: bytes, cuts: list[int], max_head: int, max_body: int) -> None:
    feed_all(ResponseParser(max_head=max_head, max_body=max_body), data, cuts)


@settings(deadline=None, max_examples=500)
@given(pieces=st.lists(near_responses(), min_size=1, max_size=3), cuts=st.lists(st.integers(0, 400), max_size=4),
       max_body=st.sampled_from([10, MAX_BODY]))
def test_near_valid_responses_raise_only_http_error(pieces: list[bytes], cuts: list[int], max_body: int) -> None:
    feed_all(ResponseParser(max_body=max_body), b"".join(pieces), cuts)


HEADER_NAME = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"),
                      min_size=1, max_size=12).filter(
    lambda n: n.lower() not in ("content-length", "transfer-encoding", "connection"))
HEADER_VALUE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF), max_size=20)
TOKEN = st.text(st.sampled_from("abcxyzABC019-_!#$%&'*+.^`|~"), min_size=1, max_size=6)
QUOTED = st.text(st.sampled_from('ab ;=\\"\t'), max_size=6).map(
    lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"')


@st.composite
def chunk_ext(draw: st.DrawFn) -> bytes:
    """RFC 9112 section 7.1.1: *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )."""
    out = ""
    for _ in range(draw(st.integers(0, 2))):
        ws = draw(st.sampled_from(["", " ", "\t "]))
        out += ws + ";" + ws + draw(TOKEN)
        if draw(st.booleans()):
            out += ws + "=" + ws + draw(TOKEN | QUOTED)
    return out.encode("latin-1")


@st.composite
def chunked(draw: st.DrawFn, body: bytes) -> bytes:
    """`body` as chunks cut at random points, sizes in random hex case with
    optional leading zeros, random extensions, and maybe a trailer section."""
    points = sorted(set(draw(st.lists(st.integers(1, max(1, len(body) - 1)), max_size=6)))) if len(body) > 1 else []
    bounds = [0, *[p for p in points if p < len(body)], len(body)] if body else [0]
    out = b""
    for a, b in zip(bounds, bounds[1:]):
        size = "%x" % (b - a)
        size = "".join(c.upper() if draw(st.booleans()) else c for c in size)
        size = "0" * draw(st.integers(0, 2)) + size
        out += size.encode() + draw(chunk_ext()) + b"\r\n" + body[a:b] + b"\r\n"
    out += b"0" * draw(st.integers(1, 2)) + draw(chunk_ext()) + b"\r\n"
    for name, value in draw(st.dictionaries(HEADER_NAME, HEADER_VALUE, max_size=3)).items():
        out += f"{name}:{draw(st.sampled_from(['', ' ', chr(9)]))}{value}\r\n".encode("latin-1")
    return out + b"\r\n"


@st.composite
def responses(draw: st.DrawFn, last: bool = False) -> tuple[bytes, Expected]:
    """A valid response framed by Content-Length, chunked, or (last only) the close."""
    framing = draw(st.sampled_from(["length", "chunked", "close"] if last else ["length", "chunked"]))
    status = draw(st.integers(200, 599).filter(lambda s: s not in (204, 304)))
    reason = draw(st.sampled_from(["OK", "Accepted", "Bad Request", ""]))
    headers = draw(st.dictionaries(HEADER_NAME.map(str.lower), HEADER_VALUE, max_size=5))
    body = draw(st.binary(max_size=300) | st.sampled_from([b"0\r\n\r\n", b"\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"]))
    close = draw(st.booleans())
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers.items()]
    expected_headers = dict(headers)
    if framing == "length":
        lines.append(f"Content-Length: {len(body)}")
        expected_headers["content-length"] = str(len(body))
        framed = body
    elif framing == "chunked":
        te = draw(st.sampled_from(["chunked", "Chunked", "CHUNKED"]))
        lines.append(f"{draw(st.sampled_from(['Transfer-Encoding', 'transfer-encoding']))}: {te}")
        expected_headers["transfer-encoding"] = te
        framed = draw(chunked(body))
    else:
        framed = body
    if close:
        lines.append("Connection: close")
        expected_headers["connection"] = "close"
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + framed
    return raw, (status, reason, expected_headers, body, not close and framing != "close")


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[Expected]]:
    rs = draw(st.lists(responses(), max_size=3)) + [draw(responses(last=True))]
    return b"".join(raw for raw, _ in rs), [e for _, e in rs]


@settings(deadline=None, max_examples=400)
@given(stream=streams(), data=st.data())
def test_valid_responses_survive_any_split(stream: tuple[bytes, list[Expected]], data: st.DataObject) -> None:
    raw, expected = stream
    points = data.draw(st.lists(st.integers(0, len(raw)), max_size=8))
    cuts = sorted({0, len(raw), *points})
    assert parse_chunks([raw[a:b] for a, b in zip(cuts, cuts[1:])]) == expected
    seed = data.draw(st.integers(0, 2**32))
    assert parse_reads(raw, random.Random(seed), max_read=data.draw(st.sampled_from([1, 5, 1000]))) == expected


@settings(deadline=None, max_examples=300)
@given(r=responses(), data=st.data())
def test_a_response_cut_short_is_never_complete(r: tuple[bytes, Expected], data: st.DataObject) -> None:
    """Never a silent truncation: a Content-Length or chunked response missing
    its last bytes is not returned, not even when the connection then closes."""
    raw, _ = r
    cut = data.draw(st.integers(0, len(raw) - 1))
    p = ResponseParser()
    p.feed(raw[:cut])
    assert p.next() is None
    assert p.eof() is None
    assert p.in_progress == (cut > 0)


@settings(deadline=None, max_examples=300)
@given(body=st.binary(min_size=1, max_size=200), data=st.data())
def test_chunked_body_over_max_body_is_refused(body: bytes, data: st.DataObject) -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + data.draw(chunked(body))
    limit = data.draw(st.integers(0, len(body) - 1))
    with pytest.raises(HttpError, match=f"exceeds {limit} bytes"):
        parse_chunks([raw], max_body=limit)
    assert parse_chunks([raw], max_body=len(body))[0][3] == body


@st.composite
def near_chunked(draw: st.DrawFn) -> bytes:
    """A chunked response with one piece of its framing made hostile."""
    body = draw(st.binary(max_size=40))
    good = draw(chunked(body))
    piece = draw(st.sampled_from([b"", b"\r\n", b"\n", b"\r", b"0", b"z", b"-1", b"ffffffffffffffffff", b";", b":",
                                  b"0\r\n", b"5\r\nabc", b" "]) | JUNK)
    at = draw(st.integers(0, len(good)))
    mutated = good[:at] + piece + good[at + draw(st.integers(0, 3)):]
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + mutated


@settings(deadline=None, max_examples=500)
@given(raw=near_chunked(), cuts=st.lists(st.integers(0, 200), max_size=4), max_body=st.sampled_from([10, MAX_BODY]))
def test_near_valid_chunked_raises_only_http_error(raw: bytes, cuts: list[int], max_body: int) -> None:
    feed_all(ResponseParser(max_body=max_body), raw, cuts)
