"""Concurrency benchmark (Lambda Managed Instances): `python bench/concurrency.py [--smoke]`.

Each contender runs at concurrency 1 (today's one-at-a-time loop: no
AWS_LAMBDA_MAX_CONCURRENCY) and at concurrency N (AWS_LAMBDA_MAX_CONCURRENCY=N,
`concurrency: auto`), against the bench's Runtime API server, which serves
any number of concurrent /next (one keep-alive connection per slot).

| contender | handler | N |
|---|---|---|
| rust-cpu | Rust `run_concurrent` (multiplex, a thread per slot), ~1 ms of FNV hashing per event | 2 (2 CPUs) |
| rust-io | the same worker, waiting 20 ms per event | 8 |
| python-io | Python adapter, a pool of N worker processes, waiting 20 ms | 8 |
| awslambdaric-io / -cpu | AWS's Python runtime client in its own LMI mode (N forked processes, each a classic loop) | 8 / 2 |

Targets: rust-cpu >= 1.8x its concurrency-1 throughput; rust-io >= 7x; and no
event lost or answered twice: after each run the server waits until every
/next it handed out has been answered and counts answers that came twice.
Rounds interleave every contender at both concurrencies; figures are medians.
Unpinned (the point is to use both CPUs); read ratios, not absolute numbers.
`--root DIR` (given twice or more) runs the dispatcher contenders of each
checkout (its `dispatcher` package and its adapters/rust worker), rounds
interleaved: an A/B of two branches in one run, the first the base.
Writes bench/results/concurrency[-smoke].{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, toolchain  # noqa: E402
from bench.server import ApiServer, ServerError  # noqa: E402

ROOT = toolchain.ROOT
RUST_CRATE = ROOT / "adapters" / "rust"
HANDLERS = toolchain.BENCH / "handlers"
HASH_ROUNDS = 180  # FNV-1a over 4 KiB per round (a dependent multiply per byte): about 1 ms per event
PY_CPU_ROUNDS = 300  # SHA-256 of 4 KiB per round: about 1 ms in CPython


@dataclass(frozen=True)
class Contender:
    name: str
    label: str
    kind: str  # "rust" | "python" | "awslambdaric"
    event: dict[str, Any]
    n: int
    target: float | None = None  # required throughput ratio N / 1


CONTENDERS = (
    Contender("rust-cpu", "dispatcher + Rust run_concurrent, ~1 ms CPU", "rust", {"do": "hash", "rounds": HASH_ROUNDS}, 2, 1.8),
    Contender("rust-io", "dispatcher + Rust run_concurrent, 20 ms wait", "rust", {"do": "sleep", "ms": 20}, 8, 7.0),
    Contender("python-io", "dispatcher + Python pool, 20 ms wait", "python", {"ms": 20}, 8),
    Contender("awslambdaric-io", "awslambdaric LMI mode, 20 ms wait", "awslambdaric", {"ms": 20}, 8),
    Contender("awslambdaric-cpu", "awslambdaric LMI mode, ~1 ms CPU", "awslambdaric", {"rounds": PY_CPU_ROUNDS}, 2),
)


def build_rust_worker(root: Path = ROOT, index: int = 0) -> Path:
    """adapters/rust's `concurrent` example (run_concurrent), release, offline;
    another checkout's (`--root`) is built into a target directory of its own here."""
    target = toolchain.TARGET if root == ROOT else toolchain.TARGET / f"root-{index}"
    cmd = toolchain.cargo_command("build", "--release", "--quiet", "--example", "concurrent",
                                  "--manifest-path", str(root / "adapters" / "rust" / "Cargo.toml"))
    env = dict(os.environ, CARGO_TARGET_DIR=str(target))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    path = target / "release" / "examples" / "concurrent"
    if proc.returncode != 0 or not path.exists():
        raise toolchain.BuildError(f"cannot build adapters/rust example `concurrent`: {proc.stderr[-2000:]}")
    return path


def launch(c: Contender, concurrency: int, work: Path, rust_worker: Path) -> tuple[list[str], dict[str, str], Path]:
    """argv, extra environment and cwd of contender `c`; at concurrency 1 the
    config is today's (no `concurrency:` key), so that baseline runs on any supervisor."""
    if c.kind == "awslambdaric":
        handler = "concurrency_handler.io" if "ms" in c.event else "concurrency_handler.cpu"
        return [sys.executable, "-m", "awslambdaric", handler], {}, HANDLERS
    if c.kind == "rust":
        worker: dict[str, Any] = {"command": [str(rust_worker)]}
    else:
        worker = {"command": [sys.executable, "-m", "dispatcher_worker", "concurrency_handler:io"], "cwd": str(HANDLERS)}
    if concurrency > 1:
        worker["concurrency"] = "auto"
    config = work / f"{c.name}-{concurrency}.yaml"
    config.write_text(json.dumps({"workers": {c.name: worker}}))  # JSON is YAML
    return [sys.executable, "-m", "dispatcher", "run", "--config", str(config)], {}, work


