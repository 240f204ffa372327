"""Writes a run's results: <name>.json, <name>.md (tables) and <name>.png (chart).

Results shape (the JSON file is exactly this dict):
  machine: cpu, cores, kernel, python, loadavg (at the end), loadavg_at_start
  contenders: {name: {label, status: ok|skipped|failed, note, config, errors}}
  figures:
    throughput / latency_p50_us / latency_p99_us / cold_start_ms:
        {mode: {name: {median, min, max, n, samples}}}
    roundtrip_ms: {"1mb"|"6mb": {mode: {name: {median, min, max, n}}}}
    rss_mb: {name: {top_mb, tree_mb, invocations, mode}}
    emulator: {pinned|unpinned: {pairs_per_s, emulator_cpu_us_per_pair, ...}, pairs_per_s} or {note}
  targets: [{id, text, op, bound, value, status, by_round?, why?}]
  plan, notes, duration_s, started
The chart needs matplotlib; without it the chart is skipped with a note.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        load = []
    return {
        "cpu": cpu,
        "loadavg": " ".join(load),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        # Relative to the repository when it is the project's venv: the
        # committed report must not name one checkout's path.
        "python_executable": os.path.relpath(sys.executable, Path(__file__).resolve().parent.parent)
        if sys.executable.startswith(str(Path(__file__).resolve().parent.parent) + os.sep) else sys.executable,
    }


def _fmt(v: float, unit: str) -> str:
    if unit == "inv/s":
        return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def _cell(entry: dict[str, Any] | None, unit: str) -> str:
    if not entry:
        return "–"
    if entry.get("n", 1) > 1:
        return f"{_fmt(entry['median'], unit)} ({_fmt(entry['min'], unit)}–{_fmt(entry['max'], unit)})"
    return _fmt(entry["median"], unit)


def _table(title: str, unit: str, by_mode: dict[str, dict[str, Any]], names: list[str],
           labels: dict[str, str], modes: list[str], versus: str | None = None) -> list[str]:
    """One row per contender, one column per mode; with `versus`, also each median as a fraction of its."""
    rows = [n for n in names if any(n in by_mode.get(m, {}) for m in modes)]
    if not rows:
        return []
    ratio_modes = [m for m in modes if versus and by_mode.get(m, {}).get(versus, {}).get("median")]
    head = [f"{m} ({unit})" for m in modes] + [f"{m} ÷ {versus}" for m in ratio_modes]
    out = [f"### {title}", "", "| contender | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for n in rows:
        cells = [_cell(by_mode.get(m, {}).get(n), unit) for m in modes]
        for m in ratio_modes:
            entry = by_mode[m].get(n)
            cells.append(f"{entry['median'] / by_mode[m][versus]['median']:.2f}x" if entry else "–")
        out.append(f"| {labels[n]} | " + " | ".join(cells) + " |")
    return out + [""]


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    figs = res["figures"]
    modes = list(res["plan"]["modes"])
    names = list(res["contenders"])
    labels = {n: c["label"] for n, c in res["contenders"].items()}
    out = [
        f"# lambda-dispatcher benchmark ({res['plan']['name']} run, {res['started']})", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, kernel {m['kernel']}, Python {m['python']} "
        f"(load average {m.get('loadavg_at_start', '?')} at start, {m.get('loadavg', '?')} at end: "
        "other work on the machine widens the min–max spread).", "",
        "ratios measured in one run", "",
        "Medians over the rounds, with (min–max). *pinned*: server, supervisor and worker all on CPU 0 "
        "(`taskset -c 0`); *unpinned*: free to use every core. Latency is as the Runtime API server sees it: "
        "from writing the /next answer to having read the whole /response.", "",
        "## Targets", "", "| target | value | bound | result |", "|---|---:|---:|---|",
    ]
    for t in res["targets"]:
        val = "–" if t["value"] is None else f"{t['value']:.2f} {t['unit']}"
        if t.get("by_round"):
            val += " ({:.2f}–{:.2f} by round)".format(*t["by_round"])
        extra = f" ({t['why']})" if t.get("why") else ""
        out.append(f"| {t['text']} | {val} | {t['op']} {t['bound']:g} {t['unit']} | **{t['status']}**{extra} |")
    out.append("")
    out += _table("Throughput (and each median as a fraction of the lean loop's, the ceiling of a Python supervisor)",
                  "inv/s", figs["throughput"], names, labels, modes, versus="lean-loop")
    out += _table("Latency p50", "µs", figs["latency_p50_us"], names, labels, modes)
    out += _table("Latency p99", "µs", figs["latency_p99_us"], names, labels, modes)
    out += _table("Cold start, spawn to first /response", "ms", figs["cold_start_ms"], names, labels, modes)
    for size, by_mode in figs["roundtrip_ms"].items():
        out += _table(f"Round trip of a {size.upper().replace('MB', ' MB')} event (median per invocation)",
                      "ms", by_mode, names, labels, modes)
    if figs["rss_mb"]:
        out += ["### RSS after warm-up and the RSS run", "",
                "| contender | top process (MB) | with children (MB) | invocations |", "|---|---:|---:|---:|"]
        for n, r in figs["rss_mb"].items():
            out.append(f"| {labels[n]} | {r['top_mb']:.1f} | {r['tree_mb']:.1f} | {r['invocations']:,} |")
        out.append("")
    emu = figs.get("emulator") or {}
    out += ["### Embedded emulator", ""]
    if "pairs_per_s" in emu:
        for mode in ("pinned", "unpinned"):
            if mode in emu:
                e = emu[mode]
                out.append(f"- {mode}: **{e['pairs_per_s']:,.0f}** next + response pairs/s "
                           f"(CPU per pair: emulator {e['emulator_cpu_us_per_pair']:.1f} µs, "
                           f"client {e['client_cpu_us_per_pair']:.1f} µs)")
        out.append(f"\nMeasured by {emu.get('detail', 'the emulator')}.")
    else:
        out.append(f"not measured: {emu.get('note', 'no result')}")
    out += ["", "## Contenders", "", "| contender | status | note |", "|---|---|---|"]
    for n, c in res["contenders"].items():
        note = (c.get("note") or "").replace("\n", " ").replace("|", "\\|")
        if len(note) > 300:
            note = note[:300] + "…"
        cfg = f" (`{c['config']}`)" if c.get("config") else ""
        out.append(f"| {c['label']}{cfg} | {c['status']} | {note} |")
    if res["notes"]:
        out += ["", "## Notes", ""] + [f"- {n}" for n in res["notes"]]
    out += ["", f"Run took {res['duration_s']:.0f} s. Raw data: the .json file beside this one.", ""]
    return "\n".join(out)


def chart(res: dict[str, Any], path: Path) -> str | None:
    """Draws the PNG; returns a note when it cannot."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return f"chart skipped: matplotlib unavailable ({exc})"
    figs = res["figures"]
    modes = list(res["plan"]["modes"])
    labels = {n: c["label"] for n, c in res["contenders"].items()}
    panels = [("throughput", "invocations/s (log)", True), ("latency_p50_us", "p50 latency µs (log)", True),
              ("cold_start_ms", "cold start ms", False), ("roundtrip_ms.6mb", "6 MB round trip ms", False)]
    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    for ax, (key, title, logy) in zip(axes.flat, panels):
        node = figs
        for part in key.split("."):
            node = node.get(part, {})
        names = [n for n in labels if any(n in node.get(m, {}) for m in modes)]
        width = 0.8 / max(len(modes), 1)
        for i, mode in enumerate(modes):
            vals = [node.get(mode, {}).get(n, {}).get("median", 0) for n in names]
            lo = [v - node.get(mode, {}).get(n, {}).get("min", v) for n, v in zip(names, vals)]
            hi = [node.get(mode, {}).get(n, {}).get("max", v) - v for n, v in zip(names, vals)]
            xs = [x + i * width for x in range(len(names))]
            ax.bar(xs, vals, width, yerr=[lo, hi], capsize=2, label=mode)
        ax.set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(names))])
        ax.set_xticklabels([labels[n] for n in names], rotation=25, ha="right", fontsize=7)
        ax.set_title(title)
        if logy and names:
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    m = res["machine"]
    fig.suptitle(f"lambda-dispatcher benchmark: {m['cpu']}, {m['cores']} cores (ratios measured in one run)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return None


def write(res: dict[str, Any], folder: Path, name: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    note = chart(res, png)
    if note:
        res["notes"].append(note)
        png.unlink(missing_ok=True)
    paths = [folder / f"{name}.json", folder / f"{name}.md"]
    paths[0].write_text(json.dumps(res, indent=1) + "\n")
    paths[1].write_text(markdown(res))
    return paths + ([] if note else [png])
