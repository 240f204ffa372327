"""The real supervisor (`python -m dispatcher run`) against a real socket
server (tests/faulty_api.py) that frames its answers the ways RFC 9112 allows
and RAPID uses: chunked /next bodies (one single chunk as classic Lambda,
32 KiB chunks as Managed Instances, extensions and trailers), bodies delimited
by the connection close, and `Connection: close` on /next and on post answers
(the client reconnects).  Each event must come back byte for byte through the
echo worker; malformed framing must end the supervisor with a message that
quotes the bytes, never hang it.
"""

from __future__ import annotations

import json
import time

import pytest

from faulty_api import Event, Raw, Status
from harness import big_pretty_event
from test_api_faults import accepted_ids, api, runtime, wait_accepted  # noqa: F401 (fixtures)


def event_of(size: int) -> bytes:
    """A JSON event of exactly `size` bytes."""
    return json.dumps({"pad": "x" * (size - 11)}).encode()


def echoed(a, rid: str) -> bytes:  # type: ignore[no-untyped-def]
    (post,) = a.posts(rid)
    assert post.path.endswith("/response") and post.answered == 202, post
    return post.body


@pytest.mark.parametrize(
    "size, chunk",
    [(2049, 0), (100_000, 32 * 1024), (6_000_000, 0)],
    ids=["2049-one-chunk", "100k-32KiB-chunks", "6MB-one-chunk"],
)
def test_chunked_next_bodies_come_back_byte_for_byte(api, runtime, size: int, chunk: int) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address)
    body = event_of(size) if size < 1_000_000 else big_pretty_event(size)
    a.next_actions.put(Event("big", body, framing="chunked", chunk=chunk))
    a.next_actions.put(Event("small", b'{"after": 1}', framing="chunked"))  # same connection, next answer
    wait_accepted(a, "big", "small", timeout=20)
    assert echoed(a, "big") == body
    assert echoed(a, "small") == b'{"after": 1}'
    assert rt.alive


def test_chunk_extensions_trailers_and_upper_case_hex(api, runtime) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address)
    body = event_of(3000)
    # 0xBB8 = 3000: one chunk, upper-case size, an extension; then trailers.
    raw = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: r1\r\n"
        b"Lambda-Runtime-Deadline-Ms: %d\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" % ((time.time() + 10) * 1000)
        + b"BB8;note=\"one chunk\"\r\n" + body + b"\r\n0\r\nX-Sum: 3000\r\n\r\n"
    )
    a.next_actions.put(Raw(raw))
    a.events("r2")
    wait_accepted(a, "r1", "r2")
    assert echoed(a, "r1") == body
    assert rt.alive


def test_body_delimited_by_close_then_reconnect(api, runtime) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address)
    body = event_of(5000)
    a.next_actions.put(Event("r1", body, framing="close"))
    a.events("r2")
    wait_accepted(a, "r1", "r2")
    assert echoed(a, "r1") == body
    assert echoed(a, "r2") == b"{}"
    assert rt.alive


def test_connection_close_on_next_reconnects(api, runtime) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address)
    a.next_actions.put(Event("r1", b'{"n": 1}', close=True))
    a.next_actions.put(Event("r2", event_of(4000), framing="chunked", close=True))
    a.events("r3")
    wait_accepted(a, "r1", "r2", "r3")
    assert echoed(a, "r1") == b'{"n": 1}' and echoed(a, "r2") == event_of(4000)
    assert rt.alive


def test_connection_close_on_a_post_answer_resends_next(api, runtime) -> None:  # type: ignore[no-untyped-def]
    """The GET /next pipelined behind a post is lost when the post's answer
    says `Connection: close`: it must go out again on a new connection."""
    a = api()
    rt = runtime(a.address)
    a.post_actions.put(Status(202, close=True))
    a.events("r1", "r2")
    wait_accepted(a, "r1", "r2")
    assert [len(a.posts(r)) for r in ("r1", "r2")] == [1, 1]
    assert rt.alive


@pytest.mark.parametrize(
    "framing, quoted",
    [
        (b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", "bad chunk size line b'zz'"),
        (b"Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n", "after 2 body bytes came b'llo\\r\\n0\\r\\n\\r\\n'"),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello", "both Transfer-Encoding 'chunked' and Content-Length '5'"),
        (b"Transfer-Encoding: gzip\r\n\r\nhello", "unsupported Transfer-Encoding 'gzip'"),
    ],
    ids=["bad-hex", "chunk-longer-than-declared", "both-headers", "gzip"],
)
def test_malformed_framing_ends_the_supervisor_with_the_bytes(api, runtime, framing: bytes, quoted: str) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address)
    a.next_actions.put(Raw(b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r1\r\n" + framing))
    assert rt.wait(10) != 0
    logs = rt.logs()
    assert "malformed response to GET /next" in logs and quoted in logs, logs


def test_chunked_body_cut_short_is_unmarshal_error(api, runtime) -> None:  # type: ignore[no-untyped-def]
    """Never a silent truncation: a chunked event whose connection closes
    mid-chunk is answered Runtime.UnmarshalError, not served short."""
    a = api()
    rt = runtime(a.address)
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: cut\r\n"
        b"Lambda-Runtime-Deadline-Ms: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % ((time.time() + 10) * 1000)
    )
    a.next_actions.put(Raw(head + b"bb8\r\n" + b"x" * 1000, close=True))
    a.events("r2")
    wait_accepted(a, "cut", "r2")
    (post,) = a.posts("cut")
    doc = json.loads(post.body)
    assert post.path.endswith("/error") and doc["errorType"] == "Runtime.UnmarshalError", doc
    assert "(Transfer-Encoding chunked)" in doc["errorMessage"]
    assert rt.alive
