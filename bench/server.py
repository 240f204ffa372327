"""Drives one bench-apiserver process (bench/apiserver): start, address, stats.

The server prints its port on its first stdout line and one JSON line of
stats when the run ends; closing its stdin makes it exit.  Waiting for the
stats also watches the contender, so a contender that dies is noticed at
once instead of at the timeout.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

PIN = ["taskset", "-c", "0"]


class ServerError(Exception):
    """The Runtime API server itself misbehaved (not the contender)."""


class ApiServer:
    def __init__(self, binary: Path, event: Path, *, pinned: bool, count: int = 0,
                 seconds: float = 0.0, warmup: int = 0, dump_last: Path | None = None,
                 stall_seconds: float = 15.0) -> None:
        self.argv = (PIN if pinned else []) + [
            str(binary), "--event", str(event), "--count", str(count), "--seconds", str(seconds),
            "--warmup", str(warmup), "--stall-seconds", str(stall_seconds),
            # Sized for the longest run; the array is lazily backed, so this costs nothing.
            "--capacity", str(max(count, 2_000_000)),
        ]
        if dump_last is not None:
            self.argv += ["--dump-last", str(dump_last)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._buf = b""

    def __enter__(self) -> "ApiServer":
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        line = self._readline(timeout=10.0, alive=lambda: True)
        if line is None or not line.strip().isdigit():
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
            self.close()
            raise ServerError(f"bench-apiserver did not print its port (got {line!r}) {err}")
        self.port = int(line)
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_stats(self, timeout: float, alive: Callable[[], bool]) -> dict[str, Any] | None:
        """The stats, or None on timeout or when `alive()` turns false first."""
        line = self._readline(timeout, alive)
        if line is None:
            return None
        try:
            stats: dict[str, Any] = json.loads(line)
        except ValueError as exc:
            raise ServerError(f"bench-apiserver printed a bad stats line {line!r}: {exc}") from exc
        return stats

    def wait_drained(self, timeout: float, alive: Callable[[], bool]) -> dict[str, Any] | None:
        """After the stats: the server's `drained` line (every /next handed out answered,
        with the count of answers that came twice), or None on timeout."""
        line = self._readline(timeout, alive)
        if line is None:
            return None
        try:
            drained: dict[str, Any] = json.loads(line)
        except ValueError as exc:
            raise ServerError(f"bench-apiserver printed a bad drained line {line!r}: {exc}") from exc
        return drained

    def _readline(self, timeout: float, alive: Callable[[], bool]) -> str | None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                if sel.select(min(left, 0.05)):
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        return None
                    self._buf += chunk
                elif not alive():
                    # One last look: the stats may have landed as the contender exited.
                    if not sel.select(0.1):
                        return None
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode()

    def close(self) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()
        self.proc = None

    def __exit__(self, *exc: object) -> None:
        self.close()
