"""Test helper for the exec and jsonl kinds: the real supervisor, started by
the embedded emulator on a one-worker config, with its log in a file."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from dispatcher.emulator import Emulator



def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state != b"Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


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


class KindFunction:
    """An emulator running the real supervisor on one worker; logs go to a file."""

    def __init__(self, tmp_path: Path, worker: dict[str, object], timeout: float = 10.0, env: dict[str, str] | None = None) -> None:
        config = tmp_path / "dispatcher.yaml"
        config.write_text(json.dumps({"workers": {"w": worker}}))  # JSON is YAML
        self.log_path = tmp_path / "runtime.log"
        self.log = open(self.log_path, "wb")
        full_env = {k: v for k, v in os.environ.items() if k not in ("AWS_LAMBDA_RUNTIME_API", "_X_AMZN_TRACE_ID")}
        full_env.update(env or {})
        self.emu = Emulator(
            runtime_argv=[sys.executable, "-m", "dispatcher", "run", "--config", str(config)],
            env=full_env,
            function_timeout=timeout,
            task_root=str(tmp_path),
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
