"""The adapters' `multiplex` workers under the real supervisor and the emulator's
LMI mode: the Node adapter (async handlers run concurrently) and the Rust
adapter's `run_concurrent` (a thread per slot).

Concurrency 4, 16 concurrent invokes of a 200 ms handler: one at a time they
take 3.2 s; through four slots and one multiplexed worker, about 0.8 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from dispatcher.emulator import Emulator, InvokeResult
from test_node_adapter import BIN as NODE_BIN
from test_node_adapter import FIXTURES as NODE_FIXTURES
from test_node_adapter import node  # noqa: F401 - the session fixture (installs the adapter's dependency)
from test_rust_adapter import TARGET, RustBuild, rust_build  # noqa: F401 - the session fixture (builds the examples)

pytestmark = pytest.mark.timeout(300)


def wait_for(check: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def sixteen_at_once(tmp_path: Path, worker: dict[str, object], event: bytes) -> tuple[list[InvokeResult], float]:
    config = tmp_path / "dispatcher.yaml"
    config.write_text(json.dumps({"workers": {"w": dict(worker, concurrency="auto")}}))
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_LAMBDA_RUNTIME_API", "_HANDLER")}
    log = open(tmp_path / "runtime.log", "wb")
    with log, Emulator(
        runtime_argv=[sys.executable, "-m", "dispatcher", "run", "--config", str(config)],
        env=env, concurrency=4, queue=True, function_timeout=10, task_root=str(tmp_path),
        runtime_stdout=log, runtime_stderr=log,
    ) as emu:  # fmt: skip
        wait_for(lambda: emu.open_slots == 4, "the supervisor's four GET /next")
        results: list[InvokeResult] = []
        lock = threading.Lock()

        def call() -> None:
            res = emu.invoke(event)
            with lock:
                results.append(res)

        threads = [threading.Thread(target=call) for _ in range(16)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        elapsed = time.monotonic() - t0
    assert len(results) == 16, (tmp_path / "runtime.log").read_text(errors="replace")[-2000:]
    assert [r.outcome for r in results] == ["success"] * 16, [r.body[:200] for r in results if r.outcome != "success"]
    assert len({r.request_id for r in results}) == 16
    return results, elapsed


def test_node_adapter_multiplexes_async_handlers(tmp_path: Path, node: str) -> None:  # noqa: F811
    worker = {"command": [node, str(NODE_BIN), "./behaviours.mjs"], "cwd": str(NODE_FIXTURES)}
    results, elapsed = sixteen_at_once(tmp_path, worker, b'{"action": "sleep_pid", "ms": 200}')
    pids = {json.loads(r.body)["pid"] for r in results}
    assert len(pids) == 1, f"one multiplexed Node worker, not a pool: {pids}"
    assert elapsed < 2.0, f"16 x 200 ms through 4 slots took {elapsed:.2f} s (one at a time: 3.2 s)"


def test_rust_run_concurrent_runs_a_thread_per_slot(tmp_path: Path, rust_build: RustBuild) -> None:  # noqa: F811
    binary = TARGET / "release" / "examples" / "concurrent"
    results, elapsed = sixteen_at_once(tmp_path, {"command": [str(binary)]}, b'{"do": "sleep", "ms": 200}')
    threads = {json.loads(r.body)["thread"] for r in results}
    # A pool of one-at-a-time workers would run every handler on its main thread.
    assert len(threads) >= 2 and "ThreadId(1)" not in threads, threads
    assert elapsed < 2.0, f"16 x 200 ms through 4 slots took {elapsed:.2f} s (one at a time: 3.2 s)"
