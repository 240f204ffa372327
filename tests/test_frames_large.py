"""Large frames (a body over the decoder's 256 KiB scratch buffer): read in place.

dispatcher/frames.py reads such a frame into a buffer of its own and, when
the map is flat (str keys; nil, bool, number, str or bin values), reads the
map by hand so that each top-level bin (a result's payload, a stream chunk's
data) is a memoryview of that buffer instead of a copy.  Any other shape, and
every malformed frame, goes to msgpack whole: these tests pin that the
message and every error code are the same as msgpack's either way, and that
the payload really is not copied.
"""

from __future__ import annotations

import random
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatcher import bigbuf
from dispatcher.answers import Success, convert_result
from dispatcher.frames import FrameDecoder, FrameError, encode, parse_worker_message

KiB = 1024
SCRATCH = 256 * KiB  # frames._SCRATCH: larger bodies get a buffer of their own
PAD = bytes(range(256)) * (SCRATCH // 256 + 4)  # a bin that makes any frame large


def frame(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def decode(data: bytes, reads: list[int] | None = None) -> list[dict[str, Any]]:
    """Feed `data` the way the supervisor reads a pipe (readv into writable(), advance)."""
    dec = FrameDecoder()
    out = []
    pos = 0
    rng = random.Random(len(data))
    while pos < len(data):
        with dec.writable() as room:
            n = min(len(room), len(data) - pos, reads.pop(0) if reads else rng.randint(1, 1 << 20))
            room[:n] = data[pos : pos + n]
        dec.advance(n)
        pos += n
        while (msg := dec.next()) is not None:
            out.append(msg)
    assert dec.pending == 0
    return out


def test_a_large_results_payload_is_a_view_of_the_frame_buffer_not_a_copy() -> None:
    payload = random.Random(3).randbytes(6_000_000)
    data = encode({"type": "result", "id": "r1", "payload": payload})
    [msg] = decode(data)
    got = parse_worker_message(msg)["payload"]
    assert type(got) is memoryview and got == payload
    frame_buffer = got.obj
    assert type(frame_buffer) is bytearray and len(frame_buffer) == len(data) - 4  # the frame body itself
    answer = convert_result(got)
    assert isinstance(answer, Success) and answer.body.obj is frame_buffer and bytes(answer.body) == payload


def test_a_large_stream_chunk_passes_validation_as_a_view() -> None:
    data = encode({"type": "stream_chunk", "id": "r1", "data": PAD})
    [msg] = decode(data)
    assert type(msg["data"]) is memoryview
    assert parse_worker_message(msg)["data"] == PAD


@pytest.mark.parametrize("reads", [[SCRATCH, SCRATCH, 1 << 30], [SCRATCH - 1, 1, 1 << 30], [4, SCRATCH, 1 << 30], [3, SCRATCH]])
def test_a_full_scratch_read_that_begins_a_large_frame(reads: list[int]) -> None:
    """The first read of a large frame fills the scratch buffer; the frame is
    moved to its own buffer from there (or through the usual path when the
    read did not begin at a frame)."""
    msgs = [{"type": "result", "id": "a", "payload": PAD + b"a"}, {"type": "result", "id": "b", "payload": PAD * 3}]
    data = b"".join(encode(m) for m in msgs)
    assert decode(data, list(reads)) == msgs


def push(dec: FrameDecoder, data: bytes) -> dict[str, Any]:
    """One whole frame through writable()/advance(), as the supervisor reads it."""
    pos = 0
    while pos < len(data):
        with dec.writable() as room:
            n = min(len(room), len(data) - pos)
            room[:n] = data[pos : pos + n]
        dec.advance(n)
        pos += n
    msg = dec.next()
    assert msg is not None
    return msg


def test_a_reply_read_while_the_previous_payload_is_held_does_not_overwrite_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The frame buffer is reused only once nothing refers to the payload (dispatcher/bigbuf.py)."""
    monkeypatch.setattr(bigbuf, "_kept", [])
    first, second = b"1" * (SCRATCH * 2), b"2" * (SCRATCH * 2)
    dec = FrameDecoder()
    held = push(dec, encode({"type": "result", "id": "a", "payload": first}))["payload"]
    assert type(held) is memoryview
    assert push(dec, encode({"type": "result", "id": "b", "payload": second}))["payload"] == second
    assert held == first
    buffer_id = id(held.obj)
    del held
    third = push(dec, encode({"type": "result", "id": "c", "payload": second}))["payload"]
    assert third == second and id(third.obj) == buffer_id  # the first one's buffer, free again


# Values a worker may put at the top level of its map, flat ones (read by
# hand) and nested ones (the frame then goes to msgpack whole).
FLAT = st.one_of(
    st.none(), st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, width=32),  # width 32: packable as msgpack float32 too
    st.text(max_size=40), st.text(min_size=200, max_size=70_000).map(lambda s: s * 2),
    st.binary(max_size=40), st.binary(min_size=256, max_size=70_000),
)
NESTED = st.one_of(st.lists(FLAT, max_size=3), st.dictionaries(st.text(max_size=5), FLAT, max_size=3))
KEYS = st.text(min_size=1, max_size=20).filter(lambda k: k != "type")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.dictionaries(KEYS, FLAT, max_size=14), st.one_of(st.none(), NESTED), st.text(min_size=1, max_size=12),
       st.booleans())
def test_a_large_frame_decodes_as_msgpack_decodes_it(extra: dict[str, Any], nested: Any, kind: str, float32: bool) -> None:
    msg: dict[str, Any] = {"type": kind, **extra, "pad": PAD}
    if nested is not None:
        msg["nested"] = nested
    body = msgpack.packb(msg, use_bin_type=True, use_single_float=float32)
    expected = msgpack.unpackb(body, raw=False, strict_map_key=False)
    [got] = decode(frame(body))
    assert got == expected
    assert list(got) == list(expected)  # same key order
    for key, value in got.items():
        assert type(value) is (memoryview if isinstance(expected[key], bytes) and nested is None else type(expected[key]))


def large_map(*entries: bytes, count: int | None = None) -> bytes:
    """A fixmap (map16 above 15 entries) of raw packed key and value bytes."""
    n = len(entries) // 2 if count is None else count
    head = bytes([0x80 | n]) if n < 16 else b"\xde" + n.to_bytes(2, "big")
    return head + b"".join(entries)


P = msgpack.packb
PADDED = P(PAD, use_bin_type=True)

LARGE_MALFORMED = [
    ("trailing_data", P({"type": "result", "id": "r", "payload": PAD}) + b"\xc0", "trailing_data"),
    ("int_key", large_map(P("type"), P("result"), P(1), PADDED), "non_str_key"),
    ("bin_key", large_map(P(b"type", use_bin_type=True), PADDED), "non_str_key"),
    ("nil_key_after_the_pad", large_map(P("type"), P("result"), P("pad"), PADDED, P(None), P(1)), "non_str_key"),
    ("no_type", P({"payload": PAD}), "missing_type"),
    ("type_bin", P({"type": PAD}), "missing_type"),
    ("type_int", large_map(P("type"), P(3), P("pad"), PADDED), "missing_type"),
    ("bin_alone", PADDED, "not_a_map"),
    ("array", P(["type", PAD]), "not_a_map"),
    ("reserved_byte_value", large_map(P("type"), P("result"), P("id"), b"\xc1", P("pad"), PADDED), "invalid_msgpack"),
    ("bin_runs_past_the_frame", P({"type": "result", "id": "r", "payload": PAD})[:-1], "invalid_msgpack"),
    ("str_runs_past_the_frame", P({"type": "result", "id": "r", "s": PAD.decode("latin-1")})[:-1], "invalid_msgpack"),
    ("fewer_entries_than_declared", large_map(P("type"), P("result"), P("pad"), PADDED, count=3), "invalid_msgpack"),
    ("map16_of_seventeen_with_an_int_key", large_map(*[P(f"k{i}") for i in range(32)][:32], P(1), PADDED, count=17),
     "non_str_key"),
    ("result_without_payload", P({"type": "result", "id": "r" * (SCRATCH + 1)}), "bad_field"),
    ("stream_chunk_data_str", P({"type": "stream_chunk", "id": "r", "data": "x" * (SCRATCH + 1)}), "bad_field"),
]


@pytest.mark.parametrize("name,body,code", LARGE_MALFORMED, ids=[c[0] for c in LARGE_MALFORMED])
def test_a_malformed_large_frame_raises_the_code_a_small_one_would(name: str, body: bytes, code: str) -> None:
    assert len(body) > SCRATCH
    with pytest.raises(FrameError) as info:
        for msg in decode(frame(body)):
            parse_worker_message(msg)
    assert info.value.code == code, info.value.detail
