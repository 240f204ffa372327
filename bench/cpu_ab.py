"""A/B of the supervisor's CPU per invocation: two (or more) checkouts, rounds interleaved, one run.

    .venv/bin/python bench/cpu_ab.py --root ../base --root . [--config examples/rust-echo/dispatcher.yaml]

Each round runs every checkout's `python -m dispatcher run` (the checkout as
the working directory, so its own `dispatcher` package is the one imported)
against a fresh bench Runtime API server, pinned to CPU 0, for a fixed number
of invocations, and reads the supervisor's and its worker's user and system
time from /proc/<pid>/stat just before stopping them.  Per invocation =
CPU time / (warm-up + measured invocations): the start (a few tens of ms) is
included, the same for every checkout.  Each checkout runs its own config
(`--config`, relative to that checkout) and so its own worker: before the
rounds, the build steps the bench runs for that config (e.g.
examples/rust-echo/build.sh, which compiles that checkout's adapters/rust)
and the compiled-config cache are made in every checkout, so an A/B of a
worker or adapter change measures the change.  `--no-build` skips that.
`--lean` adds the lean loop as a reference.
Prints the medians over rounds, and each checkout's ratio to the first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import contenders, events, toolchain  # noqa: E402
from bench.measure import Spec, run_once  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", action="append", type=Path, required=True,
                    help="a checkout of the repository (give two or more; the first is the base)")
    ap.add_argument("--config", default="examples/rust-echo/dispatcher.yaml",
                    help="dispatcher.yaml, relative to this checkout (default: %(default)s)")
    ap.add_argument("--count", type=int, default=30_000, help="measured invocations per run")
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--event", choices=("small", "1mb", "6mb"), default="small")
    ap.add_argument("--lean", action="store_true", help="also run the lean loop (the ceiling)")
    ap.add_argument("--no-build", action="store_true",
                    help="use each checkout's worker as it is (no build step, no config cache)")
    args = ap.parse_args(argv)

    bins = toolchain.build_bench_binaries()
    base = contenders.resolve(next(c for c in contenders.CONTENDERS if c.name == "dispatcher-rust"), bins)
    assert isinstance(base, contenders.Launch)
    launches = {}
    for root in args.root:
        root = root.resolve()
        config = root / args.config
        if not config.exists():
            print(f"cpu_ab: {config} does not exist (--config is relative to each checkout)", file=sys.stderr)
            return 2
        env = dict(base.env, PYTHONPATH=str(root))
        if not args.no_build:
            for step in build_steps(args.config, root, config):
                why = toolchain.run_build_step(step, root, {"PYTHONPATH": str(root)})
                if why:
                    print(f"cpu_ab: {root}: {why}", file=sys.stderr)
                    return 1
        print(f"cpu_ab: {root} runs {config}", file=sys.stderr)
        launches[str(root)] = contenders.Launch([sys.executable, "-m", "dispatcher", "run", "--config", str(config)],
                                                root, env)
    if args.lean:
        lean = contenders.resolve(next(c for c in contenders.CONTENDERS if c.kind == "lean"), bins)
        assert isinstance(lean, contenders.Launch), lean
        launches["lean-loop"] = lean
    rows: dict[str, dict[str, list[float]]] = {k: {} for k in launches}
    with tempfile.TemporaryDirectory(prefix="cpu-ab-") as tmp:
        event = events.write_events(Path(tmp))[args.event]
        spec = Spec(event, count=args.count, warmup=args.warmup, read_cpu=True, exact=True)
        for rnd in range(args.rounds):
            for name, launch in launches.items():
                res = run_once(launch, bins.apiserver, spec, pinned=True, workdir=Path(tmp))
                if not res.ok or not res.cpu_s or not res.stats:
                    print(f"{name}: FAILED {res.error}", file=sys.stderr)
                    return 1
                n = res.stats["count"] + res.stats["warmup"]
                got = {"inv/s": res.stats["throughput"], "p50 us": res.stats["p50_us"],
                       "user us/inv": res.cpu_s["user"] / n * 1e6, "sys us/inv": res.cpu_s["system"] / n * 1e6,
                       "worker us/inv": (res.cpu_s["children_user"] + res.cpu_s["children_system"]) / n * 1e6}
                for k, v in got.items():
                    rows[name].setdefault(k, []).append(v)
                print(f"[round {rnd + 1}] {name}: " + ", ".join(f"{k} {v:,.1f}" for k, v in got.items()),
                      file=sys.stderr)
    keys = list(next(iter(rows.values())))
    first = next(iter(rows))
    print("| checkout | " + " | ".join(f"{k} (median, min–max)" for k in keys) + " | inv/s ÷ first |")
    print("|---|" + "---:|" * (len(keys) + 1))
    for name, r in rows.items():
        cells = [f"{statistics.median(r[k]):,.1f} ({min(r[k]):,.1f}–{max(r[k]):,.1f})" for k in keys]
        ratio = statistics.median(r["inv/s"]) / statistics.median(rows[first]["inv/s"])
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio:.2f}x |")
    return 0


def build_steps(config_name: str, root: Path, config: Path) -> list[list[str]]:
    """What the bench builds before running `config_name`, run in `root`: the
    contenders' build steps for that config (when their file exists in `root`)
    and the compiled-config cache, made by that checkout's own supervisor."""
    steps = [list(argv) for c in contenders.CONTENDERS if config_name in c.configs
             for marker, argv in c.builds if (root / marker).exists()]
    steps.append([sys.executable, "-m", "dispatcher", "check", "--write-cache", "--config", str(config)])
    return steps


if __name__ == "__main__":
    sys.exit(main())
