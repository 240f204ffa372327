"""Unit tests for dispatcher/frames.py, the sans-IO wire protocol v1 codec.

Tables of (input, expected) cases, fed to the decoder whole, split at every
byte boundary, one byte at a time, and through writable()/advance() in
random-sized reads; large frames at random points.  The shared vectors in
tests/vectors/ are run by test_vectors.py; this file pins the decoder's own
mechanics (buffers, back-to-back frames, limits) and the error codes.
"""

from __future__ import annotations

import random
import tracemalloc
from typing import Any, Callable

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatcher.errors import ProtocolError
from dispatcher.frames import (
    DEFAULT_MAX_FRAME,
    FrameDecoder,
    FrameError,
    encode,
    encode_invoke,
    encode_parts,
    parse_supervisor_message,
    parse_worker_message,
)

KiB = 1024
MiB = 1024 * 1024
SPLIT_LIMIT = 4 * KiB  # every-byte splitting only up to this size (quadratic)
# The decoder switches from its shared scratch buffer to a per-frame body
# buffer above this body size (frames._SCRATCH); cases straddle it on purpose.
SCRATCH = 256 * KiB

Parse = Callable[[dict[str, Any]], dict[str, Any]]
TO_SUPERVISOR: Parse = parse_worker_message
TO_WORKER: Parse = parse_supervisor_message

INVOKE_KEYS = [
    "type", "id", "deadline_ms", "function_arn", "trace_id",
    "client_context", "cognito_identity", "tenant_id", "payload",
]


def invoke(payload: Any = b'{"name":"Ada"}', **over: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "type": "invoke",
        "id": "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
        "deadline_ms": 1_700_000_000_123,
        "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:hello",
        "trace_id": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
        "client_context": None,
        "cognito_identity": None,
        "tenant_id": None,
        "payload": payload,
    }
    msg.update(over)
    return msg


# (name, message, parse): every message kind of both directions.  Worker
# messages carry every key parse_worker_message fills in, so the decoded
# message equals the table entry.
MESSAGES: list[tuple[str, dict[str, Any], Parse]] = [
    ("ready", {"type": "ready", "protocol": 1, "features": []}, TO_SUPERVISOR),
    ("ready_extra_keys", {"type": "ready", "protocol": 1, "features": ["x"], "later": {"a": 1}}, TO_SUPERVISOR),
    ("init_error", {
        "type": "init_error", "error_type": "Runtime.ImportModuleError",
        "error_message": "No module named 'app'", "stack_trace": ['  File "app.py", line 1'],
    }, TO_SUPERVISOR),
    ("result_bin", {"type": "result", "id": "r1", "payload": b'{"message":"Hello, Ada!"}'}, TO_SUPERVISOR),
    ("result_empty_bin", {"type": "result", "id": "r1", "payload": b""}, TO_SUPERVISOR),
    ("result_map", {"type": "result", "id": "r1", "payload": {"a": [1, 2.5, None, True, "é"]}}, TO_SUPERVISOR),
    ("result_nil", {"type": "result", "id": "r1", "payload": None}, TO_SUPERVISOR),
    ("result_binary_bytes", {"type": "result", "id": "r1", "payload": bytes(range(256))}, TO_SUPERVISOR),
    ("error", {
        "type": "error", "id": "r1", "error_type": "ValueError", "error_message": "bad name",
        "stack_trace": ["Traceback (most recent call last):", '  File "h.py", line 3, in handler'],
    }, TO_SUPERVISOR),
    ("error_empty_stack", {
        "type": "error", "id": "r1", "error_type": "my_crate::MyError", "error_message": "",
        "stack_trace": [],
    }, TO_SUPERVISOR),
    ("error_unicode", {
        "type": "error", "id": "r1", "error_type": "App\\Exceptions\\Boom",
        "error_message": "ünïcödé 💥 \x00 \n", "stack_trace": ["日本語"],
    }, TO_SUPERVISOR),
    ("invoke", invoke(), TO_WORKER),
    ("invoke_all_optional", invoke(
        client_context='{"client":{}}', cognito_identity='{"cognitoIdentityId":"x"}', tenant_id="t-1",
    ), TO_WORKER),
    ("invoke_no_trace", invoke(trace_id=None, payload=b""), TO_WORKER),
    ("shutdown", {"type": "shutdown"}, TO_WORKER),
]
MESSAGE_IDS = [m[0] for m in MESSAGES]


