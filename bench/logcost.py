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
take it.  Prints the median throughput and p50 per variant, and the cost of
each line in µs per invocation over the same runtime and format without a line.
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.logcost", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--unpinned", action="store_true", help="do not pin to CPU 0")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "logcost.json")
    args = ap.parse_args(argv)
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
    med = {v: (statistics.median(tp[v]), statistics.median(p50[v])) for v in variants}
    rows = ["| runtime | line | format | inv/s (median) | p50 µs | µs per inv | line cost µs/inv |", "|---|---|---|---|---|---|---|"]
    out = {}
    for v in variants:
        r, line, f = v
        per_inv = 1e6 / med[v][0]
        cost = per_inv - 1e6 / med[(r, "none", f)][0]
        out["/".join(v)] = {"throughput": tp[v], "p50_us": p50[v], "us_per_invocation": per_inv, "line_cost_us": cost}
        rows.append(f"| {r} | {line} | {f} | {med[v][0]:,.0f} | {med[v][1]:.1f} | {per_inv:.1f} | "
                    f"{'' if line == 'none' else f'{cost:+.1f}'} |")
    print("\n".join(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"pinned": not args.unpinned, "rounds": args.rounds, "seconds": args.seconds,
                                    "variants": out}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
