"""The Node adapter (adapters/node) and its example, with the real node.

- The adapter's own `node --test` suite (codec and shared vectors, pure
  invocation helpers, worker processes over pipes) must pass.
- The supervisor runs examples/node-hello and the `behaviours` test handler
  (adapters/node/test/fixtures/behaviours.mjs, one behaviour per event
  `action`) through `python -m dispatcher invoke`, so the adapter is exercised
  over the supervisor's real pipes (its "sealed" stdio mode).

The adapter's one npm dependency is installed once per session with `npm ci`
when adapters/node/node_modules is missing.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import ADAPTERS, EXAMPLES, require_tool, run_cli
from harness import big_pretty_event

PACKAGE = ADAPTERS / "node"
FIXTURES = PACKAGE / "test" / "fixtures"
BIN = PACKAGE / "bin.mjs"
NODE_HINT = "apt-get install nodejs npm"


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable, with the adapter's dependency installed."""
    node = require_tool("node", NODE_HINT)
    if not (PACKAGE / "node_modules" / "@msgpack" / "msgpack" / "package.json").is_file():
        npm = require_tool("npm", NODE_HINT)
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=PACKAGE, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"`npm ci` in {PACKAGE} failed:\n{done.stdout}\n{done.stderr}"
    return node


def _config(tmp_path: Path, node: str, *args: str, cwd: Path = FIXTURES) -> Path:
    """A dispatcher.yaml running `node bin.mjs ARGS...` in the fixtures folder (or `cwd`)."""
    path = tmp_path / "dispatcher.yaml"
    command = [node, str(BIN), *args]
    path.write_text(
        "workers:\n"
        "  node:\n"
        f"    command: {json.dumps(command)}\n"
        f"    cwd: {json.dumps(str(cwd))}\n"
        "default: node\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def behaviours(tmp_path: Path, node: str) -> Path:
    return _config(tmp_path, node, "./behaviours.mjs#handler")


def _invoke(config: Path, event: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return run_cli("invoke", "--config", str(config), *args, event)


def _explain(done: subprocess.CompletedProcess[bytes]) -> str:
    return f"exit {done.returncode}\nstdout: {done.stdout[:2000]!r}\nstderr: {done.stderr.decode(errors='replace')[-3000:]}"


def _error_doc(done: subprocess.CompletedProcess[bytes]) -> dict[str, object]:
    doc = json.loads(done.stdout)
    assert set(doc) >= {"errorType", "errorMessage", "stackTrace"}, _explain(done)
    return doc


# -- the adapter's own tests ----------------------------------------------------


def test_node_test_suite_passes(node: str) -> None:
    tests = sorted(str(p.relative_to(PACKAGE)) for p in (PACKAGE / "test").glob("*.test.mjs"))
    assert len(tests) >= 3, tests
    done = subprocess.run([node, "--test", *tests], cwd=PACKAGE, capture_output=True, text=True, timeout=600)
    report = f"{done.stdout[-8000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, report
    counts = dict(re.findall(r"^# (tests|pass|fail) (\d+)$", done.stdout, re.MULTILINE))
    assert int(counts.get("tests", 0)) >= 50 and counts.get("fail") == "0", report
    assert counts["pass"] == counts["tests"], report


# -- through the supervisor -----------------------------------------------------


def test_hello_example_answers(node: str) -> None:
    done = _invoke(EXAMPLES / "node-hello" / "dispatcher.yaml", '{"name":"Ada"}')
    assert (done.returncode, done.stdout) == (0, b'{"message":"Hello, Ada!"}'), _explain(done)


def test_hello_example_defaults_to_world(node: str) -> None:
    done = _invoke(EXAMPLES / "node-hello" / "dispatcher.yaml", "{}")
    assert (done.returncode, done.stdout) == (0, b'{"message":"Hello, world!"}'), _explain(done)


def test_handler_error_reports_the_js_error_name(behaviours: Path) -> None:
    done = _invoke(behaviours, '{"action":"throw","id":7}')
    assert done.returncode == 1, _explain(done)
    doc = _error_doc(done)
    assert (doc["errorType"], doc["errorMessage"]) == ("OrderNotFound", "order 7 not found"), _explain(done)
    assert any("behaviours.mjs" in str(line) for line in doc["stackTrace"]), _explain(done)  # type: ignore[attr-defined]


def test_worker_keeps_serving_after_a_handler_error(behaviours: Path) -> None:
    # The first invocation throws; the second reports the worker's own count:
    # 2 means the same process served both.
    done = _invoke(behaviours, '{"action":"throw_first"}', "--repeat", "2")
    assert done.returncode == 1, _explain(done)  # one of the two failed
    assert json.loads(done.stdout) == {"invocations": 2}, _explain(done)


def test_rejected_promise_is_an_error(behaviours: Path) -> None:
    doc = _error_doc(_invoke(behaviours, '{"action":"reject"}'))
    assert (doc["errorType"], doc["errorMessage"]) == ("TypeError", "rejected on purpose")


def test_unserialisable_result_is_a_marshal_error(behaviours: Path) -> None:
    done = _invoke(behaviours, '{"action":"bigint"}')
    assert done.returncode == 1, _explain(done)
    assert _error_doc(done)["errorType"] == "Runtime.MarshalError"


@pytest.mark.parametrize(
    ("fixture", "error_type", "message"),
    [
        ("missing_dependency.mjs", "Runtime.ImportModuleError", "no-such-package-lambda-dispatcher"),
        ("top_level_throw.mjs", "ConfigMissing", "TABLE_NAME is not set"),
        ("syntax_error.mjs", "Runtime.UserCodeSyntaxError", "syntax_error.mjs:2"),
        ("init_throws.mjs", "TypeError", "init could not reach the database"),
    ],
)
def test_load_failure_is_init_error(tmp_path: Path, node: str, fixture: str, error_type: str, message: str) -> None:
    done = _invoke(_config(tmp_path, node, f"./{fixture}"), "{}")
    assert done.returncode == 3, _explain(done)
    doc = _error_doc(done)
    assert doc["errorType"] == error_type, _explain(done)
    assert message in str(doc["errorMessage"]), _explain(done)


@pytest.mark.parametrize("event", ['{"action":"exit","code":3}', '{"action":"timer_throw"}'])
def test_crash_is_an_exit_error(behaviours: Path, event: str) -> None:
    done = _invoke(behaviours, event)
    assert done.returncode == 1, _explain(done)
    assert _error_doc(done)["errorType"] == "Runtime.ExitError", _explain(done)
    if "timer" in event:
        assert "thrown from a timer" in done.stderr.decode(errors="replace"), _explain(done)


@pytest.mark.parametrize("how", ["exit", "timer"])
def test_a_new_worker_serves_the_invocation_after_a_crash(behaviours: Path, tmp_path: Path, how: str) -> None:
    marker = tmp_path / "crashed"
    event = json.dumps({"action": "crash_once", "how": how, "marker": str(marker)})
    done = _invoke(behaviours, event, "--repeat", "2")
    assert marker.exists(), _explain(done)
    assert json.loads(done.stdout) == {"invocations": 1}, f"a fresh worker answers the second invocation\n{_explain(done)}"


def test_console_log_in_a_handler_goes_to_the_log(behaviours: Path) -> None:
    done = _invoke(behaviours, '{"action":"log","tag":"T42","big":100000}')
    assert (done.returncode, done.stdout) == (0, b'{"logged":true}'), _explain(done)
    log = done.stderr.decode(errors="replace")
    for text in ("console.log line T42", "console.info line", "console.error line", "process.stdout.write line"):
        assert text in log, f"{text!r} missing from the log\n{_explain(done)}"


def test_fd1_writes_and_inherited_children_cannot_break_frames(behaviours: Path) -> None:
    # Under the supervisor fds 0/1 are pipes, so the adapter re-points them:
    # fs.writeSync(1) and a child with stdio "inherit" land in the log.
    for event, answer, logged in (
        ('{"action":"fd1"}', b'{"fd1":true}', "written to fd 1 by user code"),
        ('{"action":"spawn_inherit"}', b'{"status":0}', "child says hi"),
    ):
        done = _invoke(behaviours, event)
        assert (done.returncode, done.stdout) == (0, answer), _explain(done)
        assert logged in done.stderr.decode(errors="replace"), _explain(done)


def test_six_megabyte_event_is_echoed_byte_for_byte_by_a_raw_handler(tmp_path: Path, node: str) -> None:
    event = big_pretty_event(6_000_000)
    assert 5_900_000 < len(event) <= 6_000_000
    path = tmp_path / "event.json"
    path.write_bytes(event)
    config = _config(tmp_path, node, "--raw", "./raw_echo.mjs#echo")
    done = run_cli("invoke", "--config", str(config), "--timeout", "30s", "--event-file", str(path))
    assert done.returncode == 0, _explain(done)
    assert len(done.stdout) == len(event), _explain(done)
    assert done.stdout == event


# -- a function moved from AWS's Node.js runtime, unchanged ------------------------

LAMBDA_ROOT = FIXTURES / "lambda_root"  # index.mjs, src/app.mjs, cjs/index.js, legacy.mjs


def test_lambda_handler_string_as_the_worker_argument(tmp_path: Path, node: str) -> None:
    done = _invoke(_config(tmp_path, node, "src/app.handler", cwd=LAMBDA_ROOT), '{"k":1}')
    assert (done.returncode, json.loads(done.stdout)) == (0, {"from": "src/app.mjs", "event": {"k": 1}}), _explain(done)


def test_handler_from_HANDLER_when_the_command_names_none(tmp_path: Path, node: str) -> None:
    # `_HANDLER=index.handler` names no worker, so the supervisor runs the
    # default one; the adapter, given no argument, loads what _HANDLER names.
    config = _config(tmp_path, node, cwd=LAMBDA_ROOT)
    done = _invoke(config, '{"name":"Ada"}', "--handler", "index.handler")
    assert done.returncode == 0, _explain(done)
    assert json.loads(done.stdout)["from"] == "index.mjs", _explain(done)
    nested = _invoke(config, "{}", "--handler", "index.nested.deeper.fn")
    assert json.loads(nested.stdout) == {"from": "index.mjs nested.deeper.fn"}, _explain(nested)


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("nowhere.handler", "Runtime.ImportModuleError", "Cannot find module 'nowhere'"),
        ("index.missing", "Runtime.HandlerNotFound", 'does not export a function named "missing"'),
        ("../lambda_root/index.handler", "Runtime.MalformedHandlerName", "Use absolute paths"),
    ],
)
def test_lambda_handler_load_failures_are_init_errors(
    tmp_path: Path, node: str, handler: str, error_type: str, message: str
) -> None:
    done = _invoke(_config(tmp_path, node, handler, cwd=LAMBDA_ROOT), "{}")
    assert done.returncode == 3, _explain(done)
    doc = _error_doc(done)
    assert (doc["errorType"], message in str(doc["errorMessage"])) == (error_type, True), _explain(done)


def test_callback_handler_waits_for_its_background_work_over_the_supervisor(tmp_path: Path, node: str) -> None:
    waits = _invoke(_config(tmp_path, node, "legacy.callbackWaits", cwd=LAMBDA_ROOT), "{}", "--repeat", "3")
    assert (waits.returncode, json.loads(waits.stdout)) == (0, {"waits": True, "background": True}), _explain(waits)
    succeed = _invoke(_config(tmp_path, node, "legacy.succeedLater", cwd=LAMBDA_ROOT), "{}")
    assert (succeed.returncode, json.loads(succeed.stdout)) == (0, {"via": "succeed"}), _explain(succeed)
