"""protocol: jsonl (docs/jsonl.md) through the real supervisor and emulator,
with tests/workers/jsonl_faulty.py misbehaving on command."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import WORKERS
from workers.kinds_fixture import KindFunction, all_gone, read_pids

FAULTY = str(WORKERS / "jsonl_faulty.py")


@pytest.fixture
def function(tmp_path: Path):  # type: ignore[no-untyped-def]
    made: list[KindFunction] = []

    def make(*, timeout: float = 10.0, environ: dict[str, str] | None = None, **opts: object) -> KindFunction:
        """`environ` is added to the supervisor's environment; `opts` are worker settings."""
        worker: dict[str, object] = {"command": [sys.executable, FAULTY], "protocol": "jsonl", **opts}
        fn = KindFunction(tmp_path, worker, timeout, environ)
        made.append(fn)
        return fn

    yield make
    for fn in made:
        fn.close()


def pid_of(fn: KindFunction) -> int:
    return int(fn.invoke({"fault": "pid"}).body)


def test_success_re_encodes_the_result(function) -> None:  # type: ignore[no-untyped-def]
    fn = function()
    res = fn.invoke(raw=b'{"a": [1, 2.5, null],  "b": "x"}')
    assert res.outcome == "success", res
    assert res.body == b'{"a":[1,2.5,null],"b":"x"}'
    assert fn.invoke(raw=b"42").body == b"42"


def test_event_with_newlines_and_non_ascii_is_one_line(function) -> None:  # type: ignore[no-untyped-def]
    fn = function()
    event = '{\n  "fault": "line",\r\n  "text": "h\u00e9 \u2713 \U0001F600\\nnext",\n  "esc": "\\u00e9\\t"\n}'.encode()
    res = fn.invoke(raw=event, trace_id="Root=1-abc", tenant_id="t1")
    got = json.loads(res.body)
    line = got["line"]
    assert "\n" not in line and "\r" not in line
    # Re-encoded with the core's rules: compact, UTF-8 as is, escapes only where JSON needs them.
    assert line.endswith(',"event":{"fault":"line","text":"h\u00e9 \u2713 \U0001F600\\nnext","esc":"\u00e9\\t"}}')
    assert got["keys"] == ["id", "deadline_ms", "function_arn", "trace_id", "client_context", "cognito_identity", "tenant_id", "event"]
    head = json.loads(line)
    assert head["id"] == res.request_id
    assert (head["trace_id"], head["tenant_id"], head["client_context"]) == ("Root=1-abc", "t1", None)
    assert abs(head["deadline_ms"] - (time.time() + 10) * 1000) < 3000


def test_unicode_result(function) -> None:  # type: ignore[no-untyped-def]
    res = function().invoke({"fault": "unicode"})
    assert res.body == '{"text":"h\u00e9llo \u2713 \U0001F600 \u65e5\u672c"}'.encode()


def test_handler_error_keeps_worker(function) -> None:  # type: ignore[no-untyped-def]
    fn = function()
    pid = pid_of(fn)
    res = fn.invoke({"fault": "error"})
    doc = json.loads(res.body)
    assert (doc["errorType"], doc["errorMessage"], doc["stackTrace"]) == ("my_crate::BadInput", "bad value", ["File x, line 1"])
    assert res.error_type_header == "Function.BadInput"
    assert pid_of(fn) == pid


@pytest.mark.parametrize("event, detail", [({"fault": "exit", "code": 3}, "exited with status 3"), ({"fault": "signal"}, "killed by signal 9")])
def test_crash_then_fresh_worker(function, event, detail) -> None:  # type: ignore[no-untyped-def]
    fn = function()
    pid = pid_of(fn)
    doc = json.loads(fn.invoke(event).body)
    assert doc["errorType"] == "Runtime.ExitError"
    assert detail in doc["errorMessage"]
    if "code" in event:
        assert "about to exit" in doc["errorMessage"]
    assert pid_of(fn) != pid


