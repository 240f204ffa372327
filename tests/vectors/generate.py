"""Generator of the shared wire-protocol v1 test vectors (see README.md here).

Writes one `NAME.bin` (the complete frame, length prefix included) and one
`NAME.json` (what it must decode to, or the error code it must raise) per
vector into this folder.  Output is deterministic: run it again and `git diff`
shows nothing.  `build_vectors()` is also imported by the tests, which check
that the committed files are exactly what this script produces.

    .venv/bin/python tests/vectors/generate.py          # rewrite the files
    .venv/bin/python tests/vectors/generate.py --check  # exit 1 if stale

Frames are packed with `msgpack.packb(message, use_bin_type=True)` in insertion
order, so for every vector marked canonical `dispatcher.frames.encode(message)`
reproduces the .bin byte for byte.  The few vectors that need bytes a normal
packer cannot produce (invalid UTF-8 in a str, non-minimal headers, broken
msgpack) are assembled by hand with the helpers below.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

HERE = Path(__file__).resolve().parent
DEFAULT_MAX_FRAME = 16 * 1024 * 1024

TO_WORKER = "to_worker"
TO_SUPERVISOR = "to_supervisor"

REQUEST_ID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:hello"
TRACE_ID = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
# > 2**32, so the deadline needs msgpack's uint64 (0xcf): catches 32-bit decoders.
DEADLINE_MS = 1700000000123


@dataclass(frozen=True)
class Vector:
    name: str
    direction: str
    description: str
    frame: bytes
    message: dict[str, Any] | None = None  # valid vectors only
    error: str | None = None  # invalid vectors only
    max_frame: int | None = None
    canonical: bool = True  # valid vectors: packb(message, use_bin_type=True) == body

    @property
    def valid(self) -> bool:
        return self.error is None

    def description_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "direction": self.direction,
            "description": self.description,
            "valid": self.valid,
        }
        if self.valid:
            doc["message"] = to_json(self.message)
            doc["canonical"] = self.canonical
        else:
            doc["error"] = self.error
        if self.max_frame is not None:
            doc["max_frame"] = self.max_frame
        return doc


# --- byte helpers -----------------------------------------------------------


def frame(body: bytes) -> bytes:
    """Length prefix (u32 big-endian) + body."""
    return struct.pack(">I", len(body)) + body


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def raw_str(data: bytes) -> bytes:
    """A msgpack str holding `data` as is (possibly invalid UTF-8)."""
    n = len(data)
    if n < 32:
        return bytes([0xA0 | n]) + data
    if n < 256:
        return b"\xd9" + bytes([n]) + data
    return b"\xda" + struct.pack(">H", n) + data


def raw_map(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """A fixmap of already-packed key/value pairs."""
    assert len(pairs) < 16
    return bytes([0x80 | len(pairs)]) + b"".join(k + v for k, v in pairs)


def to_json(value: Any) -> Any:
    """The decoded message as JSON: msgpack bin becomes {"$bin": base64}."""
    if isinstance(value, bytes):
        return {"$bin": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


def from_json(value: Any) -> Any:
    """Inverse of to_json (used by the tests)."""
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return base64.b64decode(value["$bin"])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


# --- messages ---------------------------------------------------------------


def invoke(payload: bytes = b'{"name":"Ada"}', **overrides: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "type": "invoke",
        "id": REQUEST_ID,
        "payload": payload,
        "deadline_ms": DEADLINE_MS,
        "function_arn": FUNCTION_ARN,
        "trace_id": None,
        "client_context": None,
        "cognito_identity": None,
        "tenant_id": None,
    }
    msg.update(overrides)
    return msg


def json_payload(size: int) -> bytes:
    """A JSON object of exactly `size` bytes: {"data":"abc...xyz"}."""
    head, tail = b'{"data":"', b'"}'
    filler = b"abcdefghijklmnopqrstuvwxyz0123456789"
    n = size - len(head) - len(tail)
    body = (filler * (n // len(filler) + 1))[:n]
    return head + body + tail


def binary_payload(size: int) -> bytes:
    """Every byte value, repeated: catches text-mode or NUL-terminated handling."""
    return bytes(i % 256 for i in range(size))


def big_invoke(size: int) -> bytes:
    """A complete invoke frame with a JSON payload of `size` bytes (for 1-6 MB tests)."""
    return frame(pack(invoke(json_payload(size))))


def big_result(size: int) -> bytes:
    """A complete result frame with a binary payload of `size` bytes."""
    return frame(pack({"type": "result", "id": REQUEST_ID, "payload": binary_payload(size)}))


def valid(name: str, direction: str, description: str, message: dict[str, Any], **kw: Any) -> Vector:
    return Vector(name, direction, description, frame(pack(message)), message=message, **kw)


def invalid(name: str, direction: str, description: str, frame_bytes: bytes, error: str, **kw: Any) -> Vector:
    return Vector(name, direction, description, frame_bytes, error=error, **kw)


# --- the vectors ------------------------------------------------------------

UNICODE_EVENT = '{"name":"Zoë Ångström — 世界 🚀"}'.encode()
CLIENT_CONTEXT = (
    '{"client":{"installation_id":"i-1","app_title":"Ünïcödé 🚀","app_version_name":"1.0",'
    '"app_version_code":"1","app_package_name":"com.example"},'
    '"custom":{"name":"Zoë"},"env":{"locale":"ja_JP","platform":"Android"}}'
)
COGNITO_IDENTITY = '{"cognitoIdentityId":"us-east-1:1234","cognitoIdentityPoolId":"us-east-1:pool"}'
PY_STACK = [
    '  File "/var/task/app.py", line 3, in handler\n    raise ValueError("bad name")\n',
]


def to_worker_vectors() -> list[Vector]:
    W = TO_WORKER
    vs = [
        valid("invoke_all_nil", W, "invoke with every optional header absent (nil); deadline needs uint64", invoke()),
        valid(
            "invoke_all_set",
            W,
            "invoke with trace_id, client_context, cognito_identity and tenant_id all set",
            invoke(
                trace_id=TRACE_ID,
                client_context=CLIENT_CONTEXT,
                cognito_identity=COGNITO_IDENTITY,
                tenant_id="tenant-42",
            ),
        ),
        valid("invoke_empty_payload", W, "invoke whose payload is a bin of length 0", invoke(b"")),
        valid(
            "invoke_unicode",
            W,
            "non-ASCII text (2-, 3- and 4-byte UTF-8) in the payload and in client_context",
            invoke(UNICODE_EVENT, client_context=CLIENT_CONTEXT, tenant_id="テナント"),
        ),
        valid(
            "invoke_extra_keys",
            W,
            "invoke with unknown extra keys: they decode, and adapters must ignore them",
            {**invoke(), "future_key": {"nested": [1, 2, None]}, "x_flag": True},
        ),
        valid(
            "invoke_bin16_payload",
            W,
            "payload of 256 bytes: smallest size with a bin16 (0xc5) header",
            invoke(json_payload(256)),
        ),
        valid(
            "invoke_bin32_payload",
            W,
            "payload of 70 KiB (71680 bytes): bin32 (0xc6) header, bin16 covers <= 65535",
            invoke(json_payload(70 * 1024)),
        ),
        valid("shutdown", W, "shutdown: exit 0 soon", {"type": "shutdown"}),
        valid(
            "shutdown_extra_keys",
            W,
            "shutdown with an unknown extra key (ignored)",
            {"type": "shutdown", "reason": "scale-down"},
        ),
    ]

    # Same message as invoke_all_nil, but with the widest header of each
    # family: map16, str8/str16 for short strings, uint64 for a small int,
    # bin32 for a short payload.  Decoders must not assume minimal encodings.
    wide = (
        b"\xde\x00\x09"
        + b"\xd9\x04type" + b"\xda\x00\x06invoke"
        + b"\xd9\x02id" + b"\xda" + struct.pack(">H", len(REQUEST_ID)) + REQUEST_ID.encode()
        + b"\xd9\x07payload" + b"\xc6\x00\x00\x00\x0e" + b'{"name":"Ada"}'
        + b"\xd9\x0bdeadline_ms" + b"\xcf" + struct.pack(">Q", 1000)
        + b"\xd9\x0cfunction_arn" + b"\xd9" + bytes([len(FUNCTION_ARN)]) + FUNCTION_ARN.encode()
        + b"\xd9\x08trace_id\xc0"
        + b"\xd9\x0eclient_context\xc0"
        + b"\xd9\x10cognito_identity\xc0"
        + b"\xd9\x09tenant_id\xc0"
    )
    vs.append(
        Vector(
            "invoke_wide_encodings",
            W,
            "invoke_all_nil's keys with non-minimal headers (map16, str8, str16, uint64 for 1000, bin32 for 14 bytes)",
            frame(wide),
            message=invoke(deadline_ms=1000),
            canonical=False,
        )
    )

    at_max = frame(pack(invoke()))
    vs.append(
        valid(
            "invoke_at_max_frame",
            W,
            "frame length exactly equal to max_frame: allowed",
            invoke(),
            max_frame=len(at_max) - 4,
        )
    )

    shutdown = pack({"type": "shutdown"})
    bad_invoke = pack(invoke())
    vs += [
        invalid("bad_empty_frame", W, "length prefix 0", frame(b""), "empty_frame"),
        invalid(
            "bad_frame_too_large",
            W,
            "a well-formed invoke one byte longer than max_frame",
            frame(bad_invoke),
            "frame_too_large",
            max_frame=len(bad_invoke) - 1,
        ),
        invalid(
            "bad_frame_too_large_header_only",
            W,
            "length prefix 0xffffffff and no body: must fail on the 4 header bytes alone",
            b"\xff\xff\xff\xff",
            "frame_too_large",
        ),
        invalid("bad_reserved_byte", W, "body is 0xc1 (never used in msgpack)", frame(b"\xc1"), "invalid_msgpack"),
        invalid(
            "bad_truncated_map",
            W,
            "fixmap header announces 2 pairs, the frame holds 1",
            frame(b"\x82" + pack("type") + pack("shutdown")),
            "invalid_msgpack",
        ),
        invalid(
            "bad_truncated_payload",
            W,
            "invoke whose bin header announces more bytes than the frame holds",
            frame(bad_invoke[:-40]),
            "invalid_msgpack",
        ),
        invalid(
            "bad_trailing_data",
            W,
            "a complete shutdown map followed by one more msgpack value (nil) inside the frame",
            frame(shutdown + b"\xc0"),
            "trailing_data",
        ),
        invalid("bad_not_a_map_array", W, "body is an array", frame(pack(["shutdown"])), "not_a_map"),
        invalid("bad_not_a_map_int", W, "body is the integer 1", frame(pack(1)), "not_a_map"),
        invalid(
            "bad_non_str_key_int",
            W,
            "shutdown map with an extra integer key",
            frame(raw_map([(pack("type"), pack("shutdown")), (pack(1), pack("x"))])),
            "non_str_key",
        ),
        invalid(
            "bad_non_str_key_bin",
            W,
            "shutdown map with an extra key that is bin, not str",
            frame(raw_map([(pack("type"), pack("shutdown")), (pack(b"reason"), pack("x"))])),
            "non_str_key",
        ),
        invalid("bad_missing_type", W, "map without a type key", frame(pack({"id": REQUEST_ID})), "missing_type"),
        invalid("bad_type_int", W, "type is an integer", frame(pack({"type": 1})), "missing_type"),
        invalid("bad_type_bin", W, "type is bin b'shutdown', not str", frame(pack({"type": b"shutdown"})), "missing_type"),
        invalid(
            "bad_unknown_type_bogus",
            W,
            "a type defined in no direction",
            frame(pack({"type": "bogus"})),
            "unknown_type",
        ),
        invalid(
            "bad_unknown_type_ready",
            W,
            "ready is a worker-to-supervisor message; the worker must not accept it",
            frame(pack({"type": "ready", "protocol": 1, "features": []})),
            "unknown_type",
        ),
        invalid(
            "bad_invoke_payload_str",
            W,
            "invoke whose payload is str instead of bin",
            frame(pack(invoke('{"name":"Ada"}'))),  # type: ignore[arg-type]
            "bad_field",
        ),
        invalid(
            "bad_invoke_missing_id",
            W,
            "invoke without id",
            frame(pack({k: v for k, v in invoke().items() if k != "id"})),
            "bad_field",
        ),
        invalid("bad_invoke_id_nil", W, "invoke whose id is nil", frame(pack(invoke(id=None))), "bad_field"),
        invalid(
            "bad_invoke_missing_payload",
            W,
            "invoke without payload",
            frame(pack({k: v for k, v in invoke().items() if k != "payload"})),
            "bad_field",
        ),
        invalid(
            "bad_invoke_deadline_str",
            W,
            "invoke whose deadline_ms is a str",
            frame(pack(invoke(deadline_ms=str(DEADLINE_MS)))),
            "bad_field",
        ),
        invalid(
            "bad_invoke_function_arn_nil",
            W,
            "invoke whose function_arn is nil (it is always a str)",
            frame(pack(invoke(function_arn=None))),
            "bad_field",
        ),
        invalid(
            "bad_invoke_trace_id_int",
            W,
            "invoke whose trace_id is an integer (str or nil only)",
            frame(pack(invoke(trace_id=7))),
            "bad_field",
        ),
        invalid(
            "bad_invoke_client_context_bin",
            W,
            "invoke whose client_context is bin (str or nil only)",
            frame(pack(invoke(client_context=b"{}"))),
            "bad_field",
        ),
    ]
    return vs


def to_supervisor_vectors() -> list[Vector]:
    S = TO_SUPERVISOR
    result = {"type": "result", "id": REQUEST_ID, "payload": b'{"message":"Hello, Ada!"}'}
    error = {
        "type": "error",
        "id": REQUEST_ID,
        "error_type": "ValueError",
        "error_message": "bad name",
        "stack_trace": PY_STACK,
    }
    vs = [
        valid("ready", S, "ready, protocol 1, no features", {"type": "ready", "protocol": 1, "features": []}),
        valid(
            "ready_extra_keys",
            S,
            "ready announcing an unknown feature, plus an unknown key (both ignored)",
            {"type": "ready", "protocol": 1, "features": ["future-x"], "pid": 1234},
        ),
        valid(
            "init_error",
            S,
            "init_error as the Python adapter sends it for a missing module",
            {
                "type": "init_error",
                "error_type": "Runtime.ImportModuleError",
                "error_message": "Unable to import module 'app': No module named 'app'",
                "stack_trace": [],
            },
        ),
        valid("result_bin", S, "result with a bin payload (what adapters send)", result),
        valid("result_empty_payload", S, "result with a bin payload of length 0", {**result, "payload": b""}),
        valid(
            "result_unicode_payload",
            S,
            "result whose bin payload is UTF-8 JSON with 2-, 3- and 4-byte characters",
            {**result, "payload": '{"message":"Hello, Zoë 世界 🚀!"}'.encode()},
        ),
        valid(
            "result_map_payload",
            S,
            "result whose payload is a msgpack map (hand-written workers); the supervisor converts it to JSON",
            {
                **result,
                "payload": {
                    "message": "Hello, Ada!",
                    "count": 3,
                    "negative": -70000,
                    "ok": True,
                    "nothing": None,
                    "list": [1, "two", [3]],
                    "unicode": "Zoë 世界 🚀",
                },
            },
        ),
        valid("result_nil_payload", S, "result whose payload is nil (JSON null)", {**result, "payload": None}),
        valid(
            "result_map_with_bin",
            S,
            "a bin nested inside a map payload: a valid frame (the JSON conversion, not the codec, rejects it)",
            {**result, "payload": {"blob": b"\x00\x01\xff"}},
        ),
        valid(
            "result_bin32_payload",
            S,
            "result with a 70 KiB (71680 bytes) binary payload, every byte value: bin32 header",
            {**result, "payload": binary_payload(70 * 1024)},
        ),
        valid(
            "result_extra_keys",
            S,
            "result with an unknown extra key (ignored)",
            {**result, "duration_ms": 12},
        ),
        valid("error", S, "error with a Python-style stack trace", error),
        valid("error_empty_stack", S, "error whose stack_trace is empty", {**error, "stack_trace": []}),
        valid(
            "error_unicode",
            S,
            "error whose message and stack lines hold non-ASCII text",
            {
                **error,
                "error_type": "app::Ошибка",
                "error_message": "名前が不正です 🚫",
                "stack_trace": ["  at handler (/var/task/índex.js:3:9)", "  at 世界 🚀"],
            },
        ),
    ]

    # Invalid UTF-8 inside str: 0xff (never valid), 0x80 (lone continuation
    # byte), 0xc3 followed by '(' (lead byte without its continuation).  Each
    # is one maximal ill-formed subsequence, so every common decoder (Python
    # errors="replace", Rust from_utf8_lossy, WHATWG TextDecoder) yields
    # exactly one U+FFFD for it.
    def bad_utf8_error(kind: str) -> Vector:
        pairs = [(pack("type"), pack(kind))]
        if kind == "error":
            pairs.append((pack("id"), pack(REQUEST_ID)))
        pairs += [
            (pack("error_type"), pack("Function.Broken")),
            (pack("error_message"), raw_str(b"bad \xff byte")),
            (pack("stack_trace"), b"\x92" + raw_str(b"line \xc3( here") + raw_str(b"\x80 lone")),
        ]
        msg: dict[str, Any] = {"type": kind}
        if kind == "error":
            msg["id"] = REQUEST_ID
        msg.update(
            error_type="Function.Broken",
            error_message="bad \ufffd byte",
            stack_trace=["line \ufffd( here", "\ufffd lone"],
        )
        return Vector(
            f"{kind}_invalid_utf8",
            S,
            f"{kind} whose error_message and stack_trace hold invalid UTF-8: decoded with U+FFFD, never rejected",
            frame(raw_map(pairs)),
            message=msg,
            canonical=False,
        )

    vs += [bad_utf8_error("error"), bad_utf8_error("init_error")]

    # Feature `stream` (docs/protocol.md "Streaming"): open, chunks, end.
    vs += [
        valid(
            "ready_stream",
            S,
            "ready announcing feature stream",
            {"type": "ready", "protocol": 1, "features": ["stream"]},
        ),
        valid(
            "stream_open",
            S,
            "stream_open with a content type",
            {"type": "stream_open", "id": REQUEST_ID, "content_type": "text/plain"},
        ),
        valid(
            "stream_open_http_integration",
            S,
            "stream_open for a function-URL response: the body starts with the JSON prelude and 8 NULs",
            {"type": "stream_open", "id": REQUEST_ID, "content_type": "application/vnd.awslambda.http-integration-response"},
        ),
        valid(
            "stream_open_nil_content_type",
            S,
            "stream_open whose content_type is nil: the supervisor uses application/octet-stream",
            {"type": "stream_open", "id": REQUEST_ID, "content_type": None},
        ),
        valid(
            "stream_open_no_content_type",
            S,
            "stream_open without a content_type key: same as nil",
            {"type": "stream_open", "id": REQUEST_ID},
        ),
        valid(
            "stream_chunk",
            S,
            "stream_chunk carrying text bytes",
            {"type": "stream_chunk", "id": REQUEST_ID, "data": b"chunk-0\n"},
        ),
        valid(
            "stream_chunk_binary",
            S,
            "stream_chunk of 70 KiB with every byte value, NULs included: bin32 header",
            {"type": "stream_chunk", "id": REQUEST_ID, "data": binary_payload(70 * 1024)},
        ),
        valid(
            "stream_chunk_empty",
            S,
            "stream_chunk with 0 bytes: valid, and forwarded as nothing (never as HTTP's last-chunk)",
            {"type": "stream_chunk", "id": REQUEST_ID, "data": b""},
        ),
        valid("stream_end", S, "stream_end: the response is complete", {"type": "stream_end", "id": REQUEST_ID}),
    ]

    ready = pack({"type": "ready", "protocol": 1, "features": []})

    def without(msg: dict[str, Any], key: str) -> bytes:
        return frame(pack({k: v for k, v in msg.items() if k != key}))

    vs += [
        invalid("bad_empty_frame", S, "length prefix 0", frame(b""), "empty_frame"),
        invalid(
            "bad_frame_too_large",
            S,
            "a well-formed ready one byte longer than max_frame",
            frame(ready),
            "frame_too_large",
            max_frame=len(ready) - 1,
        ),
        invalid(
            "bad_frame_too_large_header_only",
            S,
            "length prefix max_frame + 1 (16777217) and no body: must fail on the 4 header bytes alone",
            struct.pack(">I", DEFAULT_MAX_FRAME + 1),
            "frame_too_large",
        ),
        invalid(
            "bad_stdout_text",
            S,
            "the worker printed 'Hello\\n' to stdout: read as length 0x48656c6c, over max_frame",
            b"Hello\n",
            "frame_too_large",
        ),
        invalid("bad_reserved_byte", S, "body is 0xc1 (never used in msgpack)", frame(b"\xc1"), "invalid_msgpack"),
        invalid(
            "bad_truncated_str",
            S,
            "ready whose last str header announces more bytes than the frame holds",
            frame(b"\x81" + pack("type") + b"\xa5rea"),
            "invalid_msgpack",
        ),
        invalid(
            "bad_trailing_data",
            S,
            "a complete ready map followed by two more bytes inside the frame",
            frame(ready + b"\x01\x02"),
            "trailing_data",
        ),
        invalid("bad_not_a_map_str", S, "body is the str 'ready'", frame(pack("ready")), "not_a_map"),
        invalid("bad_not_a_map_nil", S, "body is nil", frame(b"\xc0"), "not_a_map"),
        invalid(
            "bad_non_str_key_int",
            S,
            "result map with an extra integer key",
            frame(raw_map([(pack(k), pack(v)) for k, v in result.items()] + [(pack(0), pack(1))])),
            "non_str_key",
        ),
        invalid(
            "bad_missing_type",
            S,
            "result map without its type key",
            without(result, "type"),
            "missing_type",
        ),
        invalid("bad_type_nil", S, "type is nil", frame(pack({**result, "type": None})), "missing_type"),
        invalid(
            "bad_unknown_type_invoke",
            S,
            "invoke is a supervisor-to-worker message; the supervisor must not accept it from a worker",
            frame(pack(invoke())),
            "unknown_type",
        ),
        invalid(
            "bad_unknown_type_bogus",
            S,
            "a type defined in no direction",
            frame(pack({"type": "progress", "id": REQUEST_ID})),
            "unknown_type",
        ),
        invalid("bad_ready_protocol_str", S, "ready whose protocol is a str", frame(pack({"type": "ready", "protocol": "1", "features": []})), "bad_field"),
        invalid(
            "bad_ready_features_str",
            S,
            "ready whose features is a str, not an array of str",
            frame(pack({"type": "ready", "protocol": 1, "features": ""})),
            "bad_field",
        ),
        invalid(
            "bad_init_error_missing_message",
            S,
            "init_error without error_message",
            frame(pack({"type": "init_error", "error_type": "Runtime.ImportModuleError", "stack_trace": []})),
            "bad_field",
        ),
        invalid("bad_result_missing_id", S, "result without id", without(result, "id"), "bad_field"),
        invalid("bad_result_id_int", S, "result whose id is an integer", frame(pack({**result, "id": 42})), "bad_field"),
        invalid("bad_result_missing_payload", S, "result without payload (nil is allowed, absence is not)", without(result, "payload"), "bad_field"),
        invalid("bad_error_missing_type", S, "error without error_type", without(error, "error_type"), "bad_field"),
        invalid("bad_stream_open_missing_id", S, "stream_open without id", frame(pack({"type": "stream_open", "content_type": "text/plain"})), "bad_field"),
        invalid(
            "bad_stream_open_content_type_int",
            S,
            "stream_open whose content_type is an integer (str or nil only)",
            frame(pack({"type": "stream_open", "id": REQUEST_ID, "content_type": 7})),
            "bad_field",
        ),
        invalid(
            "bad_stream_chunk_data_str",
            S,
            "stream_chunk whose data is str, not bin",
            frame(pack({"type": "stream_chunk", "id": REQUEST_ID, "data": "chunk-0"})),
            "bad_field",
        ),
        invalid(
            "bad_stream_chunk_missing_data",
            S,
            "stream_chunk without data",
            frame(pack({"type": "stream_chunk", "id": REQUEST_ID})),
            "bad_field",
        ),
        invalid("bad_stream_end_id_nil", S, "stream_end whose id is nil", frame(pack({"type": "stream_end", "id": None})), "bad_field"),
        invalid(
            "bad_error_stack_str",
            S,
            "error whose stack_trace is a str, not an array",
            frame(pack({**error, "stack_trace": "line 1"})),
            "bad_field",
        ),
    ]
    return vs


def build_vectors() -> list[Vector]:
    vectors = [
        Vector(f"{v.direction}_{v.name}", v.direction, v.description, v.frame, v.message, v.error, v.max_frame, v.canonical)
        for v in to_worker_vectors() + to_supervisor_vectors()
    ]
    names = [v.name for v in vectors]
    assert len(names) == len(set(names)), "duplicate vector names"
    return vectors


def rendered(v: Vector) -> tuple[bytes, bytes]:
    """The exact .bin and .json file contents of a vector."""
    text = json.dumps(v.description_json(), indent=2, ensure_ascii=False) + "\n"
    return v.frame, text.encode("utf-8")


def main(argv: list[str]) -> int:
    check = "--check" in argv
    vectors = build_vectors()
    expected = {}
    for v in vectors:
        bin_bytes, json_bytes = rendered(v)
        expected[f"{v.name}.bin"] = bin_bytes
        expected[f"{v.name}.json"] = json_bytes
    present = {p.name for p in HERE.iterdir() if p.suffix in (".bin", ".json")}
    stale = sorted(present - set(expected))
    changed = sorted(n for n, data in expected.items() if not (HERE / n).is_file() or (HERE / n).read_bytes() != data)
    if check:
        for n in stale:
            print(f"stale file (not generated any more): {n}", file=sys.stderr)
        for n in changed:
            print(f"missing or out of date: {n}", file=sys.stderr)
        if stale or changed:
            print("run: .venv/bin/python tests/vectors/generate.py", file=sys.stderr)
            return 1
        return 0
    for n in stale:
        (HERE / n).unlink()
    for n in changed:
        (HERE / n).write_bytes(expected[n])
    print(f"{len(vectors)} vectors: {len(changed)} files written, {len(stale)} removed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