def drain(dec: FrameDecoder, parse: Parse) -> list[dict[str, Any]]:
    out = []
    while (msg := dec.next()) is not None:
        out.append(parse(msg))
    return out


def one(dec: FrameDecoder) -> dict[str, Any]:
    msg = dec.next()
    assert msg is not None, "no complete message"
    return msg


def decode_chunks(chunks: list[bytes], parse: Parse, max_frame: int = DEFAULT_MAX_FRAME) -> list[dict[str, Any]]:
    dec = FrameDecoder(max_frame)
    out: list[dict[str, Any]] = []
    for chunk in chunks:
        dec.feed(chunk)
        out += drain(dec, parse)
    assert dec.pending == 0, "bytes left over after the last frame"
    return out


def decode_reads(data: bytes, parse: Parse, rng: random.Random, max_read: int,
                 max_frame: int = DEFAULT_MAX_FRAME) -> list[dict[str, Any]]:
    """Decode the way the supervisor reads a pipe: readinto(writable()), advance(n)."""
    dec = FrameDecoder(max_frame)
    out: list[dict[str, Any]] = []
    pos = 0
    while pos < len(data):
        buf = dec.writable()
        assert len(buf) > 0, "writable() offered no room while a frame is incomplete"
        n = min(len(buf), rng.randint(1, max_read), len(data) - pos)
        buf[:n] = data[pos : pos + n]
        buf.release()
        dec.advance(n)
        pos += n
        out += drain(dec, parse)
    assert dec.pending == 0
    return out


