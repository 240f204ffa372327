"""dispatcher/jsonl_codec.py, the sans-IO jsonl codec: line splitting at every
byte boundary, reply parsing into the supervisor's message dicts, and the
invocation line's layout that line-oriented helpers rely on."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.jsonl_codec import (
    BadEvent,
    JsonlError,
    LineDecoder,
    LineTooLong,
    encode_event,
    encode_invoke,
    parse_reply,
    shown,
)

STREAM = b'{"ready":true}\r\n{"id":"a","result":{"t":"h\xc3\xa9 \xf0\x9f\x98\x80"}}\n\n{"id":"b","error":{"type":"T","message":"m"}}\n'
LINES = [b'{"ready":true}', b'{"id":"a","result":{"t":"h\xc3\xa9 \xf0\x9f\x98\x80"}}', b"", b'{"id":"b","error":{"type":"T","message":"m"}}']


def test_split_at_every_byte() -> None:
    for cut in range(len(STREAM) + 1):
        for second in range(cut, len(STREAM) + 1):
            dec = LineDecoder(1000)
            got: list[bytes] = []
            for part in (STREAM[:cut], STREAM[cut:second], STREAM[second:]):
                lines, error = dec.feed(part)
                assert error is None
                got += lines
            assert got == LINES, (cut, second)
            assert dec.pending == 0


def test_one_byte_at_a_time_and_only_one_cr_removed() -> None:
    dec = LineDecoder(100)
    got = []
    for b in b"a\r\r\nb\rc\n":
        got += dec.feed(bytes([b]))[0]
    assert got == [b"a\r", b"b\rc"]


def test_line_limit() -> None:
    dec = LineDecoder(10)
    assert dec.feed(b"0123456789\r\n") == ([b"0123456789"], None)  # the \r does not count
    lines, error = dec.feed(b'{"ok":1}\n' + b"x" * 11 + b"\n")
    assert lines == [b'{"ok":1}'] and isinstance(error, LineTooLong)  # the line before still counts
    assert "over max_frame (10)" in str(error)
    for cut in range(1, 13):  # no newline yet: refused as soon as it cannot fit
        dec = LineDecoder(10)
        data = b"y" * 13
        _, e1 = dec.feed(data[:cut])
        _, e2 = dec.feed(data[cut:])
        assert (e1 or e2) is not None and "without a newline" in str(e1 or e2)


def test_replies_become_the_supervisor_messages() -> None:
    assert parse_reply(b'{"ready": true, "future": 1}') == {"type": "ready", "protocol": "jsonl", "features": []}
    assert parse_reply(b'{"id":"r","result":{"b": [1, 2.50, null], "s": "\\u00e9"}}') == {
        "type": "result", "id": "r", "payload": '{"b":[1,2.5,null],"s":"\u00e9"}'.encode()}
    assert parse_reply(b'{"id":"r","result":null}')["payload"] == b"null"
    assert parse_reply(b'{"id":"r","error":{"type":"my::E","message":"m","stack_trace":["a","b"]}}') == {
        "type": "error", "id": "r", "error_type": "my::E", "error_message": "m", "stack_trace": ["a", "b"]}
    assert parse_reply(b'{"id":"r","error":{"type":"E"}}')["error_message"] == ""
    assert parse_reply(b'{"init_error":{"type":"Boom","message":"no"}}') == {
        "type": "init_error", "error_type": "Boom", "error_message": "no", "stack_trace": []}
    assert parse_reply(b'{"id":"r","error":{"type":"E","message":"bad \xff byte"}}')["error_message"] == "bad \ufffd byte"


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"hello world", "not JSON"),
        (b'{"id":"r","result":NaN}', "not JSON"),
        (b'{"id":"r","result":1e999}', "cannot be written back as JSON"),
        (b"[1,2]", "JSON list where an object"),
        (b'{"id":1,"result":2}', "`id` is not a string"),
        (b'{"id":"r"}', "neither `result` nor `error`"),
        (b'{"id":"r","result":1,"error":{}}', "both"),
        (b'{"id":"r","error":"boom"}', "not an object"),
        (b'{"id":"r","error":{"message":"m"}}', "`type` is missing"),
        (b'{"id":"r","error":{"type":"E","stack_trace":"x"}}', "not a list of strings"),
        (b'{"ready":false}', "other than true"),
        (b'{"hello":1}', "none of"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_bad_lines(line: bytes, reason: str) -> None:
    with pytest.raises(JsonlError) as info:
        parse_reply(line)
    assert reason in info.value.reason
    assert info.value.line == line
    assert "hello world" not in info.value.reason  # the line itself is never in the reason


def test_shown_cuts_long_lines() -> None:
    assert shown(b"short") == "'short'"
    long = shown(b"\xc3\xa9" * 1000)
    assert long.endswith("\u2026") and len(long) < 210


def test_event_re_encoded_on_one_line() -> None:
    assert encode_event(b'{\n  "a": "h\xc3\xa9\\u00e9\\n",\r\n  "b": [1, 2.0, 1e2]\n}') == '{"a":"h\u00e9\u00e9\\n","b":[1,2.0,100.0]}'.encode()
    assert encode_event(b'"\\ud800"') == b'"\xed\xa0\x80"'  # a lone surrogate kept, as the core does


@pytest.mark.parametrize("raw, text", [(b"", "Expecting value"), (b"nope", "Expecting value"), (b'{"a": NaN}', "NaN is not JSON"),
                                       (b'{"a": 1} x', "Extra data"), (b'"\xff"', "not UTF-8"), (b"[" * 100_000, "nested too deeply")])
def test_bad_events(raw: bytes, text: str) -> None:
    with pytest.raises(BadEvent, match=text):
        encode_event(raw)


def test_invoke_line_layout() -> None:
    line = b"".join(encode_invoke("r-1", b'{"x":1}', 17, "arn:a", None, '{"c":1}', None, "t"))
    assert line == b'{"id":"r-1","deadline_ms":17,"function_arn":"arn:a","trace_id":null,"client_context":"{\\"c\\":1}","cognito_identity":null,"tenant_id":"t","event":{"x":1}}\n'
    assert list(json.loads(line)) == ["id", "deadline_ms", "function_arn", "trace_id", "client_context", "cognito_identity", "tenant_id", "event"]


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))


@settings(max_examples=300, deadline=None)
@given(rid=text, arn=text, trace=st.none() | text, cc=st.none() | text, tenant=st.none() | text, event=st.recursive(
    st.none() | st.booleans() | st.integers() | text, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(text, kids, max_size=3), max_leaves=8))
def test_event_is_found_by_its_first_key(rid: str, arn: str, trace: str | None, cc: str | None, tenant: str | None, event: object) -> None:
    """What the shell and awk workers rely on: the first `,"event":` is the key."""
    body = json.dumps(event).encode()
    line = b"".join(encode_invoke(rid, encode_event(body), 1, arn, trace, cc, None, tenant))
    assert line.count(b"\n") == 1 and line.endswith(b"}\n")
    cut = line.index(b',"event":')
    assert json.loads(line[cut + 9 : -2]) == event
    assert json.loads(line[:cut] + b"}") == {"id": rid, "deadline_ms": 1, "function_arn": arn, "trace_id": trace,
                                              "client_context": cc, "cognito_identity": None, "tenant_id": tenant}
