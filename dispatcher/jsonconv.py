"""Converting a hand-written worker's non-bin `result.payload` to JSON.

Fixed rules (docs/protocol.md): compact separators, UTF-8 as is, no NaN or
Infinity, str map keys only, no bin or ext anywhere inside.  Adapters send
bin, so this path is rare and `json` is imported only here, lazily.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["to_json", "NotConvertible"]

_MAX_DEPTH = 512


class NotConvertible(ValueError):
    pass


def _check(value: Any, depth: int, path: str) -> None:
    if depth > _MAX_DEPTH:
        raise NotConvertible(f"nested deeper than {_MAX_DEPTH} levels at {path}")
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise NotConvertible(f"{value!r} at {path} has no JSON form")
        return
    if type(value).__name__ == "ExtType":  # a namedtuple: test before tuple
        raise NotConvertible(f"a msgpack ExtType at {path} has no JSON form")
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, depth + 1, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise NotConvertible(f"map key {k!r} at {path} is not a str")
            _check(v, depth + 1, f"{path}.{k}")
        return
    kind = "bin" if isinstance(value, (bytes, bytearray)) else type(value).__name__
    raise NotConvertible(f"a msgpack {kind} at {path} has no JSON form (send the whole payload as bin instead)")


def to_json(value: Any) -> bytes:
    _check(value, 0, "payload")
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8", "surrogatepass")
