"""The shared wire-protocol vectors (tests/vectors/) against the supervisor's codec.

Every valid vector must decode, fed whole and split at every byte boundary,
to exactly its description; every invalid one must raise FrameError with its
code; encode() must reproduce the canonical vectors byte for byte.  The same
files are run by each adapter's own tests, so a pass here pins the supervisor
and the adapters to one reading of docs/protocol.md.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from dispatcher import frames
from dispatcher.frames import FrameDecoder, FrameError

VECTORS = Path(__file__).resolve().parent / "vectors"
SPLIT_LIMIT = 4096  # split at every boundary only for vectors up to this size


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("vectors_generate", VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _load(name: str) -> tuple[bytes, dict[str, Any]]:
    return (VECTORS / f"{name}.bin").read_bytes(), json.loads((VECTORS / f"{name}.json").read_text("utf-8"))


NAMES = sorted(p.stem for p in VECTORS.glob("*.json"))
VALID = [n for n in NAMES if _load(n)[1]["valid"]]
INVALID = [n for n in NAMES if not _load(n)[1]["valid"]]


def _parse(direction: str, msg: dict[str, Any]) -> dict[str, Any]:
    if direction == "to_supervisor":
        return frames.parse_worker_message(msg)
    return frames.parse_supervisor_message(msg)


def _decode_all(data: bytes, direction: str, max_frame: int, cut: int | None = None) -> list[dict[str, Any]]:
    """Decode a byte stream (optionally fed in two pieces at `cut`) into parsed messages."""
    dec = FrameDecoder(max_frame)
    out: list[dict[str, Any]] = []
    pieces = [data] if cut is None else [data[:cut], data[cut:]]
    for piece in pieces:
        dec.feed(piece)
        while (msg := dec.next()) is not None:
            out.append(_parse(direction, msg))
    return out


def test_vector_files_are_what_the_generator_writes() -> None:
    expected: dict[str, bytes] = {}
    for v in gen.build_vectors():
        bin_bytes, json_bytes = gen.rendered(v)
        expected[f"{v.name}.bin"] = bin_bytes
        expected[f"{v.name}.json"] = json_bytes
    present = {p.name: p.read_bytes() for p in VECTORS.iterdir() if p.suffix in (".bin", ".json")}
    assert sorted(present) == sorted(expected), "run: .venv/bin/python tests/vectors/generate.py"
    stale = [n for n in expected if present[n] != expected[n]]
    assert not stale, f"out of date: {stale}; run: .venv/bin/python tests/vectors/generate.py"


def test_vectors_cover_every_kind_and_error_code() -> None:
    kinds = {(d["direction"], d["message"]["type"]) for d in (_load(n)[1] for n in VALID)}
    assert kinds == {
        ("to_worker", "invoke"),
        ("to_worker", "shutdown"),
        ("to_supervisor", "ready"),
        ("to_supervisor", "init_error"),
        ("to_supervisor", "result"),
        ("to_supervisor", "error"),
        ("to_supervisor", "stream_open"),
        ("to_supervisor", "stream_chunk"),
        ("to_supervisor", "stream_end"),
    }
    codes = {(d["direction"], d["error"]) for d in (_load(n)[1] for n in INVALID)}
    all_codes = {
        "empty_frame", "frame_too_large", "invalid_msgpack", "trailing_data", "not_a_map",
        "non_str_key", "missing_type", "unknown_type", "bad_field",
    }
    for direction in ("to_worker", "to_supervisor"):
        assert {c for d, c in codes if d == direction} == all_codes, direction


@pytest.mark.parametrize("name", VALID)
def test_valid_vector_decodes_to_its_message(name: str) -> None:
    data, doc = _load(name)
    expected = gen.from_json(doc["message"])
    max_frame = doc.get("max_frame", gen.DEFAULT_MAX_FRAME)
    assert _decode_all(data, doc["direction"], max_frame) == [expected]


@pytest.mark.parametrize("name", [n for n in VALID if (VECTORS / f"{n}.bin").stat().st_size <= SPLIT_LIMIT])
def test_valid_vector_decodes_when_split_at_every_byte(name: str) -> None:
    data, doc = _load(name)
    expected = gen.from_json(doc["message"])
    max_frame = doc.get("max_frame", gen.DEFAULT_MAX_FRAME)
    for cut in range(len(data) + 1):
        dec = FrameDecoder(max_frame)
        dec.feed(data[:cut])
        if cut < len(data):
            assert dec.next() is None, f"message before its last byte (cut {cut})"
        dec.feed(data[cut:])
        assert _parse(doc["direction"], dec.next()) == expected, f"cut {cut}"
        assert dec.next() is None


@pytest.mark.parametrize("name", [n for n in VALID if (VECTORS / f"{n}.bin").stat().st_size > SPLIT_LIMIT])
def test_large_valid_vector_decodes_fed_byte_chunks(name: str) -> None:
    data, doc = _load(name)
    expected = gen.from_json(doc["message"])
    dec = FrameDecoder(doc.get("max_frame", gen.DEFAULT_MAX_FRAME))
    got = []
    # A prime chunk size, so pieces straddle the header and the bin32 prefix.
    for i in range(0, len(data), 997):
        dec.feed(data[i : i + 997])
        while (msg := dec.next()) is not None:
            got.append(_parse(doc["direction"], msg))
    assert got == [expected]


@pytest.mark.parametrize("name", INVALID)
def test_invalid_vector_raises_its_code(name: str) -> None:
    data, doc = _load(name)
    max_frame = doc.get("max_frame", gen.DEFAULT_MAX_FRAME)
    with pytest.raises(FrameError) as info:
        _decode_all(data, doc["direction"], max_frame)
    assert info.value.code == doc["error"], info.value.detail


@pytest.mark.parametrize("name", [n for n in INVALID if (VECTORS / f"{n}.bin").stat().st_size <= SPLIT_LIMIT])
def test_invalid_vector_raises_its_code_when_split(name: str) -> None:
    data, doc = _load(name)
    max_frame = doc.get("max_frame", gen.DEFAULT_MAX_FRAME)
    for cut in range(len(data) + 1):
        with pytest.raises(FrameError) as info:
            _decode_all(data, doc["direction"], max_frame, cut)
        assert info.value.code == doc["error"], f"cut {cut}: {info.value.detail}"


@pytest.mark.parametrize("direction", ["to_worker", "to_supervisor"])
def test_all_valid_vectors_of_a_direction_decode_as_one_stream(direction: str) -> None:
    names = [n for n in VALID if _load(n)[1]["direction"] == direction and "max_frame" not in _load(n)[1]]
    stream = b"".join(_load(n)[0] for n in names)
    expected = [gen.from_json(_load(n)[1]["message"]) for n in names]
    assert _decode_all(stream, direction, gen.DEFAULT_MAX_FRAME) == expected
    # Also with a cut inside the bin32 vector's payload.
    assert _decode_all(stream, direction, gen.DEFAULT_MAX_FRAME, cut=len(stream) // 2) == expected


@pytest.mark.parametrize("name", VALID)
def test_encode_round_trips_and_matches_canonical_bytes(name: str) -> None:
    data, doc = _load(name)
    message = gen.from_json(doc["message"])
    encoded = frames.encode(message)
    assert _decode_all(encoded, doc["direction"], gen.DEFAULT_MAX_FRAME) == [message]
    if doc["canonical"]:
        assert encoded == data


@pytest.mark.parametrize("name", [n for n in VALID if n.startswith("to_worker_invoke")])
def test_encode_invoke_matches_encode(name: str) -> None:
    """The zero-copy invoke writer must put the same message on the wire."""
    message = gen.from_json(_load(name)[1]["message"])
    parts = frames.encode_invoke(
        message["id"], message["payload"], message["deadline_ms"], message["function_arn"],
        message["trace_id"], message["client_context"], message["cognito_identity"], message["tenant_id"],
    )
    wire = b"".join(bytes(p) for p in parts)
    known = {k: message[k] for k in message if k in gen.invoke()}
    assert _decode_all(wire, "to_worker", gen.DEFAULT_MAX_FRAME) == [
        {k: known[k] for k in ["type", "id", "deadline_ms", "function_arn", "trace_id",
                                "client_context", "cognito_identity", "tenant_id", "payload"]}
    ]


@pytest.mark.parametrize("size", [1024 * 1024, 6 * 1024 * 1024])
def test_large_frames_decode(size: int) -> None:
    for data, direction in ((gen.big_invoke(size), "to_worker"), (gen.big_result(size), "to_supervisor")):
        msgs = _decode_all(data, direction, gen.DEFAULT_MAX_FRAME, cut=len(data) // 3)
        assert len(msgs) == 1 and len(msgs[0]["payload"]) == size
        assert frames.encode(msgs[0]) == data
