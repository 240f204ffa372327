"""JSON for events and responses: the standard library's `json`, its C
scanner and encoder called directly.

`json.loads(bytes)` and `JSONEncoder.encode()` spend about as long around
the C code as in it for a small event (encoding detection, whitespace
regexes, building a new C encoder on every call).  `loads` and `dumps` here
give the same values, bytes and errors: whatever the fast path does not
cover (an event that is not a UTF-8 object or array, malformed JSON) goes
through `json.loads` itself, and the encoder is the one `JSONEncoder.encode`
would build, made once (README.md, "Speed", has the figures).
"""

from __future__ import annotations

import json
from json.decoder import WHITESPACE, JSONDecoder
from json.encoder import c_make_encoder, encode_basestring

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

__all__ = ["loads", "dumps"]

_scan = JSONDecoder().scan_once  # the C scanner, as json.loads uses it
_skip_ws = WHITESPACE.match
_OPEN = (0x7B, 0x5B)  # `{` and `[`


def loads(data: bytes) -> Any:
    """json.loads(data) for an event body."""
    # A body that starts with `{` or `[` and a non-NUL byte is UTF-8 by
    # json.detect_encoding's rules (no BOM, not UTF-16/32).
    if len(data) > 1 and data[0] in _OPEN and data[1]:
        try:
            text = data.decode("utf-8", "surrogatepass")
            value, end = _scan(text, 0)
            if end == len(text) or _skip_ws(text, end).end() == len(text):
                return value
        except Exception:
            pass  # json.loads below says what is wrong, in its own words
    return json.loads(data)


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_markers: dict[int, Any] = {}  # circular-reference check, emptied again after a failed encode


def _make_c_encoder() -> Callable[[Any, int], Any] | None:
    if c_make_encoder is None:
        return None
    try:
        return c_make_encoder(  # as JSONEncoder.iterencode(_one_shot=True) builds it
            _markers, _ENCODER.default, encode_basestring, None, ":", ",", False, False, False
        )
    except TypeError:  # a Python whose C encoder takes other arguments
        return None


_c_encode = _make_c_encoder()


def dumps(value: Any) -> bytes:
    """JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(value), UTF-8."""
    if _c_encode is None:
        return _ENCODER.encode(value).encode("utf-8")
    try:
        return "".join(_c_encode(value, 0)).encode("utf-8")
    except BaseException:
        _markers.clear()
        raise
