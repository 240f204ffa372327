"""The Python adapter's fast paths give what the slow ones gave.

- `_codec.loads`/`dumps` (the C scanner and encoder of `json`, called
  directly) against `json.loads` and the JSONEncoder the adapter used
  before: same values, same bytes, same exception type and message.
- `Channel.read` (one buffered read per frame) against every way a stream
  can be cut: a real pipe whose reads are made short (the fault a pipe may
  always show), frames back to back in one read, a frame larger than the
  reuse buffer, EOF between and inside frames.
- a JSON-mode worker imports neither `json` nor `re` for an ordinary event.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
from typing import Any

import msgpack
import pytest

from conftest import ADAPTERS

sys.path.insert(0, str(ADAPTERS / "python"))
from dispatcher_worker import _channel, _codec, _wire  # noqa: E402
from test_python_adapter import app  # noqa: E402,F401  (the fixture)

_REFERENCE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))

DOCUMENTS: list[bytes | str] = [
    b'{"name": "Ada"}',
    b'{"name":"Ada","n":[1,2.5,-3e2,true,null,false],"o":{"a":{"b":[]}}}',
    b'[1, "two", {"3": 4}]',
    b"{}",
    b"[]",
    '{"caf\u00e9": "\u2603 \\u00e9 \\ud83d\\ude00 \\ud800"}'.encode("utf-8"),
    b'{"esc": "\\"\\\\\\/\\b\\f\\n\\r\\t"}',
    b'{"big": 123456789012345678901234567890, "f": 1.7976931348623157e308, "tiny": 5e-324}',
    b'{"nan": NaN, "inf": Infinity, "ninf": -Infinity}',
    b'{"a": 1}\n',
    b'{"a": 1} \t\r\n ',
    b'  {"a": 1}',
    b'"just a string"',
    b"42",
    b"null",
    b'{"a": 1}'.decode().encode("utf-16"),
    b'{"a": 1}'.decode().encode("utf-16-le"),
    b'{"a": 1}'.decode().encode("utf-32"),
    b'\xef\xbb\xbf{"a": 1}',
    '{"s": "x"}',
    ' {"s": "x"} ',
    "[1,2]",
    "\ufeff{}",
    # malformed: the error must be json's own
    b'{"a": 1} x',
    b'{"a": 1}{"b": 2}',
    b'{"a": }',
    b'{"a": 1',
    b"[1, 2,]",
    b'{"a": "\x01"}',
    b"{\xff}",
    b"",
    b"{",
    b"[",
    b'{"a" 1}',
    "{'a': 1}",
    "",
]


def _outcome(fn: Any, arg: Any) -> tuple[str, Any]:
    try:
        value = fn(arg)
    except Exception as exc:
        return "error", (type(exc), str(exc))
    # NaN != NaN: compare its JSON text instead of the value.
    return "value", json.dumps(value, sort_keys=True, allow_nan=True)


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda d: repr(d)[:40])
def test_loads_is_json_loads(doc: bytes | str) -> None:
    assert _outcome(_codec.loads, doc) == _outcome(json.loads, doc)


def test_loads_gives_equal_values_of_the_same_types() -> None:
    got = _codec.loads(b'{"i": 1, "f": 1.0, "b": true, "n": null, "l": [1e2], "s": "\\u00e9"}')
    assert got == {"i": 1, "f": 1.0, "b": True, "n": None, "l": [100.0], "s": "é"}
    assert [type(v) for v in got.values()] == [int, float, bool, type(None), list, str]
    assert math.isnan(_codec.loads(b"[NaN]")[0])


class _Circular(list):
    pass


VALUES: list[Any] = [
    {"message": "Hello, Ada!", "n": [1, 2.5, -300.0, True, None]},
    {"caf\u00e9": "\u2603 \U0001f600", "esc": "\"\\\n\t\x01"},
    ["a", ("t", "u"), {"nested": {"deep": [[]]}}],
    "a str",
    42,
    1.5,
    1e300,
    True,
    None,
    {1: "int key", 2.5: "float key", True: "bool key", None: "null key"},
    {"big": 10**40},
    {"set": {1, 2}},
    {"nan": float("nan")},
    [float("inf")],
    {("tuple", "key"): 1},
    {"obj": object()},
    "lone \udcff surrogate",
    {"bytes": b"x"},
]


def _encode_outcome(fn: Any, value: Any) -> tuple[str, Any]:
    try:
        return "bytes", fn(value)
    except Exception as exc:
        return "error", (type(exc), str(exc))


@pytest.mark.parametrize("value", VALUES, ids=lambda v: repr(v)[:40])
def test_dumps_is_the_json_encoder(value: Any) -> None:
    def reference(v: Any) -> bytes:
        return _REFERENCE.encode(v).encode("utf-8")

    assert _encode_outcome(_codec.dumps, value) == _encode_outcome(reference, value)


def test_a_failed_encode_leaves_no_trace_for_the_next() -> None:
    loop = _Circular([1])
    loop.append(loop)
    inner = [loop]
    outer = {"a": inner}
    with pytest.raises(ValueError, match="Circular reference detected"):
        _codec.dumps(outer)
    # The objects that were being encoded are encoded again once the cycle
    # is gone: a leftover circular-reference mark would fail them.
    loop.pop()
    assert _codec.dumps(outer) == b'{"a":[[1]]}'
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        _codec.dumps(outer | {"s": {1}})
    assert _codec.dumps(outer) == b'{"a":[[1]]}'


# -- Channel.read ---------------------------------------------------------------


class _ShortReads(io.RawIOBase):
    """A stream's bytes handed out at most `step` at a time, as a pipe may."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._at = 0
        self._step = step
        self.reads = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        self.reads += 1
        n = min(len(buf), self._step, len(self._data) - self._at)
        buf[:n] = self._data[self._at : self._at + n]
        self._at += n
        return n


