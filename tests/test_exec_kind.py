"""protocol: exec (docs/exec.md) through the real supervisor and emulator:
one process per invocation, stdout the body, stderr the log, exit status
the outcome, and nothing the script started survives its invocation."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from conftest import WORKERS, require_tool
from harness import descendant_named, wait_until
from workers.kinds_fixture import KindFunction, all_gone, read_pids

FAULTY = str(WORKERS / "exec" / "faulty.sh")
LIMIT = 6 * 1024 * 1024 + 100  # RAPID's 6,291,556


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_tool("bash", "apt-get install bash")
    require_tool("jq", "apt-get install jq")


@pytest.fixture
def function(tmp_path: Path):  # type: ignore[no-untyped-def]
    made: list[KindFunction] = []

    def make(case: str | None = None, *, command: list[str] | None = None, timeout: float = 10.0,
             environ: dict[str, str] | None = None, **opts: object) -> KindFunction:
        """`environ` is added to the supervisor's environment; `opts` are worker settings."""
        worker: dict[str, object] = {"command": command or [FAULTY, case], "protocol": "exec", **opts}
        fn = KindFunction(tmp_path, worker, timeout, environ)
        made.append(fn)
        return fn

    yield make
    for fn in made:
        fn.close()


def test_stdout_is_the_body_byte_for_byte(function) -> None:  # type: ignore[no-untyped-def]
    fn = function("echo")
    for body in (b'{"x": 2.50,\n "s": "h\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80"}', b'"\xe6\x97\xa5\xe6\x9c\xac"', b"{}"):
        res = fn.invoke(raw=body)
        assert res.outcome == "success", res
        assert res.body == body


def test_stdout_need_not_be_json(function) -> None:  # type: ignore[no-untyped-def]
    res = function("binary").invoke({})
    assert res.outcome == "success"
    assert res.body == b"not json \x01\xff at all\n"


def test_invocation_context_in_the_environment(function) -> None:  # type: ignore[no-untyped-def]
    fn = function("env", environ={"LAMBDA_TENANT_ID": "stale", "_X_AMZN_TRACE_ID": "stale"}, env={"GREETING": "hi"})
    res = fn.invoke({}, trace_id="Root=1-abc", client_context='{"c":1}', tenant_id="t1", cognito_identity='{"i":2}')
    ctx = json.loads(res.body)
    assert ctx["id"] == res.request_id
    assert abs(int(ctx["deadline"]) - (time.time() + 10) * 1000) < 3000
    assert ctx["arn"].startswith("arn:aws:lambda:")
    assert (ctx["trace"], ctx["cc"], ctx["cognito"], ctx["tenant"]) == ("Root=1-abc", '{"c":1}', '{"i":2}', "t1")
    assert ctx["greeting"] == "hi" and ctx["protocol"] == "exec"
    assert ctx["runtime_api"] is None
    assert ctx["pgid_is_pid"] is True  # its own process group
    bare = json.loads(fn.invoke({}).body)
    # Absent headers leave the variables unset, even when the supervisor's own env had them.
    assert (bare["trace"], bare["cc"], bare["cognito"], bare["tenant"]) == (None, None, None, None)
    assert bare["id"] != ctx["id"]


def test_error_exit(function) -> None:  # type: ignore[no-untyped-def]
    fn = function("fail")
    res = fn.invoke({})
    assert res.outcome == "error"
    doc = json.loads(res.body)
    assert doc["errorType"] == "Function.ExitError"
    assert "exited with status 3" in doc["errorMessage"]
    assert doc["errorMessage"].endswith("first stderr line\nbad input: missing name")
    assert "partial output" not in res.body.decode()  # stdout is discarded ...
    assert "stdout (14 bytes) is discarded" in fn.logs()  # ... and its size logged
    assert f"{res.request_id}\tbad input: missing name" in fn.logs()
    # The next error names only its own stderr lines.
    assert json.loads(fn.invoke({}).body)["errorMessage"].count("first stderr line") == 1


def test_error_type_setting(function) -> None:  # type: ignore[no-untyped-def]
    res = function("fail", error_type="Function.BadInput").invoke({})
    assert json.loads(res.body)["errorType"] == "Function.BadInput"
    assert res.error_type_header == "Function.BadInput"


def test_killed_by_signal_is_exit_error(function) -> None:  # type: ignore[no-untyped-def]
    fn = function("signal")
    res = fn.invoke({})
    doc = json.loads(res.body)
    assert doc["errorType"] == "Runtime.ExitError"
    assert "killed by signal 11 (SIGSEGV)" in doc["errorMessage"] and "about to be killed" in doc["errorMessage"]
    assert fn.emu.stats.launches == 1  # the supervisor itself stayed
    assert json.loads(fn.invoke({}).body)["errorType"] == "Runtime.ExitError"  # and serves the next one


