"""Benchmark driver: `python bench/run.py [--smoke] [--only NAME ...]`.

Sets itself up (pinned wheels, the std-only Rust pieces), runs the suite
(bench/suite.py), evaluates the targets (bench/targets.py) and writes
bench/results/<latest|smoke>.{json,md,png} (bench/report.py).  Exit status:
0 when the run completed (targets may FAIL: they are reported, not
enforced), 1 when a contender failed, 2 when the benchmark itself could not
run.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import contenders, emulator, events, report, suite, targets, toolchain  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="a few hundred invocations per contender (CI, < 60 s)")
    ap.add_argument("--only", nargs="+", metavar="NAME",
                    help="contenders to run: " + ", ".join(c.name for c in contenders.CONTENDERS))
    ap.add_argument("--out", type=Path, default=toolchain.BENCH / "results", help="results folder")
    ap.add_argument("--no-install", action="store_true", help="do not pip-install missing pinned packages")
    args = ap.parse_args(argv)

    plan = suite.SMOKE if args.smoke else suite.FULL
    chosen = contenders.select(args.only)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    load_at_start = report.machine()["loadavg"]
    notes = []
    if not args.no_install:
        for name, status in toolchain.ensure_pip_packages().items():
            if status != "ok":
                notes.append(status)
                print(f"bench: {status}", file=sys.stderr)
    try:
        bins = toolchain.build_bench_binaries()
    except toolchain.BuildError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        evs = events.write_events(work)
        res = suite.Suite(plan, chosen, bins, evs, work).run()
        res["figures"]["emulator"] = emulator.measure(seconds=1.0 if args.smoke else 3.0)
    res["notes"] = notes + res["notes"]
    res["started"] = started
    res["machine"] = dict(report.machine(), loadavg_at_start=load_at_start)
    res["targets"] = targets.evaluate(res["figures"])
    paths = report.write(res, args.out, "smoke" if args.smoke else "latest")

    print("\nTargets (ratios measured in one run):")
    for t in res["targets"]:
        val = "n/a" if t["value"] is None else f"{t['value']:.2f}{t['unit']}"
        why = f"  ({t['why']})" if t.get("why") else ""
        print(f"  {t['status']:4}  {t['text']}: {val} (bound {t['op']} {t['bound']:g}{t['unit']}){why}")
    for name, c in res["contenders"].items():
        if c["status"] != "ok" or c.get("errors"):
            first = (c.get("note") or "").splitlines()[0] if c.get("note") else ""
            print(f"  {c['status'].upper():7} {name}: {first}")
    print("wrote " + ", ".join(str(p) for p in paths))
    failed = any(c["status"] == "failed" or c.get("errors") for c in res["contenders"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
