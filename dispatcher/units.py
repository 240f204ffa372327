"""Durations and sizes as people write them in dispatcher.yaml and on the command line.

`parse_duration("1.5s") -> 1.5` (float seconds) and `parse_size("16MB") -> 16777216`
(int bytes), plus the inverse `format_*` used by `dispatcher check`.  Errors are
ValueError with a message that can be shown as is; callers add where it came from.

Sizes are binary (KB = 1024 B) because every limit they express (frames, RSS)
is counted in pages and buffers, and Lambda's own "MB" of memory is MiB.  No
regular expressions: `re` is not otherwise needed at start-up.
"""

from __future__ import annotations

__all__ = ["parse_duration", "parse_size", "format_duration", "format_size", "DURATION_HINT", "SIZE_HINT"]

DURATION_HINT = "write a number with a unit: ms, s or m, e.g. `9s`, `1.5s`, `100ms`"
SIZE_HINT = "write a whole number of bytes or a number with a unit: B, KB, MB or GB (powers of 1024), e.g. `16MB`"

# (suffix, multiply, divide): dividing by 1000 keeps "100ms" exactly 0.1, as 100 * 0.001 need not be.
_DURATION_UNITS = (("ms", 1, 1000), ("s", 1, 1), ("m", 60, 1))  # "ms" before "s": suffix test order
_SIZE_UNITS = {"b": 1, "kb": 1 << 10, "kib": 1 << 10, "mb": 1 << 20, "mib": 1 << 20, "gb": 1 << 30, "gib": 1 << 30}
_DIGITS = frozenset("0123456789")


def _split_decimal(number: str) -> tuple[str, str] | None:
    """("12", "5") for "12.5"; None unless it is plain digits with at most one inner dot.

    float() alone would also accept "inf", "nan", "1e3", "+1", "1_0" and " 1".
    """
    whole, dot, frac = number.partition(".")
    if not whole or not set(whole) <= _DIGITS:
        return None
    if dot and (not frac or not set(frac) <= _DIGITS):
        return None
    return whole, frac


def parse_duration(text: str) -> float:
    """Seconds in `text` ("100ms", "9s", "1.5s", "2m"); ValueError if it is not one."""
    stripped = text.strip()
    if stripped.startswith("-"):
        raise ValueError(f"{text!r} is negative; a duration must be 0 or more")
    if stripped and _split_decimal(stripped) is not None:
        raise ValueError(f"{text!r} has no unit")
    for suffix, multiply, divide in _DURATION_UNITS:
        if stripped.endswith(suffix):
            number = stripped[: -len(suffix)].rstrip()
            if _split_decimal(number) is not None:
                return float(number) * multiply / divide
            break
    raise ValueError(f"{text!r} is not a duration")


def parse_size(text: str) -> int:
    """Bytes in `text` ("512", "1KB", "1.5MB", "1GB"); ValueError if it is not one."""
    stripped = text.strip()
    if stripped.startswith("-"):
        raise ValueError(f"{text!r} is negative; a size must be 0 or more")
    number = stripped.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    unit = stripped[len(number) :].lower()
    number = number.rstrip()
    scale = _SIZE_UNITS.get(unit, 0) if unit else 1
    parts = _split_decimal(number) if scale else None
    if parts is None:
        raise ValueError(f"{text!r} is not a size")
    whole, frac = parts
    # Exact integer arithmetic: 1.5MB is exactly 1572864 bytes, 0.1KB is not whole.
    denominator: int = 10 ** len(frac)
    scaled = (int(whole) * denominator + int(frac or "0")) * scale
    if scaled % denominator:
        raise ValueError(f"{text!r} is not a whole number of bytes")
    return scaled // denominator


def format_duration(seconds: float) -> str:
    """The shortest natural spelling that parse_duration reads back: 9s, 100ms, 1.5s."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:.6g}ms"
    return f"{seconds:.6g}s"


def format_size(size: int) -> str:
    """16MB for 16777216, 1536B for 1536, 0 for 0 (which means "never" where allowed)."""
    if size == 0:
        return "0"
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size % scale == 0:
            return f"{size // scale}{unit}"
    return f"{size}B"
