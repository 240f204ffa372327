"""Unit tests for dispatcher/jsonconv.py: a non-bin `result.payload` to JSON.

The rules are docs/protocol.md's: compact separators, UTF-8 as is, no NaN or
Infinity, str map keys only, no bin or ext anywhere inside.  Values arrive as
msgpack decodes them, so the property tests go through msgpack too.
"""

from __future__ import annotations

import json
import math
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.frames import FrameDecoder, encode, parse_worker_message
from dispatcher.jsonconv import NotConvertible, to_json

CONVERTIBLE: list[tuple[Any, bytes]] = [
    (None, b"null"),
    (True, b"true"),
    (False, b"false"),
    (0, b"0"),
    (-1, b"-1"),
    (2**64 - 1, b"18446744073709551615"),
    (-(2**63), b"-9223372036854775808"),
    (1.5, b"1.5"),
    (-0.0, b"-0.0"),
    (1e300, b"1e+300"),
    ("", b'""'),
    ("Hello, Ada!", b'"Hello, Ada!"'),
    ("é日本💥", '"é日本💥"'.encode()),
    ("\u2028\u2029", '"\u2028\u2029"'.encode()),
    ("\x00\x1f\n\t\"\\/", b'"\\u0000\\u001f\\n\\t\\"\\\\/"'),
    ([], b"[]"),
    ({}, b"{}"),
    ([1, [2, [3, {}]], "x"], b'[1,[2,[3,{}]],"x"]'),
    ({"message": "Hello, Ada!"}, b'{"message":"Hello, Ada!"}'),
    ({"b": 1, "a": [True, None], "é": {"k": 1.25}}, '{"b":1,"a":[true,null],"é":{"k":1.25}}'.encode()),
    ((1, "two"), b'[1,"two"]'),  # msgpack with use_list=False gives tuples
]


@pytest.mark.parametrize("value,expected", CONVERTIBLE)
def test_to_json(value: Any, expected: bytes) -> None:
    assert to_json(value) == expected


NOT_CONVERTIBLE: list[tuple[Any, str]] = [
    (math.nan, "nan"),
    (math.inf, "inf"),
    (-math.inf, "-inf"),
    (b"bin", "bin at payload"),
    (bytearray(b"x"), "bin at payload"),
    ({"a": [1, b"x"]}, "payload.a[1]"),
    ({"a": {"b": math.nan}}, "payload.a.b"),
    ({1: "x"}, "map key 1"),
    ({b"k": 1}, "map key b'k'"),
    ({None: 1}, "map key None"),
    ({True: 1}, "map key True"),
    ({"ok": {2.5: 1}}, "map key 2.5 at payload.ok"),
    (msgpack.ExtType(1, b"x"), "at payload"),
    ([0, msgpack.ExtType(1, b"")], "at payload[1]"),
    (msgpack.Timestamp(0), "Timestamp"),
    ([object()], "object at payload[0]"),
]


@pytest.mark.parametrize("value,fragment", NOT_CONVERTIBLE)
def test_not_convertible(value: Any, fragment: str) -> None:
    with pytest.raises(NotConvertible) as info:
        to_json(value)
    assert fragment in str(info.value), str(info.value)
    assert isinstance(info.value, ValueError)


def test_ext_is_named_as_ext_where_it_is() -> None:
    with pytest.raises(NotConvertible) as info:
        to_json({"t": msgpack.ExtType(1, b"x")})
    assert "ExtType" in str(info.value) and "payload.t " in str(info.value), str(info.value)


def test_bin_error_says_what_to_do() -> None:
    with pytest.raises(NotConvertible, match="send the whole payload as bin"):
        to_json({"data": b"\x00"})


def nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def test_nesting_limit() -> None:
    assert json.loads(to_json(nested(512))) == nested(512)
    with pytest.raises(NotConvertible, match="nested deeper than 512"):
        to_json(nested(513))
    with pytest.raises(NotConvertible):
        to_json(nested(5000))


def test_values_decoded_from_a_result_frame() -> None:
    """The real path: a hand-written worker's map payload, with bad UTF-8 replaced on decode."""
    body = (b"\x83" + msgpack.packb("type") + msgpack.packb("result") + msgpack.packb("id") + msgpack.packb("r")
            + msgpack.packb("payload") + b"\x81" + msgpack.packb("msg") + b"\xa3\xed\xa0\x80")
    dec = FrameDecoder()
    dec.feed(len(body).to_bytes(4, "big") + body)
    decoded = dec.next()
    assert decoded is not None
    msg = parse_worker_message(decoded)
    out = to_json(msg["payload"])
    assert out.decode("utf-8") == '{"msg":"\ufffd\ufffd\ufffd"}', "valid UTF-8 out"


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=20,
)


@settings(deadline=None, max_examples=300)
@given(JSONISH)
def test_anything_msgpack_decodes_to_round_trips(value: Any) -> None:
    decoded = msgpack.unpackb(msgpack.packb(value, use_bin_type=True), raw=False, strict_map_key=False)
    out = to_json(decoded)
    text = out.decode("utf-8")  # strict: the body is valid UTF-8
    assert json.loads(text) == value
    # Compact: re-encoding with the fixed rules gives the same bytes.
    assert json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False).encode() == out


@settings(deadline=None, max_examples=100)
@given(JSONISH, st.sampled_from([b"x", msgpack.ExtType(5, b""), math.nan, math.inf]))
def test_one_bad_leaf_anywhere_refuses_the_whole_value(value: Any, bad: Any) -> None:
    for wrapped in ([value, bad], {"ok": value, "bad": [bad]}):
        with pytest.raises(NotConvertible):
            to_json(wrapped)


def test_result_frame_with_a_map_payload_round_trips_through_the_codec() -> None:
    payload = {"message": "Hello, Ada!", "n": [1, 2.5, None]}
    dec = FrameDecoder()
    dec.feed(encode({"type": "result", "id": "r", "payload": payload}))
    decoded = dec.next()
    assert decoded is not None
    assert to_json(parse_worker_message(decoded)["payload"]) == b'{"message":"Hello, Ada!","n":[1,2.5,null]}'