def supports_slots(work: Path) -> str | None:
    """None when the supervisor accepts `concurrency:`, else why not."""
    config = work / "probe.yaml"
    config.write_text(json.dumps({"workers": {"probe": {"command": ["true"], "concurrency": "auto"}}}))
    proc = subprocess.run([sys.executable, "-m", "dispatcher", "check", "--config", str(config)],
                          capture_output=True, text=True, cwd=work)
    if proc.returncode == 0:
        return None
    return "the supervisor does not accept `concurrency:` yet (issue 10's core): " + (proc.stderr.strip().splitlines() or [""])[-1]


def run_once(c: Contender, concurrency: int, work: Path, rust_worker: Path, apiserver: Path,
             seconds: float, warmup: int, root: Path = ROOT) -> dict[str, Any]:
    event = work / f"{c.name}.json"
    event.write_text(json.dumps(c.event))
    argv, extra, cwd = launch(c, concurrency, work, rust_worker)
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_MAX_CONCURRENCY", "_HANDLER")}
    env.update(extra)
    env["PYTHONPATH"] = str(root)
    if concurrency > 1:
        env["AWS_LAMBDA_MAX_CONCURRENCY"] = str(concurrency)
    log = open(work / f"{c.name}-{concurrency}.log", "wb")
    try:
        with ApiServer(apiserver, event, pinned=False, seconds=seconds, warmup=warmup) as server:
            env["AWS_LAMBDA_RUNTIME_API"] = server.address
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True)
            try:
                alive = lambda: proc.poll() is None  # noqa: E731
                stats = server.wait_stats(seconds + warmup * 0.2 + 30, alive)
                if stats is None:
                    return {"ok": False, "error": f"no stats (exit status {proc.poll()}); log: {_tail(log.name)}"}
                drained = server.wait_drained(10.0, alive)
            finally:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)
    except ServerError as exc:
        return {"ok": False, "error": str(exc)}
    finally:
        log.close()
    out = {"ok": stats.get("count", 0) > 0 and not stats.get("errors") and not stats.get("stalled"),
           "throughput": stats["throughput"], "p50_us": stats["p50_us"], "count": stats["count"],
           "errors": stats.get("errors", 0), "bad_requests": stats.get("bad_requests", 0)}
    if drained is None:
        out.update(ok=False, error="some /next handed out were never answered within 10 s after the run")
    else:
        out.update(unanswered=drained["unanswered"], duplicates=drained["duplicates"], handed_out=drained["handed_out"])
        if drained["unanswered"] or drained["duplicates"]:
            out["ok"] = False
    if not out["ok"] and "error" not in out:
        out["error"] = f"errors={out['errors']} bad_requests={out['bad_requests']}; log: {_tail(log.name)}"
    return out


_BUSY = "x = 0\nfor i in range(4_000_000):\n    x += i\n"


def free_parallelism() -> float:
    """How many CPUs two CPU-bound processes get at once right now (2.0 on an
    idle 2-CPU machine): 2 x (time of one) / (time of two side by side).  Other
    work on a shared machine lowers it, and caps what a CPU-bound N = 2 can show."""
    argv = [sys.executable, "-c", _BUSY]
    t = time.perf_counter()
    subprocess.run(argv, check=True)
    one = time.perf_counter() - t
    t = time.perf_counter()
    procs = [subprocess.Popen(argv) for _ in range(2)]
    for p in procs:
        p.wait()
    two = time.perf_counter() - t
    return round(2 * one / two, 2)


def _tail(path: str, lines: int = 8) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="one short round (CI)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="contenders: " + ", ".join(c.name for c in CONTENDERS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="measured wall time per run")
    ap.add_argument("--out", type=Path, default=toolchain.BENCH / "results")
    ap.add_argument("--root", action="append", type=Path, metavar="DIR",
                    help="a checkout whose dispatcher and Rust worker run the dispatcher contenders "
                         "(repeat for an A/B, the base first; default: this one)")
    args = ap.parse_args(argv)
    roots = [r.resolve() for r in args.root] if args.root else [ROOT]
    rounds, seconds, warmup = (1, 1.0, 10) if args.smoke else (args.rounds, args.seconds, 50)
    chosen = [c for c in CONTENDERS if not args.only or c.name in args.only]
    try:
        bins = toolchain.build_bench_binaries()
        rust_workers = [build_rust_worker(root, i) for i, root in enumerate(roots)]
    except toolchain.BuildError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    load_start = report.machine()["loadavg"]
    parallelism = [free_parallelism()]
    samples: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-conc-") as tmp:
        work = Path(tmp)
        why = supports_slots(work)
        if why is not None:
            notes.append(f"dispatcher contenders ran at concurrency 1 only: {why}")
            print(f"bench: {notes[-1]}", file=sys.stderr)
        for r in range(rounds):
            for c in chosen:
                for n in ((1, c.n) if r % 2 == 0 else (c.n, 1)):
                    if n > 1 and why is not None and c.kind != "awslambdaric":
                        continue
                    # Another checkout's supervisor matters to the dispatcher contenders only.
                    order = list(range(len(roots)))[:: 1 if r % 2 == 0 else -1] if c.kind != "awslambdaric" else [0]
                    for i in order:
                        res = run_once(c, n, work, rust_workers[i], bins.apiserver, seconds, warmup, roots[i])
                        samples.setdefault((str(roots[i]), c.name, n), []).append(res)
                        state = f"{res['throughput']:.0f}/s" if res.get("ok") else f"FAILED: {res.get('error', '')[:300]}"
                        who = f" {roots[i]}" if len(roots) > 1 else ""
                        print(f"[round {r + 1}/{rounds}]{who} {c.name} concurrency {n}: {state}", file=sys.stderr)
    parallelism.append(free_parallelism())
    result = summarize(chosen, samples, roots)
    result.update(free_parallelism=parallelism, notes=notes, machine=dict(report.machine(), loadavg_at_start=load_start),
                  started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    stem = "concurrency-smoke" if args.smoke else "concurrency"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2))
    md = render(result)
    (args.out / f"{stem}.md").write_text(md)
    print(md)
    failed = any(not row["ok"] for row in result["rows"])
    return 1 if failed else 0


