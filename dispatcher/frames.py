"""Sans-IO codec for wire protocol v1 frames (see docs/protocol.md).

A frame is a 4-byte big-endian length N, then N bytes holding exactly one
msgpack map with str keys and a str `type`.  This module never touches a file
descriptor: callers feed bytes (or read straight into `writable()` and call
`advance()`) and pull messages with `next()`; `encode*` hand back bytes to
write.  Malformed input raises FrameError with a stable `code`, the same codes
the shared test vectors in tests/vectors/ use.

msgpack's C codec is imported after the first answer (`_load`): until then
frames go through dispatcher/msgpack_lite.py, a pure-Python subset that
yields the same values and bytes and hands anything outside it to msgpack.
That keeps msgpack's import (~4 ms) off the cold start; from then on the
codec is msgpack's, with nothing in between.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from dispatcher import msgpack_lite as _lite
from dispatcher.errors import ProtocolError

msgpack: Any = None  # the module, once _load() has imported it

__all__ = [
    "DEFAULT_MAX_FRAME",
    "STREAM_KINDS",
    "FrameError",
    "FrameDecoder",
    "encode",
    "encode_parts",
    "encode_invoke",
    "parse_worker_message",
    "parse_supervisor_message",
]

DEFAULT_MAX_FRAME = 16 * 1024 * 1024
_HEADER = 4
# Reads for small frames land in a scratch buffer of this size; a frame whose
# body is larger gets its own buffer, sized once from the length prefix, so a
# 6 MB payload is read straight into place instead of grown chunk by chunk.
_SCRATCH = 256 * 1024


class FrameError(ProtocolError):
    """A frame that breaks protocol v1.  `code` is one of the vector error codes."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(detail)


def _unpack_c(data: Any) -> dict[str, Any]:
    try:
        # unicode_errors="replace": a worker's error text with bad UTF-8 must
        # never make its error unreportable (protocol: decode with U+FFFD).
        value = msgpack.unpackb(data, raw=False, unicode_errors="replace", strict_map_key=False)
    except msgpack.ExtraData:
        raise FrameError("trailing_data", "bytes follow the msgpack value inside the frame") from None
    except Exception as exc:  # msgpack raises several unrelated types here
        raise FrameError("invalid_msgpack", f"the frame does not hold one msgpack value ({exc})") from None
    if not isinstance(value, dict):
        raise FrameError("not_a_map", f"the frame holds a msgpack {type(value).__name__}, not a map")
    for key in value:
        if not isinstance(key, str):
            raise FrameError("non_str_key", f"map key {key!r} is not a str")
    if not isinstance(value.get("type"), str):
        raise FrameError("missing_type", "the map has no str `type` key")
    return value


_early_done = False  # the first answer's frame has been read: load msgpack at the next one


def _unpack_early(data: Any) -> dict[str, Any]:
    """_unpack_c's result, by msgpack_lite, for the frames of a cold start."""
    global _early_done
    if _early_done:
        return _load()(data)
    try:
        value = _lite.unpackb(data)
    except _lite.Unsupported:
        return _load()(data)
    # The checks of _unpack_c, on the same value.
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value) or not isinstance(value.get("type"), str):
        return _load()(data)
    _early_done = value["type"] != "ready"
    return value


_unpack = _unpack_early  # FrameDecoder's decoder: _unpack_c once msgpack is loaded


def _load() -> Any:
    """Import msgpack and make it the codec from now on; returns _unpack."""
    global msgpack, _unpack, _pack, _packb
    if msgpack is None:
        import msgpack as module

        msgpack = module
        _pack = module.Packer(use_bin_type=True).pack
        _packb = _packb_c
        _unpack = _unpack_c
    return _unpack


def _buffer(n: int) -> bytearray:
    """A buffer for a large body: dispatcher/bigbuf.py reuses one that is
    free (imported here, on first use: no cost at cold start)."""
    from dispatcher.bigbuf import take

    return take(n)


def _unpack_large(body: bytearray) -> dict[str, Any]:
    """A large frame's message, its top-level bin values views of `body`
    (dispatcher/frames_large.py; imported on first use, like bigbuf)."""
    if msgpack is None:  # a large frame before the first answer: msgpack's turn now
        _load()
    from dispatcher.frames_large import unpack_large

    return unpack_large(body, _unpack, msgpack.unpackb)


