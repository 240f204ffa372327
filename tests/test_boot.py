"""The first worker starts before the supervisor's modules load (dispatcher/boot.py).

`dispatcher run` spawns it right after reading the config; the supervisor's
first spawn of the same command, directory and environment takes it over.
These tests check that it is started once, that it is the supervisor's
worker in every respect (environment, containment), that a worker nobody
takes over does not linger, and that failures are reported as before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from harness import Function, pid_alive, wait_gone, write_config

pytestmark = pytest.mark.timeout(60)

# A msgpack worker that notes each start (its pid, its parent, what its
# environment says), then answers every invocation with its pid.
WORKER = r'''
import json, os, struct, sys
import msgpack
with open(os.environ["STARTS"], "a") as f:
    f.write(json.dumps({"pid": os.getpid(), "ppid": os.getppid(),
                        "containment": "DISPATCHER_CONTAINMENT" in os.environ,
                        "protocol": os.environ.get("DISPATCHER_PROTOCOL"),
                        "worker": os.environ.get("DISPATCHER_WORKER")}) + "\n")
def send(msg):
    body = msgpack.packb(msg, use_bin_type=True)
    sys.stdout.buffer.write(struct.pack(">I", len(body)) + body)
    sys.stdout.buffer.flush()
send({"type": "ready", "protocol": 1})
while True:
    head = sys.stdin.buffer.read(4)
    if len(head) < 4:
        break
    msg = msgpack.unpackb(sys.stdin.buffer.read(struct.unpack(">I", head)[0]), raw=False)
    if msg["type"] == "invoke":
        send({"type": "result", "id": msg["id"], "payload": str(os.getpid()).encode()})
'''


def _worker(tmp_path: Path) -> list[str]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    return [sys.executable, str(script)]


def _starts(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "starts"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_first_worker_is_started_once_and_is_the_one_that_answers(tmp_path: Path) -> None:
    config = write_config(tmp_path, _worker(tmp_path))
    fn = Function(tmp_path, config, env={"STARTS": str(tmp_path / "starts")})
    try:
        first = fn.invoke({})
        second = fn.invoke({})
        assert first.outcome == second.outcome == "success", fn.logs()
        starts = _starts(tmp_path)
        assert len(starts) == 1, f"the worker started {len(starts)} times: {starts}"
        start = starts[0]
        assert int(first.body) == int(second.body) == start["pid"]
        # the supervisor's own worker: its environment, its containment mark
        assert start["containment"] is True and start["protocol"] == "1" and start["worker"] == "faulty"
        supervisor = start["ppid"]
        with open(f"/proc/{supervisor}/task/{supervisor}/children") as f:
            children = [int(p) for p in f.read().split()]
        assert start["pid"] in children and len(children) == 2, children  # the worker and the guardian
        # The guardian is forked, and armed, before the first worker exists
        # (dispatcher/guardian.py, `ensure`): it is the older of the two.
        guardian = next(p for p in children if p != start["pid"])
        assert guardian < start["pid"]
    finally:
        fn.close()
    assert wait_gone(int(start["pid"]), timeout=5)


def _run_python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("AWS_LAMBDA")}
    full.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=full, timeout=30)


def test_start_spawns_before_the_supervisor_is_imported(tmp_path: Path) -> None:
    """`boot.start_worker` needs the config and process.py only: the supervisor, the
    frame codec and msgpack are not loaded when the worker is already running."""
    config = write_config(tmp_path, _worker(tmp_path))
    code = f"""
import os, sys
from dispatcher.config import load
from dispatcher import boot, process
worker = load({str(config)!r}, os.environ).select(None)
assert boot.start_worker(worker, os.environ)
loaded = [m for m in ("dispatcher.supervisor", "dispatcher.frames", "msgpack") if m in sys.modules]
assert not loaded, loaded
print(process._early.pid)
boot.discard_worker()
"""
    done = _run_python(code, tmp_path, STARTS=str(tmp_path / "starts"))
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout)
    assert not pid_alive(pid)  # discarded: killed and reaped


def test_a_different_spawn_discards_the_early_worker(tmp_path: Path) -> None:
    """Only the very same command, directory and environment is taken over; the
    early worker of any other spawn is killed and reaped, never left running."""
    code = """
import os
from dispatcher import process
env = dict(os.environ)
process.prestart(["sleep", "300"], cwd=".", env=env, name="w")
early = process._early
same = process.WorkerProcess(["sleep", "300"], cwd=".", env=env, name="w")
assert same.pid == early.pid and process._early is None
process.prestart(["sleep", "300"], cwd=".", env=env, name="w")
early = process._early
other = process.WorkerProcess(["sleep", "300"], cwd=".", env=dict(env, X="1"), name="w")
assert other.pid != early.pid and early.status is not None and process._early is None
print(early.pid, other.pid)
for p in (same, other):
    p.stop(1.0)
"""
    done = _run_python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    early, other = (int(p) for p in done.stdout.split())
    assert not pid_alive(early) and not pid_alive(other)


def test_exec_workers_are_not_started_early_and_spawn_failures_are_left_to_the_supervisor(tmp_path: Path) -> None:
    code = f"""
import os
from dispatcher.config import load
from dispatcher import boot, process
exec_kind = load({str(write_config(tmp_path, ["true"], protocol="exec"))!r}, os.environ).select(None)
assert boot.start_worker(exec_kind, os.environ) is False and process._early is None
"""
    done = _run_python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    missing = tmp_path / "missing"
    missing.mkdir()
    fn = Function(missing, write_config(missing, [str(missing / "no-such-binary")]))
    try:
        res = fn.invoke({})
        assert res.outcome == "init_error"
        doc = json.loads(res.body)
        assert doc["errorType"] == "Runtime.InvalidEntrypoint" and "no-such-binary" in doc["errorMessage"]
    finally:
        fn.close()
