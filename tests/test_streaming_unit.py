"""The sans-IO parts of streaming, without processes or sockets: the streamed
POST as a value (parsed back by the emulator's independent request parser),
the Stream state machine (docs/protocol.md "Streaming"), and the
HTTP-integration prelude splitter, each input split at every byte."""

from __future__ import annotations

import base64
import json

import pytest

from dispatcher.answers import Failure
from dispatcher.emulator._http import BodyPart, Request, RequestParser
from dispatcher.emulator.prelude import PreludeError, PreludeSplitter, parse_prelude
from dispatcher.runtime_api import (
    STREAM_END,
    Invocation,
    StreamingResponseRequest,
    stream_chunk,
    stream_error_end,
)
from dispatcher.streaming import DISCARDING, ENDED, OPEN, PENDING, Stream, bad_content_type

HOST = "127.0.0.1:9001"


def _inv(invocation_id: str | None = "inv-9") -> Invocation:
    return Invocation("req-1", 0, "arn", None, None, None, None, invocation_id, "application/json", b"{}")


def _parse(wire: bytes, cut: int | None = None) -> tuple[Request, bytes, dict[bytes, bytes]]:
    parser = RequestParser()
    pieces = [wire] if cut is None else [wire[:cut], wire[cut:]]
    head: Request | None = None
    body = b""
    end = None
    for piece in pieces:
        parser.feed(piece)
        while (item := parser.next_request()) is not None:
            if isinstance(item, BodyPart):
                body += item.data
                if item.end:
                    end = item
            else:
                head = item
    assert head is not None and end is not None and parser.buffered == 0
    return head, body, head.trailers or {}


def _join(buffers: list[object]) -> bytes:
    return b"".join(bytes(b) for b in buffers)  # type: ignore[call-overload]


def test_streamed_post_is_what_the_runtime_api_expects() -> None:
    head = _join(StreamingResponseRequest("req-1", "text/plain", "inv-9").encode(HOST))
    wire = head + _join(stream_chunk(b"hello ")) + _join(stream_chunk(b"")) + _join(stream_chunk(bytes(70000))) + STREAM_END
    for cut in [None, *range(0, len(head) + 20)]:
        req, body, trailers = _parse(wire, cut)
        assert req.method == b"POST" and req.target == b"/2018-06-01/runtime/invocation/req-1/response"
        assert req.streaming
        assert req.header(b"lambda-runtime-function-response-mode") == b"streaming"
        assert req.header(b"transfer-encoding") == b"chunked"
        assert req.header(b"trailer") == b"Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"
        assert req.header(b"content-type") == b"text/plain"
        assert req.header(b"lambda-runtime-invocation-id") == b"inv-9"
        assert req.header(b"content-length") is None
        assert body == b"hello " + bytes(70000) and trailers == {}


def test_error_trailers_carry_the_mapped_type_and_base64_error_document() -> None:
    head = _join(StreamingResponseRequest("req-1").encode(HOST))
    wire = head + _join(stream_chunk(b"part")) + stream_error_end("my_crate::Boom", "it broke", ["at x"])
    req, body, trailers = _parse(wire)
    assert req.header(b"content-type") == b"application/octet-stream"
    assert body == b"part"
    assert trailers[b"lambda-runtime-function-error-type"] == b"Function.Boom"
    doc = json.loads(base64.b64decode(trailers[b"lambda-runtime-function-error-body"]))
    assert doc == {"errorMessage": "it broke", "errorType": "my_crate::Boom", "stackTrace": ["at x"]}
    assert b"Lambda-Runtime-Function-Error-Type: Runtime.InvokeTimeout" in stream_error_end(
        "Sandbox.Timedout", "Task timed out", header_type="Runtime.InvokeTimeout"
    )


# -- the Stream state machine -------------------------------------------------------


def test_nothing_is_sent_before_the_first_byte_so_a_failure_is_an_ordinary_error() -> None:
    s = Stream(_inv(), "text/plain", HOST)
    assert s.chunk(b"") == [] and s.state is PENDING
    assert s.fail(Failure("Function.Early", "no bytes")) == []
    assert not s.started and s.state is ENDED and s.failure is not None and s.failure.error_type == "Function.Early"


def test_first_chunk_carries_the_head_then_chunks_then_the_end() -> None:
    s = Stream(_inv(None), None, HOST)
    first = _join(s.chunk(b"abc"))
    assert first.startswith(b"POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\n")
    assert b"Lambda-Runtime-Invocation-Id" not in first and first.endswith(b"\r\n\r\n3\r\nabc\r\n")
    assert s.state is OPEN and s.started
    assert _join(s.chunk(b"de")) == b"2\r\nde\r\n"
    assert s.end() == [STREAM_END] and s.state is ENDED and s.sent == 5 and s.failure is None


