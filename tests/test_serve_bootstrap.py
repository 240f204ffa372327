"""`dispatcher invoke|serve --bootstrap`: any executable as the runtime, reached with curl and boto3."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_cli
from served import Served

ROOT = Path(__file__).resolve().parent.parent
BASH_RUNTIME = ROOT / "examples" / "bash-runtime"
CONFORMANCE = ROOT / "tests" / "conformance"
RIC = ["--bootstrap", sys.executable, "--", "-m", "awslambdaric", "app.handler"]

pytestmark = pytest.mark.timeout(120)
needs_bash_tools = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("bash", "curl", "jq")), reason="bash, curl and jq are needed (make setup installs them)"
)


@pytest.fixture
def ric_served(tmp_path: Path) -> Iterator[Served]:
    s = Served(*RIC, cwd=CONFORMANCE, log=tmp_path / "serve.log")
    yield s
    assert s.stop() == 0


@needs_bash_tools
def test_curl_against_serve_bootstrap(tmp_path: Path) -> None:
    s = Served("--bootstrap", "./bootstrap", "--handler", "function.handler", cwd=BASH_RUNTIME, log=tmp_path / "serve.log")
    try:
        event = tmp_path / "event.json"
        event.write_bytes(b'{"name": "Ada", "blob": "%s"}' % (b"z" * 5000))
        out = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", "--data-binary", f"@{event}", s.url],
                             capture_output=True, timeout=60, check=True).stdout
        body, _, code = out.rpartition(b"\n")
        assert code == b"200" and body == event.read_bytes()
        out = subprocess.run(["curl", "-sS", "-i", "-d", '{"fail": "bad input"}', s.url], capture_output=True, timeout=60, check=True).stdout
        head, _, body = out.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and json.loads(body)["errorMessage"] == "bad input"
        assert b"\r\nX-Amz-Function-Error: Unhandled" in head
    finally:
        assert s.stop() == 0


def test_boto3_lambda_invoke_against_serve_bootstrap(ric_served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from botocore.config import Config

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
                        "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("lambda", endpoint_url=f"http://{ric_served.host}:{ric_served.port}",
                          config=Config(retries={"max_attempts": 1}, read_timeout=60))
    got = client.invoke(FunctionName="function", Payload=b'{"name": "Ada"}')
    assert got["StatusCode"] == 200 and "FunctionError" not in got
    assert json.loads(got["Payload"].read()) == {"name": "Ada"}
    got = client.invoke(FunctionName="function", Payload=json.dumps({"fail": "boom"}).encode())
    assert got["StatusCode"] == 200 and got["FunctionError"] == "Unhandled"
    doc = json.loads(got["Payload"].read())
    assert doc["errorMessage"] == "boom" and doc["errorType"] == "ValueError"
    big = json.dumps({"data": "y" * 3_000_000}).encode()
    got = client.invoke(FunctionName="function", Payload=big)
    assert got["StatusCode"] == 200 and json.loads(got["Payload"].read()) == json.loads(big)


def test_invoke_bootstrap_exit_statuses() -> None:
    ok = run_cli("invoke", *RIC[:2], '{"a": 1}', *RIC[2:], cwd=CONFORMANCE)
    assert ok.returncode == 0 and json.loads(ok.stdout) == {"a": 1}
    err = run_cli("invoke", *RIC[:2], '{"fail": "no"}', *RIC[2:], cwd=CONFORMANCE)
    assert err.returncode == 1 and json.loads(err.stdout)["errorMessage"] == "no"


def test_bootstrap_that_exits_at_init_is_an_init_error(tmp_path: Path) -> None:
    script = tmp_path / "bootstrap"
    script.write_text("#!/bin/sh\necho starting >&2\nexit 7\n")
    script.chmod(0o755)
    res = run_cli("invoke", "--bootstrap", str(script), "{}", cwd=tmp_path)
    assert res.returncode == 3
    assert json.loads(res.stdout)["errorType"] == "Runtime.ExitError" and b"exit status 7" in res.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bootstrap", "./no-such-bootstrap"], "no such file"),
        (["--bootstrap", "./not-executable"], "not executable (chmod +x it"),
        (["--bootstrap", "no-such-command-on-path"], "not found on PATH"),
        (["{}", "--", "-m", "x"], "are for --bootstrap, which was not given"),
        (["--bootstrap", "./not-executable", "--config", "x.yaml"], "drop --config"),
    ],
)
def test_bad_bootstrap_arguments_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "not-executable").write_text("#!/bin/sh\n")
    for command in ("invoke", "serve"):
        res = run_cli(command, *(a for a in args if command == "invoke" or a != "{}"), cwd=tmp_path)
        assert res.returncode == 2 and message in res.stderr.decode(), (command, res.stderr)