def test_timeout_kills_the_whole_pipeline(function, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pids_file = tmp_path / "pids"
    fn = function("pipeline", timeout=1.0, timeout_margin="200ms", shutdown_grace="300ms", environ={"PIDS_FILE": str(pids_file)})
    res = fn.invoke({})
    # Answered by the supervisor at the deadline less the margin, before the
    # emulator's own 1 s timeout (duration_ms is the invocation's, not the
    # supervisor's start, which a loaded machine can stretch).
    assert res.duration_ms < 1000, res.duration_ms
    doc = json.loads(res.body)
    assert doc["errorType"] == "Sandbox.Timedout"
    assert doc["errorMessage"] == "Task timed out after 1.00 seconds"
    assert res.error_type_header == "Runtime.InvokeTimeout"
    pids = read_pids(pids_file, 4)
    assert all_gone(pids) == [], "a process of the timed-out pipeline survived"
    assert fn.invoke({}).outcome == "error"  # served again (the same case hangs again)


def test_background_job_is_killed_and_does_not_stretch(function, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pids_file = tmp_path / "pids"
    fn = function("background", environ={"PIDS_FILE": str(pids_file)})
    fn.invoke({})  # warm: the first invoke also pays the supervisor's start
    pids_file.unlink()
    res = fn.invoke({})
    assert res.outcome == "success" and res.body == b'"done"'
    assert res.duration_ms < 1000, res.duration_ms  # not the background job's 1000 s
    assert all_gone(read_pids(pids_file, 2)) == [], "a background job outlived its invocation"


@pytest.mark.parametrize("size", [1_000_000, 3 * 1024 * 1024])
def test_script_that_never_reads_stdin(function, size: int) -> None:  # type: ignore[no-untyped-def]
    fn = function("no_stdin")
    event = json.dumps({"pad": "x" * size}).encode()
    for _ in range(2):
        res = fn.invoke(raw=event)
        assert res.outcome == "success", res
        assert res.body == b'"did not read"'
    assert function("close_stdin").invoke(raw=event).body == b'"closed"'


def test_stdout_over_the_limit(function) -> None:  # type: ignore[no-untyped-def]
    fn = function("flood")
    res = fn.invoke({})
    doc = json.loads(res.body)
    assert doc["errorType"] == "Function.ResponseSizeTooLarge"
    assert f"({LIMIT} bytes)" in doc["errorMessage"] and "more than" in doc["errorMessage"]
    assert res.duration_ms < 5000


def test_stdout_at_the_limit_is_a_success(function) -> None:  # type: ignore[no-untyped-def]
    res = function("exact").invoke({})
    assert res.outcome == "success"
    assert len(res.body) == LIMIT


def test_stderr_is_drained_while_the_script_runs(function) -> None:  # type: ignore[no-untyped-def]
    fn = function("stderr_flood")
    res = fn.invoke({})
    assert res.body == b'"flooded"'
    assert fn.logs().count(f"{res.request_id}\t" + "e" * 1000) == 3000


def test_shell_only_when_asked(function) -> None:  # type: ignore[no-untyped-def]
    fn = function(command=["sh", "-c", 'read -r line; printf "%s|%s" "$line" "$0"', "named"])
    assert fn.invoke(raw=b'{"a":1}\n').body == b'{"a":1}|named'


def test_command_not_found_is_invalid_entrypoint(function, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = function(command=[str(tmp_path / "missing.sh")]).invoke({})
    assert res.outcome == "init_error"
    doc = json.loads(res.body)
    assert doc["errorType"] == "Runtime.InvalidEntrypoint"
    assert "missing.sh" in doc["errorMessage"] and "not found" in doc["errorMessage"]


def test_script_without_shebang_is_refused_at_init(function) -> None:  # type: ignore[no-untyped-def]
    res = function(command=[str(WORKERS / "exec" / "noshebang.sh")]).invoke({})
    doc = json.loads(res.body)
    assert doc["errorType"] == "Runtime.InvalidEntrypoint"
    assert "#!/bin/sh" in doc["errorMessage"]


def test_sigterm_with_a_script_running(function, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fn = function("hang", timeout=20.0, shutdown_grace="600ms")
    assert fn.invoke({}, timeout=0.5).outcome in ("error", "timeout")  # warm
    # The warm-up's `sleep` is stopped after its answer, so it can outlive it
    # for a moment (or stay a zombie until reaped): seen below, it would pass
    # for this invocation's before the supervisor has read the event.
    wait_until(lambda: not descendant_named(fn.emu.runtime_pid, "sleep"), what="the warm-up's script to be gone")
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(fn.invoke({})), daemon=True)
    t.start()
    # Handed out is not enough: SIGTERM before the supervisor has read the
    # event is a runtime exiting with an event unread (RAPID's own error).
    wait_until(lambda: descendant_named(fn.emu.runtime_pid, "sleep"), what="the script to be running")
    os.kill(fn.emu.runtime_pid, signal.SIGTERM)
    t.join(5)
    doc = json.loads(out[0].body)  # type: ignore[attr-defined]
    assert doc["errorType"] == "Runtime.ExitError" and "shutting down" in doc["errorMessage"]
    assert all_gone([fn.emu.runtime_pid], 2.0) == []


def test_dispatcher_invoke_runs_the_example() -> None:
    from conftest import EXAMPLES, run_cli

    config = str(EXAMPLES / "shell-exec" / "dispatcher.yaml")
    res = run_cli("invoke", "--config", config, '{"name": "Ada"}')
    assert (res.returncode, res.stdout) == (0, b'{"message":"Hello, Ada!"}\n'), res.stderr.decode()
    assert b"greeting Ada (3 letters)" in res.stderr  # its stderr is the log
    res = run_cli("invoke", "--config", config, "[1]")
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    assert doc["errorType"] == "Function.BadInput" and "exited with status 2" in doc["errorMessage"]
    assert "expected a JSON object" in doc["errorMessage"]