class FrameDecoder:
    """Incremental frame decoder.  One per byte stream."""

    __slots__ = ("max_frame", "_buf", "_body", "_have", "_scratch")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()  # bytes received, not yet part of a sized body
        self._body: bytearray | None = None  # the current large frame's body
        self._have = 0  # bytes of _body filled
        self._scratch: bytearray | None = None

    @property
    def pending(self) -> int:
        """Bytes received that do not form a complete message yet."""
        return len(self._buf) + self._have

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._body is not None:
            room = len(self._body) - self._have
            take = min(room, len(data))
            self._body[self._have : self._have + take] = data[:take]
            self._have += take
            if take < len(data):
                self._buf += data[take:]
        else:
            self._buf += data

    def writable(self) -> memoryview:
        """A buffer to read into directly; report the count with advance()."""
        if self._body is not None:
            return memoryview(self._body)[self._have :]
        if self._scratch is None:
            self._scratch = bytearray(_SCRATCH)
        return memoryview(self._scratch)

    def advance(self, n: int) -> None:
        if self._body is not None:
            self._have += n
            return
        assert self._scratch is not None
        with memoryview(self._scratch) as mv:
            if n == _SCRATCH and not self._buf:
                # A full read that begins a frame: a large one is copied
                # from here straight to its own buffer, not through _buf.
                size = int.from_bytes(mv[:_HEADER], "big")
                if _SCRATCH < size <= self.max_frame:
                    body = self._body = _buffer(size)
                    body[: n - _HEADER] = mv[_HEADER:n]
                    self._have = n - _HEADER
                    return
            self._buf += mv[:n]

    def next(self) -> dict[str, Any] | None:
        """The next complete message, or None when more bytes are needed."""
        if self._body is not None:
            if self._have < len(self._body):
                return None
            body, self._body, self._have = self._body, None, 0
            return _unpack_large(body)
        buf = self._buf
        if len(buf) < _HEADER:
            return None
        n = int.from_bytes(buf[:_HEADER], "big")
        if n == 0:
            raise FrameError("empty_frame", "frame length is 0")
        if n > self.max_frame:
            raise FrameError(
                "frame_too_large", f"frame length {n} exceeds max_frame {self.max_frame}"
            )
        end = _HEADER + n
        if len(buf) >= end:
            with memoryview(buf) as mv, mv[_HEADER:end] as view:
                msg = _unpack(view)
            del buf[:end]
            return msg
        if n <= _SCRATCH:
            return None  # small: keep accumulating in _buf
        # Large frame: give it a buffer of its own and move what we have.
        self._body = _buffer(n)
        have = len(buf) - _HEADER
        with memoryview(buf) as mv:
            self._body[:have] = mv[_HEADER:]
        self._have = have
        buf.clear()
        return None

def _pack_early(value: Any) -> bytes:
    try:
        return _lite.packb(value)
    except _lite.Unsupported:
        _load()
        return _pack(value)


def _packb_early(msg: Any) -> bytes:
    if _early_done:
        _load()
        return _packb_c(msg)
    return _pack_early(msg)


def _packb_c(msg: Any) -> bytes:
    return msgpack.packb(msg, use_bin_type=True)  # type: ignore[no-any-return]


_pack = _pack_early  # packs one value of an invoke frame: msgpack's Packer.pack once loaded
_packb = _packb_early  # packs a whole message: _packb_c once loaded

# The invoke frame's constant parts, packed once (fixmap of 9, then keys).
_INVOKE_HEAD = b"\x89" + _lite.packb("type") + _lite.packb("invoke") + _lite.packb("id")
_K_DEADLINE = _lite.packb("deadline_ms")
_K_ARN = _lite.packb("function_arn")
_K_TRACE = _lite.packb("trace_id")
_K_CLIENT = _lite.packb("client_context")
_K_COGNITO = _lite.packb("cognito_identity")
_K_TENANT = _lite.packb("tenant_id")
_K_PAYLOAD = _lite.packb("payload")
_NO_CLIENT_COGNITO_TENANT = _K_CLIENT + b"\xc0" + _K_COGNITO + b"\xc0" + _K_TENANT + b"\xc0"
_ARN_PACKED: dict[str, bytes] = {}  # function ARN -> its key and packed value


def encode_parts(msg: dict[str, Any]) -> tuple[bytes, bytes]:
    """(length prefix, body) of one frame, for a vectored write."""
    body = _packb(msg)
    return len(body).to_bytes(_HEADER, "big"), body


def encode(msg: dict[str, Any]) -> bytes:
    head, body = encode_parts(msg)
    return head + body


