"""A/B of the Python adapter's own CPU per invocation: the worker alone, no supervisor.

    .venv/bin/python bench/pyworker.py --adapter ../base/adapters/python --adapter adapters/python \\
        [--mode raw|json] [--event small|1mb|6mb] [--count 50000] [--rounds 5]

Each round starts every adapter's `python -m dispatcher_worker` (its folder
first on PYTHONPATH) and drives it from this process over pipes, as the
supervisor does: one invoke frame per writev (dispatcher.frames.encode_invoke,
with a fresh request id each time), then the whole reply frame read and
checked (a `result` whose payload is the event: byte for byte in raw mode,
the same JSON value in JSON mode).  Both processes are pinned to CPU 0.  The
worker's user + system time comes from /proc/<pid>/stat after the warm-up and
after the measured invocations: the difference over the count is its CPU per
invocation, start-up excluded.  Rounds are interleaved; prints medians with
(min–max) and each adapter's ratio to the first.

`--mode raw` serves examples/python-echo (`app:echo --raw`, the bench's
dispatcher-python row); `--mode json` serves bench/handlers/echo_handler.py
(`return event`, what awslambdaric runs in the bench).

`--starts N` measures start-up instead: N starts of each adapter (and of a
bare interpreter that only writes a ready frame, the floor), interleaved,
from spawn to the `ready` frame read, and the process's CPU time over its
whole life (start, `ready`, shutdown: less disturbed by other work on the
machine than the wall time), .pyc files compiled beforehand.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import msgpack  # noqa: E402

from bench import events  # noqa: E402
from dispatcher.frames import encode_invoke  # noqa: E402

MODES = {
    "raw": (ROOT / "examples" / "python-echo", ["app:echo", "--raw"]),
    "json": (ROOT / "bench" / "handlers", ["echo_handler.handler"]),
}
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK  # utime, stime


# `--starts`' floor: the interpreter alone, writing a ready frame.
BARE = "bare"
_BARE_CODE = "import os; os.write(1, b'\\0\\0\\0\\x0c\\x81\\xa4type\\xa5ready')"


class Worker:
    def __init__(self, adapter: Path, mode: str) -> None:
        cwd, args = MODES[mode]
        argv = ["-c", _BARE_CODE] if str(adapter) == BARE else ["-m", "dispatcher_worker", *args]
        env = dict(os.environ, PYTHONPATH=str(adapter), DISPATCHER_FEATURES="stream",
                   AWS_LAMBDA_FUNCTION_NAME="bench", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128")
        env.pop("_HANDLER", None)
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(["taskset", "-c", "0", sys.executable, *argv],
                                     cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.wfd = self.proc.stdin.fileno()
        self.rfd = self.proc.stdout.fileno()
        self.buf = bytearray(8 * 1024 * 1024)
        ready = self.read_frame()
        self.ready_ms = (time.perf_counter() - t0) * 1000
        if ready.get("type") != "ready":
            raise SystemExit(f"{adapter}: expected ready, got {ready!r}")

    def read_frame(self) -> dict:
        view = memoryview(self.buf)
        got = 0
        while got < 4 or got < 4 + int.from_bytes(self.buf[:4], "big"):
            n = os.readv(self.rfd, [view[got:]])
            if not n:
                raise SystemExit("the worker closed its stdout")
            got += n
        size = int.from_bytes(self.buf[:4], "big")
        return msgpack.unpackb(view[4:4 + size], raw=False)

    def invoke(self, i: int, payload: bytes) -> dict:
        parts = encode_invoke(f"{i:08x}-1b2c-4d5e-8f90-a1b2c3d4e5f6", payload, 4102444800000,
                              "arn:aws:lambda:us-east-1:123456789012:function:bench",
                              "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
                              None, None, None)
        total = sum(len(p) for p in parts)
        written = os.writev(self.wfd, parts)
        while written < total:  # a large event does not fit the pipe at once
            joined = b"".join(bytes(p) for p in parts)
            written += os.write(self.wfd, joined[written:])
        return self.read_frame()

    def stop(self) -> None:
        try:
            os.write(self.wfd, len(b"\x81\xa4type\xa8shutdown").to_bytes(4, "big") + b"\x81\xa4type\xa8shutdown")
        except BrokenPipeError:
            pass
        self.proc.stdin.close()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.proc.wait(10)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers are waited for one at a time
        self.cpu_ms = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
        self.proc.stdout.close()


def measure(adapter: Path, mode: str, payload: bytes, warmup: int, count: int) -> dict[str, float]:
    w = Worker(adapter, mode)
    try:
        for i in range(warmup):
            check(w.invoke(i, payload), payload, mode)
        cpu0, t0 = _cpu_s(w.proc.pid), time.perf_counter()
        for i in range(warmup, warmup + count):
            reply = w.invoke(i, payload)
        t1 = time.perf_counter()
        cpu1 = _cpu_s(w.proc.pid)
        check(reply, payload, mode)
    finally:
        w.stop()
    user, system = (cpu1[0] - cpu0[0]) / count * 1e6, (cpu1[1] - cpu0[1]) / count * 1e6
    return {"worker us/inv": user + system, "user": user, "sys": system, "pair inv/s": count / (t1 - t0)}


def start(adapter: Path, mode: str) -> dict[str, float]:
    w = Worker(adapter, mode)
    w.stop()
    return {"spawn to ready ms": w.ready_ms, "CPU ms": w.cpu_ms}


def check(reply: dict, payload: bytes, mode: str) -> None:
    if reply.get("type") != "result":
        raise SystemExit(f"expected a result, got {reply!r}"[:2000])
    ok = reply["payload"] == payload if mode == "raw" else json.loads(reply["payload"]) == json.loads(payload)
    if not ok:
        raise SystemExit("the worker did not echo the event")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--adapter", action="append", type=Path, required=True,
                    help="a copy of adapters/python (give two or more; the first is the base)")
    ap.add_argument("--mode", choices=sorted(MODES), default="raw")
    ap.add_argument("--event", choices=("small", "1mb", "6mb"), default="small")
    ap.add_argument("--count", type=int, default=50_000, help="measured invocations per run")
    ap.add_argument("--warmup", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--starts", type=int, default=0,
                    help="measure start-up instead: this many starts per adapter, interleaved, spawn to `ready`")
    args = ap.parse_args(argv)
    os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory(prefix="pyworker-") as tmp:
        payload = events.write_events(Path(tmp))[args.event].read_bytes()
    names = [str(a.resolve()) for a in args.adapter]
    # As a deployment (and bench/run.py) does: start-up reads .pyc files.
    for name in [*names, str(MODES[args.mode][0])]:
        subprocess.run([sys.executable, "-m", "compileall", "-q", name], check=True)
    if args.starts:
        names.append(BARE)
    rows: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    for rnd in range(args.starts or args.rounds):
        for name in names:
            if args.starts:
                got = start(Path(name), args.mode)
            else:
                got = measure(Path(name), args.mode, payload, args.warmup, args.count)
            for k, v in got.items():
                rows[name].setdefault(k, []).append(v)
            print(f"[round {rnd + 1}] {name}: " + ", ".join(f"{k} {v:,.2f}" for k, v in got.items()),
                  file=sys.stderr)
    keys = list(rows[names[0]])
    main_key = keys[0]
    base = statistics.median(rows[names[0]][main_key])
    if args.starts:
        print(f"mode {args.mode}, {args.starts} starts per adapter, pinned to CPU 0")
    else:
        print(f"mode {args.mode}, event {args.event}, {args.count} invocations x {args.rounds} rounds, pinned to CPU 0")
    print("| adapter | " + " | ".join(f"{k} (median, min–max)" for k in keys) + " | ÷ first |")
    print("|---|" + "---:|" * (len(keys) + 1))
    for name, r in rows.items():
        cells = [f"{statistics.median(r[k]):,.2f} ({min(r[k]):,.2f}–{max(r[k]):,.2f})" for k in keys]
        ratio = f"{statistics.median(r[main_key]) / base:.2f}x" if base else "–"  # CPU time is counted in ticks
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
