"""Large frames read in place: the message of a frame too big for the
decoder's scratch buffer, with each top-level bin value (a result's payload,
a stream chunk's data) a memoryview of the frame's own buffer instead of a
copy (docs/protocol.md, "Large frames").  Sans-IO; frames.py imports it on
the first large frame.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

__all__ = ["unpack_large"]


def unpack_large(body: bytearray, unpack: Callable[[Any], dict[str, Any]], unpackb: Callable[..., Any]) -> dict[str, Any]:
    """A large frame's message with each top-level bin value (a result's
    payload, a stream chunk's data) a memoryview of `body`, not a copy.

    Read by hand when the map is flat enough: str keys, and values whose
    extent the first bytes give (nil, bool, numbers, str, bin).  A frame of
    any other shape (a map or array value, ext, more than 16 entries) or one
    that is malformed goes to msgpack whole, as a small frame does, so the
    result and every error code are the same either way.  `unpack` is the
    small frame's decoder (frames.py's, with its checks), `unpackb` msgpack's.
    """
    n = len(body)
    first = body[0]
    if 0x80 <= first <= 0x8F:
        count, pos = first & 0x0F, 1
    elif first == 0xDE and n >= 3:
        count, pos = int.from_bytes(body[1:3], "big"), 3
    else:
        return unpack(body)
    if count > 16:
        return unpack(body)
    msg: dict[str, Any] = {}
    with memoryview(body) as view:
        for i in range(2 * count):
            if pos >= n:
                return unpack(body)
            tag = body[pos]
            fixed = _FIXED_SIZE[tag]
            if fixed:
                end = pos + fixed
            else:
                width = _LEN_WIDTH[tag]
                if not width:
                    return unpack(body)  # map, array, ext, or an invalid byte
                start = pos + 1 + width
                end = start + int.from_bytes(body[pos + 1 : start], "big")
                if end > n:
                    return unpack(body)
                if tag <= 0xC6:  # bin 8/16/32: the bytes in place
                    if i & 1 == 0:
                        return unpack(body)  # a bin key
                    msg[key] = view[start:end]
                    pos = end
                    continue
            if end > n:
                return unpack(body)
            value = unpackb(view[pos:end], raw=False, unicode_errors="replace")
            if i & 1 == 0:
                if not isinstance(value, str):
                    return unpack(body)
                key = value
            else:
                msg[key] = value
            pos = end
    if pos != n or not isinstance(msg.get("type"), str):
        return unpack(body)
    return msg


# For each first byte of a msgpack value: its size when the byte alone gives
# it (nil, bool, int, float, fixstr), else 0.
_FIXED_SIZE = bytes(
    1 if b < 0x80 or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3)
    else 1 + (b & 0x1F) if 0xA0 <= b <= 0xBF
    else {0xCA: 5, 0xCB: 9, 0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9, 0xD0: 2, 0xD1: 3, 0xD2: 5, 0xD3: 9}.get(b, 0)
    for b in range(256)
)
# Width of the length field after the first byte, for bin and str 8/16/32.
_LEN_WIDTH = bytes({0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}.get(b, 0) for b in range(256))
