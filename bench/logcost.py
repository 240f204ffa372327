"""What JSON log format costs per invocation (issue 12), against Text, with
one log line per invocation; awslambdaric with the same handler as the reference.

    .venv/bin/python -m bench.logcost [--rounds 5] [--seconds 2] [--unpinned]

Each variant is (runtime, BENCH_LOG line, AWS_LAMBDA_LOG_FORMAT): runtimes
`dispatcher-python` (bench/configs/python-log.yaml) and `awslambdaric`
(bench/handlers/log_handler.py in-process), lines none / print / logging.
Rounds go round robin over the variants (A/B interleaved: the machine may be
shared), each a fresh Runtime API server (bench/apiserver) and a fresh
runtime, 200 warm-up invocations then `--seconds` of measurement, pinned to
CPU 0 by default.  The runtime's output goes to a file, as CloudWatch would
take it.  Prints the median p50 latency and throughput per variant, and
paired per-round differences of p50: JSON minus Text, and a line minus no line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from bench.contenders import Launch
from bench.events import SMALL
from bench.measure import Spec, run_once
from bench.toolchain import BENCH, ROOT, build_bench_binaries, ensure_pip_packages

RUNTIMES = ("dispatcher-python", "awslambdaric")
LINES = ("none", "print", "logging")
FORMATS = ("Text", "JSON")


def launch(runtime: str, line: str, fmt: str) -> Launch:
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008", "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_LOG_FORMAT": fmt, "BENCH_LOG": line,
    }
    if runtime == "awslambdaric":
        return Launch([sys.executable, "-m", "awslambdaric", "log_handler.handler"], BENCH / "handlers", env)
    config = BENCH / "configs" / "python-log.yaml"
    return Launch([sys.executable, "-m", "dispatcher", "run", "--config", str(config)], ROOT, env)


def render(results: dict) -> str:  # type: ignore[type-arg]
    """The table: medians over the rounds, and paired per-round differences
    (JSON minus Text; a line minus no line), which cancel most of the noise
    that a shared machine puts on whole rounds."""
    var = results["variants"]

    def paired(a: str, b: str) -> float:
        return statistics.median(x - y for x, y in zip(var[a]["p50_us"], var[b]["p50_us"]))

    rows = [
        "| runtime | line | format | p50 µs (median) | inv/s (median) | p50 JSON − Text, µs | p50 line − no line, µs |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in RUNTIMES:
        for line in LINES:
            for f in FORMATS:
                key = f"{r}/{line}/{f}"
                d_fmt = f"{paired(key, f'{r}/{line}/Text'):+.1f}" if f == "JSON" else ""
                d_line = f"{paired(key, f'{r}/none/{f}'):+.1f}" if line != "none" else ""
                rows.append(f"| {r} | {line} | {f} | {statistics.median(var[key]['p50_us']):.1f} | "
                            f"{statistics.median(var[key]['throughput']):,.0f} | {d_fmt} | {d_line} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.logcost", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--unpinned", action="store_true", help="do not pin to CPU 0")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "logcost.json")
    ap.add_argument("--report", type=Path, metavar="JSON", help="only print the table of a saved results file")
    args = ap.parse_args(argv)
    if args.report:
        print(render(json.loads(args.report.read_text())))
        return 0
    ensure_pip_packages({"awslambdaric": "4.2.2"})
    bins = build_bench_binaries()
    variants = [(r, line, f) for r in RUNTIMES for line in LINES for f in FORMATS]
    tp: dict[tuple[str, str, str], list[float]] = {v: [] for v in variants}
    p50: dict[tuple[str, str, str], list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="logcost-") as tmp:
        work = Path(tmp)
        spec = Spec(event=SMALL, seconds=args.seconds, warmup=200)
        for rnd in range(args.rounds):
            for v in variants:
                res = run_once(launch(*v), bins.apiserver, spec, pinned=not args.unpinned, workdir=work)
                if not res.ok or res.stats is None:
                    print(f"{'/'.join(v)} failed: {res.error}", file=sys.stderr)
                    return 1
                tp[v].append(res.stats["throughput"])
                p50[v].append(res.stats["p50_us"])
                print(f"[round {rnd + 1}/{args.rounds}] {'/'.join(v)}: {res.stats['throughput']:,.0f} inv/s, "
                      f"p50 {res.stats['p50_us']:.1f} us", file=sys.stderr)
    results = {"pinned": not args.unpinned, "rounds": args.rounds, "seconds": args.seconds,
               "variants": {"/".join(v): {"throughput": tp[v], "p50_us": p50[v]} for v in variants}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