def encode_invoke(
    request_id: str,
    payload: bytes | bytearray | memoryview,
    deadline_ms: int,
    function_arn: str,
    trace_id: str | None,
    client_context: str | None,
    cognito_identity: str | None,
    tenant_id: str | None,
) -> list[bytes | bytearray | memoryview]:
    """An `invoke` frame as buffers for os.writev, the payload never copied.

    Equivalent to encode({...}) with the keys in the order below: the map
    header and every other field are packed normally, then the payload's bin
    header, then the payload object itself.
    """
    pack = _pack
    n = len(payload)
    if n < 256:
        bin_head = b"\xc4" + n.to_bytes(1, "big")
    elif n < 65536:
        bin_head = b"\xc5" + n.to_bytes(2, "big")
    else:
        bin_head = b"\xc6" + n.to_bytes(4, "big")
    # The function ARN is the same for every event: packed once, with its key.
    arn = _ARN_PACKED.get(function_arn)
    if arn is None:
        if len(_ARN_PACKED) > 8:
            _ARN_PACKED.clear()
        arn = _ARN_PACKED[function_arn] = _K_ARN + pack(function_arn)
    if client_context is None and cognito_identity is None and tenant_id is None:
        rest = _NO_CLIENT_COGNITO_TENANT  # the usual event
    else:
        rest = b"".join((
            _K_CLIENT, b"\xc0" if client_context is None else pack(client_context),
            _K_COGNITO, b"\xc0" if cognito_identity is None else pack(cognito_identity),
            _K_TENANT, b"\xc0" if tenant_id is None else pack(tenant_id),
        ))
    before = b"".join((
        _INVOKE_HEAD, pack(request_id), _K_DEADLINE, pack(deadline_ms), arn,
        _K_TRACE, b"\xc0" if trace_id is None else pack(trace_id),
        rest, _K_PAYLOAD, bin_head,
    ))
    total = len(before) + n
    return [total.to_bytes(_HEADER, "big") + before, payload]


# ---------------------------------------------------------------------------
# Message validation: which types exist in each direction, and their fields.
# A table, so the two directions are read side by side.  Unknown keys are
# ignored (forward compatibility); missing or mistyped known keys are errors.

_STR = (str,)
_STR_OR_NONE = (str, type(None))
_LIST = (list,)
_INT = (int,)
_BIN = (bytes, memoryview)  # memoryview: a large frame's bin, read in place

_TO_SUPERVISOR: dict[str, dict[str, tuple[type, ...]]] = {
    "ready": {"protocol": _INT},
    "init_error": {"error_type": _STR, "error_message": _STR},
    "result": {"id": _STR},  # payload: any value, checked below
    "error": {"id": _STR, "error_type": _STR, "error_message": _STR},
    # feature `stream` (docs/protocol.md "Streaming"); content_type is optional.
    "stream_open": {"id": _STR},
    "stream_chunk": {"id": _STR, "data": _BIN},
    "stream_end": {"id": _STR},
}

# The frame kinds a worker may send only after announcing feature `stream`.
STREAM_KINDS = frozenset(("stream_open", "stream_chunk", "stream_end"))

_TO_WORKER: dict[str, dict[str, tuple[type, ...]]] = {
    "invoke": {
        "id": _STR,
        "payload": _BIN,
        "deadline_ms": _INT,
        "function_arn": _STR,
        "trace_id": _STR_OR_NONE,
        "client_context": _STR_OR_NONE,
        "cognito_identity": _STR_OR_NONE,
        "tenant_id": _STR_OR_NONE,
    },
    "shutdown": {},
}


def _check(msg: dict[str, Any], table: dict[str, dict[str, tuple[type, ...]]], who: str) -> dict[str, Any]:
    kind = msg["type"]
    fields = table.get(kind)
    if fields is None:
        raise FrameError("unknown_type", f"unknown message type {kind!r} from the {who}")
    for key, types in fields.items():
        if key not in msg:
            raise FrameError("bad_field", f"`{kind}` message without `{key}`")
        value = msg[key]
        # bool is an int subclass; a bool protocol/deadline is still wrong.
        if not isinstance(value, types) or (types is _INT and isinstance(value, bool)):
            raise FrameError(
                "bad_field", f"`{kind}.{key}` is a {type(value).__name__}, not {types[0].__name__}"
            )
    return msg


def parse_worker_message(msg: dict[str, Any]) -> dict[str, Any]:
    """Validate a worker -> supervisor message (already a str-keyed map with a type)."""
    _check(msg, _TO_SUPERVISOR, "worker")
    kind = msg["type"]
    if kind == "result" and "payload" not in msg:
        raise FrameError("bad_field", "`result` message without `payload`")
    if kind in ("error", "init_error"):
        trace = msg.get("stack_trace", [])
        if trace is None:
            trace = []
        if not isinstance(trace, list):
            raise FrameError("bad_field", f"`{kind}.stack_trace` is not a list")
        msg["stack_trace"] = [t if isinstance(t, str) else repr(t) for t in trace]
    if kind == "stream_open" and not isinstance(msg.get("content_type"), _STR_OR_NONE):
        raise FrameError("bad_field", f"`stream_open.content_type` is a {type(msg['content_type']).__name__}, not str or nil")
    if kind == "ready":
        features = msg.get("features", [])
        if not isinstance(features, list):
            raise FrameError("bad_field", "`ready.features` is not a list")
        msg["features"] = [f for f in features if isinstance(f, str)]
    return msg


def parse_supervisor_message(msg: dict[str, Any]) -> dict[str, Any]:
    """Validate a supervisor -> worker message (used by tests and Python tooling)."""
    return _check(msg, _TO_WORKER, "supervisor")
