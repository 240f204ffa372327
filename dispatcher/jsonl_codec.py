"""The jsonl protocol's bytes, both ways, without any I/O (docs/jsonl.md).

`LineDecoder` cuts the worker's stdout into lines (one trailing \\r
tolerated, each line at most `max_line` bytes); `parse_reply` turns one
line into the message dict the supervisor already understands for msgpack
workers ({"type": "ready"}, "init_error", "result" with the re-encoded JSON
as `payload` bytes, "error"); `encode_invoke` builds the line sent for one
invocation.  JSON is written with the core's rules (docs/protocol.md):
compact separators, UTF-8 as is, no NaN or Infinity.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "LineDecoder",
    "JsonlError",
    "BadEvent",
    "LineTooLong",
    "parse_reply",
    "encode_invoke",
    "encode_event",
    "shown",
    "READY_LINE",
]

READY_LINE = b'{"ready":true}\n'
SHOW = 200  # characters of an offending line quoted in an error body


class JsonlError(ValueError):
    """A line from the worker that breaks the jsonl protocol.

    `reason` says what is wrong without quoting the line (it goes to the
    logs); `line` is the offending line, for the invocation's error body only.
    """

    def __init__(self, reason: str, line: bytes = b"") -> None:
        self.reason = reason
        self.line = line
        super().__init__(reason)


class LineTooLong(JsonlError):
    pass


class BadEvent(ValueError):
    """The event is not JSON: the invocation is answered Runtime.UnmarshalError."""


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_decode = json.JSONDecoder(parse_constant=_no_constants).decode
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _dumps(value: Any) -> bytes:
    # surrogatepass: a lone \\ud800 escape is valid JSON text; keep it as the core does.
    return _encode(value).encode("utf-8", "surrogatepass")


def shown(line: bytes | bytearray, limit: int = SHOW) -> str:
    """The start of `line` for an error message, marked when cut."""
    text = bytes(line[: limit * 4]).decode("utf-8", "replace")
    if len(text) > limit or len(line) > limit * 4:
        return repr(text[:limit]) + "\u2026"
    return repr(text)


class LineDecoder:
    """Bytes in, complete lines out (without \\n and one trailing \\r).

    `feed` returns the complete lines and, when the stream broke the line
    limit, the LineTooLong error that follows them (the lines before it
    still count: a valid reply followed by garbage answers its invocation).
    """

    __slots__ = ("max_line", "_buf")

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._buf = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> tuple[list[bytes], LineTooLong | None]:
        buf = self._buf
        start = len(buf)
        buf += data
        lines: list[bytes] = []
        pos = 0
        error = None
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            end = nl - 1 if nl > pos and buf[nl - 1] == 0x0D else nl
            if end - pos > self.max_line:
                error = LineTooLong(f"sent a line of {end - pos} bytes, over max_frame ({self.max_line})", bytes(buf[pos : pos + SHOW * 4]))
                break
            lines.append(bytes(buf[pos:end]))
            pos = start = nl + 1
        if pos:
            del buf[:pos]
        # +1: the \r that may precede the coming \n is not part of the line.
        if error is None and len(buf) > self.max_line + 1:
            error = LineTooLong(f"sent more than max_frame ({self.max_line}) bytes without a newline", bytes(buf[: SHOW * 4]))
        if error is not None:
            buf.clear()
        return lines, error

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line."""
        return len(self._buf)


def _text(obj: dict[str, Any], key: str, where: str, line: bytes, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        got = "missing" if key not in obj else f"a {type(value).__name__}"
        raise JsonlError(f"sent {where} whose `{key}` is {got}, not a string", line)
    return value


def _error_fields(obj: Any, where: str, line: bytes) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise JsonlError(f"sent {where} that is not an object", line)
    stack = obj.get("stack_trace", [])
    if stack is None:
        stack = []
    if not isinstance(stack, list) or not all(isinstance(s, str) for s in stack):
        raise JsonlError(f"sent {where} whose `stack_trace` is not a list of strings", line)
    return {
        "error_type": _text(obj, "type", where, line),
        "error_message": _text(obj, "message", where, line, ""),
        "stack_trace": stack,
    }


def parse_reply(line: bytes) -> dict[str, Any]:
    """One line from the worker as a message dict; JsonlError when it breaks the protocol.

    Invalid UTF-8 is replaced (U+FFFD) rather than refused, as the core does
    for error texts: a legacy script echoing a Latin-1 file name should not
    cost the caller the whole answer.
    """
    try:
        obj = _decode(line.decode("utf-8", "replace"))
    except (ValueError, RecursionError) as exc:
        detail = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise JsonlError(f"printed a line that is not JSON ({detail})", line) from None
    if not isinstance(obj, dict):
        raise JsonlError(f"printed a JSON {type(obj).__name__} where an object was expected", line)
    if "id" in obj:
        rid = obj["id"]
        if not isinstance(rid, str):
            raise JsonlError("sent a reply whose `id` is not a string", line)
        has_result, has_error = "result" in obj, "error" in obj
        if has_result == has_error:
            raise JsonlError("sent a reply with " + ("both `result` and `error`" if has_result else "neither `result` nor `error`"), line)
        if has_error:
            return {"type": "error", "id": rid, **_error_fields(obj["error"], "an `error`", line)}
        try:
            payload = _dumps(obj["result"])
        except ValueError as exc:  # 1e999 parses as inf, which has no JSON form
            raise JsonlError(f"sent a result that cannot be written back as JSON ({exc})", line) from None
        return {"type": "result", "id": rid, "payload": payload}
    if "ready" in obj:
        if obj["ready"] is not True:
            raise JsonlError("sent `ready` with a value other than true", line)
        return {"type": "ready", "protocol": "jsonl", "features": []}
    if "init_error" in obj:
        return {"type": "init_error", **_error_fields(obj["init_error"], "an `init_error`", line)}
    raise JsonlError("printed a JSON object with none of `id`, `ready`, `init_error`", line)


def encode_event(payload: bytes | bytearray | memoryview) -> bytes:
    """The event re-encoded on one line; BadEvent when it is not JSON."""
    try:
        event = _decode(bytes(payload).decode("utf-8"))
        return _dumps(event)
    except UnicodeDecodeError as exc:
        raise BadEvent(f"the event is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise BadEvent("the event is nested too deeply") from None
    except ValueError as exc:
        raise BadEvent(str(exc)) from None


def encode_invoke(
    request_id: str,
    event: bytes,
    deadline_ms: int,
    function_arn: str,
    trace_id: str | None,
    client_context: str | None,
    cognito_identity: str | None,
    tenant_id: str | None,
) -> list[bytes]:
    """The invocation line, as buffers to write in order (the event is not copied).

    `event` is already re-encoded (encode_event).  The keys always come in
    this order with `event` last, so that a line-oriented helper (the shell
    adapter) can cut the event out without parsing it: `,"event":` cannot
    occur inside the JSON strings before it, where quotes are escaped.
    """
    head = _dumps(
        {
            "id": request_id,
            "deadline_ms": deadline_ms,
            "function_arn": function_arn,
            "trace_id": trace_id,
            "client_context": client_context,
            "cognito_identity": cognito_identity,
            "tenant_id": tenant_id,
        }
    )
    return [head[:-1], b',"event":', event, b"}\n"]
