"""The benchmark's phases and their order, over the contenders that can run.

Phases: cold start (which doubles as every contender's preflight: one that
cannot answer one event is reported as failed and left out of the rest),
throughput rounds (round robin over the contenders, repeated, each run sized
by wall time), 1 MB / 6 MB round trips, supervisor RSS, the bash baseline at
a fixed count.  Each figure is taken pinned to one CPU and unpinned.  The
results are a plain dict (see report.py for its shape).
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.contenders import Contender, Launch, Skip, resolve
from bench.measure import RunResult, Spec, run_once
from bench.toolchain import ROOT, Binaries, run_build_step


@dataclass(frozen=True)
class Plan:
    name: str
    modes: tuple[str, ...] = ("pinned", "unpinned")
    cold_repeats: int = 10
    rounds: int = 5
    seconds: float = 2.0  # per throughput run
    count: int = 0  # > 0: throughput runs sized by count instead (smoke)
    warmup: int = 200
    # size: (count, warmup) per round; the figure is the median of the rounds' medians
    roundtrip: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {"1mb": (12, 3), "6mb": (8, 3)})
    roundtrip_rounds: int = 5  # interleaved over the contenders, as throughput rounds are
    rss_count: int = 10_000
    rss_warmup: int = 1_000
    rss_seconds_cap: float = 10.0  # slow contenders (exec mode) stop here
    bash_count: int = 100
    budget_s: float = 540.0  # phases left when this is spent are skipped with a note


FULL = Plan("full")
SMOKE = Plan("smoke", cold_repeats=1, rounds=1, count=300, warmup=20,
             roundtrip={"1mb": (3, 0), "6mb": (2, 0)}, roundtrip_rounds=1, rss_count=300, rss_warmup=50,
             rss_seconds_cap=5.0, bash_count=10, budget_s=50.0)


def summarize(samples: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "n": len(samples), "samples": samples}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Suite:
    def __init__(self, plan: Plan, contenders: tuple[Contender, ...], bins: Binaries,
                 events: dict[str, Path], workdir: Path) -> None:
        self.plan = plan
        self.bins = bins
        self.events = events
        self.workdir = workdir
        self.start = time.monotonic()
        self.notes: list[str] = []
        self.status: dict[str, dict[str, Any]] = {}
        self.launches: dict[str, Launch] = {}
        self.contenders = {c.name: c for c in contenders}
        self.figures: dict[str, Any] = {
            "throughput": {}, "latency_p50_us": {}, "latency_p99_us": {}, "cold_start_ms": {},
            "roundtrip_ms": {}, "rss_mb": {},
        }
        self.failures: dict[str, list[str]] = {}

    # -- bookkeeping -------------------------------------------------------

    def _alive(self) -> list[Contender]:
        return [c for n, c in self.contenders.items() if self.status[n]["status"] == "ok"]

    def _over_budget(self, phase: str) -> bool:
        spent = time.monotonic() - self.start
        if spent > self.plan.budget_s:
            self.notes.append(f"{phase} skipped: time budget of {self.plan.budget_s:.0f} s spent ({spent:.0f} s)")
            log(f"bench: {self.notes[-1]}")
            return True
        return False

    def _run(self, c: Contender, spec: Spec, mode: str, what: str) -> RunResult:
        res = run_once(self.launches[c.name], self.bins.apiserver, spec, pinned=(mode == "pinned"),
                       workdir=self.workdir)
        if not res.ok:
            self.failures.setdefault(c.name, []).append(f"{what} ({mode}): {res.error}")
            log(f"  {c.name}: FAILED {what} ({mode}): {(res.error or '').splitlines()[0]}")
        return res

    def _put(self, fig: str, mode: str, name: str, samples: list[float]) -> None:
        if samples:
            self.figures[fig].setdefault(mode, {})[name] = summarize(samples)

    # -- phases ------------------------------------------------------------

    def prepare(self) -> None:
        for c in self.contenders.values():
            got = resolve(c, self.bins)
            if isinstance(got, Skip):
                note = got.reason
                self.status[c.name] = {"label": c.label, "status": "skipped", "note": note}
                log(f"bench: skip {c.name}: {note}")
                continue
            # Paths relative to the repository: the report is committed, and a
            # checkout's absolute path means nothing on another machine.
            self.status[c.name] = {"label": c.label, "status": "ok", "note": "", "config": _rel(got.config),
                                   "argv": [_rel(a) for a in got.argv]}
            for argv in got.builds:
                why = run_build_step(argv, ROOT, got.env)
                if why:
                    self.status[c.name].update(status="failed", note=why)
                    log(f"bench: {c.name} build failed: {why}")
                    break
            self.launches[c.name] = got

    def cold_start(self) -> None:
        """Spawn -> first /response, repeated; the first attempt is the preflight."""
        small = self.events["small"]
        samples: dict[tuple[str, str], list[float]] = {}
        for rep in range(self.plan.cold_repeats):
            for mode in self.plan.modes:
                for c in self._alive():
                    res = self._run(c, Spec(small, count=1, exact=c.exact_echo), mode, "cold start")
                    if res.ok and res.cold_ms is not None:
                        samples.setdefault((mode, c.name), []).append(res.cold_ms)
                    elif rep == 0 and mode == self.plan.modes[0]:
                        self._preflight_failed(c, res.error or "")
            log(f"[cold start {rep + 1}/{self.plan.cold_repeats}] " + ", ".join(
                f"{n}={v[-1]:.1f}ms" for (m, n), v in samples.items() if m == self.plan.modes[0] and v))
            if rep >= 2 and self._over_budget("remaining cold-start repeats"):
                break
        for (mode, name), vals in samples.items():
            self._put("cold_start_ms", mode, name, vals)

    def _preflight_failed(self, c: Contender, error: str) -> None:
        self.status[c.name].update(status="failed", note=f"failed its first start: {error}")

    def throughput(self) -> None:
        small = self.events["small"]
        p = self.plan
        tp: dict[tuple[str, str], list[float]] = {}
        p50: dict[tuple[str, str], list[float]] = {}
        p99: dict[tuple[str, str], list[float]] = {}
        for rnd in range(p.rounds):
            if rnd > 0 and self._over_budget(f"throughput rounds {rnd + 1}..{p.rounds}"):
                break
            for mode in p.modes:
                for c in self._alive():
                    if not c.throughput:
                        continue
                    spec = Spec(small, count=p.count, seconds=0 if p.count else p.seconds,
                                warmup=p.warmup, exact=c.exact_echo)
                    res = self._run(c, spec, mode, f"throughput round {rnd + 1}")
                    if res.ok and res.stats:
                        key = (mode, c.name)
                        tp.setdefault(key, []).append(res.stats["throughput"])
                        p50.setdefault(key, []).append(res.stats["p50_us"])
                        p99.setdefault(key, []).append(res.stats["p99_us"])
                        log(f"[throughput {mode} {rnd + 1}/{p.rounds}] {c.name}: "
                            f"{res.stats['throughput']:,.0f} inv/s, p50 {res.stats['p50_us']:.1f} us, "
                            f"p99 {res.stats['p99_us']:.1f} us ({res.stats['count']} inv)")
        for (mode, name), vals in tp.items():
            self._put("throughput", mode, name, vals)
            self._put("latency_p50_us", mode, name, p50[(mode, name)])
            self._put("latency_p99_us", mode, name, p99[(mode, name)])

    def bash_baseline(self) -> None:
        """The shell bootstrap at a fixed count: too slow for timed rounds."""
        for c in self._alive():
            if c.throughput:
                continue
            for mode in self.plan.modes:
                spec = Spec(self.events["small"], count=self.plan.bash_count, warmup=2)
                res = self._run(c, spec, mode, "fixed-count run")
                if res.ok and res.stats:
                    self._put("throughput", mode, c.name, [res.stats["throughput"]])
                    self._put("latency_p50_us", mode, c.name, [res.stats["p50_us"]])
                    self._put("latency_p99_us", mode, c.name, [res.stats["p99_us"]])
                    log(f"[bash {mode}] {c.name}: {res.stats['throughput']:.1f} inv/s, "
                        f"p50 {res.stats['p50_us'] / 1000:.1f} ms ({res.stats['count']} inv)")

    def roundtrip(self) -> None:
        """Per-invocation latency with a 1 MB and a 6 MB event: in each of
        `roundtrip_rounds` rounds every contender runs `count` invocations
        after `warmup` (a fresh start each round, contenders interleaved, so
        a burst of load on the shared machine hits one round of each rather
        than every invocation of one); the figure is the median of the
        rounds' medians, with their min and max."""
        p = self.plan
        for size, (count, warmup) in p.roundtrip.items():
            if self._over_budget(f"{size} round trips"):
                return
            fig = self.figures["roundtrip_ms"].setdefault(size, {})
            for mode in p.modes:
                medians: dict[str, list[float]] = {}
                for rnd in range(p.roundtrip_rounds):
                    # Alternate the order: the first run of a round may be systematically slower or faster.
                    alive = [c for c in self._alive() if c.large_events]
                    for c in alive[:: 1 if rnd % 2 == 0 else -1]:
                        spec = Spec(self.events[size], count=count, warmup=warmup, exact=c.exact_echo)
                        res = self._run(c, spec, mode, f"{size} round trip {rnd + 1}")
                        if res.ok and res.stats:
                            medians.setdefault(c.name, []).append(res.stats["p50_us"] / 1000)
                            log(f"[round trip {size} {mode} {rnd + 1}/{p.roundtrip_rounds}] {c.name}: "
                                f"{res.stats['p50_us'] / 1000:.2f} ms")
                for name, vals in medians.items():
                    fig.setdefault(mode, {})[name] = {
                        "median": statistics.median(vals), "min": min(vals), "max": max(vals),
                        "n": len(vals) * count, "rounds": len(vals)}

    def rss(self) -> None:
        """VmRSS of the contender's top process after warm-up + N invocations."""
        if self._over_budget("RSS"):
            return
        p = self.plan
        mode = p.modes[0]
        for c in self._alive():
            if not c.throughput:
                continue
            spec = Spec(self.events["small"], count=p.rss_count, seconds=p.rss_seconds_cap,
                        warmup=p.rss_warmup, read_rss=True, exact=c.exact_echo)
            res = self._run(c, spec, mode, "RSS run")
            if res.ok and res.rss_kb is not None and res.stats:
                self.figures["rss_mb"][c.name] = {
                    "top_mb": res.rss_kb / 1024, "tree_mb": (res.tree_rss_kb or 0) / 1024,
                    "invocations": res.stats["count"] + res.stats["warmup"], "mode": mode}
                log(f"[rss] {c.name}: {res.rss_kb / 1024:.1f} MB top process, "
                    f"{(res.tree_rss_kb or 0) / 1024:.1f} MB with children "
                    f"after {res.stats['count'] + res.stats['warmup']} invocations")

    def run(self) -> dict[str, Any]:
        self.prepare()
        self.cold_start()
        self.throughput()
        self.roundtrip()
        self.rss()
        self.bash_baseline()
        for name, errs in self.failures.items():
            st = self.status[name]
            st.setdefault("errors", errs[:5])
            if st["status"] == "ok":
                st["note"] = f"{len(errs)} run(s) failed, first: {errs[0].splitlines()[0]}"
        return {
            "plan": asdict(self.plan),
            "contenders": self.status,
            "figures": self.figures,
            "notes": self.notes,
            "duration_s": time.monotonic() - self.start,
        }


def _rel(value):  # type: ignore[no-untyped-def]
    """`value` with this checkout's root (and the interpreter's venv) made relative."""
    if not isinstance(value, str):
        return value
    root = str(ROOT) + "/"
    return value.replace(root, "") if value.startswith(root) else value
