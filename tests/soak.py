#!/usr/bin/env python
"""Soak: many invocations over one supervisor, watching its memory and fds.

    .venv/bin/python tests/soak.py                       # 100,000 after a 2,000 warm-up
    .venv/bin/python tests/soak.py --count 5000 --every 1000 --worker rust

Runs the real supervisor (`python -m dispatcher run`) under the embedded
emulator with an echo worker (examples/python-echo, or examples/rust-echo
once its build.sh has run), and samples the supervisor's resident memory
(VmRSS) and open file descriptor count every `--every` invocations, measured
from the end of the warm-up.  The bar: RSS grows by less than 2 MB and the
fd count never changes.  Exit status 0 when the bar is met, 1 otherwise.
Events cycle through 100 B to 100 KB so that every buffer size is reached
during the warm-up.  tests/test_soak.py runs a short version in CI.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:
    import dispatcher  # noqa: F401 - installed (the venv has it editable)
except ImportError:
    sys.path.insert(0, str(ROOT))

from dispatcher.emulator import Emulator  # noqa: E402

RSS_BAR = 2 * 1024 * 1024
SIZES = (100, 1_000, 10_000, 100_000)
WORKERS = {"python": ROOT / "examples" / "python-echo", "rust": ROOT / "examples" / "rust-echo"}


@dataclass
class Sample:
    done: int  # invocations after the warm-up
    rss: int  # bytes
    fds: int
    seconds: float


@dataclass
class Report:
    samples: list[Sample]
    handed_out: int
    answered: int
    wrong: int
    launches: int

    @property
    def rss_growth(self) -> int:
        return max(s.rss for s in self.samples) - self.samples[0].rss

    @property
    def fds_constant(self) -> bool:
        return len({s.fds for s in self.samples}) == 1

    @property
    def ok(self) -> bool:
        return self.rss_growth < RSS_BAR and self.fds_constant and self.wrong == 0 and self.handed_out == self.answered and self.launches == 1


def rss_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def fds_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def events() -> list[bytes]:
    out = []
    for size in SIZES:
        pad = "e" * max(0, size - 20)
        out.append(('{"pad":"%s","n":0}' % pad).encode())
    return out


def soak(count: int, warmup: int, every: int, worker: str = "python", log_path: str | None = None, progress=None) -> Report:  # type: ignore[no-untyped-def]
    folder = WORKERS[worker]
    config = folder / "dispatcher.yaml"
    if worker == "rust" and not (folder / "rust-echo").exists():
        raise SystemExit(f"{folder / 'rust-echo'} is missing: run {folder / 'build.sh'} first")
    log = open(log_path or os.devnull, "wb")
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
    emu = Emulator(
        runtime_argv=[sys.executable, "-m", "dispatcher", "run", "--config", str(config)],
        env=env,
        function_timeout=30.0,
        task_root=str(folder),
        runtime_stdout=log,
        runtime_stderr=log,
    )
    bodies = events()
    wrong = 0
    samples: list[Sample] = []
    try:
        emu.start()
        for i in range(warmup + count + 1):
            if i >= warmup and (i - warmup) % every == 0:
                pid = emu.runtime_pid
                assert pid is not None
                s = Sample(i - warmup, rss_of(pid), fds_of(pid), time.monotonic())
                samples.append(s)
                if progress:
                    progress(s, samples[0])
                if i == warmup + count:
                    break
            body = bodies[i % len(bodies)]
            res = emu.invoke(body)
            if res.outcome != "success" or res.body != body:
                wrong += 1
        st = emu.stats
        return Report(samples, st.handed_out, st.answered, wrong, st.launches)
    finally:
        emu.close()
        log.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=100_000, help="invocations measured after the warm-up")
    ap.add_argument("--warmup", type=int, default=2_000, help="invocations before the first sample")
    ap.add_argument("--every", type=int, default=10_000, help="sample interval, in invocations")
    ap.add_argument("--worker", choices=sorted(WORKERS), default="python")
    ap.add_argument("--log", help="file for the runtime's log (default: discarded)")
    args = ap.parse_args(argv)
    if args.count < args.every or args.every <= 0:
        ap.error("--count must be at least --every, and --every positive")

    def show(s: Sample, first: Sample) -> None:
        rate = s.done / (s.seconds - first.seconds) if s.done else 0.0
        print(f"{s.done:>8} invocations  rss {s.rss / 1048576:8.2f} MB ({(s.rss - first.rss) / 1024:+8.0f} KB)  fds {s.fds:3d}  {rate:7.0f}/s", flush=True)

    print(f"soak: {args.count} invocations after {args.warmup} warm-up, {args.worker} echo worker")
    rep = soak(args.count, args.warmup, args.every, args.worker, args.log, progress=show)
    print(f"rss growth {rep.rss_growth / 1024:.0f} KB (bar {RSS_BAR // 1024} KB); fds constant: {rep.fds_constant}; "
          f"handed out {rep.handed_out}, answered {rep.answered}, wrong answers {rep.wrong}, supervisor starts {rep.launches}")
    print("PASS" if rep.ok else "FAIL")
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