def test_timeout_kills_worker_and_its_pipeline(function, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fn = function(timeout=1.0, timeout_margin="200ms", shutdown_grace="300ms")
    pids_file = tmp_path / "pids"
    pid_of(fn)
    res = fn.invoke({"fault": "pipeline", "pids": str(pids_file)})
    doc = json.loads(res.body)
    assert doc["errorType"] == "Sandbox.Timedout" and res.error_type_header == "Runtime.InvokeTimeout"
    assert all_gone(read_pids(pids_file, 3)) == [], "a process of the timed-out worker survived"
    assert fn.invoke({"ok": 1}).body == b'{"ok":1}'


def _protocol_error(fn: KindFunction, fault: str, shown: str) -> None:
    pid = pid_of(fn)
    res = fn.invoke({"fault": fault})
    doc = json.loads(res.body)
    assert doc["errorType"] == "Runtime.ProtocolError", doc
    assert shown in doc["errorMessage"]  # the offending line, in the error body ...
    assert all_gone([pid]) == []  # the worker is replaced
    assert pid_of(fn) != pid
    assert shown not in fn.logs()  # ... and never in the logs


def test_non_json_line_is_protocol_error(function) -> None:  # type: ignore[no-untyped-def]
    _protocol_error(function(), "print", "hello from print secret-print-456")


def test_wrong_id_is_protocol_error(function) -> None:  # type: ignore[no-untyped-def]
    _protocol_error(function(), "wrong_id", "secret-wrong-id")


def test_error_without_type_is_protocol_error(function) -> None:  # type: ignore[no-untyped-def]
    fn = function()
    doc = json.loads(fn.invoke({"fault": "no_type"}).body)
    assert doc["errorType"] == "Runtime.ProtocolError"
    assert "`type` is missing" in doc["errorMessage"]


def test_non_json_event_never_reaches_the_worker(function) -> None:  # type: ignore[no-untyped-def]
    fn = function()
    pid = pid_of(fn)
    for raw in (b"not json", b'{"a": NaN}', b'{"a": 1', b"\xff\xfe"):
        doc = json.loads(fn.invoke(raw=raw).body)
        assert doc["errorType"] == "Runtime.UnmarshalError", raw
        assert doc["errorMessage"].startswith("Unable to unmarshal input: ")
    assert json.loads(fn.invoke({"fault": "seen"}).body) == 2  # only the two pid/seen events reached it
    assert pid_of(fn) == pid


def test_trailing_cr_and_pieces(function) -> None:  # type: ignore[no-untyped-def]
    fn = function()
    assert fn.invoke({"fault": "crlf"}).body == b'"crlf"'
    assert fn.invoke({"fault": "pieces"}).body == b'"' + b"x" * 100_000 + b'"'


def test_extra_reply_after_the_answer_replaces_worker(function) -> None:  # type: ignore[no-untyped-def]
    fn = function()
    pid = pid_of(fn)
    assert fn.invoke({"fault": "two_replies"}).body == b'"first"'
    assert pid_of(fn) != pid


def test_result_over_the_limit(function) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(function().invoke({"fault": "big_result"}).body)
    assert doc["errorType"] == "Function.ResponseSizeTooLarge"


def test_logs_carry_request_id(function) -> None:  # type: ignore[no-untyped-def]
    fn = function()
    res = fn.invoke({"fault": "log"})
    assert f"{res.request_id}\tlog line from the worker" in fn.logs()


@pytest.mark.parametrize(
    "start, error_type, text",
    [
        ("init_error", "Function.InitBoom", "init went boom"),
        ("exit", "Runtime.ExitError", "exited with status 4 before it was ready"),
        ("garbage", "Runtime.ProtocolError", "not JSON"),
        ("hang", "Runtime.InitTimeout", "did not send `ready`"),
    ],
)
def test_init_failures(function, start, error_type, text) -> None:  # type: ignore[no-untyped-def]
    fn = function(environ={"JSONL_START": start}, startup_timeout="500ms")
    res = fn.invoke({})
    assert res.outcome == "init_error", res
    doc = json.loads(res.body)
    assert doc["errorType"] == error_type
    assert text in doc["errorMessage"]
    assert "secret-token-123" not in fn.logs()


def test_ready_spawn(function) -> None:  # type: ignore[no-untyped-def]
    fn = function(environ={"JSONL_START": "silent"}, ready="spawn", startup_timeout="500ms")
    assert fn.invoke({"a": 1}).body == b'{"a":1}'


def test_recycling_stops_with_eof(function) -> None:  # type: ignore[no-untyped-def]
    fn = function(max_invocations=2)
    pids = [pid_of(fn) for _ in range(4)]
    assert pids[0] == pids[1] != pids[2] == pids[3]
    assert all_gone([pids[0]]) == []
    logs = fn.logs()
    assert "stdin closed: exiting" in logs  # a polite stop is EOF on stdin ...
    assert "not JSON" not in logs  # ... with no msgpack shutdown frame written to it


def test_sigterm_with_invocation_in_flight(function, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fn = function(timeout=20.0, shutdown_grace="600ms")
    pid = pid_of(fn)
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(fn.invoke({"fault": "pipeline", "pids": str(tmp_path / "p")})), daemon=True)
    t.start()
    read_pids(tmp_path / "p", 3)  # the pipeline runs and the worker ignores SIGTERM
    os.kill(fn.emu.runtime_pid, signal.SIGTERM)
    t.join(5)
    doc = json.loads(out[0].body)  # type: ignore[attr-defined]
    assert doc["errorType"] == "Runtime.ExitError" and "shutting down" in doc["errorMessage"]
    assert all_gone([fn.emu.runtime_pid, pid], 2.0) == []


def test_sigterm_while_idle_closes_stdin(function) -> None:  # type: ignore[no-untyped-def]
    fn = function(shutdown_grace="900ms", environ={"JSONL_IGNORE_TERM": "1"})
    pid = pid_of(fn)
    os.kill(fn.emu.runtime_pid, signal.SIGTERM)
    assert all_gone([fn.emu.runtime_pid, pid], 2.0) == []
    logs = fn.logs()
    # supervisor._shutdown must write w.shutdown_message (b"" here), not the msgpack SHUTDOWN_FRAME.
    assert "not JSON" not in logs, "a msgpack shutdown frame was written to a jsonl worker's stdin"
    assert "stdin closed: exiting" in logs


@pytest.mark.parametrize("example, tool", [("shell-jsonl", "bash"), ("awk-jsonl", "awk")])
def test_dispatcher_invoke_runs_the_examples(example: str, tool: str) -> None:
    from conftest import EXAMPLES, require_tool, run_cli

    require_tool(tool, f"apt-get install {'gawk' if tool == 'awk' else tool}")
    require_tool("jq", "apt-get install jq")
    config = str(EXAMPLES / example / "dispatcher.yaml")
    for event, answer in (('{"name": "Ada"}', b'{"message":"Hello, Ada!"}'), ("{}", b'{"message":"Hello, world!"}')):
        res = run_cli("invoke", "--config", config, event)
        assert (res.returncode, res.stdout.strip()) == (0, answer), res.stderr.decode()
    res = run_cli("invoke", "--config", config, "[1]")
    assert res.returncode == 1 and json.loads(res.stdout)["errorType"] == "Function.BadEvent"
    res = run_cli("invoke", "--config", config, '{"name": "Ada"}', "--repeat", "20")
    assert res.returncode == 0 and res.stdout.strip() == b'{"message":"Hello, Ada!"}', res.stderr.decode()
