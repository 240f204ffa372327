"""Handlers for the concurrency bench (bench/concurrency.py), served by
awslambdaric and by the dispatcher's Python adapter alike.

`io`: waits `ms` milliseconds (an I/O-bound handler: a downstream call).
`cpu`: `rounds` of SHA-256 over 4 KiB (CPU-bound work that holds the GIL).
"""

import hashlib
import time

_BLOCK = bytes(range(256)) * 16


def io(event, context):
    ms = event.get("ms", 20) if isinstance(event, dict) else 20
    time.sleep(ms / 1000)
    return {"slept_ms": ms}


def cpu(event, context):
    rounds = event.get("rounds", 100) if isinstance(event, dict) else 100
    h = hashlib.sha256()
    for _ in range(rounds):
        h.update(_BLOCK)
    return {"hash": h.hexdigest()[:16]}
