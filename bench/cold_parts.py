"""What a cold start is made of, item by item: the pieces of `dispatcher run`'s start, each run alone.

    .venv/bin/python bench/cold_parts.py [--rounds 40] [--config examples/rust-echo/dispatcher.yaml]

Each piece is a short program started the way the deployed bootstrap starts
the supervisor (`python -S`, this checkout laid out as the layer's
/opt/python by bench/cold_ab.py), pinned to CPU 0, rounds interleaved.  For
each it reports exec-to-exit wall time and the CPU time (user + system) the
kernel accounted to it and everything it waited for (wait4's rusage), medians
with min–max; each row after the first also shows its difference from the row
it builds on.  Then whole cold starts (exec to the first /response, as
bench/cold_ab.py runs them) split by process: the supervisor, the guardian,
the worker (CPU from /proc/PID/schedstat when the first answer is read).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import contenders, events, toolchain  # noqa: E402
from bench.cold_ab import layer_like, task_root_copy  # noqa: E402
from bench.measure import Spec, run_once  # noqa: E402
from bench.server import PIN  # noqa: E402

# (name, what it builds on, python code run with -S); {config} is the task root's dispatcher.yaml.
_BARE = "python -S -c pass (bare interpreter)"
_RUN_PATH = "from dispatcher.boot import run; from dispatcher.supervisor import run_from_environment"
_IMPORTS = "+ the run path's imports (boot, config, supervisor)"
PIECES: tuple[tuple[str, str, list[str]], ...] = (
    (_BARE, "", ["-S", "-c", "pass"]),
    ("python -c pass (with site: what -S saves)", _BARE, ["-c", "pass"]),
    ("python -S -m dispatcher.errors (what -m costs over -c)", "python -S -c 'import os, dispatcher.errors'",
     ["-S", "-m", "dispatcher.errors"]),
    ("python -S -c 'import os, dispatcher.errors'", _BARE, ["-S", "-c", "import os, dispatcher.errors"]),
    ("+ import msgpack (now after the first answer)", _BARE, ["-S", "-c", "import msgpack"]),
    (_IMPORTS, _BARE, ["-S", "-c", _RUN_PATH]),
    ("+ the run path's imports, cyclic GC off (as boot.run)", _BARE, ["-S", "-c", "import gc; gc.disable(); " + _RUN_PATH]),
    ("+ config from its cache", _IMPORTS,
     ["-S", "-c", _RUN_PATH + "; import os; from dispatcher.config import find_config, load_fast; "
      "load_fast(find_config(None, os.environ), os.environ).select(None)"]),
)


def measure(argv: list[str], cwd: Path, env: dict[str, str], stdin: int | None = None) -> tuple[float, float]:
    """(wall ms, CPU ms) of one run of argv, pinned; CPU from wait4's rusage."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(PIN + argv, cwd=cwd, env=env, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - t0) * 1e3
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"cold_parts: {argv} exited with {proc.returncode}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--config", default="examples/rust-echo/dispatcher.yaml",
                    help="dispatcher.yaml, relative to this checkout (default: %(default)s)")
    ap.add_argument("--worker", default="examples/rust-echo/rust-echo",
                    help="a msgpack worker run alone, exec to `ready` to exit at EOF (default: %(default)s)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cold-parts-") as tmp:
        work = Path(tmp)
        task_root = task_root_copy((toolchain.ROOT / args.config).resolve(), work / "task")
        python_dir, _ = layer_like(toolchain.ROOT, work / "layer")
        env = dict(os.environ, PYTHONPATH=str(python_dir), LAMBDA_TASK_ROOT=str(task_root))
        for key in ("DISPATCHER_CONFIG", "_HANDLER", "PYTHONSTARTUP"):
            env.pop(key, None)
        subprocess.run([sys.executable, "-m", "dispatcher", "check", "--write-cache"], cwd=task_root, env=env,
                       check=True, stdout=subprocess.DEVNULL)
        runs = {name: [sys.executable, *code] for name, _, code in PIECES}
        worker = (toolchain.ROOT / args.worker).resolve()
        if worker.exists():
            runs["the worker alone (exec, ready, exit at EOF)"] = [str(worker)]
        wall: dict[str, list[float]] = {k: [] for k in runs}
        cpu: dict[str, list[float]] = {k: [] for k in runs}
        bins = toolchain.build_bench_binaries()
        _, wrapper_argv = layer_like(toolchain.ROOT, work / "layer-cold")
        base = contenders.resolve(next(c for c in contenders.CONTENDERS if c.name == "dispatcher-rust"), bins)
        assert isinstance(base, contenders.Launch), base
        launch = contenders.Launch(wrapper_argv, task_root, dict(base.env, PYTHONPATH=str(python_dir),
                                                                 LAMBDA_TASK_ROOT=str(task_root)))
        spec = Spec(events.write_events(work)["small"], count=1, read_sched=True)
        per_process: dict[str, list[tuple[float, int]]] = {}
        for rnd in range(args.rounds):
            for name, cmd in runs.items():
                w, c = measure(cmd, task_root, env)
                wall[name].append(w)
                cpu[name].append(c)
            res = run_once(launch, bins.apiserver, spec, pinned=True, workdir=work)
            if not res.ok or not res.sched_tree:
                raise SystemExit(f"cold_parts: the cold start failed: {res.error}")
            for comm, ms, faults in res.sched_tree:
                per_process.setdefault(comm, []).append((ms, faults))
            print(f"[round {rnd + 1}/{args.rounds}]", file=sys.stderr)
    base_of = dict((name, on) for name, on, _ in PIECES)
    print("| piece | wall ms (median, min–max) | CPU ms (median, min–max) | CPU over what it builds on |")
    print("|---|---:|---:|---:|")
    for name in runs:
        wm, cm = statistics.median(wall[name]), statistics.median(cpu[name])
        on = base_of.get(name)
        extra = f"+{cm - statistics.median(cpu[on]):.2f}" if on else "–"
        print(f"| {name} | {wm:.2f} ({min(wall[name]):.2f}–{max(wall[name]):.2f}) | "
              f"{cm:.2f} ({min(cpu[name]):.2f}–{max(cpu[name]):.2f}) | {extra} |")
    print("\n| process, whole cold start (exec to first answer) | CPU ms (median, min–max) | minor page faults |")
    print("|---|---:|---:|")
    for comm, vals in per_process.items():
        ms = [v[0] for v in vals]
        print(f"| {comm} | {statistics.median(ms):.2f} ({min(ms):.2f}–{max(ms):.2f}) | {statistics.median(v[1] for v in vals):,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
