"""Self-benchmark: how many /next + /response pairs per second the emulator serves.

The emulator runs in this process in autoinvoke mode (every /next is answered
at once with a fixed event and a live deadline, no runtime process); a raw
socket keep-alive client runs in a child interpreter, as a lean runtime would.
Pinning both to one CPU (`cpu=0`, like `taskset -c 0`) measures the server's
per-request cost without cross-CPU wake-ups.  A measurement tool, never a test
assertion:

    .venv/bin/python -m dispatcher.emulator._selfbench --seconds 3 --cpu 0
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys

from .emulator import Emulator

__all__ = ["measure_pairs"]

_CLIENT = r"""
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
seconds = float(sys.argv[2])
s = socket.create_connection((host, int(port)))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
GET = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
RID = b"Lambda-Runtime-Aws-Request-Id: "
INV = b"Lambda-Runtime-Invocation-Id: "
BODY = b'{"ok":true}'
def recv(n):
    data = s.recv(n)
    if not data:  # the emulator went away: stop instead of spinning
        raise SystemExit("emulator closed the connection")
    return data
def read_response(buf):
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            cl = buf.find(b"Content-Length: ")
            n = int(buf[cl + 16: buf.find(b"\r\n", cl)])
            total = end + 4 + n
            while len(buf) < total:
                buf += recv(65536)
            return buf[:total], buf[total:]
        buf += recv(65536)
pairs = 0
buf = b""
stop = time.monotonic() + seconds
while True:
    s.sendall(GET)
    head, buf = read_response(buf)
    i = head.find(RID) + len(RID)
    rid = head[i: head.find(b"\r\n", i)]
    j = head.find(INV) + len(INV)
    inv = head[j: head.find(b"\r\n", j)]
    s.sendall(b"POST /2018-06-01/runtime/invocation/" + rid + b"/response HTTP/1.1\r\nHost: x\r\n"
              b"Lambda-Runtime-Invocation-Id: " + inv + b"\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY)
    reply, buf = read_response(buf)
    if not reply.startswith(b"HTTP/1.1 202"):
        raise SystemExit("unexpected reply: %r" % reply[:200])
    pairs += 1
    if pairs & 255 == 0 and time.monotonic() >= stop:
        break
print(pairs, time.monotonic() - stop + seconds)
"""


def measure_pairs(seconds: float = 3.0, *, cpu: int | None = None) -> float:
    return measure(seconds, cpu=cpu)[0]


def measure(seconds: float = 3.0, *, cpu: int | None = None) -> tuple[float, float, float]:
    """(pairs/s, server CPU µs per pair, client CPU µs per pair)."""
    before, kids_before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    """Pairs per second sustained by the emulator against a raw-socket client.

    CPU time is less sensitive to other load on the machine than the rate.

    With `cpu`, this process and the client are pinned to that CPU for the
    measurement (this process's affinity is restored afterwards).
    """
    saved = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        with Emulator(runtime_argv=[], function_timeout=60, _autoinvoke=b'{"bench":true}') as emu:
            out = subprocess.run(
                [sys.executable, "-I", "-S", "-c", _CLIENT, emu.address, str(seconds)],
                capture_output=True,
                check=True,
                timeout=seconds + 30,
            ).stdout.split()
            served = emu.stats.answered
    finally:
        os.sched_setaffinity(0, saved)
    after, kids_after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    pairs, elapsed = int(out[0]), float(out[1])
    if served < pairs:
        raise RuntimeError(f"client counted {pairs} pairs but the emulator accepted only {served}")

    def cpu_us(a: resource.struct_rusage, b: resource.struct_rusage) -> float:
        return (b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime) * 1e6 / pairs

    return pairs / elapsed, cpu_us(before, after), cpu_us(kids_before, kids_after)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--cpu", type=int, default=None, help="pin server and client to this CPU (like taskset -c N)")
    args = parser.parse_args(argv)
    rate, server_us, client_us = measure(args.seconds, cpu=args.cpu)
    where = f"pinned to CPU {args.cpu}" if args.cpu is not None else "unpinned"
    print(
        f"{rate:,.0f} next+response pairs/s ({where}, {args.seconds:g} s); "
        f"CPU per pair: emulator {server_us:.1f} µs, client {client_us:.1f} µs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
