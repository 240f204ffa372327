"""The emulator's response bytes: Go net/http's header order, Date, framing and JSON, as RAPID sends them."""

from __future__ import annotations

import calendar
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.emulator._render import (
    CLASSIC_CHUNKS,
    accepted,
    chunks_of,
    date_line,
    frame_body,
    go_json_str,
    render_error,
    render_response,
    with_connection_close,
)


def split(raw: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


def dechunk(data: bytes) -> tuple[list[int], bytes]:
    sizes, body = [], b""
    while True:
        line, _, data = data.partition(b"\r\n")
        size = int(line, 16)
        assert line == b"%x" % size  # lower-case hex, no extensions, as Go writes it
        sizes.append(size)
        if size == 0:
            assert data == b"\r\n"  # no trailers
            return sizes[:-1], body
        body, data = body + data[:size], data[size:]
        assert data[:2] == b"\r\n"
        data = data[2:]


def test_accepted_is_rapids_202() -> None:
    lines, body = split(accepted())
    assert lines[0] == b"HTTP/1.1 202 Accepted"
    assert [line.split(b":")[0] for line in lines[1:]] == [b"Content-Type", b"Date", b"Content-Length"]
    assert lines[1] == b"Content-Type: application/json" and lines[3] == b"Content-Length: 16"
    assert body == b'{"status":"OK"}\n'


def test_date_is_imf_fixdate_of_now() -> None:
    line = date_line(calendar.timegm((2026, 12, 1, 20, 26, 28, 0, 0, 0)))
    assert line == b"Date: Tue, 01 Dec 2026 20:26:28 GMT\r\n"
    before = int(time.time())
    parsed = calendar.timegm(time.strptime(date_line().decode()[6:-2], "%a, %d %b %Y %H:%M:%S GMT"))
    assert before <= parsed <= time.time() + 1


def test_error_has_go_json_and_newline_and_sorted_headers() -> None:
    raw = render_error(400, "InvalidRequestID", "Invalid request ID")
    lines, body = split(raw)
    assert lines[0] == b"HTTP/1.1 400 Bad Request"
    assert [line.split(b":")[0] for line in lines[1:]] == [b"Content-Type", b"Date", b"Content-Length"]
    assert body == b'{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}\n'
    assert int(lines[3].split(b": ")[1]) == len(body) == 69


def test_closing_error_says_connection_close_after_content_length() -> None:
    lines, _ = split(render_error(400, "InvalidRequest", "bad", close=True))
    assert [line.split(b":")[0] for line in lines[1:]] == [b"Content-Type", b"Date", b"Content-Length", b"Connection"]


def test_handler_headers_are_sorted_like_go() -> None:
    lines, _ = split(render_response(200, b"{}", headers=[(b"Lambda-Extension-Identifier", b"x")]))
    assert [line.split(b":")[0] for line in lines[1:]] == [b"Content-Type", b"Lambda-Extension-Identifier", b"Date", b"Content-Length"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ('quote " and \\', b'"quote \\" and \\\\"'),
        ("a\nb\tc\rd", b'"a\\nb\\tc\\rd"'),
        ("<&>", b'"\\u003c\\u0026\\u003e"'),
        ("\x01\x1f", b'"\\u0001\\u001f"'),
        ("caf\u00e9 \u2028", b'"caf\xc3\xa9 \\u2028"'),
    ],
)
def test_go_json_strings(text: str, expected: bytes) -> None:
    assert go_json_str(text) == expected
    assert json.loads(expected) == text


@pytest.mark.parametrize("n", [0, 1, 2047, 2048])
def test_bodies_up_to_go_buffer_get_content_length(n: int) -> None:
    body = b"a" * n
    assert b"".join(frame_body(body)) == b"Content-Length: %d\r\n\r\n" % n + body


@pytest.mark.parametrize("n", [2049, 100_000, 6_000_000])
def test_larger_bodies_are_one_chunk_in_classic_mode(n: int) -> None:
    body = bytes(range(256)) * (n // 256) + b"z" * (n % 256)
    framed = b"".join(frame_body(body))
    head, _, data = framed.partition(b"\r\n\r\n")
    assert head == b"Transfer-Encoding: chunked"
    assert dechunk(data) == ([n], body)


def test_six_million_bytes_frame_exactly_as_recorded() -> None:
    framed = b"".join(frame_body(b"a" * 6_000_000))
    assert framed.startswith(b"Transfer-Encoding: chunked\r\n\r\n5b8d80\r\n")
    assert framed.endswith(b"a\r\n0\r\n\r\n")


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=2049, max_value=200_000), st.integers(min_value=512, max_value=40_000))
def test_chunk_policy_cuts_every_byte_once(n: int, size: int) -> None:
    body = (b"0123456789" * (n // 10 + 1))[:n]
    head, _, data = b"".join(frame_body(body, chunks_of(size))).partition(b"\r\n\r\n")
    sizes, got = dechunk(data)
    assert got == body and max(sizes) <= size and all(s == size for s in sizes[:-1])


def test_a_policy_that_loses_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="do not cut 3000 bytes"):
        frame_body(b"x" * 3000, lambda n: (n - 1,))
    assert CLASSIC_CHUNKS(5000) == (5000,)


def test_chunked_render_response() -> None:
    raw = render_response(200, b"b" * 3000, policy=CLASSIC_CHUNKS)
    lines, data = split(raw)
    assert [line.split(b":")[0] for line in lines[1:]] == [b"Content-Type", b"Date", b"Transfer-Encoding"]
    assert dechunk(data) == ([3000], b"b" * 3000)


def test_connection_close_goes_where_go_puts_it() -> None:
    lines, _ = split(with_connection_close(accepted()))
    assert [line.split(b":")[0] for line in lines[1:]] == [b"Content-Type", b"Date", b"Content-Length", b"Connection"]
    chunked = with_connection_close(render_response(200, b"c" * 3000, policy=CLASSIC_CHUNKS))
    lines, data = split(chunked)
    assert [line.split(b":")[0] for line in lines[1:]] == [b"Content-Type", b"Date", b"Connection", b"Transfer-Encoding"]
    assert dechunk(data) == ([3000], b"c" * 3000)
    closing = render_error(400, "X", "y", close=True)
    assert with_connection_close(closing) == closing
