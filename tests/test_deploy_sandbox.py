"""From a binary or a script to a deployed function, proven without AWS (issue 13, item 3).

Each test is what a new user types, three commands in the function's folder:
`dispatcher init`, `dispatcher package --layer`, `dispatcher package --function`.
The zips are then unpacked into /opt and /var/task inside a private mount
namespace (tests/deploy_sandbox.py) and the layer's exec wrapper is started
exactly as Lambda's managed Python runtime starts it, under the embedded
Runtime API emulator, with real workers: the Rust echo example, the
php-legacy example, a bash jsonl script.  Each must answer, and the cold
start must come from the packaged config cache (no yaml import) and the
layer's precompiled bytecode (no dispatcher module compiled from source).

Needs root for the mount namespace (CI runs as root), and PyPI for the layer's wheels.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ADAPTERS, EXAMPLES, IN_CI, ROOT, require_tool, run_cli

SANDBOX = Path(__file__).resolve().parent / "deploy_sandbox.py"
OFFLINE_CONFIG = ROOT / ".ci" / "cargo-offline.toml"
CARGO_HINT = "the rustup toolchain (see tests/test_rust_adapter.py)"


def _need_root() -> None:
    msg = None
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        msg = "needs root and unshare(1) for a private mount namespace with /opt and /var/task"
    else:
        probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if probe.returncode != 0:
            msg = f"cannot make a private mount namespace (a container without CAP_SYS_ADMIN?): {probe.stderr.strip()}"
    if msg is not None:
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)


def _ok(done: subprocess.CompletedProcess[bytes], what: str) -> str:
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 0, f"{what}: exit {done.returncode}\n{done.stdout.decode(errors='replace')}\n{stderr}"
    return stderr


@pytest.fixture(scope="module")
def layer_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("layer") / "layer.zip"
    _ok(run_cli("package", "--layer", "-o", str(out), timeout=300), "package --layer")
    return out


def _three_commands(folder: Path, init_args: list[str], layer_zip: Path) -> tuple[Path, Path]:
    """init, package --layer, package --function, as run in the folder; returns the two zips."""
    printed = run_cli("init", *init_args, cwd=folder)
    _ok(printed, "init")
    assert b"dispatcher package --layer" in printed.stdout, printed.stdout
    layer = folder / "layer.zip"
    stderr = _ok(run_cli("package", "--layer", "-o", "layer.zip", cwd=folder, timeout=300), "package --layer")
    assert "layer.zip:" in stderr and "zipped" in stderr, stderr
    # The module fixture built the same layer in another folder: byte for byte the same.
    assert layer.read_bytes() == layer_zip.read_bytes(), "two layer builds differ"
    stderr = _ok(run_cli("package", "--function", "-o", "function.zip", cwd=folder), "package --function")
    assert "config cache: written for Python" in stderr, stderr
    return layer, folder / "function.zip"


def _run_in_lambda_layout(tmp_path: Path, layer: Path, function: Path, events: list[str]) -> tuple[list[dict[str, object]], str]:
    result = tmp_path / "result.json"
    cmd = ["unshare", "-m", "--propagation", "private", sys.executable, str(SANDBOX), str(layer), str(function), str(result), *events]
    done = subprocess.run(cmd, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-4000:]
    data = json.loads(result.read_text())
    return data["results"], data["stderr"]


def _assert_cold_start_from_cache_and_bytecode(log: str) -> None:
    lines = log.splitlines()
    assert "MANAGED BOOTSTRAP RAN" not in log, "the wrapper ran the managed runtime's bootstrap"
    imported = [line.split("'")[1] for line in lines if line.startswith("import '")]
    assert "dispatcher.supervisor" in imported, "PYTHONVERBOSE output missing: the check would prove nothing\n" + log[-3000:]
    assert not [m for m in imported if m in ("yaml", "_yaml") or m.startswith("yaml.")], "yaml was imported: the config cache was not used"
    from_source = [line for line in lines if re.match(r"# code object from /opt/python/dispatcher/.*\.py$", line)]
    assert from_source == [], f"compiled from source at cold start: {from_source}"
    from_pyc = set()
    for line in lines:
        found = re.fullmatch(r"# code object from '/opt/python/(dispatcher/(?:.*/)?)__pycache__/(\w+)\.cpython-\d+\.pyc'", line)
        if found:
            module = (found[1] + ("" if found[2] == "__init__" else found[2])).strip("/").replace("/", ".")
            from_pyc.add(module)
    dispatcher_modules = {m for m in imported if m == "dispatcher" or m.startswith("dispatcher.")}
    assert dispatcher_modules <= from_pyc, f"not from the layer's bytecode: {sorted(dispatcher_modules - from_pyc)}"


def test_rust_binary_to_layer_and_function_zip(tmp_path: Path, layer_zip: Path) -> None:
    _need_root()
    cargo = require_tool("cargo", CARGO_HINT)
    env = {**os.environ, "CARGO_CONFIG": str(OFFLINE_CONFIG), "CARGO_TARGET_DIR": str(ADAPTERS / "rust" / "target")}
    built = subprocess.run([str(EXAMPLES / "rust-echo" / "build.sh")], env={**env, "PATH": f"{Path(cargo).parent}:{env['PATH']}"}, capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    folder = tmp_path / "my-function"
    folder.mkdir()
    shutil.copy2(EXAMPLES / "rust-echo" / "rust-echo", folder / "rust-echo")  # a user's folder: the binary, nothing else
    layer, function = _three_commands(folder, ["--command", "./rust-echo"], layer_zip)
    events = ['{"name": "Ada", "n": 1}', '{"unicode": "\\u00e9\\u4e2d", "list": [1, 2, 3]}']
    results, log = _run_in_lambda_layout(tmp_path, layer, function, events)
    assert [r["outcome"] for r in results] == ["success", "success"], results
    assert [r["body"] for r in results] == events  # the echo answers each event byte for byte
    assert results[0]["init_ms"] is not None and results[1]["init_ms"] is None  # one cold start, then warm
    _assert_cold_start_from_cache_and_bytecode(log)


def test_php_legacy_script_to_layer_and_function_zip(tmp_path: Path, layer_zip: Path) -> None:
    _need_root()
    require_tool("php", "apt-get install php-cli")
    folder = tmp_path / "legacy"
    folder.mkdir()
    shutil.copy2(EXAMPLES / "php-legacy" / "greet.php", folder / "greet.php")
    layer, function = _three_commands(folder, ["--php", "greet.php", "--kind", "legacy"], layer_zip)
    results, log = _run_in_lambda_layout(tmp_path, layer, function, ['{"name": "Ada"}', '{"name": "Grace"}'])
    assert [r["outcome"] for r in results] == ["success", "success"], results
    # Forked per invocation: the script's globals start afresh, `calls` is 1 each time.
    assert [json.loads(r["body"]) for r in results] == [{"message": "Hello, Ada!", "calls": 1}, {"message": "Hello, Grace!", "calls": 1}]
    _assert_cold_start_from_cache_and_bytecode(log)


JSONL_SCRIPT = """#!/bin/bash
# A long-lived bash worker: the jsonl helper `dispatcher init` copied next to it.
. "$(dirname "$0")/dispatcher.sh"
count=0
dispatcher_ready
while dispatcher_next; do
    count=$((count + 1))
    name=$(printf '%s' "$DISPATCHER_EVENT" | jq -r '.name // "world"')
    dispatcher_result "$(jq -cn --arg n "$name" --argjson c "$count" '{message: ("Hello, " + $n + "!"), count: $c}')"
