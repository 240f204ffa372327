"""JSON for events, responses and the context's headers: the C scanner and
encoder of the standard library's `json` (its `_json` module), called
directly.

Around its C code `json` spends about as long as in it for a small event
(`json.loads(bytes)` detects the encoding and runs two regexes,
`JSONEncoder.encode()` builds a new C encoder on every call), and importing
it costs more than the rest of the adapter together (`re` and its compiled
patterns).  `loads` and `dumps` give the same values, bytes and errors as
`json.loads` and `JSONEncoder(ensure_ascii=False, allow_nan=False,
separators=(",", ":")).encode`: they are the same C functions with the same
settings, and whatever the fast path does not cover (a body that is not a
UTF-8 JSON object or array, malformed JSON, a Python without `_json`) goes
to `json` itself, imported then.  README.md ("Speed") has the figures.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["loads", "dumps"]

try:
    from _json import encode_basestring, make_encoder, make_scanner
except ImportError:  # not CPython: json's own (pure Python) code
    make_scanner = None


class _Settings:
    """What the C scanner reads from json.JSONDecoder(): its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


def _default(o: Any) -> Any:
    # json.JSONEncoder.default, word for word.
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


_WS = " \t\n\r"  # JSON's whitespace
_OPEN_BYTES = (0x7B, 0x5B)  # `{` and `[`
_OPEN_TEXT = ("{", "[")
_markers: dict[int, Any] = {}  # the circular-reference check; emptied again after a failed encode
_scan: Any = None
_encode: Any = None
if make_scanner is not None:
    try:
        _scan = make_scanner(_Settings())
        _encode = make_encoder(_markers, _default, encode_basestring, None, ":", ",", False, False, False)
    except TypeError:  # a Python whose C functions take other arguments
        _scan = _encode = None


def loads(data: bytes | str) -> Any:
    """json.loads(data)."""
    if _scan is not None:
        try:
            if type(data) is str:
                text = data
                fast = data[:1] in _OPEN_TEXT
            else:
                # `{` or `[` then a non-NUL byte: UTF-8 by json.detect_encoding's rules
                # (no BOM, not UTF-16/32).
                fast = len(data) > 1 and data[0] in _OPEN_BYTES and data[1] != 0
                text = data.decode("utf-8", "surrogatepass") if fast else ""
            if fast:
                value, end = _scan(text, 0)
                if end == len(text) or not text[end:].strip(_WS):
                    return value
        except Exception:
            pass  # json.loads says what is wrong, in its own words
    import json

    return json.loads(data)


def dumps(value: Any) -> bytes:
    """JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(value), as UTF-8."""
    if _encode is None:
        import json

        return json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(value).encode()
    try:
        return "".join(_encode(value, 0)).encode("utf-8")
    except BaseException:
        _markers.clear()
        raise
