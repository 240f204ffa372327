"""Test harness shared by the integration tests: the real supervisor started
by the embedded emulator on a config, its log in a file, and process checks."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from conftest import WORKERS
from dispatcher.emulator import Emulator

FAULTY = str(WORKERS / "faulty.py")


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state != b"Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def wait_gone(pid: int, timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return False


def wait_until(predicate, timeout: float = 10.0, what: str = "the condition") -> None:  # type: ignore[no-untyped-def]
    """Poll `predicate()` until it holds; fail after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.01)


def ignores_sigterm(pid: int) -> bool:
    """The process has set SIGTERM to SIG_IGN (a worker's sign that it holds an event)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            line = next(line for line in f if line.startswith("SigIgn:"))
    except (FileNotFoundError, ProcessLookupError):
        return False
    return bool(int(line.split()[1], 16) >> 14 & 1)  # bit 14: signal 15


def descendant_named(pid: int, name: str) -> bool:
    """Some descendant of `pid` is a process named `name` (by /proc/PID/comm)."""
    import psutil

    try:
        return any(c.name() == name for c in psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return False


def tcp_input_queued(pid: int) -> int:
    """Bytes waiting unread in the receive queues of `pid`'s TCP sockets."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    queued = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[9] in inodes:
                    queued += int(cols[4].split(":")[1], 16)
    return queued


def write_config(tmp_path: Path, command: list[str] | None = None, **opts: object) -> Path:
    worker = {"command": command or [sys.executable, FAULTY]}
    worker.update(opts)
    path = tmp_path / "dispatcher.yaml"
    path.write_text(json.dumps({"workers": {"faulty": worker}}))  # JSON is YAML
    return path


class Function:
    """An emulator running the real supervisor on a config; logs go to a file."""

    def __init__(self, tmp_path: Path, config: Path, timeout: float = 10.0, env: dict[str, str] | None = None) -> None:
        self.log_path = tmp_path / "runtime.log"
        self.log = open(self.log_path, "wb")
        full_env = {k: v for k, v in os.environ.items() if k not in ("AWS_LAMBDA_RUNTIME_API", "_X_AMZN_TRACE_ID")}
        full_env.update(env or {})
        self.emu = Emulator(
            runtime_argv=[sys.executable, "-m", "dispatcher", "run", "--config", str(config)],
            env=full_env,
            function_timeout=timeout,
            task_root=str(config.parent),
            runtime_stdout=self.log,
            runtime_stderr=self.log,
        )
        self.emu.start()

    def invoke(self, event: object = None, raw: bytes | None = None, **kw: object):  # type: ignore[no-untyped-def]
        body = raw if raw is not None else json.dumps(event if event is not None else {}).encode()
        return self.emu.invoke(body, **kw)

    def logs(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        self.emu.close()
        self.log.close()



def all_gone(pids: list[int], timeout: float = 3.0) -> list[int]:
    """The pids still alive after `timeout` (empty when all are gone)."""
    end = time.monotonic() + timeout
    while True:
        alive = [p for p in pids if pid_alive(p)]
        if not alive or time.monotonic() > end:
            return alive
        time.sleep(0.02)


def read_pids(path: Path, count: int, timeout: float = 5.0) -> list[int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            pids = [int(x) for x in path.read_text().split()]
            if len(pids) >= count:
                return pids
        time.sleep(0.02)
    raise AssertionError(f"{path} did not list {count} pids in time: {path.read_text() if path.exists() else 'missing'}")


def big_pretty_event(size: int) -> bytes:
    """Pretty-printed, non-ASCII JSON with non-canonical numbers (2.50, 1e3),
    about `size` bytes: an event that any re-encoding would change."""
    item = '    {\n      "name": "Zoë Ångström ✓ 東京",\n      "price": 2.50,\n      "qty": 1e3,\n      "ok": true\n    }'
    items: list[str] = []
    total = 0
    while total < size - 64:
        items.append(item)
        total += len(item.encode()) + 2
    return ('{\n  "items": [\n' + ",\n".join(items) + '\n  ],\n  "note": "fin"\n}\n').encode()