done
"""


def test_bash_jsonl_script_to_layer_and_function_zip(tmp_path: Path, layer_zip: Path) -> None:
    _need_root()
    require_tool("jq", "apt-get install jq")
    folder = tmp_path / "script"
    folder.mkdir()
    script = folder / "hello.sh"
    script.write_text(JSONL_SCRIPT)
    script.chmod(0o755)
    layer, function = _three_commands(folder, ["--script", "hello.sh", "--kind", "jsonl"], layer_zip)
    results, log = _run_in_lambda_layout(tmp_path, layer, function, ['{"name": "Ada"}', '{"name": "Lin"}'])
    assert [r["outcome"] for r in results] == ["success", "success"], results
    # One long-lived process: its counter goes on.
    assert [json.loads(r["body"]) for r in results] == [{"message": "Hello, Ada!", "count": 1}, {"message": "Hello, Lin!", "count": 2}]
    _assert_cold_start_from_cache_and_bytecode(log)


def test_python_handler_uses_the_adapter_from_the_layer(tmp_path: Path, layer_zip: Path) -> None:
    _need_root()
    folder = tmp_path / "py"
    folder.mkdir()
    (folder / "app.py").write_text("def handler(event, context):\n    return {'message': 'Hello, %s!' % event['name'], 'fn': context.function_name}\n")
    layer, function = _three_commands(folder, ["--python", "app:handler"], layer_zip)
    results, log = _run_in_lambda_layout(tmp_path, layer, function, ['{"name": "Ada"}'])
    assert [r["outcome"] for r in results] == ["success"], results
    assert json.loads(results[0]["body"]) == {"message": "Hello, Ada!", "fn": "test_function"}
    _assert_cold_start_from_cache_and_bytecode(log)
    # The worker (run by /var/lang/bin/python3, PYTHONVERBOSE inherited) loaded the adapter from the layer's bytecode.
    assert "# code object from '/opt/python/dispatcher_worker/__pycache__/_serve.cpython-" in log, log[-3000:]
