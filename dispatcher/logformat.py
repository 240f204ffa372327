"""Log records as AWS's runtimes make them: Text or JSON format, levels, frames.

Sans-IO: values in, bytes out.  `logs.py` decides where the bytes go.

- Text format (the default): a worker line is forwarded as
  `<request id>\\t<line>` during an invocation, as is otherwise or when the
  line names the request id already (the adapters' records do).
- JSON format (`AWS_LAMBDA_LOG_FORMAT=JSON`): every line is one JSON object.
  A plain line becomes `{"timestamp","level":"INFO","requestId","message"}`
  (the field order of the Node.js runtime interface client); a line that is
  already a JSON object is passed through, with `"requestId"` appended when it
  has none.  Records below `AWS_LAMBDA_LOG_LEVEL` are dropped; a missing or
  unknown `"level"` counts as INFO, as Lambda counts it.
- A record that spans several lines travels as one line with `\\r` where the
  newlines were (what AWS's runtimes write to stdout); in a telemetry frame
  the newlines are restored, so the record is one CloudWatch event.
- Telemetry frames: type (4 bytes BE), length (4 BE), timestamp in µs (8 BE),
  payload.  The type is 0xA55A0003 (Text) or 0xA55A0002 (JSON), OR-ed with
  the level's mask, as awslambdaric and the Node.js client set it.

`docs/logging.md` shows one record of each kind.
"""

from __future__ import annotations

import time

from _json import encode_basestring as _json_str  # C; `json` is imported only for JSON lines

__all__ = [
    "LogFormat",
    "LEVELS",
    "level_rank",
    "timestamp",
    "text_line",
    "json_record",
    "json_forward",
    "frame",
    "TEXT_FRAME",
    "JSON_FRAME",
]

# Rank of each level name (Node's priorities; Python's WARNING/CRITICAL alias WARN/FATAL).
LEVELS = {
    "TRACE": 1, "DEBUG": 2, "INFO": 3, "WARN": 4, "WARNING": 4, "ERROR": 5, "FATAL": 6, "CRITICAL": 6,
}
NAMES = {1: "TRACE", 2: "DEBUG", 3: "INFO", 4: "WARN", 5: "ERROR", 6: "FATAL"}
INFO = 3
# Frame type bits for each rank (awslambdaric `_JSON_FRAME_TYPES`, Node `tlvMask`).
_MASK = {0: 0, 1: 4, 2: 8, 3: 12, 4: 16, 5: 20, 6: 24}
TEXT_FRAME = 0xA55A0003
JSON_FRAME = 0xA55A0002


def level_rank(name: object) -> int:
    """Rank of a level name, any case; INFO for anything else (Lambda's rule)."""
    if isinstance(name, str):
        return LEVELS.get(name.upper(), INFO)
    return INFO


class LogFormat:
    """The function's logging configuration, read once from the environment."""

    __slots__ = ("json", "min_rank")

    def __init__(self, json: bool = False, min_rank: int = 0) -> None:
        self.json = json
        self.min_rank = min_rank

    @classmethod
    def from_env(cls, environ: object) -> "LogFormat":
        get = getattr(environ, "get")
        is_json = (get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON"
        # The level filters only under JSON format, as on Lambda (TRACE is the
        # lowest level there is; awslambdaric maps it to DEBUG, same effect).
        level = (get("AWS_LAMBDA_LOG_LEVEL") or "").upper()
        return cls(is_json, LEVELS.get(level, 0) if is_json else 0)


_stamp_sec = -1
_stamp_prefix = ""


def timestamp(now: float) -> str:
    """RFC 3339 UTC with milliseconds, as Node's `toISOString()`: 2026-01-31T12:00:00.123Z."""
    global _stamp_sec, _stamp_prefix
    sec = int(now)
    if sec != _stamp_sec:
        _stamp_sec = sec
        _stamp_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return "%s.%03dZ" % (_stamp_prefix, int((now - sec) * 1000))


def text_line(line: bytes, request_id: str | None) -> bytes:
    """Text format: `<request id>\\t<line>` during an invocation; the line as is
    otherwise, and when it names the request id already (an adapter's record)."""
    if request_id is None:
        return line
    rid = request_id.encode("utf-8", "replace")
    if rid in line:
        return line
    return rid + b"\t" + line


def json_record(level: str, message: str, request_id: str | None, now: float, extra: str = "") -> bytes:
    """One record the supervisor makes: timestamp, level, requestId, message (+ extra `,"k":v` text)."""
    rid = ',"requestId":' + _json_str(request_id) if request_id is not None else ""
    return (
        '{"timestamp":"' + timestamp(now) + '","level":"' + level + '"' + rid
        + ',"message":' + _json_str(message) + extra + "}"
    ).encode("utf-8", "surrogatepass")


_loads = None


def _parse_object(line: bytes) -> dict | None:  # type: ignore[type-arg]
    global _loads
    if _loads is None:
        from json import loads

        _loads = loads
    try:
        value = _loads(line)
    except ValueError:  # includes UnicodeDecodeError
        return None
    return value if isinstance(value, dict) else None


def json_forward(line: bytes, request_id: str | None, now: float) -> tuple[bytes, int]:
    """A worker's line under JSON format: (the record, its level rank).

    A JSON object passes through unchanged but for an appended `requestId`
    when it has none; anything else is wrapped as an INFO message (a `\\r`
    inside it stands for a newline of a multi-line record)."""
    body = line.rstrip(b" \t\r")
    if body[:1] == b"{" and body[-1:] == b"}":
        obj = _parse_object(body)
        if obj is not None:
            rank = level_rank(obj.get("level"))
            if "requestId" in obj or request_id is None:
                return body, rank
            sep = b"," if len(obj) else b""
            return body[:-1] + sep + b'"requestId":' + _json_str(request_id).encode("utf-8") + b"}", rank
    message = line.decode("utf-8", "replace").replace("\r", "\n")
    return json_record("INFO", message, request_id, now), INFO


def frame(is_json: bool, rank: int, payload: bytes, now: float) -> bytes:
    """One telemetry frame for `payload` (a whole record, newlines allowed)."""
    kind = (JSON_FRAME if is_json else TEXT_FRAME) | _MASK.get(rank, 0)
    return (
        kind.to_bytes(4, "big") + len(payload).to_bytes(4, "big") + int(now * 1_000_000).to_bytes(8, "big") + payload
    )