def summarize(chosen: list[Contender], samples: dict[tuple[str, str, int], list[dict[str, Any]]],
              roots: list[Path] = [ROOT]) -> dict[str, Any]:  # noqa: B006 - read only
    rows = []
    for root, c in [(root, c) for c in chosen for root in (roots if c.kind != "awslambdaric" else roots[:1])]:
        one, many = samples.get((str(root), c.name, 1), []), samples.get((str(root), c.name, c.n), [])
        good1 = [s["throughput"] for s in one if s.get("ok")]
        goodn = [s["throughput"] for s in many if s.get("ok")]
        t1 = statistics.median(good1) if good1 else None
        tn = statistics.median(goodn) if goodn else None
        ratio = tn / t1 if t1 and tn else None
        # The same round's two runs, side by side in time: how far the ratio
        # moves from round to round on a shared machine.
        paired = [b["throughput"] / a["throughput"] for a, b in zip(one, many) if a.get("ok") and b.get("ok") and a["throughput"]]
        lost = sum(s.get("unanswered", 0) for s in one + many)
        dups = sum(s.get("duplicates", 0) for s in one + many)
        errors = [s["error"] for s in one + many if not s.get("ok")]
        ok = not errors
        status = "n/a" if c.target is None or ratio is None else ("PASS" if ratio >= c.target else "FAIL")
        rows.append({
            "name": c.name, "label": c.label, "checkout": str(root) if len(roots) > 1 and c.kind != "awslambdaric" else "", "n": c.n, "throughput_1": t1, "throughput_n": tn, "ratio": ratio,
            "ratio_min": min(paired) if paired else None, "ratio_max": max(paired) if paired else None,
            "target": c.target, "status": status, "p50_us_1": _med(one, "p50_us"), "p50_us_n": _med(many, "p50_us"),
            "invocations": sum(s.get("handed_out", 0) for s in one + many), "unanswered": lost, "duplicates": dups,
            "ok": ok, "errors": errors,
        })
    return {"rows": rows}


def _med(runs: list[dict[str, Any]], key: str) -> float | None:
    vals = [s[key] for s in runs if s.get("ok") and key in s]
    return statistics.median(vals) if vals else None


def _spread(row: dict[str, Any]) -> str:
    """' (min–max)' of the per-round ratios, when there were several rounds."""
    lo, hi = row.get("ratio_min"), row.get("ratio_max")
    return "" if lo is None or hi is None or lo == hi else f" ({lo:.2f}–{hi:.2f} by round)"


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    out = [
        "# Concurrency benchmark (Lambda Managed Instances)", "",
        f"Started {result['started']}; {os.cpu_count()} CPUs ({m.get('cpu')}); load average {m.get('loadavg_at_start')} at start, "
        f"{m.get('loadavg')} at end (a shared machine: read ratios). Unpinned; medians over the rounds. "
        f"Two CPU-bound processes side by side got {' and '.join(str(p) for p in result.get('free_parallelism', []))} "
        "CPUs' worth (before and after; 2.0 when two CPUs are free): the ceiling of a CPU-bound ratio. "
        "The ratio is of the medians, with the per-round ratios' range.", "",
        "| contender | N | throughput at 1 | throughput at N | ratio | target | p50 at 1 (us) | p50 at N (us) | events | lost | twice |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    f = lambda v, fmt="{:.0f}": "-" if v is None else fmt.format(v)  # noqa: E731
    for r in result["rows"]:
        target = "-" if r["target"] is None else f">= {r['target']:g}x: {r['status'].upper()}"
        label = f"{r['label']} ({r['checkout']})" if r.get("checkout") else r["label"]
        out.append(f"| {label} | {r['n']} | {f(r['throughput_1'])}/s | {f(r['throughput_n'])}/s | "
                   f"{f(r['ratio'], '{:.2f}x')}{_spread(r)} | {target} | {f(r['p50_us_1'])} | {f(r['p50_us_n'])} | "
                   f"{r['invocations']} | {r['unanswered']} | {r['duplicates']} |")
    for r in result["rows"]:
        for e in r["errors"][:2]:
            out.append(f"\n{r['name']} failed: {e}")
    for n in result.get("notes", []):
        out.append(f"\nNote: {n}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