def random_cuts(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    cuts = sorted({0, len(data), *(rng.randrange(len(data) + 1) for _ in range(count))})
    return [data[a:b] for a, b in zip(cuts, cuts[1:])]


def result_of_body_size(n: int) -> dict[str, Any]:
    """A `result` whose encoded frame body is exactly n bytes."""
    msg = {"type": "result", "id": "r", "payload": b""}
    overhead = len(msgpack.packb(msg)) - 2  # minus the bin8 header of b""
    for head in (2, 3, 5):  # bin8 / bin16 / bin32 header sizes
        payload = b"p" * (n - overhead - head)
        msg["payload"] = payload
        if len(encode_parts(msg)[1]) == n:
            return msg
    raise AssertionError(f"no result message with a {n}-byte body")


# ---------------------------------------------------------------------------
# Valid messages


@pytest.mark.parametrize("name,msg,parse", MESSAGES, ids=MESSAGE_IDS)
def test_every_kind_round_trips(name: str, msg: dict[str, Any], parse: Parse) -> None:
    data = encode(msg)
    assert int.from_bytes(data[:4], "big") == len(data) - 4
    got = decode_chunks([data], parse)
    assert got == [msg]
    assert list(got[0]) == list(msg), "key order changed"


@pytest.mark.parametrize("name,msg,parse", MESSAGES, ids=MESSAGE_IDS)
def test_encode_parts_is_prefix_and_body(name: str, msg: dict[str, Any], parse: Parse) -> None:
    head, body = encode_parts(msg)
    assert head == len(body).to_bytes(4, "big")
    assert head + body == encode(msg)
    assert msgpack.unpackb(body, raw=False) == msg


@pytest.mark.parametrize("name,msg,parse", MESSAGES, ids=MESSAGE_IDS)
def test_split_at_every_byte(name: str, msg: dict[str, Any], parse: Parse) -> None:
    data = encode(msg)
    assert len(data) <= SPLIT_LIMIT
    for cut in range(len(data) + 1):
        dec = FrameDecoder()
        dec.feed(data[:cut])
        if cut < len(data):
            assert dec.next() is None, f"message before its last byte (cut {cut})"
            assert dec.pending == cut
        dec.feed(data[cut:])
        assert drain(dec, parse) == [msg], f"cut {cut}"
        assert dec.pending == 0


@pytest.mark.parametrize("name,msg,parse", MESSAGES, ids=MESSAGE_IDS)
def test_one_byte_at_a_time(name: str, msg: dict[str, Any], parse: Parse) -> None:
    data = encode(msg)
    dec = FrameDecoder()
    got = []
    for i in range(len(data)):
        dec.feed(data[i : i + 1])
        got += drain(dec, parse)
        if i < len(data) - 1:
            assert got == []
    assert got == [msg]


@pytest.mark.parametrize("parse", [TO_SUPERVISOR, TO_WORKER], ids=["to_supervisor", "to_worker"])
def test_back_to_back_frames_in_one_feed_and_split_everywhere(parse: Parse) -> None:
    msgs = [m for _, m, p in MESSAGES if p is parse]
    stream = b"".join(encode(m) for m in msgs)
    assert decode_chunks([stream], parse) == msgs
    for cut in range(len(stream) + 1):
        assert decode_chunks([stream[:cut], stream[cut:]], parse) == msgs, f"cut {cut}"


@pytest.mark.parametrize("seed", range(8))
def test_writable_advance_random_reads(seed: int) -> None:
    rng = random.Random(seed)
    msgs = [m for _, m, p in MESSAGES if p is TO_SUPERVISOR] * 3
    rng.shuffle(msgs)
    stream = b"".join(encode(m) for m in msgs)
    assert decode_reads(stream, TO_SUPERVISOR, rng, max_read=rng.choice([1, 7, 64, 4096])) == msgs


def test_byte_stream_mixing_feed_and_advance() -> None:
    """feed() and writable()/advance() may be interleaved on one decoder."""
    msgs = [m for _, m, p in MESSAGES if p is TO_SUPERVISOR]
    stream = b"".join(encode(m) for m in msgs)
    dec = FrameDecoder()
    got: list[dict[str, Any]] = []
    for i in range(0, len(stream), 5):
        piece = stream[i : i + 5]
        if (i // 5) % 2:
            dec.feed(piece)
        else:
            with dec.writable() as buf:
                buf[: len(piece)] = piece
            dec.advance(len(piece))
        got += drain(dec, TO_SUPERVISOR)
    assert got == msgs


# Body sizes: below, at and above the scratch/body-buffer switch, then big.
LARGE_SIZES = [SCRATCH - 1, SCRATCH, SCRATCH + 1, 70 * KiB, 1 * MiB, 6_000_000]


@pytest.mark.parametrize("size", LARGE_SIZES)
def test_large_frame_at_random_points_with_neighbours(size: int) -> None:
    rng = random.Random(size)
    big = result_of_body_size(size) if size <= SCRATCH + 1 else {
        "type": "result", "id": "big", "payload": rng.randbytes(size),
    }
    small = {"type": "ready", "protocol": 1, "features": []}
    msgs = [small, big, big, small]
    stream = b"".join(encode(m) for m in msgs)
    for attempt in range(3):
        assert decode_chunks(random_cuts(stream, rng, 12), TO_SUPERVISOR) == msgs, f"attempt {attempt}"
    assert decode_reads(stream, TO_SUPERVISOR, rng, max_read=512 * KiB) == msgs


def test_large_frame_is_read_straight_into_one_buffer() -> None:
    """Once the length is known, writable() offers the whole rest of the body."""
    payload = random.Random(1).randbytes(6_000_000)
    data = encode({"type": "result", "id": "r", "payload": payload})
    dec = FrameDecoder()
    dec.feed(data[:1000])
    assert dec.next() is None
    with dec.writable() as room:
        assert len(room) == len(data) - 1000
        room[:] = data[1000:]
    dec.advance(len(data) - 1000)
    assert parse_worker_message(one(dec))["payload"] == payload
    assert dec.next() is None and dec.pending == 0


@pytest.mark.parametrize("max_frame", [16, 1000, SCRATCH + 10])
def test_frame_of_exactly_max_frame_is_accepted(max_frame: int) -> None:
    msg = result_of_body_size(max_frame) if max_frame > 20 else {"type": "x" * (max_frame - 7)}
    data = encode(msg)
    assert len(data) - 4 == max_frame
    dec = FrameDecoder(max_frame)
    dec.feed(data)
    assert dec.next() == msg


# ---------------------------------------------------------------------------
# Malformed frames: (name, bytes, max_frame, parse, code)


def frame(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def packed(value: Any) -> bytes:
    return frame(msgpack.packb(value, use_bin_type=True))


def err(**over: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "error", "id": "r1", "error_type": "E", "error_message": "m", "stack_trace": []}
    msg.update(over)
    return {k: v for k, v in msg.items() if v is not DROP}


DROP = object()

MALFORMED: list[tuple[str, bytes, int, Parse, str]] = [
    ("empty_frame", b"\0\0\0\0", DEFAULT_MAX_FRAME, TO_SUPERVISOR, "empty_frame"),
    ("empty_frame_then_more", b"\0\0\0\0" + packed({"type": "ready", "protocol": 1}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "empty_frame"),
    ("too_large_header_only", (101).to_bytes(4, "big"), 100, TO_SUPERVISOR, "frame_too_large"),
    ("too_large_max_u32", b"\xff\xff\xff\xff", DEFAULT_MAX_FRAME, TO_SUPERVISOR, "frame_too_large"),
    ("too_large_default_limit_plus_one", (DEFAULT_MAX_FRAME + 1).to_bytes(4, "big"), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "frame_too_large"),
    # A worker that prints to stdout: "Hell" read as a length.
    ("stdout_text", b"Hello, world!\n", DEFAULT_MAX_FRAME, TO_SUPERVISOR, "frame_too_large"),
    ("reserved_byte", frame(b"\xc1"), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "invalid_msgpack"),
    ("truncated_str", frame(b"\x81\xa4type\xa5rea"), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "invalid_msgpack"),
    ("truncated_map", frame(b"\x82\xa4type\xa5ready"), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "invalid_msgpack"),
    ("huge_declared_array", frame(b"\xdd\xff\xff\xff\xff"), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "invalid_msgpack"),
    ("trailing_data", frame(msgpack.packb({"type": "ready", "protocol": 1}) + b"\xc0"), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "trailing_data"),
    ("two_values", frame(msgpack.packb({"type": "ready", "protocol": 1}) * 2), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "trailing_data"),
    ("nil", packed(None), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "not_a_map"),
    ("str", packed("ready"), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "not_a_map"),
    ("array", packed(["type", "ready"]), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "not_a_map"),
    ("int", packed(7), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "not_a_map"),
    ("bin", packed(b"\x81\xa4type"), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "not_a_map"),
    ("int_key", packed({"type": "ready", "protocol": 1, 1: "x"}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "non_str_key"),
    ("bin_key", packed({b"type": "ready"}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "non_str_key"),
    ("nil_key", packed({None: 1, "type": "ready"}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "non_str_key"),
    ("no_type", packed({"protocol": 1}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "missing_type"),
    ("empty_map", packed({}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "missing_type"),
    ("type_nil", packed({"type": None}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "missing_type"),
    ("type_int", packed({"type": 1}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "missing_type"),
    ("type_bin", packed({"type": b"ready", "protocol": 1}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "missing_type"),
    ("unknown_type", packed({"type": "bogus"}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "unknown_type"),
    ("type_case", packed({"type": "Ready", "protocol": 1}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "unknown_type"),
    ("invoke_from_worker", packed(invoke()), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "unknown_type"),
    ("shutdown_from_worker", packed({"type": "shutdown"}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "unknown_type"),
    ("ready_to_worker", packed({"type": "ready", "protocol": 1}), DEFAULT_MAX_FRAME, TO_WORKER, "unknown_type"),
    ("result_to_worker", packed({"type": "result", "id": "r", "payload": b""}), DEFAULT_MAX_FRAME, TO_WORKER, "unknown_type"),
    ("ready_no_protocol", packed({"type": "ready"}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("ready_protocol_str", packed({"type": "ready", "protocol": "1"}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("ready_protocol_bool", packed({"type": "ready", "protocol": True}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("ready_protocol_float", packed({"type": "ready", "protocol": 1.0}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("ready_features_str", packed({"type": "ready", "protocol": 1, "features": "a,b"}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("init_error_no_message", packed({"type": "init_error", "error_type": "E"}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("init_error_type_nil", packed({"type": "init_error", "error_type": None, "error_message": "m"}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("result_no_id", packed({"type": "result", "payload": b""}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("result_id_int", packed({"type": "result", "id": 1, "payload": b""}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("result_id_bin", packed({"type": "result", "id": b"r1", "payload": b""}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("result_no_payload", packed({"type": "result", "id": "r1"}), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("error_no_id", packed(err(id=DROP)), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("error_no_type", packed(err(error_type=DROP)), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("error_message_int", packed(err(error_message=3)), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("error_stack_str", packed(err(stack_trace="line 1\nline 2")), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("error_stack_map", packed(err(stack_trace={"a": 1})), DEFAULT_MAX_FRAME, TO_SUPERVISOR, "bad_field"),
    ("invoke_payload_str", packed(invoke(payload="{}")), DEFAULT_MAX_FRAME, TO_WORKER, "bad_field"),
    ("invoke_deadline_bool", packed(invoke(deadline_ms=True)), DEFAULT_MAX_FRAME, TO_WORKER, "bad_field"),
    ("invoke_deadline_str", packed(invoke(deadline_ms="1700000000000")), DEFAULT_MAX_FRAME, TO_WORKER, "bad_field"),
    ("invoke_trace_int", packed(invoke(trace_id=5)), DEFAULT_MAX_FRAME, TO_WORKER, "bad_field"),
    ("invoke_arn_nil", packed(invoke(function_arn=None)), DEFAULT_MAX_FRAME, TO_WORKER, "bad_field"),
    ("invoke_no_tenant", packed({k: v for k, v in invoke().items() if k != "tenant_id"}), DEFAULT_MAX_FRAME, TO_WORKER, "bad_field"),
]


@pytest.mark.parametrize("name,data,max_frame,parse,code", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_frame_raises_its_code(name: str, data: bytes, max_frame: int, parse: Parse, code: str) -> None:
    with pytest.raises(FrameError) as info:
        decode_chunks([data], parse, max_frame)
    assert info.value.code == code, info.value.detail
    assert info.value.detail and str(info.value) == info.value.detail
    assert isinstance(info.value, ProtocolError)


def test_non_str_stack_items_and_features_are_tolerated() -> None:
    # Deliberate leniency (docs/protocol.md): a worker's error must never turn
    # into a protocol error because one stack line is not a str.
    msg = decode_chunks([packed(err(stack_trace=["ok", 3, None]))], TO_SUPERVISOR, DEFAULT_MAX_FRAME)
    assert msg[0]["stack_trace"] == ["ok", "3", "None"]
    ready = decode_chunks([packed({"type": "ready", "protocol": 1, "features": ["a", 1]})], TO_SUPERVISOR, DEFAULT_MAX_FRAME)
    assert ready[0]["features"] == ["a"]


@pytest.mark.parametrize("name,data,max_frame,parse,code", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_frame_raises_its_code_split_at_every_byte(
    name: str, data: bytes, max_frame: int, parse: Parse, code: str
) -> None:
    for cut in range(len(data) + 1):
        with pytest.raises(FrameError) as info:
            decode_chunks([data[:cut], data[cut:]], parse, max_frame)
        assert info.value.code == code, f"cut {cut}: {info.value.detail}"


def test_oversized_length_is_refused_on_the_header_alone() -> None:
    """No waiting for (or allocating) a body that must be refused anyway."""
    dec = FrameDecoder(max_frame=1000)
    dec.feed(b"\x00\x00\x03")
    assert dec.next() is None
    dec.feed(b"\xe9")  # 1001
    with pytest.raises(FrameError) as info:
        dec.next()
    assert info.value.code == "frame_too_large"
    assert "1001" in info.value.detail and "1000" in info.value.detail


def test_valid_frame_before_a_bad_one_is_delivered_first() -> None:
    good = {"type": "result", "id": "r1", "payload": b"ok"}
    dec = FrameDecoder()
    dec.feed(encode(good) + b"oops, a print()\n")
    assert parse_worker_message(one(dec)) == good
    with pytest.raises(FrameError):
        dec.next()


# ---------------------------------------------------------------------------
# Bad UTF-8 in a worker's error text decodes with U+FFFD


def raw_str(b: bytes) -> bytes:
    assert len(b) < 32
    return bytes([0xA0 | len(b)]) + b


def p(v: Any) -> bytes:
    return bytes(msgpack.packb(v, use_bin_type=True))


UTF8_CASES = [
    # (kind, raw message bytes, stack items raw, expected message, expected stack)
    ("error", b"caf\xe9", [b"line \xff\xfe"], "caf\ufffd", ["line \ufffd\ufffd"]),
    ("error", b"\xc3", [], "\ufffd", []),
    ("error", b"ok \xe2\x82", [b"\xed\xa0\x80"], "ok \ufffd", ["\ufffd\ufffd\ufffd"]),  # CESU surrogate
    ("init_error", b"\x80abc", [b"a\xc0\xafb"], "\ufffdabc", ["a\ufffd\ufffdb"]),
]


@pytest.mark.parametrize("kind,message,stack,want_message,want_stack", UTF8_CASES)
def test_invalid_utf8_in_error_text_is_replaced(
    kind: str, message: bytes, stack: list[bytes], want_message: str, want_stack: list[str]
) -> None:
    entries = [(p("type"), p(kind)), (p("error_type"), p("E")), (p("error_message"), raw_str(message)),
               (p("stack_trace"), bytes([0x90 | len(stack)]) + b"".join(raw_str(s) for s in stack))]
    if kind == "error":
        entries.insert(1, (p("id"), p("r1")))
    body = bytes([0x80 | len(entries)]) + b"".join(k + v for k, v in entries)
    for cut in range(len(body) + 5):
        msgs = decode_chunks([frame(body)[:cut], frame(body)[cut:]], TO_SUPERVISOR)
        assert len(msgs) == 1
        assert msgs[0]["error_message"] == want_message
        assert msgs[0]["stack_trace"] == want_stack


def test_missing_or_nil_stack_trace_becomes_empty_list() -> None:
    for msg in ({"type": "error", "id": "r", "error_type": "E", "error_message": "m"},
                {"type": "init_error", "error_type": "E", "error_message": "m", "stack_trace": None}):
        (got,) = decode_chunks([encode(msg)], TO_SUPERVISOR)
        assert got["stack_trace"] == []


# ---------------------------------------------------------------------------
# encode_invoke: the zero-copy invoke writer


@pytest.mark.parametrize("size", [0, 1, 255, 256, 65535, 65536, 1 * MiB])
@pytest.mark.parametrize("optional", ["none", "all"])
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_encode_invoke_equals_encode(size: int, optional: str, kind: type) -> None:
    raw = random.Random(size).randbytes(size)
    payload = kind(raw)
    fields: dict[str, Any] = dict(
        request_id="req-é-1", deadline_ms=2**53 + 1, function_arn="arn:aws:lambda:eu-west-1:1:function:f",
        trace_id=None, client_context=None, cognito_identity=None, tenant_id=None,
    )
    if optional == "all":
        fields.update(trace_id="Root=1-x", client_context="{}", cognito_identity='{"a":1}', tenant_id="t")
    bufs = encode_invoke(payload=payload, **fields)
    assert bufs[-1] is payload, "the payload must be handed over, not copied"
    wire = b"".join(bytes(b) for b in bufs)
    expected = {
        "type": "invoke", "id": fields["request_id"], "deadline_ms": fields["deadline_ms"],
        "function_arn": fields["function_arn"], "trace_id": fields["trace_id"],
        "client_context": fields["client_context"], "cognito_identity": fields["cognito_identity"],
        "tenant_id": fields["tenant_id"], "payload": raw,
    }
    assert list(expected) == INVOKE_KEYS
    assert wire == encode(expected)
    (got,) = decode_chunks([wire], TO_WORKER)
    assert got == expected and list(got) == INVOKE_KEYS


def test_encode_invoke_key_order_matches_the_fixmap_count() -> None:
    bufs = encode_invoke("r", b"x", 1, "arn", None, None, None, None)
    body = b"".join(bytes(b) for b in bufs)[4:]
    assert body[0] == 0x80 | len(INVOKE_KEYS)
    assert list(msgpack.unpackb(body, raw=False)) == INVOKE_KEYS


# ---------------------------------------------------------------------------
# Properties

MAX_FRAMES = [1, 300, SCRATCH + 1, 1 * MiB]


@st.composite
def hostile_streams(draw: st.DrawFn) -> tuple[int, bytes]:
    """Arbitrary bytes, and frames whose length sits at the limit or just past it."""
    max_frame = draw(st.sampled_from(MAX_FRAMES))
    parts = draw(st.lists(st.one_of(
        st.binary(max_size=64),
        st.builds(lambda n, b: n.to_bytes(4, "big") + b,
                  st.one_of(st.sampled_from([0, 1, max_frame, max_frame + 1, SCRATCH, SCRATCH + 1, 2**32 - 1]),
                            st.integers(0, 2**32 - 1)),
                  st.binary(max_size=300)),
        st.builds(lambda v: frame(msgpack.packb(v, use_bin_type=True)),
                  st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8)
                               | st.binary(max_size=8),
                               lambda c: st.lists(c, max_size=3)
                               | st.dictionaries(st.sampled_from(["type", "id", "payload", "protocol",
                                                                  "error_type", "error_message", "stack_trace",
                                                                  "features"]),
                                                 c, max_size=4),
                               max_leaves=8)),
    ), max_size=6))
    return max_frame, b"".join(parts)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(stream=hostile_streams(), cuts=st.lists(st.integers(0, 2000), max_size=4), use_reads=st.booleans())
def test_arbitrary_bytes_raise_only_frame_error_and_allocate_at_most_max_frame(
    stream: tuple[int, bytes], cuts: list[int], use_reads: bool
) -> None:
    max_frame, data = stream
    points = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
    chunks = [data[a:b] for a, b in zip(points, points[1:])]
    tracemalloc.start()
    try:
        dec = FrameDecoder(max_frame)
        for chunk in chunks:
            if use_reads:
                buf = dec.writable()
                n = min(len(buf), len(chunk))
                buf[:n] = chunk[:n]
                buf.release()
                dec.advance(n)
                dec.feed(chunk[n:])
            else:
                dec.feed(chunk)
            while (msg := dec.next()) is not None:
                parse_worker_message(msg)
        _, peak = tracemalloc.get_traced_memory()
    except FrameError as exc:
        _, peak = tracemalloc.get_traced_memory()
        assert exc.code in {"empty_frame", "frame_too_large", "invalid_msgpack", "trailing_data", "not_a_map",
                            "non_str_key", "missing_type", "unknown_type", "bad_field"}
    finally:
        tracemalloc.stop()
    # A frame body may cost max_frame; the input itself is held at most a few
    # times over; the shared scratch read buffer is fixed size.
    assert peak <= max_frame + 4 * len(data) + SCRATCH + 64 * KiB, (peak, max_frame, len(data))


WORKER_TEXT = st.text(max_size=40)
WORKER_MESSAGES = st.one_of(
    st.builds(lambda f: {"type": "ready", "protocol": 1, "features": f}, st.lists(WORKER_TEXT, max_size=3)),
    st.builds(lambda t, m, s: {"type": "init_error", "error_type": t, "error_message": m, "stack_trace": s},
              WORKER_TEXT, WORKER_TEXT, st.lists(WORKER_TEXT, max_size=4)),
    st.builds(lambda i, b: {"type": "result", "id": i, "payload": b}, WORKER_TEXT, st.binary(max_size=600)),
    st.builds(lambda i, v: {"type": "result", "id": i, "payload": v}, WORKER_TEXT,
              st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False)
                           | WORKER_TEXT, lambda c: st.lists(c, max_size=3) | st.dictionaries(WORKER_TEXT, c, max_size=3),
                           max_leaves=10)),
    st.builds(lambda i, t, m, s: {"type": "error", "id": i, "error_type": t, "error_message": m, "stack_trace": s},
              WORKER_TEXT, WORKER_TEXT, WORKER_TEXT, st.lists(WORKER_TEXT, max_size=4)),
)


@settings(deadline=None, max_examples=200)
@given(msgs=st.lists(WORKER_MESSAGES, min_size=1, max_size=5), data=st.data())
def test_valid_messages_survive_any_split(msgs: list[dict[str, Any]], data: st.DataObject) -> None:
    stream = b"".join(encode(m) for m in msgs)
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    cuts = sorted({0, len(stream), *points})
    assert decode_chunks([stream[a:b] for a, b in zip(cuts, cuts[1:])], TO_SUPERVISOR) == msgs
    seed = data.draw(st.integers(0, 2**32))
    assert decode_reads(stream, TO_SUPERVISOR, random.Random(seed), max_read=data.draw(st.sampled_from([1, 3, 100]))) == msgs
