"""A/B of cold start: exec to the first /response read, start commands interleaved in one run.

    .venv/bin/python bench/cold_ab.py --root ../base --root . [--cmd 'NAME=ARGV'] [--rounds 40]

Each round starts every variant once against a fresh bench Runtime API server
(one invocation of the small event), pinned to CPU 0 as the bench's `cold
start` row is (`--unpinned`: on every CPU), and takes the time from just before the spawn to the server
having read the first /response (bench/measure.py), and the CPU time the
contender's process tree used until then (/proc/PID/schedstat: nanoseconds,
and much less disturbed than the wall time by other work on the machine).

A `--root` checkout runs as a deployment runs it: its `dispatcher` package
and this interpreter's msgpack laid out as the layer's /opt/python with
unchecked-hash bytecode (as dispatcher/package/layer.py builds it), the
config and its cache (written by that checkout) in a function folder of its
own that is the working directory and LAMBDA_TASK_ROOT, and the command of
the checkout's exec wrapper (`wrapper_script()`) with this interpreter in place
of /var/lang/bin/python3.  A `--cmd NAME=ARGV` is run the same way on this
checkout's layer, ARGV split like a shell would and `{python}` replaced by
this interpreter.  awslambdaric (the bench's contender) runs alongside as the
reference unless `--no-ric`.  Prints medians with min–max and ratios to
awslambdaric.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import contenders, events, toolchain  # noqa: E402
from bench.measure import Spec, run_once  # noqa: E402


def task_root_copy(config: Path, into: Path) -> Path:
    """A function folder of its own: the config copied in as `dispatcher.yaml`
    (the name a deployed bootstrap reads; its cache is written there, so any
    config file can be given, e.g. bench/configs/exec-script.yaml), the rest linked."""
    into.mkdir()
    for item in config.parent.iterdir():
        if item.name == config.name:
            shutil.copyfile(item, into / "dispatcher.yaml")
        elif item.is_file() and not item.name.endswith(".cache") and item.name != "dispatcher.yaml":
            (into / item.name).symlink_to(item)
    return into


def layer_like(root: Path, into: Path) -> tuple[Path, list[str]]:
    """A folder laid out as the layer's /opt/python (the checkout's `dispatcher` and
    this interpreter's msgpack, compiled as unchecked-hash .pyc the way
    dispatcher/package/layer.py compiles them), and the checkout's wrapper command
    with this interpreter in place of /var/lang/bin/python3."""
    import msgpack

    python_dir = into / "python"
    shutil.copytree(root / "dispatcher", python_dir / "dispatcher", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(Path(msgpack.__file__).parent, python_dir / "msgpack", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(python_dir)],
                   check=True, stdout=subprocess.DEVNULL)
    code = f"import sys; sys.path.insert(0, {str(root)!r}); from dispatcher.package.layer import wrapper_script; print(wrapper_script())"
    script = subprocess.run([sys.executable, "-S", "-c", code], check=True, capture_output=True, text=True).stdout
    exec_line = next(line for line in script.splitlines() if line.startswith("exec "))
    argv = [w for w in shlex.split(exec_line)[1:] if w != "$@"]
    return python_dir, [sys.executable if w == "/var/lang/bin/python3" else w for w in argv]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", action="append", type=Path, default=[],
                    help="a checkout of the repository, run as the deployed bootstrap runs it (repeatable)")
    ap.add_argument("--cmd", action="append", default=[], metavar="NAME=ARGV",
                    help="another start command, run with this checkout's layer; {python} is replaced (repeatable)")
    ap.add_argument("--config", default="examples/rust-echo/dispatcher.yaml",
                    help="the function's config, relative to this checkout; any file name (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--no-ric", action="store_true", help="leave out awslambdaric")
    ap.add_argument("--unpinned", action="store_true", help="run on every CPU instead of CPU 0 alone")
    args = ap.parse_args(argv)

    bins = toolchain.build_bench_binaries()
    config = str((toolchain.ROOT / args.config).resolve())
    base = contenders.resolve(next(c for c in contenders.CONTENDERS if c.name == "dispatcher-rust"), bins)
    assert isinstance(base, contenders.Launch), base
    launches: dict[str, contenders.Launch] = {}
    with tempfile.TemporaryDirectory(prefix="cold-ab-") as tmp:
        work = Path(tmp)
        for i, root in enumerate([toolchain.ROOT] + [r.resolve() for r in args.root]):
            if i == 0 and not args.cmd:
                continue  # this checkout's layer serves the --cmd variants only
            task_root = task_root_copy(Path(config), work / f"task{i}")
            # The checkout writes the config cache itself: it names its release.
            subprocess.run([sys.executable, "-m", "dispatcher", "check", "--write-cache"], cwd=task_root,
                           env=dict(os.environ, PYTHONPATH=str(root)), check=True, stdout=subprocess.DEVNULL)
            python_dir, argv = layer_like(root, work / f"layer{i}")
            env = dict(base.env, PYTHONPATH=str(python_dir), LAMBDA_TASK_ROOT=str(task_root))
            if i > 0:
                launches[str(root)] = contenders.Launch(argv, task_root, env)
                continue
            for spec in args.cmd:
                name, sep, command = spec.partition("=")
                if not sep or not name or not command:
                    ap.error(f"--cmd {spec!r}: give NAME=ARGV")
                cmd = [w.replace("{python}", sys.executable) for w in shlex.split(command)]
                launches[name] = contenders.Launch(cmd, task_root, env)
        if not args.no_ric:
            ric = contenders.resolve(next(c for c in contenders.CONTENDERS if c.kind == "awslambdaric"), bins)
            if isinstance(ric, contenders.Launch):
                launches["awslambdaric"] = ric
            else:
                print(f"awslambdaric left out: {ric.reason}", file=sys.stderr)
        if not launches:
            ap.error("nothing to run: give --root or --cmd")
        samples: dict[str, list[float]] = {k: [] for k in launches}
        cpu: dict[str, list[float]] = {k: [] for k in launches}
        faults: dict[str, list[float]] = {k: [] for k in launches}
        event = events.write_events(work)["small"]
        spec = Spec(event, count=1, read_sched=True)
        for rnd in range(args.rounds):
            for name, launch in launches.items():
                res = run_once(launch, bins.apiserver, spec, pinned=not args.unpinned, workdir=work)
                if not res.ok or res.cold_ms is None:
                    print(f"{name}: FAILED {res.error}", file=sys.stderr)
                    return 1
                samples[name].append(res.cold_ms)
                if res.sched_ms:
                    cpu[name].append(res.sched_ms["cpu"])
                    faults[name].append(res.sched_ms["faults"])
            print(f"[round {rnd + 1}] " + ", ".join(f"{n} {v[-1]:.2f}" for n, v in samples.items()), file=sys.stderr)
    ric_median = statistics.median(samples["awslambdaric"]) if "awslambdaric" in samples else None
    ric_cpu = statistics.median(cpu["awslambdaric"]) if cpu.get("awslambdaric") else None
    print("| variant | cold start ms (median, min–max) | ÷ awslambdaric | CPU ms, process tree (median, min–max) "
          "| ÷ awslambdaric | page faults |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, vals in samples.items():
        med = statistics.median(vals)
        c = cpu[name] or [float("nan")]
        cmed = statistics.median(c)
        print(f"| {name} | {med:.2f} ({min(vals):.2f}–{max(vals):.2f}) | "
              + (f"{med / ric_median:.2f}x" if ric_median else "–")
              + f" | {cmed:.2f} ({min(c):.2f}–{max(c):.2f}) | " + (f"{cmed / ric_cpu:.2f}x" if ric_cpu else "–")
              + f" | {statistics.median(faults[name] or [0]):,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
