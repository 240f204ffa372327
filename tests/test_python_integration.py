"""The Python adapter behind the real supervisor, through `dispatcher invoke`."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import EXAMPLES, WORKERS, run_cli
from harness import big_pretty_event

PYFUNC = str(WORKERS / "pyfunc" / "dispatcher.yaml")


def test_hello_example() -> None:
    res = run_cli("invoke", "--config", str(EXAMPLES / "python-hello" / "dispatcher.yaml"), '{"name": "Ada"}')
    assert res.returncode == 0, res.stderr
    assert res.stdout == b'{"message":"Hello, Ada!"}'


def test_handler_error_then_worker_still_serves() -> None:
    res = run_cli("invoke", "--config", PYFUNC, "--repeat", "2", '{"action": "error"}')
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    assert doc["errorType"] == "BadInput"
    assert doc["errorMessage"] == "the input was bad"
    assert any("raise BadInput" in line for line in doc["stackTrace"])
    assert b"2 invocations, 2 failed" in res.stderr


def test_import_failure_is_init_error() -> None:
    res = run_cli("invoke", "--config", PYFUNC, "{}", env={"PYFUNC_IMPORT_FAIL": "1"})
    assert res.returncode == 3, res.stderr
    doc = json.loads(res.stdout)
    assert doc["errorType"] == "RuntimeError"
    assert "module-level failure" in doc["errorMessage"]


def test_crash_then_next_invocation_served(tmp_path: Path) -> None:
    # Two different events over one warm runtime: drive the emulator directly.
    import os
    import sys

    from dispatcher.emulator import Emulator

    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
    with open(tmp_path / "log", "wb") as log, Emulator(
        runtime_argv=[sys.executable, "-m", "dispatcher", "run", "--config", PYFUNC],
        env=env, function_timeout=10.0, runtime_stdout=log, runtime_stderr=log,
    ) as emu:
        emu.start()
        crash = emu.invoke(b'{"action": "crash"}')
        assert json.loads(crash.body)["errorType"] == "Runtime.ExitError"
        ok = emu.invoke(b'{"action": "print"}')
        assert ok.outcome == "success"
        assert json.loads(ok.body)["printed"] is True
    logs = (tmp_path / "log").read_text()
    assert f"{ok.request_id}\thello from print" in logs  # print() went to the log, not the frames


def test_six_mb_non_canonical_event_echoed_byte_for_byte(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    for size in (1_000_000, 6_000_000):
        data = big_pretty_event(size)
        assert size - 200 < len(data) <= size
        event.write_bytes(data)
        res = run_cli("invoke", "--config", str(EXAMPLES / "python-echo" / "dispatcher.yaml"), "--event-file", str(event))
        assert res.returncode == 0, res.stderr[-2000:]
        assert res.stdout == event.read_bytes()


def test_handler_setting_reaches_a_worker_started_without_one(tmp_path: Path) -> None:
    # As deployed: _HANDLER holds the function's Handler setting ("app.handler"),
    # names no worker, so the supervisor runs the default one, and the adapter,
    # given no handler argument, loads what _HANDLER names.
    (tmp_path / "app.py").write_text(
        "def handler(event, context):\n    return {'from': 'app.handler', 'id': context.aws_request_id}\n"
    )
    (tmp_path / "other.py").write_text("def handler(event, context):\n    return 'other.handler'\n")
    config = tmp_path / "dispatcher.yaml"
    config.write_text('workers:\n  py:\n    command: ["${DISPATCHER_PYTHON}", "-m", "dispatcher_worker"]\ndefault: py\n')
    res = run_cli("invoke", "--config", str(config), "--handler", "app.handler", "{}")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["from"] == "app.handler"
    other = run_cli("invoke", "--config", str(config), "--handler", "other.handler", "{}")
    assert (other.returncode, other.stdout) == (0, b'"other.handler"'), other.stderr
    missing = run_cli("invoke", "--config", str(config), "{}")  # no _HANDLER at all
    assert missing.returncode == 3, missing.stderr
    assert json.loads(missing.stdout)["errorType"] == "Runtime.MalformedHandlerName"
