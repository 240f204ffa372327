"""`dispatcher run` with its straight lines counted, for tests that must know
which path served them (tests/test_steady_many.py).

    python tests/probe_steady.py --config dispatcher.yaml

runs the real supervisor, unchanged, and when it exits writes one line to
stderr: `probe: entered=E served=S handed_over=H`, where E counts entries into
the N-slot straight line (dispatcher/steady_many.py), S the answers it posted
itself, and H the invocations it handed back to the core."""

from __future__ import annotations

import sys
from typing import Any

from dispatcher import steady_many
from dispatcher.cli import main
from dispatcher.core import Core

counts = {"entered": 0, "served": 0, "handed_over": 0}
_many = steady_many.SteadyMany._steady_many
_hand_over = steady_many.SteadyMany._many_hand_over
_replied = Core.steady_replied


def _counted_many(self: Any, *args: Any) -> Any:
    counts["entered"] += 1
    return _many(self, *args)


def _counted_hand_over(self: Any, inflight: dict[str, Any]) -> None:
    counts["handed_over"] += len(inflight)
    _hand_over(self, inflight)


def _counted_replied(self: Any, *args: Any) -> Any:
    counts["served"] += 1
    return _replied(self, *args)


steady_many.SteadyMany._steady_many = _counted_many  # type: ignore[method-assign]
steady_many.SteadyMany._many_hand_over = _counted_hand_over  # type: ignore[method-assign]
Core.steady_replied = _counted_replied  # type: ignore[method-assign]

status = main(["run", *sys.argv[1:]])
sys.stderr.write("probe: " + " ".join(f"{k}={v}" for k, v in counts.items()) + "\n")
sys.exit(status)
