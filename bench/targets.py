"""The project's performance targets, as ratios of medians from one run.

Ratios, not absolute numbers: all contenders ran on the same machine,
interleaved, in the same run, so machine speed and drift cancel out.  Each
ratio of medians also carries its range round by round (`by_round`), which
says how far a shared machine moved it.  A
target whose inputs are missing (contender skipped or failed) is N/A, never
PASS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    id: str
    text: str
    figure: str  # key in results["figures"]
    mode: str | None  # "pinned" | "unpinned" | None (figure has no modes)
    subject: str
    versus: str | None  # None: an absolute bound on the subject's value
    op: str  # ">=" | "<="
    bound: float
    unit: str = "x"


TARGETS: tuple[Target, ...] = (
    Target("tp-rust-vs-ric", "throughput, dispatcher + Rust echo vs awslambdaric (pinned)",
           "throughput", "pinned", "dispatcher-rust", "awslambdaric", ">=", 2.2),
    Target("tp-rust-vs-native", "throughput, dispatcher + Rust echo vs native baseline (pinned)",
           "throughput", "pinned", "dispatcher-rust", "native", ">=", 0.55),
    Target("tp-rust-vs-lean", "throughput, dispatcher + Rust echo vs the lean loop, the ceiling (pinned)",
           "throughput", "pinned", "dispatcher-rust", "lean-loop", ">=", 0.85),
    Target("tp-python-vs-ric", "throughput, dispatcher + Python echo vs awslambdaric (pinned)",
           "throughput", "pinned", "dispatcher-python", "awslambdaric", ">=", 1.8),
    Target("cold-rust-vs-ric", "cold start, dispatcher + Rust echo vs awslambdaric (pinned)",
           "cold_start_ms", "pinned", "dispatcher-rust", "awslambdaric", "<=", 0.8),
    Target("6mb-rust-vs-native", "6 MB event round trip, dispatcher + Rust echo vs native (pinned)",
           "roundtrip_ms.6mb", "pinned", "dispatcher-rust", "native", "<=", 2.5),
    Target("tp-rust-vs-bash", "throughput, dispatcher + Rust echo vs bash bootstrap (unpinned)",
           "throughput", "unpinned", "dispatcher-rust", "bash", ">=", 150.0),
    Target("rss-supervisor", "supervisor RSS after warm-up + 10,000 invocations (Rust echo)",
           "rss_mb", None, "dispatcher-rust", None, "<=", 25.0, unit="MB"),
)


def _value(figures: dict[str, Any], t: Target, who: str) -> float | None:
    node: Any = figures
    for part in t.figure.split("."):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    if t.mode is not None:
        node = node.get(t.mode, {})
    entry = node.get(who)
    if not entry:
        return None
    return float(entry["top_mb"] if t.figure == "rss_mb" else entry["median"])


def _by_round(figures: dict[str, Any], t: Target) -> tuple[float, float] | None:
    """(min, max) of the ratio round by round: the rounds go round robin over
    the contenders, so round i of the subject and of the divisor ran side by
    side in time.  None when there is one round or no divisor."""
    if t.versus is None:
        return None
    node: Any = figures
    for part in t.figure.split("."):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    if t.mode is not None:
        node = node.get(t.mode, {})
    a, b = (node.get(who, {}).get("samples") for who in (t.subject, t.versus))
    if not a or not b or len(a) != len(b) or len(a) < 2:
        return None
    ratios = [x / y for x, y in zip(a, b) if y]
    return (min(ratios), max(ratios)) if ratios else None


def evaluate(figures: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for t in TARGETS:
        a = _value(figures, t, t.subject)
        b = _value(figures, t, t.versus) if t.versus else 1.0
        row: dict[str, Any] = {"id": t.id, "text": t.text, "op": t.op, "bound": t.bound, "unit": t.unit}
        if a is None or b is None or b == 0:
            missing = [n for n, v in ((t.subject, a), (t.versus, b)) if n and v is None]
            row.update(value=None, status="N/A", why=f"no measurement for {', '.join(missing) or 'divisor'}")
        else:
            value = a / b
            ok = value >= t.bound if t.op == ">=" else value <= t.bound
            row.update(value=value, status="PASS" if ok else "FAIL", by_round=_by_round(figures, t))
        out.append(row)
    return out
