"""Micro-benchmark of the Runtime API response parser (dispatcher/http_parse.py).

What one invocation costs the client's parser, driven the way
dispatcher/client.py drives it: recv_into(parser.writable()), advance(n),
then next() until it returns None.  The "socket" is a memory copy of at
most `read` bytes per call, so the figures are parser + copy, no kernel.

    .venv/bin/python bench/parser_bench.py
    git show c39a607:dispatcher/http_parse.py > ../http_parse_before.py  # before chunked support
    .venv/bin/python bench/parser_bench.py --against ../http_parse_before.py

With --against, that file is loaded as a second parser module and both are
measured in the same run, rounds interleaved A B B A, so that the machine's
drift cancels; the table gives each median (with min-max over the rounds)
and the ratio B/A.  Cases a parser refuses (the old one knew no chunked
framing) are reported as such.  The process pins itself to one CPU
(--cpu, default 0), runs with the cyclic GC off, as the supervisor's
steady state (gc.freeze) nearly does, and counts the thread's CPU time
(time preempted by other processes is left out).  Read ratios, not
absolute numbers.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dispatcher.http_parse as current  # noqa: E402

# Headers as RAPID sends them (tests/rapid_wire/next-small): Go canonical case, Date.
_NEXT_HEAD = (
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Lambda-Runtime-Aws-Request-Id: 32ee2b3c-0d19-478c-bf72-043a463075fc\r\n"
    "Lambda-Runtime-Deadline-Ms: 1796157088280\r\n"
    "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:012345678912:function:test_function\r\n"
    "Date: Tue, 01 Dec 2026 20:26:28 GMT\r\n"
).encode()
_ACCEPTED = (
    b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nDate: Tue, 01 Dec 2026 20:26:28 GMT\r\n"
    b"Content-Length: 16\r\n\r\n" b'{"status":"OK"}\n'
)
SCRATCH_READ = 64 * 1024  # what one recv_into of the parser's scratch buffer can take


def _event(size: int) -> bytes:
    return b'{"k":"' + b"x" * (size - 8) + b'"}'


def _length(size: int) -> bytes:
    body = _event(size)
    return _NEXT_HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body


def _chunked(size: int, chunk: int = 0) -> bytes:
    body = _event(size)
    step = chunk or len(body)
    parts = [body[i : i + step] for i in range(0, len(body), step)]
    return (
        _NEXT_HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    )


# name -> (bytes on the wire, largest read, responses expected, iterations per round)
CASES: dict[str, tuple[bytes, int, int, int]] = {
    # The steady state: the 202 of a post and the pipelined /next answer in one read.
    "202 + next 100 B (one read)": (_ACCEPTED + _length(100), SCRATCH_READ, 2, 5_000),
    "next 2,048 B, Content-Length": (_length(2048), SCRATCH_READ, 1, 5_000),
    "next 6 MB, Content-Length, 64 KiB reads": (_length(6_000_000), SCRATCH_READ, 1, 5),
    "next 2,049 B, chunked (RAPID)": (_chunked(2049), SCRATCH_READ, 1, 5_000),
    "next 6 MB, one chunk (RAPID), 64 KiB reads": (_chunked(6_000_000), SCRATCH_READ, 1, 5),
    "next 100 kB, 32 KiB chunks (LMI)": (_chunked(100_000, 32 * 1024), SCRATCH_READ, 1, 200),
}


def drive(p: object, data: bytes, read: int) -> int:
    """Feed `data` to parser `p` as the client does; return the number of responses."""
    src = memoryview(data)
    pos, end, got = 0, len(data), 0
    while pos < end:
        with p.writable() as room:  # type: ignore[attr-defined]
            n = min(len(room), read, end - pos)
            room[:n] = src[pos : pos + n]
        p.advance(n)  # type: ignore[attr-defined]
        pos += n
        while p.next() is not None:  # type: ignore[attr-defined]
            got += 1
    return got


def load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("http_parse_against", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"parser_bench: cannot load {path!r} as a module")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def supports(mod: ModuleType, data: bytes, read: int, expected: int) -> str | None:
    """None when the parser handles the case, else why not."""
    p = mod.ResponseParser()
    try:
        got = drive(p, data, read) + drive(p, data, read)  # twice: the parser is reused on a connection
    except Exception as exc:  # noqa: BLE001 - a refusal is a result here
        return f"{type(exc).__name__}: {str(exc)[:60]}"
    return None if got == 2 * expected and not p.in_progress else f"{got} responses instead of {2 * expected}"


def time_round(mod: ModuleType, data: bytes, read: int, iterations: int) -> float:
    """CPU nanoseconds per drive() over one round, on one parser (one connection).

    The thread's CPU time, not wall time: on a shared machine the time this
    process spends preempted is not counted (caches still suffer)."""
    p = mod.ResponseParser()
    t0 = time.thread_time_ns()
    for _ in range(iterations):
        drive(p, data, read)
    return (time.thread_time_ns() - t0) / iterations


def _fmt(ns: float) -> str:
    return f"{ns / 1000:,.2f} µs" if ns < 1e6 else f"{ns / 1e6:,.3f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--against", metavar="FILE", help="a second http_parse.py to measure interleaved with the current one")
    ap.add_argument("--rounds", type=int, default=31, help="rounds per parser and case (default 31)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the iterations per round (e.g. 0.01 for a smoke run)")
    ap.add_argument("--cpu", type=int, default=0, help="CPU to pin to (default 0; -1: do not pin)")
    ap.add_argument("--only", metavar="TEXT", help="only the cases whose name contains TEXT")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})
    parsers = {"current": current}
    if args.against:
        parsers["against"] = load(args.against)
    names = list(parsers)
    cases = {k: v for k, v in CASES.items() if not args.only or args.only in k}
    gc.collect()
    gc.disable()
    results: dict[str, dict[str, object]] = {}
    print(f"parser_bench: {', '.join(f'{n} = {m.__file__}' for n, m in parsers.items())}; "
          f"pinned to CPU {args.cpu if args.cpu >= 0 else '-'}; {args.rounds} rounds; load {os.getloadavg()[0]:.2f}")
    for case, (data, read, expected, iterations) in cases.items():
        n_iter = max(1, int(iterations * args.scale))
        row: dict[str, object] = {"bytes": len(data), "iterations": n_iter}
        live = []
        for name in names:
            why = supports(parsers[name], data, read, expected)
            if why is None:
                live.append(name)
                time_round(parsers[name], data, read, max(1, n_iter // 10))  # warm-up
            else:
                row[name] = {"refused": why}
        samples: dict[str, list[float]] = {n: [] for n in live}
        for r in range(args.rounds):
            order = live if r % 2 == 0 else live[::-1]  # A B, B A, ...
            for name in order:
                samples[name].append(time_round(parsers[name], data, read, n_iter))
        for name in live:
            s = samples[name]
            row[name] = {"median_ns": statistics.median(s), "min_ns": min(s), "max_ns": max(s)}
        if len(live) == 2:
            a, b = (row[n]["median_ns"] for n in live)  # type: ignore[index]
            row["ratio_against_over_current"] = b / a
        results[case] = row
        cells = []
        for name in names:
            cell = row[name]
            if "refused" in cell:  # type: ignore[operator]
                cells.append(f"{name}: refused ({cell['refused']})")  # type: ignore[index]
            else:
                cells.append(f"{name} {_fmt(cell['median_ns'])} ({_fmt(cell['min_ns'])}-{_fmt(cell['max_ns'])})")  # type: ignore[index]
        ratio = f"; against/current = {row['ratio_against_over_current']:.3f}" if "ratio_against_over_current" in row else ""
        print(f"{case}: " + "; ".join(cells) + ratio, flush=True)
    gc.enable()
    if args.json:
        Path(args.json).write_text(json.dumps({"load_after": os.getloadavg()[0], "cases": results}, indent=2))
    print(f"load at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
