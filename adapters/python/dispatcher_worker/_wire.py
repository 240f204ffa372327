"""Wire protocol v1, worker side, without IO: frame headers, body validation,
and the bytes of every message a worker sends (docs/protocol.md).

The reader in _channel.py owns the file descriptor; this module only turns
bytes into validated messages and messages into bytes.  Malformed input
raises FrameError with the same codes as the shared vectors in tests/vectors/.
"""

from __future__ import annotations

# typing is only for annotations (strings here): importing it costs ~2 ms a start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

import msgpack

__all__ = [
    "DEFAULT_MAX_FRAME",
    "HEADER_SIZE",
    "FrameError",
    "frame_length",
    "decode_body",
    "encode",
    "ready",
    "error",
    "encode_result",
    "stream_open",
    "stream_chunk",
    "stream_end",
]

DEFAULT_MAX_FRAME = 16 * 1024 * 1024
HEADER_SIZE = 4
PROTOCOL = 1


class FrameError(Exception):
    """The supervisor sent bytes that break protocol v1 (`code` as in the vectors)."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")


def frame_length(header: bytes | bytearray, max_frame: int) -> int:
    """The body length announced by a 4-byte header, checked against max_frame."""
    n = int.from_bytes(header, "big")
    if n == 0:
        raise FrameError("empty_frame", "frame length is 0")
    if n > max_frame:
        raise FrameError("frame_too_large", f"frame length {n} exceeds max_frame {max_frame}")
    return n


# Keys each supervisor message must carry, with the accepted Python types
# after msgpack decoding (bin -> bytes, str -> str, nil -> None).
_STR = (str,)
_STR_OR_NONE = (str, type(None))
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "invoke": {
        "id": _STR,
        "payload": (bytes,),
        "deadline_ms": (int,),
        "function_arn": _STR,
        "trace_id": _STR_OR_NONE,
        "client_context": _STR_OR_NONE,
        "cognito_identity": _STR_OR_NONE,
        "tenant_id": _STR_OR_NONE,
    },
    "shutdown": {},
}


_unpackb = msgpack.unpackb
_INVOKE_KEYS = len(_FIELDS["invoke"]) + 1  # the fields and `type`


def decode_body(body: bytes | bytearray | memoryview) -> dict[str, Any]:
    """One frame body -> a validated `invoke` or `shutdown` message."""
    # The fast path: an invoke with exactly the known keys, each of its type
    # (a map of that many entries that has all of them has no other key, so
    # none that is not a str).  Anything else is judged by _decode_slow().
    try:
        msg = _unpackb(body)
        if (
            type(msg) is dict
            and len(msg) == _INVOKE_KEYS
            and msg.get("type") == "invoke"
            and type(msg.get("id")) is str
            and type(msg.get("payload")) is bytes
            and type(msg.get("deadline_ms")) is int
            and type(msg.get("function_arn")) is str
            and type(msg.get("trace_id")) in _STR_OR_NONE
            and type(msg.get("client_context")) in _STR_OR_NONE
            and type(msg.get("cognito_identity")) in _STR_OR_NONE
            and type(msg.get("tenant_id")) in _STR_OR_NONE
        ):
            return msg
    except Exception:
        pass
    return _decode_slow(body)


def _decode_slow(body: bytes | bytearray | memoryview) -> dict[str, Any]:
    """decode_body() for anything but a plain invoke, with the exact error."""
    try:
        # strict_map_key=False: a non-str key must surface as non_str_key,
        # not as msgpack's generic ValueError.
        msg = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except msgpack.ExtraData:
        raise FrameError("trailing_data", "bytes follow the msgpack value inside the frame") from None
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise FrameError("invalid_msgpack", f"the frame does not hold one msgpack value ({exc})") from None
    if not isinstance(msg, dict):
        raise FrameError("not_a_map", f"the frame holds a msgpack {type(msg).__name__}, not a map")
    for key in msg:
        if not isinstance(key, str):
            raise FrameError("non_str_key", f"map key {key!r} is not a str")
    kind = msg.get("type")
    if not isinstance(kind, str):
        raise FrameError("missing_type", "the map has no str `type` key")
    fields = _FIELDS.get(kind)
    if fields is None:
        raise FrameError("unknown_type", f"message type {kind!r} is not one a worker receives")
    for key, types in fields.items():
        if key not in msg:
            raise FrameError("bad_field", f"`{kind}` message without `{key}`")
        value = msg[key]
        # bool is an int subclass, but a bool deadline is still wrong.
        if not isinstance(value, types) or isinstance(value, bool):
            raise FrameError("bad_field", f"`{kind}.{key}` is a {type(value).__name__}")
    return msg


# One packer for every frame (packb builds a new one per call).  It resets
# itself after an exception, so a failed pack leaves nothing behind.
_pack = msgpack.Packer(use_bin_type=True).pack


def _frame(body: bytes) -> bytes:
    return len(body).to_bytes(HEADER_SIZE, "big") + body


def encode(msg: dict[str, Any]) -> bytes:
    """A complete frame for a small message (ready, init_error, error)."""
    return _frame(_pack(msg))


FEATURES = ["stream"]  # optional frame kinds this adapter can send


def ready() -> bytes:
    return encode({"type": "ready", "protocol": PROTOCOL, "features": FEATURES})


def stream_open(request_id: str, content_type: str | None) -> bytes:
    return encode({"type": "stream_open", "id": request_id, "content_type": content_type})


def _bin_head(n: int) -> bytes:
    """The msgpack bin header for n bytes (bin8, bin16 or bin32)."""
    if n < 0x100:
        return b"\xc4" + n.to_bytes(1, "big")
    if n < 0x10000:
        return b"\xc5" + n.to_bytes(2, "big")
    return b"\xc6" + n.to_bytes(4, "big")


def stream_chunk(request_id: str, data: bytes | bytearray | memoryview) -> list[Any]:
    """A `stream_chunk` frame as [head, data], the data not copied.

    Byte-identical to encode({"type": "stream_chunk", "id": ..., "data": ...}).
    """
    n = len(data)
    bin_head = _bin_head(n)
    head = b"\x83\xa4type\xacstream_chunk\xa2id" + _pack(request_id) + b"\xa4data" + bin_head
    return [(len(head) + n).to_bytes(HEADER_SIZE, "big") + head, data]


def stream_end(request_id: str) -> bytes:
    return encode({"type": "stream_end", "id": request_id})


def error(kind: str, request_id: str | None, error_type: str, message: str, stack: list[str]) -> bytes:
    """An `error` (with request_id) or `init_error` (request_id None) frame."""
    msg: dict[str, Any] = {"type": kind}
    if request_id is not None:
        msg["id"] = request_id
    msg["error_type"] = _text(error_type)
    msg["error_message"] = _text(message)
    msg["stack_trace"] = [_text(line) for line in stack]
    return encode(msg)


def _text(s: str) -> str:
    # Exception messages may hold lone surrogates (e.g. from surrogateescape'd
    # file names), which msgpack refuses to encode as UTF-8.
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


# Below this size a result's payload is copied into one frame (one write of
# one buffer is cheaper than a writev of two); above it, it is not copied.
_JOIN_BELOW = 64 * 1024


def encode_result(request_id: str, payload: bytes | bytearray | memoryview) -> list[Any]:
    """A `result` frame as buffers for one write: [frame] for a small payload,
    [head, payload] for a large one, the payload not copied.

    Byte-identical to encode({"type": "result", "id": ..., "payload": ...}).
    """
    n = len(payload)
    head = b"".join((b"\x83\xa4type\xa6result\xa2id", _pack(request_id), b"\xa7payload", _bin_head(n)))
    size = (len(head) + n).to_bytes(HEADER_SIZE, "big")
    if n < _JOIN_BELOW:
        return [b"".join((size, head, payload))]
    return [size + head, payload]
