"""A small pure-Python subset of msgpack, for the frames of a cold start.

Importing msgpack's C codec costs a cold start about 4 ms on Python 3.11
(itself, `collections`, `struct` and the pure-Python `datetime`, which its C
module asks for), more than everything else the supervisor imports after the
config.  Before the first answer the supervisor exchanges only a couple of
small frames with its worker (`ready`, one `invoke`, one reply), so
dispatcher/frames.py reads and writes those with this subset and imports the
C codec only once the first answer is out (README, "Cold start").

The subset: nil, booleans, integers (64-bit), str, bin, arrays and maps, in
msgpack's encodings, packed exactly as msgpack's Packer(use_bin_type=True)
packs them and read exactly as unpackb(raw=False, unicode_errors="replace",
strict_map_key=False) reads them.  Anything else (floats, ext types, any
malformed or truncated input, nesting deeper than 64, input over 64 KiB,
a type that is not exactly one of the above) raises Unsupported, and the caller hands the same
bytes or value to msgpack itself, so every error is msgpack's own.
tests/test_msgpack_lite.py checks both directions against msgpack.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

__all__ = ["Unsupported", "unpackb", "packb"]

_MAX_DEPTH = 64
MAX_READ = 64 * 1024  # a larger frame (a big first event or answer) is read by msgpack, without a copy more


class Unsupported(Exception):
    """Outside the subset, or malformed: let msgpack handle these bytes or this value."""


# -- reading ------------------------------------------------------------------------


def unpackb(data: bytes | bytearray | memoryview) -> Any:
    """The one value `data` holds (at most MAX_READ bytes: a larger one is msgpack's)."""
    if len(data) > MAX_READ:
        raise Unsupported
    buf = bytes(data)
    try:
        value, end = _read(buf, 0, 0)
    except (IndexError, TypeError, ValueError, RecursionError):  # truncated, unhashable key...
        raise Unsupported from None
    if end != len(buf):
        raise Unsupported  # trailing bytes: msgpack names the error
    return value


def _take(b: bytes, i: int, n: int) -> tuple[bytes, int]:
    end = i + n
    if end > len(b):
        raise Unsupported  # truncated
    return b[i:end], end


def _uint(b: bytes, i: int, n: int) -> tuple[int, int]:
    raw, end = _take(b, i, n)
    return int.from_bytes(raw, "big"), end


def _read(b: bytes, i: int, depth: int) -> tuple[Any, int]:
    c = b[i]
    i += 1
    if c <= 0x7F:
        return c, i
    if c >= 0xE0:
        return c - 0x100, i
    if 0xA0 <= c <= 0xBF:
        raw, i = _take(b, i, c & 0x1F)
        return raw.decode("utf-8", "replace"), i
    if c <= 0x8F:
        return _map(b, i, c & 0x0F, depth)
    if c <= 0x9F:
        return _array(b, i, c & 0x0F, depth)
    if c == 0xC0:
        return None, i
    if c == 0xC2:
        return False, i
    if c == 0xC3:
        return True, i
    if 0xC4 <= c <= 0xC6:  # bin 8/16/32
        n, i = _uint(b, i, 1 << (c - 0xC4))
        return _take(b, i, n)
    if 0xCC <= c <= 0xCF:  # uint 8/16/32/64
        return _uint(b, i, 1 << (c - 0xCC))
    if 0xD0 <= c <= 0xD3:  # int 8/16/32/64
        raw, i = _take(b, i, 1 << (c - 0xD0))
        return int.from_bytes(raw, "big", signed=True), i
    if 0xD9 <= c <= 0xDB:  # str 8/16/32
        n, i = _uint(b, i, 1 << (c - 0xD9))
        raw, i = _take(b, i, n)
        return raw.decode("utf-8", "replace"), i
    if c == 0xDC or c == 0xDD:  # array 16/32
        n, i = _uint(b, i, 2 if c == 0xDC else 4)
        return _array(b, i, n, depth)
    if c == 0xDE or c == 0xDF:  # map 16/32
        n, i = _uint(b, i, 2 if c == 0xDE else 4)
        return _map(b, i, n, depth)
    raise Unsupported  # float, ext, the unused 0xc1


def _array(b: bytes, i: int, n: int, depth: int) -> tuple[list[Any], int]:
    if depth >= _MAX_DEPTH or n > len(b) - i:  # each item takes at least a byte
        raise Unsupported
    out = []
    for _ in range(n):
        value, i = _read(b, i, depth + 1)
        out.append(value)
    return out, i


def _map(b: bytes, i: int, n: int, depth: int) -> tuple[dict[Any, Any], int]:
    if depth >= _MAX_DEPTH or 2 * n > len(b) - i:
        raise Unsupported
    out = {}
    for _ in range(n):
        key, i = _read(b, i, depth + 1)
        out[key], i = _read(b, i, depth + 1)
    return out, i


# -- writing ------------------------------------------------------------------------


def packb(value: Any) -> bytes:
    """`value` packed as msgpack.packb(value, use_bin_type=True) packs it."""
    out: list[bytes] = []
    try:
        _pack(value, out.append, 0)
    except UnicodeEncodeError:  # a lone surrogate: msgpack raises its own error
        raise Unsupported from None
    return b"".join(out)


def _head(n: int, fix: int, fix_max: int, wide: bytes, widths: tuple[int, ...]) -> bytes:
    """A length header: the fix form when n fits, else the first wide form it fits."""
    if n <= fix_max:
        return bytes((fix | n,))
    for code, width in zip(wide, widths):
        if n < 1 << (8 * width):
            return bytes((code,)) + n.to_bytes(width, "big")
    raise Unsupported  # over 4 GiB: msgpack refuses it


def _pack(v: Any, put: Callable[[bytes], object], depth: int) -> None:
    t = type(v)
    if t is str:
        raw = v.encode("utf-8")
        put(_head(len(raw), 0xA0, 31, b"\xd9\xda\xdb", (1, 2, 4)))
        put(raw)
    elif t is bytes or t is bytearray or t is memoryview:
        raw = bytes(v)
        put(_head(len(raw), 0, -1, b"\xc4\xc5\xc6", (1, 2, 4)))
        put(raw)
    elif v is None:
        put(b"\xc0")
    elif v is True or v is False:
        put(b"\xc3" if v else b"\xc2")
    elif t is int:
        put(_int(v))
    elif depth >= _MAX_DEPTH:
        raise Unsupported
    elif t is dict:
        put(_head(len(v), 0x80, 15, b"\xde\xdf", (2, 4)))
        for key, item in v.items():
            _pack(key, put, depth + 1)
            _pack(item, put, depth + 1)
    elif t is list or t is tuple:
        put(_head(len(v), 0x90, 15, b"\xdc\xdd", (2, 4)))
        for item in v:
            _pack(item, put, depth + 1)
    else:
        raise Unsupported  # float, ExtType, subclasses, anything a `default` would handle


def _int(v: int) -> bytes:
    if 0 <= v <= 0x7F:
        return bytes((v,))
    if -32 <= v < 0:
        return bytes((v + 0x100,))
    if v > 0:
        for code, width in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
            if v < 1 << (8 * width):
                return bytes((code,)) + v.to_bytes(width, "big")
    else:
        for code, width in ((0xD0, 1), (0xD1, 2), (0xD2, 4), (0xD3, 8)):
            if v >= -(1 << (8 * width - 1)):
                return bytes((code,)) + v.to_bytes(width, "big", signed=True)
    raise Unsupported  # beyond 64 bits: msgpack raises OverflowError
