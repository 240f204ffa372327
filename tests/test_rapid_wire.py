"""Every response RAPID was recorded sending (tests/rapid_wire/, see
rapid_wire_data.py) parses to the right status, headers and body, whole and
split at every byte boundary; the 6 MB chunked /next answer at 1,000 seeded
random points.

"Right" comes from two places that do not share code with the parser under
test: the standard library's http.client reading the same bytes (an
independent HTTP/1.1 implementation), and facts read off the transcripts
(status lines, chunk sizes, body lengths), asserted explicitly.
"""

from __future__ import annotations

import http.client
import io
import random

import pytest

from dispatcher.http_parse import Response, ResponseParser
from rapid_wire_data import NEXT_2KB_EVENTS, connections, next_2kb_boundary_responses

Parsed = tuple[int, str, dict[str, str], bytes, bool]
CONNECTIONS = connections()


class _Stream(io.BytesIO):
    def close(self) -> None:  # http.client closes its file after each close-delimited body
        pass


class _FakeSocket:
    def __init__(self, data: bytes) -> None:
        self.stream = _Stream(data)

    def makefile(self, mode: str) -> _Stream:
        return self.stream


def oracle(data: bytes) -> list[Parsed]:
    """What http.client makes of a connection's bytes."""
    sock = _FakeSocket(data)
    out = []
    while sock.stream.tell() < len(data):
        r = http.client.HTTPResponse(sock, method="GET")  # type: ignore[arg-type]
        r.begin()
        body = r.read()
        headers = {k.lower(): v for k, v in r.getheaders()}
        out.append((r.status, r.reason, headers, body, not r.will_close))
    return out


def summary(r: Response) -> Parsed:
    return r.status, r.reason, r.headers, bytes(r.body), r.keep_alive


def parse(pieces: list[bytes] | list[memoryview]) -> list[Parsed]:
    p = ResponseParser()
    out = []
    for piece in pieces:
        p.feed(piece)
        while (r := p.next()) is not None:
            out.append(summary(r))
    r = p.eof()
    if r is not None:
        out.append(summary(r))
    assert not p.in_progress
    return out


def test_the_recordings_are_all_there() -> None:
    assert len(CONNECTIONS) >= 100
    names = {name.rsplit("/", 1)[0] for name, _ in CONNECTIONS}
    for scenario in ("next-small", "next-2kb-boundary", "lmi/next-chunking", "oversize", "invalid-id", "streaming"):
        assert scenario in names


@pytest.mark.parametrize("name,data", CONNECTIONS, ids=[n for n, _ in CONNECTIONS])
def test_recorded_connection_parses_at_every_split(name: str, data: bytes) -> None:
    expected = oracle(data)
    assert expected, "no response on the connection"
    assert parse([data]) == expected
    assert parse([data[i : i + 1] for i in range(len(data))]) == expected
    view = memoryview(data)
    for cut in range(1, len(data)):
        assert parse([view[:cut], view[cut:]]) == expected, f"cut at {cut}"


def by_name(name: str) -> list[Parsed]:
    (data,) = [d for n, d in CONNECTIONS if n == name]
    return parse([data])


def test_next_small_headers_as_rapid_sends_them() -> None:
    first = by_name("next-small/rapi-01")[0]
    status, reason, headers, body, keep = first
    assert (status, reason, keep, len(body)) == (200, "OK", True, 100)
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == "100"
    assert {"lambda-runtime-aws-request-id", "lambda-runtime-deadline-ms", "lambda-runtime-invoked-function-arn", "date"} <= set(headers)


def test_lmi_next_chunking_bodies() -> None:
    """LMI mode: 2,048 bytes with Content-Length, 2,049 and 100,000 chunked (the latter in four chunks)."""
    events = [r for r in by_name("lmi/next-chunking/rapi-01") if r[0] == 200]
    assert [len(r[3]) for r in events] == [2048, 2049, 100_000]
    assert "content-length" in events[0][2] and "transfer-encoding" not in events[0][2]
    assert events[1][2]["transfer-encoding"] == "chunked" and "content-length" not in events[1][2]
    assert events[2][2]["transfer-encoding"] == "chunked"
    assert all(r[4] for r in events)


def test_oversize_and_invalid_id_status_bodies() -> None:
    oversize = by_name("oversize/rapi-01")
    assert [r[0] for r in oversize][:3] == [200, 413, 403]
    assert oversize[1][1] == "Request Entity Too Large"
    assert oversize[1][3] == b'{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}\n'
    invalid = by_name("invalid-id/rapi-01")
    assert [r[0] for r in invalid][:5] == [200, 400, 202, 403, 403]
    assert b"InvalidRequestID" in invalid[1][3] and b"InvalidStateTransition" in invalid[3][3]


def test_next_2kb_boundary_6mb_chunked_at_1000_random_splits() -> None:
    data = next_2kb_boundary_responses()
    expected = oracle(data)
    got = parse([data])
    assert got == expected
    events = [r for r in got if r[0] == 200]
    assert [(r[2]["lambda-runtime-aws-request-id"], len(r[3])) for r in events] == [(rid, n) for rid, _, n in NEXT_2KB_EVENTS]
    assert [r[2].get("transfer-encoding") for r in events] == [None, "chunked", "chunked"]
    assert all(r[3] == b"a" * len(r[3]) for r in events)
    rng = random.Random(20261201)
    view = memoryview(data)  # pieces without copies: 1,000 parses of 6 MB stay quick
    for _ in range(1000):
        cut = rng.randrange(1, len(data))
        p = ResponseParser()
        got = []
        for piece in (view[:cut], view[cut:]):
            p.feed(piece)
            while (r := p.next()) is not None:
                got.append(r)
        assert p.eof() is None and not p.in_progress
        assert len(got) == len(expected), f"cut at {cut}"
        for r, e in zip(got, expected):
            assert (r.status, r.reason, r.headers, r.keep_alive) == (e[0], e[1], e[2], e[4]), f"cut at {cut}"
            assert r.body == e[3], f"cut at {cut}"
    # And all 1,000 at once, through recv_into-style reads.
    cuts = sorted({0, len(data), *(rng.randrange(len(data)) for _ in range(1000))})
    assert parse([data[a:b] for a, b in zip(cuts, cuts[1:])]) == expected
