"""The events the contenders are fed: one small fixed event, and large ones.

The large events are JSON but deliberately not canonical (spaces after
separators, indentation, `\\u` escapes, exponents), so a contender that
decodes and re-encodes the event is visibly different from a byte-exact echo,
and their size is exact.  They are generated deterministically on each run
rather than committed (6 MB in git for nothing).
"""

from __future__ import annotations

import json
from pathlib import Path

SMALL = Path(__file__).resolve().parent / "events" / "small.json"
LARGE_SIZES = {"1mb": 1_000_000, "6mb": 6_000_000}


def large_event(size: int) -> bytes:
    """A non-canonical JSON object of exactly `size` bytes."""
    head = b'{\n  "records": [\n'
    tail_open = b'\n  ],\n  "padding": "'
    tail_close = b'"\n}\n'
    records: list[bytes] = []
    used = len(head) + len(tail_open) + len(tail_close)
    i = 0
    while True:
        rec = (
            '    {"id" : %d, "name": "caf\\u00e9 n\\u00b0%d", "tags": [ "a", "b\\t" ], '
            '"score": %d.50e0, "ok": %s, "note": null}' % (i, i, i % 997, "true" if i % 2 else "false")
        ).encode()
        extra = len(rec) + (2 if records else 0)
        if used + extra > size - 16:
            break
        records.append(rec)
        used += extra
        i += 1
    pad = b"x" * (size - used)
    data = head + b",\n".join(records) + tail_open + pad + tail_close
    assert len(data) == size, (len(data), size)
    return data


def write_events(folder: Path) -> dict[str, Path]:
    """{"small": path, "1mb": path, "6mb": path}; large files written into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"small": SMALL}
    for name, size in LARGE_SIZES.items():
        path = folder / f"event-{name}.json"
        if not path.exists() or path.stat().st_size != size:
            path.write_bytes(large_event(size))
        paths[name] = path
    return paths


def same_json(event: bytes, answer: bytes) -> bool:
    """True when the answer decodes to the same JSON value as the event."""
    try:
        return json.loads(event) == json.loads(answer)
    except ValueError:
        return False
