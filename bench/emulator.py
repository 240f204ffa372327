"""How many next+response pairs per second the embedded emulator sustains.

The emulator measures itself (dispatcher.emulator._selfbench.measure: the
emulator in this process, a raw-socket client in a child interpreter); this
module calls it pinned to CPU 0 and unpinned, and turns its absence or
failure into a note.
"""

from __future__ import annotations

import importlib
from typing import Any


def measure(seconds: float) -> dict[str, Any]:
    try:
        selfbench = importlib.import_module("dispatcher.emulator._selfbench")
    except ImportError as exc:
        return {"note": f"dispatcher.emulator's self-benchmark is not importable ({exc})"}
    fn = getattr(selfbench, "measure", None)
    if not callable(fn):
        return {"note": "dispatcher.emulator._selfbench has no measure() helper"}
    out: dict[str, Any] = {"detail": "dispatcher.emulator._selfbench.measure, raw-socket client"}
    for mode, cpu in (("pinned", 0), ("unpinned", None)):
        try:
            rate, server_us, client_us = fn(seconds, cpu=cpu)
        except Exception as exc:  # another engineer's code: report it, never end the run
            return {"note": f"dispatcher.emulator._selfbench.measure raised {type(exc).__name__}: {exc}"}
        out[mode] = {"pairs_per_s": rate, "emulator_cpu_us_per_pair": server_us, "client_cpu_us_per_pair": client_us}
    out["pairs_per_s"] = out["pinned"]["pairs_per_s"]
    return out
