"""Streaming benchmark: a 100 MB streamed response through `dispatcher run`
(Rust worker, adapters/rust/examples/streaming.rs) against the native
streaming loop (bench/native-stream), on the same Lambda-side server.

    .venv/bin/python bench/stream.py                 # 5 rounds, 3 streams each
    .venv/bin/python bench/stream.py --smoke         # 1 round, 1 stream of 10 MB

Per stream, the server records: time to first byte (from writing the /next
answer to reading the first body chunk of the streamed POST), throughput
(bytes / time from writing the /next answer to reading the last chunk), and
the contender's top process RSS (for the dispatcher: the supervisor) before
the stream and at its peak during it, sampled every 10 ms.  Contenders
alternate round by round (A/B interleaved); medians over every stream.
The server is Python; it is the same for both, and reads with recv_into into
one 1 MiB buffer, far faster than either contender sends.
Writes bench/results/stream.json and stream.md (smoke-stream.* for --smoke).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.toolchain import BIN, BuildError, build_bench_binaries, cargo_command  # noqa: E402

RESULTS = BENCH / "results"
RUST_CRATE = ROOT / "adapters" / "rust"
RUST_STREAMING = RUST_CRATE / "target" / "release" / "examples" / "streaming"
PIECE = 102_400  # both contenders write the same pattern in pieces of this size
PATTERN = bytes(i % 256 for i in range(PIECE))


@dataclass
class Sample:
    ttfb_ms: float
    seconds: float
    bytes: int
    rss_before_kib: int
    rss_peak_kib: int

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds


@dataclass
class Stream:
    next_at: float = 0.0
    first_at: float = 0.0
    last_at: float = 0.0
    size: int = 0
    first_ok: bool = False


class Server:
    """The Lambda side: /next hands out the event, a streamed /response is
    timed and counted, extensions register and wait forever."""

    def __init__(self, event: bytes, count: int) -> None:
        self.event = event
        self.left = count
        self.lock = threading.Lock()
        self.done: list[Stream] = []
        self.handed = threading.Event()  # a /next was answered (a stream is starting)
        self.finished = threading.Condition(self.lock)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.errors: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self.sock.close()

    def _serve(self, conn: socket.socket) -> None:
        r = _Reader(conn)
        current: Stream | None = None
        try:
            while True:
                method, path, headers = r.head()
                if method == "POST" and path.endswith("/extension/register"):
                    r.skip(int(headers.get("content-length", "0")))
                    conn.sendall(b"HTTP/1.1 200 OK\r\nLambda-Extension-Identifier: x\r\nContent-Length: 2\r\n\r\n{}")
                elif "/extension/event/next" in path:
                    return  # never answered, as in Lambda without events
                elif path.endswith("/invocation/next"):
                    with self.lock:
                        if self.left <= 0:
                            return  # idle: the contender waits for an event that never comes
                        self.left -= 1
                    rid = str(uuid.uuid4())
                    deadline = int(time.time() * 1000) + 120_000
                    current = Stream()
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: %s\r\n"
                        b"Lambda-Runtime-Deadline-Ms: %d\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:1:function:f\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (rid.encode(), deadline, len(self.event), self.event)
                    )
                    current.next_at = time.monotonic()
                    self.handed.set()
                elif path.endswith("/response") and current is not None:
                    if headers.get("lambda-runtime-function-response-mode") != "streaming":
                        self.errors.append(f"not a streamed response: {headers}")
                        return
                    r.chunked_body(current)
                    conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n")
                    with self.finished:
                        self.done.append(current)
                        self.finished.notify_all()
                    current = None
                else:
                    body = r.skip(int(headers.get("content-length", "0")), keep=True)
                    self.errors.append(f"unexpected {method} {path}: {body[:300]!r}")
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        except (EOFError, OSError):
            return


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.scratch = bytearray(1 << 20)
        self.view = memoryview(self.scratch)

    def _fill(self) -> None:
        n = self.sock.recv_into(self.scratch)
        if not n:
            raise EOFError
        self.buf += self.view[:n]

    def line(self) -> bytes:
        while (i := self.buf.find(b"\r\n")) < 0:
            self._fill()
        out = bytes(self.buf[:i])
        del self.buf[: i + 2]
        return out

    def head(self) -> tuple[str, str, dict[str, str]]:
        method, path, _ = self.line().decode("latin-1").split(" ", 2)
        headers = {}
        while line := self.line():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return method, path, headers

    def skip(self, n: int, keep: bool = False) -> bytes:
        kept = bytearray()
        take = min(n, len(self.buf))
        if keep:
            kept += self.buf[:take]
        del self.buf[:take]
        n -= take
        while n:
            k = self.sock.recv_into(self.scratch, min(n, len(self.scratch)))
            if not k:
                raise EOFError
            if keep:
                kept += self.view[:k]
            n -= k
        return bytes(kept)

    def chunked_body(self, s: Stream) -> None:
        while True:
            size = int(self.line().split(b";")[0], 16)
            if size == 0:
                while self.line():  # trailers
                    pass
                return
            if not s.first_at:
                s.first_at = time.monotonic()
                while len(self.buf) < min(size, 64):
                    self._fill()
                s.first_ok = bytes(self.buf[: min(size, 64)]) == PATTERN[: min(size, 64)]
            self.skip(size)
            s.size += size
            s.last_at = time.monotonic()
            if self.line() != b"":
                raise EOFError("chunk data not followed by CRLF")


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_contender(name: str, argv: list[str], env: dict[str, str], event: bytes, streams: int) -> list[Sample]:
    """One fresh server and contender: a warm-up stream, then `streams` measured ones."""
    server = Server(event, streams + 1)
    full_env = {**os.environ, **env, "AWS_LAMBDA_RUNTIME_API": server.address, "AWS_LAMBDA_FUNCTION_TIMEOUT": "120"}
    full_env.pop("DISPATCHER_CONFIG", None)
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, env=full_env, stdout=log, stderr=log, start_new_session=True)
    samples: list[Sample] = []
    try:
        for i in range(streams + 1):
            before = _rss_kib(proc.pid)
            peak = before
            deadline = time.monotonic() + 120
            with server.finished:
                while len(server.done) <= i:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        log.seek(0)
                        raise RuntimeError(f"{name}: stream {i} did not finish; output:\n{log.read()[-3000:].decode(errors='replace')}\n{server.errors}")
                    server.finished.wait(0.01)
                    peak = max(peak, _rss_kib(proc.pid))
            s = server.done[i]
            if s.size != len_of(event) or not s.first_ok:
                raise RuntimeError(f"{name}: stream {i} carried {s.size} bytes (first bytes ok: {s.first_ok})")
            if i == 0:
                continue  # warm-up
            samples.append(Sample((s.first_at - s.next_at) * 1000, s.last_at - s.next_at, s.size, before, peak))
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
        server.close()
        log.close()
    return samples


def len_of(event: bytes) -> int:
    return int(json.loads(event)["size"])


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="1 round, 1 stream of 10 MB (CI check)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--streams", type=int, default=3, help="measured streams per contender per round")
    ap.add_argument("--bytes", type=int, default=100_000_000)
    args = ap.parse_args(argv)
    if args.smoke:
        args.rounds, args.streams, args.bytes = 1, 1, 10_000_000
    try:
        build_bench_binaries()
    except BuildError as exc:
        print(f"bench/stream.py: {exc}", file=sys.stderr)
        return 2
    done = subprocess.run(
        cargo_command("build", "--release", "--quiet", "--example", "streaming", "--manifest-path", str(RUST_CRATE / "Cargo.toml")),
        capture_output=True, text=True, env={**os.environ, "CARGO_TARGET_DIR": str(RUST_CRATE / "target")},
    )
    if done.returncode != 0 or not RUST_STREAMING.is_file():
        print(f"bench/stream.py: building the Rust streaming example failed:\n{done.stderr[-3000:]}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp())
    config = tmp / "dispatcher.yaml"
    config.write_text(json.dumps({"workers": {"stream": {"command": [str(RUST_STREAMING)]}}}))
    event = json.dumps({"mode": "big", "size": args.bytes, "piece": PIECE}).encode()
    contenders = {
        "native": ([str(BIN / "bench-native-stream")], {"NATIVE_STREAM_BYTES": str(args.bytes), "NATIVE_STREAM_PIECE": str(PIECE)}),
        "dispatcher-rust": ([sys.executable, "-m", "dispatcher", "run", "--config", str(config)], {}),
    }
    results: dict[str, list[Sample]] = {name: [] for name in contenders}
    for rnd in range(args.rounds):
        for name, (cmd, env) in contenders.items():
            got = run_contender(name, cmd, env, event, args.streams)
            results[name] += got
            print(f"round {rnd + 1}/{args.rounds} {name}: " + ", ".join(f"{s.mb_per_s:.0f} MB/s ttfb {s.ttfb_ms:.2f} ms" for s in got), flush=True)
    summary = {
        name: {
            "streams": len(ss),
            "ttfb_ms_median": _median([s.ttfb_ms for s in ss]),
            "mb_per_s_median": _median([s.mb_per_s for s in ss]),
            "seconds_median": _median([s.seconds for s in ss]),
            "rss_before_kib_median": _median([s.rss_before_kib for s in ss]),
            "rss_growth_kib_max": max(s.rss_peak_kib - s.rss_before_kib for s in ss),
            "samples": [asdict(s) for s in ss],
        }
        for name, ss in results.items()
    }
    nat, dis = summary["native"], summary["dispatcher-rust"]
    lines = [
        f"# Streaming benchmark: {args.bytes / 1e6:g} MB streamed response, {args.rounds} rounds x {args.streams} streams",
        "",
        f"Machine: {os.cpu_count()} CPUs, shared with other work while measured; unpinned; medians over all streams.",
        "",
        "| contender | time to first byte | throughput | whole stream | top process RSS before | RSS growth during (max) |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        lines.append(
            f"| {name} | {s['ttfb_ms_median']:.2f} ms | {s['mb_per_s_median']:.0f} MB/s | {s['seconds_median']:.3f} s "
            f"| {s['rss_before_kib_median'] / 1024:.1f} MiB | {s['rss_growth_kib_max'] / 1024:.2f} MiB |"
        )
    lines += [
        "",
        f"dispatcher / native: throughput {dis['mb_per_s_median'] / nat['mb_per_s_median']:.2f}x, "
        f"time to first byte +{dis['ttfb_ms_median'] - nat['ttfb_ms_median']:.2f} ms.",
        "For dispatcher-rust the RSS is the supervisor's (`dispatcher run`), not the worker's.",
    ]
    RESULTS.mkdir(exist_ok=True)
    stem = "smoke-stream" if args.smoke else "stream"
    (RESULTS / f"{stem}.json").write_text(json.dumps({"bytes": args.bytes, "rounds": args.rounds, "results": summary}, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
