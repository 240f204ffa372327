"""The PHP adapter (adapters/php): its PHPUnit suite under both codecs, and the
real supervisor driving PHP workers through `python -m dispatcher invoke`.

Needs php-cli, php-msgpack and phpunit (Debian packages); skipped without them,
failed under CI=true.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ADAPTERS, EXAMPLES, require_tool, run_cli

PHP_ADAPTER = ADAPTERS / "php"
FIXTURES = PHP_ADAPTER / "tests" / "fixtures"
WORKER = PHP_ADAPTER / "bin" / "dispatcher-worker.php"

PHP_HINT = "apt-get install php-cli php-msgpack"


@pytest.fixture
def php() -> str:
    return require_tool("php", PHP_HINT)


def _config(tmp_path: Path, fixture: str, **env: str) -> Path:
    """A dispatcher.yaml running bin/dispatcher-worker.php on one test fixture."""
    worker = {"command": ["php", str(WORKER), str(FIXTURES / fixture)]}
    if env:
        worker["env"] = env
    path = tmp_path / "dispatcher.yaml"
    path.write_text(json.dumps({"workers": {"php": worker}, "default": "php"}))  # JSON is YAML
    return path


def _invoke(config: Path, *args: str, timeout: str = "5s") -> subprocess.CompletedProcess[bytes]:
    return run_cli("invoke", "--config", str(config), "--timeout", timeout, *args)


def _explain(res: subprocess.CompletedProcess[bytes]) -> str:
    return f"exit {res.returncode}\nstdout: {res.stdout[:2000]!r}\nstderr: {res.stderr.decode(errors='replace')[-3000:]}"


@pytest.mark.parametrize("codec", ["ext", "pure"])
def test_phpunit_suite(php: str, codec: str) -> None:
    phpunit = require_tool("phpunit", "apt-get install phpunit")
    if codec == "ext":
        probe = subprocess.run([php, "-r", "exit(extension_loaded('msgpack') ? 0 : 1);"])
        if probe.returncode != 0:
            require_tool("php-msgpack-is-not-loaded", PHP_HINT)  # skips, or fails under CI
    res = subprocess.run(
        [phpunit, "--colors=never"],
        cwd=PHP_ADAPTER,
        env={**os.environ, "DISPATCHER_PHP_CODEC": codec},
        capture_output=True,
        timeout=300,
    )
    out = res.stdout.decode(errors="replace")
    assert res.returncode == 0, out[-6000:] + res.stderr.decode(errors="replace")[-2000:]
    assert "OK (" in out and "Skipped" not in out, out[-2000:]


def test_hello_example(php: str) -> None:
    res = run_cli("invoke", "--config", str(EXAMPLES / "php-hello" / "dispatcher.yaml"), '{"name":"Ada"}')
    assert res.returncode == 0, _explain(res)
    assert res.stdout == b'{"message":"Hello, Ada!"}'


def test_handler_error_keeps_the_php_class_name(php: str, tmp_path: Path) -> None:
    res = _invoke(_config(tmp_path, "behaviours.php"), '{"do":"boom"}')
    assert res.returncode == 1, _explain(res)
    doc = json.loads(res.stdout)
    assert doc["errorType"] == "App\\Exceptions\\Boom"
    assert doc["errorMessage"] == "it went boom"
    assert any("behaviours.php" in line for line in doc["stackTrace"])
    assert "Caused by LogicException: root cause" in doc["stackTrace"]


def test_worker_serves_on_after_a_handler_error(php: str, tmp_path: Path) -> None:
    # Odd calls throw; the second call answering {"served":2} proves it is the same warm worker.
    res = _invoke(_config(tmp_path, "behaviours.php"), "--repeat", "2", '{"do":"boom-odd"}')
    assert res.returncode == 1, _explain(res)  # one of the two failed
    assert res.stdout == b'{"served":2}'


def test_exception_at_load_time_is_an_init_error(php: str, tmp_path: Path) -> None:
    res = _invoke(_config(tmp_path, "init_throws.php"))
    assert res.returncode == 3, _explain(res)
    doc = json.loads(res.stdout)
    assert doc["errorType"] == "App\\Boot\\ConfigMissing"
    assert doc["errorMessage"] == "DATABASE_URL is not set"


def test_fatal_error_at_load_time_is_an_init_error(php: str, tmp_path: Path) -> None:
    res = _invoke(_config(tmp_path, "init_fatal.php"))
    assert res.returncode == 3, _explain(res)
    doc = json.loads(res.stdout)
    assert doc["errorType"] == "Runtime.ImportModuleError"
    assert "Cannot redeclare" in doc["errorMessage"]


@pytest.mark.parametrize(
    ("event", "stderr_hint"),
    [('{"do":"exit"}', ""), ('{"do":"oom"}', "Allowed memory size")],
    ids=["exit", "memory-exhausted"],
)
def test_crash_is_an_exit_error(php: str, tmp_path: Path, event: str, stderr_hint: str) -> None:
    res = _invoke(_config(tmp_path, "behaviours.php"), event)
    assert res.returncode == 1, _explain(res)
    doc = json.loads(res.stdout)
    assert doc["errorType"] == "Runtime.ExitError"
    assert stderr_hint in doc["errorMessage"]


def test_next_invocation_is_served_after_a_crash(php: str, tmp_path: Path) -> None:
    marker = tmp_path / "crashed-once"
    event = json.dumps({"do": "exit-once", "marker": str(marker)})
    res = _invoke(_config(tmp_path, "behaviours.php"), "--repeat", "2", event)
    assert marker.exists(), _explain(res)  # the first call did crash
    assert res.returncode == 1, _explain(res)
    assert res.stdout == b'{"served":1}'  # answered by a fresh worker


def test_echo_in_a_handler_goes_to_the_log(php: str, tmp_path: Path) -> None:
    res = _invoke(_config(tmp_path, "behaviours.php"), "--repeat", "2", '{"do":"echo"}')
    assert res.returncode == 0, _explain(res)
    assert res.stdout == b'{"echoed":true}'
    log = res.stderr.decode()
    for line in ("echo line", "print line", 'string(8) "var_dump"', "php://stdout line", "STDOUT constant line"):
        assert line in log


def test_six_megabyte_event_through_the_raw_handler_byte_for_byte(php: str, tmp_path: Path) -> None:
    items = [{"naïve": "Zoë 🚀 ünïcödé", "price": 2.50, "i": i, "path": "a/b"} for i in range(42_500)]
    text = json.dumps({"items": items}, indent=4, ensure_ascii=False).replace('"price": 2.5', '"price": 2.50')
    body = text.encode()
    assert 6_000_000 < len(body) < 6_291_456 and b"2.50" in body
    event_file = tmp_path / "event.json"
    event_file.write_bytes(body)
    res = _invoke(_config(tmp_path, "raw_echo.php"), "--event-file", str(event_file), timeout="20s")
    assert res.returncode == 0, _explain(res)
    assert res.stdout == body


def test_legacy_script_served_three_times_without_leaking_globals(php: str) -> None:
    res = run_cli(
        "invoke", "--config", str(EXAMPLES / "php-legacy" / "dispatcher.yaml"), "--repeat", "3", '{"name":"Ada"}'
    )
    assert res.returncode == 0, _explain(res)
    # calls would be 2, 3 (or the second include would die on "Cannot redeclare greet()") if state leaked.
    assert json.loads(res.stdout) == {"message": "Hello, Ada!", "calls": 1}
    assert b"3 invocations, 0 failed" in res.stderr


def test_bref_handler_class_and_bref_context_over_the_supervisor(php: str, tmp_path: Path) -> None:
    res = _invoke(_config(tmp_path, "bref_handler.php"), "--repeat", "2", '{"name":"Ada"}')
    assert res.returncode == 0, _explain(res)
    body = json.loads(res.stdout)
    assert (body["greeting"], body["calls"]) == ("Hello, Ada!", 2), _explain(res)  # one warm worker, two calls
    closure = _invoke(_config(tmp_path, "bref_closure.php"), "{}")
    assert closure.returncode == 0, _explain(closure)
    got = json.loads(closure.stdout)
    assert got["awsRequestId"] == got["requestIdEnv"] == got["invocationContext"]["awsRequestId"], _explain(closure)
    assert got["remainingPositive"] is True and got["invokedFunctionArn"].startswith("arn:aws:lambda:"), _explain(closure)
