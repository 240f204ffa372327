"""The emulator against real runtime processes (tests/emulator_runtimes/runtime.py).

Every test starts a real subprocess runtime on a real socket; each is bounded
by short function timeouts and pytest-timeout.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from dispatcher.emulator import Emulator, EmulatorClosedError, sanitize_error_type

RUNTIME = Path(__file__).resolve().parent / "emulator_runtimes" / "runtime.py"

pytestmark = pytest.mark.timeout(60)


def make(tmp_path: Path, mode: str = "normal", **kwargs: object) -> Emulator:
    log = tmp_path / "runtime.log"
    env = dict(os.environ, EMU_TEST_LOG=str(log))
    env.pop("AWS_LAMBDA_RUNTIME_API", None)
    kwargs.setdefault("function_timeout", 5.0)
    return Emulator(runtime_argv=[sys.executable, str(RUNTIME), mode], env=env, task_root=str(tmp_path), **kwargs)  # type: ignore[arg-type]


def notes(tmp_path: Path) -> list[str]:
    path = tmp_path / "runtime.log"
    return path.read_text().splitlines() if path.exists() else []


def cmd(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_echo_success_with_lazy_init_then_warm(tmp_path: Path) -> None:
    with make(tmp_path) as emu:
        assert emu.runtime_pid is None  # lazy, like the RIE
        first = emu.invoke(b'{"name":"Ada"}')
        assert first.outcome == "success" and first.status == 200
        assert first.body == b'{"name":"Ada"}'
        assert first.content_type == "application/json"
        assert first.init_duration_ms is not None and first.init_duration_ms > 0
        assert first.invocation_id_echoed is True
        pid = emu.runtime_pid
        second = emu.invoke(b"[1,2,3]")
        assert second.body == b"[1,2,3]" and second.init_duration_ms is None
        assert emu.runtime_pid == pid
        assert second.request_id != first.request_id
        stats = emu.stats
        assert (stats.handed_out, stats.answered, stats.launches, stats.posts_without_invocation_id_echo) == (2, 2, 1, 0)


def test_next_headers_and_environment(tmp_path: Path) -> None:
    with make(tmp_path, function_name="my-fn", handler="app.handler", function_timeout=7) as emu:
        started = time.time()
        got = emu.invoke(cmd(do="headers"), trace_id="Root=1-abc;Sampled=1", client_context='{"c":1}', tenant_id="t-1",
                         cognito_identity='{"cognitoIdentityId":"i"}')
        hdrs = json.loads(got.body)
        uuid_shape = [8, 4, 4, 4, 12]
        assert [len(p) for p in hdrs["lambda-runtime-aws-request-id"].split("-")] == uuid_shape
        assert hdrs["lambda-runtime-aws-request-id"] == got.request_id
        assert hdrs["lambda-runtime-aws-request-id"][14] == "4"  # version 4
        deadline = int(hdrs["lambda-runtime-deadline-ms"]) / 1000
        assert started + 6 < deadline < time.time() + 7.5
        assert hdrs["lambda-runtime-invoked-function-arn"] == "arn:aws:lambda:us-east-1:012345678912:function:my-fn"
        assert hdrs["content-type"] == "application/json"
        assert hdrs["lambda-runtime-trace-id"] == "Root=1-abc;Sampled=1"
        assert hdrs["lambda-runtime-client-context"] == '{"c":1}'
        assert hdrs["lambda-runtime-aws-tenant-id"] == "t-1"
        assert hdrs["lambda-runtime-cognito-identity"] == '{"cognitoIdentityId":"i"}'
        plain = json.loads(emu.invoke(cmd(do="headers")).body)
        assert not {"lambda-runtime-trace-id", "lambda-runtime-client-context", "lambda-runtime-aws-tenant-id"} & set(plain)
        assert plain["lambda-runtime-invocation-id"] != hdrs["lambda-runtime-invocation-id"]
        env = json.loads(emu.invoke(cmd(do="env")).body)
    assert env["AWS_LAMBDA_RUNTIME_API"] == emu._sandbox.address  # type: ignore[union-attr]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "my-fn"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "3008"
    assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "7"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/my-fn"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].count("[$LATEST]") == 1
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"] == str(tmp_path) == env["cwd"]
    assert env["TZ"] == ":UTC"
    assert env["EMU_TEST_LOG"]  # the given environment is passed through


def test_error_post_records_sanitised_type_and_keeps_runtime(tmp_path: Path) -> None:
    with make(tmp_path) as emu:
        got = emu.invoke(cmd(do="error", type="Function.MyError"))
        assert got.outcome == "error" and got.status == 200
        assert got.error_type == "MyError" and got.error_type_header == "Function.MyError"
        assert json.loads(got.body)["errorMessage"] == "boom"
        assert emu.invoke(cmd(do="error", type="Unhandled")).error_type_header == "Runtime.Unknown"
        assert emu.invoke(cmd(do="error", type="Function.x")).error_type_header == "Function.Unknown"
        assert emu.invoke(cmd(do="error")).error_type_header == "Runtime.Unknown"
        assert emu.stats.launches == 1 and emu.stats.errors == 4
    assert notes(tmp_path).count("error 202") == 4


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Runtime.HandlerNotFound", "Runtime.HandlerNotFound"),
        ("Function.MyError", "Function.MyError"),
        ("xx Function.MyError yy", "xx Function.MyError yy"),  # unanchored, as RAPID
        ("Function.myError", "Function.Unknown"),
        ("Function.X", "Function.Unknown"),
        ("Unhandled", "Runtime.Unknown"),
        ("unhandled", "Runtime.Unknown"),
        ("Unhandled.MyError", "Runtime.Unknown"),
        (None, "Runtime.Unknown"),
    ],
)
def test_sanitize_error_type_table(value: str | None, expected: str) -> None:
    assert sanitize_error_type(value) == expected


def test_timeout_kills_tree_including_setsid_grandchild_and_reinits(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    with make(tmp_path, function_timeout=1.0) as emu:
        first_pid = None
        t0 = time.monotonic()
        got = emu.invoke(cmd(do="spawn_hang", pidfile=str(pidfile)), timeout=0.5)
        elapsed = time.monotonic() - t0
        assert got.outcome == "timeout" and got.status == 200
        assert got.error_type == "Sandbox.Timedout"
        assert json.loads(got.body) == {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {got.request_id} Error: Task timed out after 0.50 seconds",
        }
        assert 0.5 <= elapsed < 3.0
        grandchild = int(pidfile.read_text())
        for _ in range(50):
            if not alive(grandchild):
                break
            time.sleep(0.02)
        assert not alive(grandchild), "the setsid grandchild survived the timeout"
        again = emu.invoke(b'"ok"')
        assert again.outcome == "success" and again.init_duration_ms is not None
        assert emu.stats.launches == 2 and emu.stats.timeouts == 1
        first_pid = emu.runtime_pid
    assert first_pid is not None and not alive(first_pid)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (cmd(do="exit", code=3), "Runtime exited with error: exit status 3"),
        (cmd(do="exit", code=0), "Runtime exited without providing a reason"),
        (cmd(do="kill"), "Runtime exited with error: signal: killed"),
    ],
)
def test_exit_mid_invoke_is_exit_error_and_next_invoke_reinits(tmp_path: Path, event: bytes, message: str) -> None:
    with make(tmp_path) as emu:
        got = emu.invoke(event)
        assert got.outcome == "exit" and got.status == 502
        assert json.loads(got.body) == {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {got.request_id} Error: {message}"}
        assert got.error_type == "Runtime.ExitError"
        assert emu.invoke(b"1").outcome == "success"
        assert emu.stats.launches == 2


def test_respond_then_exit_gives_502_with_the_response(tmp_path: Path) -> None:
    with make(tmp_path) as emu:
        got = emu.invoke(cmd(do="respond_exit"))
        assert got.outcome == "exit" and got.status == 502
        assert got.body == b'{"said":"bye"}'


def test_init_error_then_exit(tmp_path: Path) -> None:
    with make(tmp_path, "init_error") as emu:
        got = emu.invoke(b"{}")
        assert got.outcome == "init_error" and got.status == 502
        assert json.loads(got.body)["errorType"] == "Runtime.ImportModuleError"
        assert got.error_type == "Runtime.ImportModuleError"
        assert got.error_type_header == "Runtime.ImportModuleError"
        again = emu.invoke(b"{}")  # every invoke runs init again, and fails again
        assert again.outcome == "init_error"
        assert emu.stats.launches == 2 and emu.stats.init_errors == 2
    assert notes(tmp_path)[:2] == ["init_error 202", "next_after_init_error 403"]


def test_exit_during_init_is_an_init_failure(tmp_path: Path) -> None:
    with make(tmp_path, "init_exit") as emu:
        got = emu.invoke(b"{}")
    assert got.outcome == "init_error" and got.status == 502
    assert json.loads(got.body)["errorMessage"] == f"RequestId: {got.request_id} Error: Runtime exited with error: exit status 3"


def test_init_timeout(tmp_path: Path) -> None:
    with make(tmp_path, "slow_init", init_timeout=0.5) as emu:
        got = emu.invoke(b"{}")
        assert got.outcome == "timeout" and got.error_type == "Sandbox.Timedout"


def test_missing_runtime_binary_is_a_clear_init_error(tmp_path: Path) -> None:
    with Emulator(runtime_argv=[str(tmp_path / "no-such-bootstrap")], task_root=str(tmp_path)) as emu:
        got = emu.invoke(b"{}")
    assert got.outcome == "init_error"
    doc = json.loads(got.body)
    assert doc["errorType"] == "Runtime.InvalidEntrypoint" and "no-such-bootstrap" in doc["errorMessage"]


def test_second_post_is_403_and_late_error_too(tmp_path: Path) -> None:
    with make(tmp_path) as emu:
        got = emu.invoke(cmd(do="twice"))
        assert got.body == b'"first"'
        assert emu.invoke(b"2").outcome == "success"
    assert "twice 202 403 403" in notes(tmp_path)


def test_wrong_request_id_is_400_and_invoke_still_answerable(tmp_path: Path) -> None:
    with make(tmp_path) as emu:
        got = emu.invoke(cmd(do="wrong_id"))
        assert got.body == b'"right"'
        assert emu.stats.rejected == 1
    assert "wrong_id 400" in notes(tmp_path)


def test_wrong_invocation_id_is_rejected_as_stale(tmp_path: Path) -> None:
    with make(tmp_path) as emu:
        got = emu.invoke(cmd(do="wrong_invocation_id"))
        assert got.body == b'"fresh"'
    assert "wrong_invocation_id 400" in notes(tmp_path)


def test_invocation_id_echo_is_recorded(tmp_path: Path) -> None:
    with make(tmp_path) as emu:
        assert emu.invoke(b"1").invocation_id_echoed is True
        assert emu.invoke(cmd(do="echo", no_echo=True)).invocation_id_echoed is False
        assert emu.invoke(cmd(do="error", no_echo=True)).invocation_id_echoed is False
        assert emu.stats.posts_without_invocation_id_echo == 2


def test_response_over_6mb_is_413_and_caller_gets_size_error(tmp_path: Path) -> None:
    limit = 6 * 1024 * 1024 + 100
    with make(tmp_path) as emu:
        ok = emu.invoke(cmd(do="big", size=limit))  # exactly at the limit is fine
        assert ok.outcome == "success" and len(ok.body) == limit
        got = emu.invoke(cmd(do="big", size=limit + 1))
        assert got.outcome == "too_large" and got.status == 200
        assert got.error_type == "Function.ResponseSizeTooLarge"
        assert json.loads(got.body)["errorMessage"] == (
            f"Response payload size ({limit + 1} bytes) exceeded maximum allowed payload size ({limit} bytes)."
        )
        assert emu.invoke(b"3").outcome == "success"  # the connection and runtime survive
    assert notes(tmp_path)[-2:] == ["big 202 403", "big 413 403"]


def test_concurrent_invokes_are_each_served_one_at_a_time(tmp_path: Path) -> None:
    # Eight callers at once, against a runtime that keeps one GET /next open:
    # each gets its own answer, one runtime serves them all.  (In which order
    # they arrive is the threads' business, so the test does not assert it.)
    with make(tmp_path) as emu:
        emu.invoke(b"0")  # warm: a cold start is not part of this
        results: dict[int, bytes] = {}
        lock = threading.Lock()

        def call(i: int) -> None:
            got = emu.invoke(b"%d" % i)
            with lock:
                results[i] = got.body

        threads = [threading.Thread(target=call, args=(i,)) for i in range(1, 9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert results == {i: b"%d" % i for i in range(1, 9)}
        assert emu.stats.launches == 1 and emu.stats.handed_out == 9


def test_close_without_extension_sigkills(tmp_path: Path) -> None:
    emu = make(tmp_path, "sigterm_unused")
    with emu:
        emu.invoke(b"1")
        pid = emu.runtime_pid
        assert pid is not None
    assert not alive(pid)
    emu.close()  # idempotent
    with pytest.raises(EmulatorClosedError):
        emu.invoke(b"1")


def test_close_with_extension_sends_sigterm_and_no_event(tmp_path: Path) -> None:
    with make(tmp_path, "sigterm") as emu:
        assert emu.invoke(b"1").outcome == "success"
        pid = emu.runtime_pid
    assert pid is not None and not alive(pid)
    log = notes(tmp_path)
    assert log[0].startswith("register 200 ")
    assert json.loads(log[0].split(" ", 2)[2]) == {"functionName": "test_function", "functionVersion": "$LATEST", "handler": ""}
    assert "sigterm" in log
    # An internal extension cannot subscribe to SHUTDOWN, and RAPID sends it no event (its poll just ends).
    assert not [line for line in log if line.startswith("extension-event 200 ")]


def test_internal_extension_asking_for_shutdown_gets_403(tmp_path: Path) -> None:
    with make(tmp_path, "ext_shutdown") as emu:
        assert emu.invoke(b"1").outcome == "success"
    line = notes(tmp_path)[0]
    assert line.startswith("register 403 ") and "Extension.InvalidEventType" in line


def _hang_in_a_thread(emu: Emulator, until) -> tuple[threading.Thread, list[BaseException]]:  # type: ignore[no-untyped-def]
    """Invoke a hang from a thread (its EmulatorClosedError collected), and
    poll until `until()` holds (for at most 10 s)."""
    errors: list[BaseException] = []

    def call() -> None:
        try:
            emu.invoke(cmd(do="hang"))
        except EmulatorClosedError as exc:
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    deadline = time.monotonic() + 10
    while not until() and time.monotonic() < deadline:
        time.sleep(0.01)
    return t, errors


def test_close_while_invoking_fails_the_waiter(tmp_path: Path) -> None:
    emu = make(tmp_path).start()
    t, errors = _hang_in_a_thread(emu, lambda: emu.stats.handed_out > 0)
    pid = emu.runtime_pid
    emu.close()
    t.join(10)
    assert len(errors) == 1
    assert pid is not None and not alive(pid)


def test_close_while_invoking_refuses_the_runtimes_late_answer_as_stale(tmp_path: Path) -> None:
    """Closed with an extension registered, the emulator SIGTERMs the runtime,
    which answers the invoke it holds (the dispatcher says "shutting down").
    That invoke's caller was already failed: the post is refused as one for an
    invoke that is not running (400), not an emulator failure (500, a traceback)."""
    emu = make(tmp_path, "sigterm_answers").start()
    t, errors = _hang_in_a_thread(emu, lambda: "holding" in notes(tmp_path))
    assert "holding" in notes(tmp_path)
    emu.close()
    t.join(10)
    assert len(errors) == 1
    assert "sigterm post 400" in notes(tmp_path), notes(tmp_path)


def test_runtime_output_goes_to_the_given_sink(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with open(out, "wb") as sink, make(tmp_path, runtime_stdout=sink, runtime_stderr=sink) as emu:
        emu.invoke(b"1")
    assert "runtime starting: mode=normal" in out.read_text()


def test_bad_arguments_fail_loudly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="function_timeout"):
        Emulator(runtime_argv=["x"], function_timeout=0)
    with pytest.raises(ValueError, match="function_name"):
        Emulator(runtime_argv=["x"], function_name="bad name")
    with pytest.raises(TypeError, match="list of strings"):
        Emulator(runtime_argv="python run.py")  # type: ignore[arg-type]
    with Emulator(runtime_argv=[]) as emu:
        with pytest.raises(ValueError, match="CR, LF"):
            emu.invoke(b"{}", trace_id="a\r\nInjected: 1")
        with pytest.raises(TypeError, match="bytes"):
            emu.invoke("text")  # type: ignore[arg-type]


def test_explicit_start_runtime_inits_before_the_first_invoke(tmp_path: Path) -> None:
    with make(tmp_path) as emu:
        emu.start_runtime()
        deadline = time.monotonic() + 10
        while emu.runtime_pid is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert emu.runtime_pid is not None
        got = emu.invoke(b"1")
        assert got.outcome == "success" and got.init_duration_ms is None  # this invoke did not wait for init
        assert emu.stats.launches == 1


def test_eager_init_failure_is_reported_to_the_next_invoke(tmp_path: Path) -> None:
    with make(tmp_path, "init_exit") as emu:
        emu.start_runtime()
        deadline = time.monotonic() + 10
        while emu.stats.exits == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        got = emu.invoke(b"1")
        assert got.outcome == "init_error" and "exit status 3" in json.loads(got.body)["errorMessage"]
        assert emu.stats.launches == 1  # the stored failure was reported without another launch