def _invoke(payload: bytes, request_id: str = "r1") -> tuple[bytes, dict[str, Any]]:
    msg = {"type": "invoke", "id": request_id, "deadline_ms": 1, "function_arn": "arn:x", "trace_id": None,
           "client_context": None, "cognito_identity": None, "tenant_id": None, "payload": payload}
    body = msgpack.packb(msg, use_bin_type=True)
    return len(body).to_bytes(4, "big") + body, msg


def _fed_channel(stream: Any) -> _channel.Channel:
    r, w = os.pipe()
    ch = _channel.Channel(r, w, _wire.DEFAULT_MAX_FRAME)
    ch._in.close()
    os.close(w)
    ch._in = stream
    return ch


LARGE = (0, 10, 2_000, _channel._SCRATCH_SIZE - 200, _channel._SCRATCH_SIZE + 10, 1_000_000, 3)


def _messages(sizes: tuple[int, ...]) -> tuple[bytes, list[dict[str, Any]]]:
    frames, msgs = [], []
    for i, size in enumerate(sizes):
        frame, msg = _invoke(bytes([i % 251]) * size, f"id-{i}")
        frames.append(frame)
        msgs.append(msg)
    shutdown = msgpack.packb({"type": "shutdown"})
    frames.append(len(shutdown).to_bytes(4, "big") + shutdown)
    msgs.append({"type": "shutdown"})
    return b"".join(frames), msgs


@pytest.mark.parametrize("step", [1, 3, 4, 5, 4096, 65536, 10**9])
def test_channel_reads_every_frame_however_the_stream_is_cut(step: int) -> None:
    # A byte at a time over 1.5 MB is slow: the small frames say it all there.
    data, msgs = _messages((0, 10, 2_000, 3) if step == 1 else LARGE)
    ch = _fed_channel(_ShortReads(data, step))
    got = [ch.read() for _ in msgs]
    assert got == msgs
    assert ch.read() is None  # EOF between frames


def test_frames_back_to_back_are_read_with_one_read() -> None:
    data = b"".join(_invoke(b"x" * n, f"id-{n}")[0] for n in (1, 50, 300))
    stream = _ShortReads(data, len(data))
    ch = _fed_channel(stream)
    assert [ch.read()["id"] for _ in range(3)] == ["id-1", "id-50", "id-300"]
    assert stream.reads == 1
    assert ch.read() is None


def test_a_real_pipe_delivers_a_small_frame_with_one_read() -> None:
    r, w = os.pipe()
    ch = _channel.Channel(r, w, _wire.DEFAULT_MAX_FRAME)
    frame, msg = _invoke(b'{"name": "Ada"}')
    os.write(w, frame)
    assert ch.read() == msg
    os.write(w, frame + frame)
    os.close(w)
    assert [ch.read(), ch.read(), ch.read()] == [msg, msg, None]


@pytest.mark.parametrize("cut", [1, 3, 4, 10, -1])
def test_eof_inside_a_frame_is_a_truncated_frame(cut: int) -> None:
    frame, _ = _invoke(b"payload" * 10)
    ch = _fed_channel(_ShortReads(frame[:cut] if cut > 0 else frame[:-1], 7))
    with pytest.raises(_channel.TruncatedFrame) as info:
        ch.read()
    assert info.value.code == "truncated_frame"
    assert f"of {len(frame) if cut >= 4 or cut < 0 else 4} bytes" in info.value.detail


def test_eof_inside_a_large_frame_is_a_truncated_frame() -> None:
    frame, _ = _invoke(b"z" * (_channel._SCRATCH_SIZE * 2))
    ch = _fed_channel(_ShortReads(frame[: _channel._SCRATCH_SIZE + 100], 65536))
    with pytest.raises(_channel.TruncatedFrame, match=f"of {len(frame)} bytes"):
        ch.read()


def test_a_bad_header_after_a_good_frame_is_reported() -> None:
    good, msg = _invoke(b"ok")
    ch = _fed_channel(_ShortReads(good + b"\x00\x00\x00\x00", 100))
    assert ch.read() == msg
    with pytest.raises(_wire.FrameError) as info:
        ch.read()
    assert info.value.code == "empty_frame"


# -- imports ----------------------------------------------------------------------


def test_json_worker_imports_neither_json_nor_re_for_an_ordinary_event(app) -> None:  # noqa: F811
    app.write("app.py", "import sys\ndef handler(event, context):\n    return {'modules': sorted(sys.modules), 'event': event}\n")
    w = app.start("app:handler")
    w.read()
    reply = json.loads(w.invoke(b'{"name": "Ada", "n": [1, 2.5]}\n')["payload"])
    assert reply["event"] == {"name": "Ada", "n": [1, 2.5]}
    assert "_json" in reply["modules"]
    assert not set(reply["modules"]) & {"json", "re", "logging", "asyncio"}, reply["modules"]
    # A body the fast path does not take still parses (and imports json then).
    reply = json.loads(w.invoke('{"name": "Zoë"}'.encode("utf-16"))["payload"])
    assert reply["event"] == {"name": "Zoë"} and "json" in reply["modules"]
    assert w.finish() == 0