def test_an_empty_body_sends_the_head_and_the_last_chunk_together() -> None:
    s = Stream(_inv(), "text/plain", HOST)
    out = _join(s.end())
    assert out.startswith(b"POST ") and out.endswith(b"\r\n\r\n0\r\n\r\n") and s.started


def test_failure_after_the_first_byte_ends_with_trailers() -> None:
    s = Stream(_inv(), None, HOST)
    s.chunk(b"x")
    (tail,) = s.fail(Failure("Sandbox.Timedout", "Task timed out after 3.00 seconds", header_type="Runtime.InvokeTimeout"))
    assert tail.startswith(b"0\r\nLambda-Runtime-Function-Error-Type: Runtime.InvokeTimeout\r\n")
    assert s.state is ENDED and s.started


def test_over_the_limit_the_body_is_cut_exactly_and_the_rest_dropped() -> None:
    s = Stream(_inv(), None, HOST, limit=10)
    s.chunk(b"123456")
    out = s.chunk(b"7890ABCD")
    wire = _join(out)
    assert wire.startswith(b"4\r\n7890\r\n0\r\nLambda-Runtime-Function-Error-Type: Function.ResponseSizeTooLarge\r\n")
    assert s.sent == 10 and s.cut and s.state is DISCARDING
    assert s.chunk(b"more") == [] and s.end() == [] and s.state is ENDED
    assert s.failure is not None and s.failure.error_type == "Function.ResponseSizeTooLarge"
    s2 = Stream(_inv(), None, HOST, limit=4)
    s2.chunk(b"1234")
    (only,) = s2.chunk(b"5")  # exactly at the limit: no data left, just the error end
    assert only.startswith(b"0\r\nLambda-Runtime-Function-Error-Type: Function.ResponseSizeTooLarge")
    assert s2.fail(Failure("X", "y")) == []  # already ended by the cut


def test_abandoned_stream_drops_the_rest() -> None:
    s = Stream(_inv(), None, HOST)
    s.chunk(b"a")
    s.abandon()
    assert s.chunk(b"b") == [] and s.end() == [] and s.state is ENDED


@pytest.mark.parametrize("value", ["", "text/plain\r\nX-Evil: 1", "a\nb", "bell\x07", "x" * 1025, "caf\u00e9"])
def test_content_types_that_cannot_be_a_header_are_refused(value: str) -> None:
    assert bad_content_type(value) is not None


def test_ordinary_content_types_pass() -> None:
    for value in ("text/plain", "text/html; charset=utf-8", "application/vnd.awslambda.http-integration-response"):
        assert bad_content_type(value) is None


# -- the prelude ---------------------------------------------------------------------

PRELUDE = b'{"statusCode":201,"headers":{"content-type":"text/html","x-a":"1"},"cookies":["a=1","b=2"]}'


def test_prelude_split_at_every_byte() -> None:
    data = PRELUDE + bytes(8) + b"<p>body\x00with NUL</p>"
    for cut in range(len(data) + 1):
        sp = PreludeSplitter()
        p1, b1 = sp.feed(data[:cut])
        p2, b2 = sp.feed(data[cut:])
        prelude = p1 or p2
        assert prelude is not None and (p1 is None or p2 is None)
        assert prelude.status == 201 and prelude.cookies == ["a=1", "b=2"]
        assert ("content-type", "text/html") in prelude.headers and ("x-a", "1") in prelude.headers
        assert b1 + b2 == b"<p>body\x00with NUL</p>"


def test_prelude_defaults() -> None:
    p = parse_prelude(b"{}")
    assert p.status == 200 and p.headers == [("Content-Type", "application/octet-stream")] and p.cookies == []
    assert PreludeSplitter().finish().status == 200  # an empty stream


@pytest.mark.parametrize(
    "prelude,fragment",
    [
        (b"not json", "not JSON"),
        (b"[1]", "JSON object"),
        (b'{"statusCode":"200"}', "statusCode"),
        (b'{"statusCode":99}', "statusCode"),
        (b'{"headers":{"a b":"1"}}', "HTTP token"),
        (b'{"headers":{"x":"1\\r\\nevil: 1"}}', "CR, LF"),
        (b'{"cookies":"a=1"}', "array"),
    ],
)
def test_bad_preludes_say_what_is_wrong(prelude: bytes, fragment: str) -> None:
    with pytest.raises(PreludeError, match=fragment):
        PreludeSplitter().feed(prelude + bytes(8))


def test_prelude_without_its_nuls_is_refused() -> None:
    sp = PreludeSplitter(limit=16)
    with pytest.raises(PreludeError, match="8 NUL"):
        sp.feed(b"x" * 40)
    sp = PreludeSplitter()
    sp.feed(b'{"statusCode":200}')
    with pytest.raises(PreludeError, match="ended before"):
        sp.finish()
