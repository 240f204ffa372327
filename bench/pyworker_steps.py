"""The Python adapter's per-invocation steps, timed one by one, for two or more copies of it.

    .venv/bin/python bench/pyworker_steps.py --adapter ../base/adapters/python --adapter adapters/python

Each step runs in a fresh interpreter with that copy of `dispatcher_worker`
first on sys.path, pinned to CPU 1 (bench/pyworker.py uses CPU 0), and is
timed with timeit (the best of --rounds processes x --repeat runs of
--number calls each, in microseconds per call: on a busy machine the best
is the least disturbed).  Copies alternate step by step, rounds repeat it.  The steps are the
adapter's own functions on the bench's small event, over real pipes:

- read: the supervisor's invoke frame written to a pipe, `Channel.read()`
  (the read syscall(s), frame header, msgpack, validation);
- decode: `_wire.decode_body()` alone;
- answer raw / answer json: `_Server.answer()` on the decoded invoke (the
  context, the handler -- raw echo, or `return event` with JSON both ways --,
  the reply frame, the stdio flush, `_X_AMZN_TRACE_ID`);
- answer traced: answer raw with a new trace id on every call, as on Lambda
  (`_X_AMZN_TRACE_ID` set each time; formatting the id is included);
- write: `Channel.write()` of the reply and the pipe drained.

The syscalls' kernel time is part of read and write; a worker's blocking
and waking up between invocations is in none (bench/pyworker.py has it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, os, sys, timeit
adapter, number, repeat, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, adapter)
sys.path.insert(1, ROOT)
from dispatcher.frames import encode_invoke
from dispatcher_worker import _logging, _serve, _wire
from dispatcher_worker._channel import Channel

payload = open(os.path.join(ROOT, "bench", "events", "small.json"), "rb").read()
frame = b"".join(encode_invoke("0000000a-1b2c-4d5e-8f90-a1b2c3d4e5f6", payload, 4102444800000,
                               "arn:aws:lambda:us-east-1:123456789012:function:bench", None, None, None, None))
r, w = os.pipe()
r2, w2 = os.pipe()
channel = Channel(r, w2, 1 << 24)
raw = step != "answer json"
count = iter(range(1 << 62))
handler = (lambda event, context: event) if not raw else (lambda payload, context: payload)
server = _serve._Server(channel, handler, raw, os.environ, _logging.Logs(os.environ))
msg = _wire.decode_body(frame[4:])
reply = server.answer(msg)

def read():
    os.write(w, frame)
    channel.read()

def traced():
    msg["trace_id"] = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:%08x:0" % next(count)
    server.answer(msg)

def write():
    channel.write(reply)
    os.read(r2, 1 << 16)

fn = {"read": read, "decode": lambda: _wire.decode_body(frame[4:]), "answer raw": lambda: server.answer(msg),
      "answer json": lambda: server.answer(msg), "answer traced": traced, "write": write}[step]
best = min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6
print(json.dumps(best))
""".replace("ROOT", repr(str(ROOT)))

STEPS = ("read", "decode", "answer raw", "answer json", "answer traced", "write")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--adapter", action="append", type=Path, required=True,
                    help="a copy of adapters/python (give two or more; the first is the base)")
    ap.add_argument("--number", type=int, default=100_000, help="calls per timing run")
    ap.add_argument("--repeat", type=int, default=7, help="timing runs per step and process (the best is kept)")
    ap.add_argument("--rounds", type=int, default=3, help="processes per step and copy, interleaved (the best is kept)")
    args = ap.parse_args(argv)
    names = [str(a.resolve()) for a in args.adapter]
    table: dict[str, dict[str, float]] = {n: {} for n in names}
    for _ in range(args.rounds):
        for step in STEPS:
            for name in names:
                out = subprocess.run(["taskset", "-c", "1", sys.executable, "-c", _CHILD, name, str(args.number),
                                      str(args.repeat), step], capture_output=True, text=True,
                                     env=dict(os.environ, PYTHONPATH=""), check=True)
                best = json.loads(out.stdout)
                table[name][step] = min(best, table[name].get(step, best))
    print("µs per call (best of %d rounds x %d runs x %d calls), pinned to CPU 1"
          % (args.rounds, args.repeat, args.number))
    print("| step | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    base = table[names[0]]
    for step in STEPS:
        cells = [f"{table[n][step]:.2f}" + ("" if n == names[0] else f" ({table[n][step] / base[step]:.2f}x)")
                 for n in names]
        print(f"| {step} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
