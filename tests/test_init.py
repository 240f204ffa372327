"""`dispatcher init`: every file it writes passes `dispatcher check` and runs under `dispatcher invoke`.

Real workers for each kind it knows (a msgpack command, a Python, Node and
PHP handler, a legacy PHP script, bash scripts under exec and jsonl), the
generated bootstrap as the runtime under the embedded emulator, and its
refusals: never an overwrite without --force, never a file outside the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES, require_tool, run_cli

from dispatcher.emulator import Emulator
from dispatcher.package import render_dockerfile

PY = "%d.%d" % sys.version_info[:2]
APP_PY = "def handler(event, context):\n    return {'message': 'Hello, %s!' % event.get('name', 'world')}\n"
EXEC_SH = "#!/bin/sh\njq -c '{message: (\"Hello, \" + .name + \"!\")}'\n"
JSONL_SH = """#!/bin/sh
. "$(dirname "$0")/dispatcher.sh"
dispatcher_ready
while dispatcher_next; do
    dispatcher_result "$(printf '%s' "$DISPATCHER_EVENT" | jq -c '{message: ("Hello, " + .name + "!")}')"
done
"""
NODE_MJS = "export async function greet(event) { return { message: `Hello, ${event.name}!` }; }\n"
PHP_HANDLER = "<?php\nreturn static fn (mixed $event, $context): array => ['message' => 'Hello, ' . $event['name'] . '!'];\n"


def write(path: Path, text: str, executable: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755 if executable else 0o644)


def init(folder: Path, *args: str) -> str:
    done = run_cli("init", str(folder), *args)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode() + done.stderr.decode()


def check_and_invoke(folder: Path, event: dict[str, object]) -> object:
    config = str(folder / "dispatcher.yaml")
    done = run_cli("check", "--config", config)
    assert done.returncode == 0, done.stderr.decode()
    done = run_cli("invoke", "--config", config, json.dumps(event))
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    return json.loads(done.stdout)


def test_python_handler(tmp_path: Path) -> None:
    write(tmp_path / "app.py", APP_PY)
    out = init(tmp_path, "--python", "app:handler")
    assert "worker 'app' is ready" in out
    assert check_and_invoke(tmp_path, {"name": "Ada"}) == {"message": "Hello, Ada!"}


def test_command_speaking_msgpack(tmp_path: Path) -> None:
    write(tmp_path / "app.py", APP_PY)
    write(tmp_path / "serve", f"#!/bin/sh\nexec {sys.executable} -m dispatcher_worker app:handler\n", executable=True)
    init(tmp_path, "--command", "./serve --verbose", "--name", "greeter")
    text = (tmp_path / "dispatcher.yaml").read_text()
    assert 'command: ["./serve", "--verbose"]' in text and "default: greeter" in text
    assert check_and_invoke(tmp_path, {"name": "Ada"}) == {"message": "Hello, Ada!"}


@pytest.mark.parametrize("kind, script", [("exec", EXEC_SH), ("jsonl", JSONL_SH)])
def test_bash_script(tmp_path: Path, kind: str, script: str) -> None:
    require_tool("jq", "apt-get install jq")
    write(tmp_path / "greet.sh", script, executable=True)
    out = init(tmp_path, "--script", "greet.sh", "--kind", kind)
    assert f"protocol: {kind}" in (tmp_path / "dispatcher.yaml").read_text()
    assert (tmp_path / "dispatcher.sh").exists() == (kind == "jsonl"), out  # the jsonl helper is copied in
    assert check_and_invoke(tmp_path, {"name": "Ada"}) == {"message": "Hello, Ada!"}


def test_node_handler(tmp_path: Path) -> None:
    require_tool("node", "apt-get install nodejs")
    write(tmp_path / "app.mjs", NODE_MJS)
    out = init(tmp_path, "--node", "app.mjs:greet")
    assert "copied" in out and (tmp_path / "dispatcher-adapters" / "node" / "bin.mjs").is_file()
    assert "RUN dnf install -y nodejs20" in (tmp_path / "Dockerfile").read_text()
    assert check_and_invoke(tmp_path, {"name": "Ada"}) == {"message": "Hello, Ada!"}


def test_php_handler_and_legacy_script(tmp_path: Path) -> None:
    require_tool("php", "apt-get install php-cli")
    write(tmp_path / "handler" / "handler.php", PHP_HANDLER)
    init(tmp_path / "handler", "--php", "handler.php")
    assert check_and_invoke(tmp_path / "handler", {"name": "Ada"}) == {"message": "Hello, Ada!"}
    (tmp_path / "legacy").mkdir()
    shutil.copy2(EXAMPLES / "php-legacy" / "greet.php", tmp_path / "legacy" / "greet.php")
    init(tmp_path / "legacy", "--php", "greet.php", "--kind", "legacy")
    assert "dispatcher-legacy.php" in (tmp_path / "legacy" / "dispatcher.yaml").read_text()
    assert check_and_invoke(tmp_path / "legacy", {"name": "Ada"}) == {"message": "Hello, Ada!", "calls": 1}


def test_bootstrap_runs_as_the_runtime(tmp_path: Path) -> None:
    write(tmp_path / "app.py", APP_PY)
    init(tmp_path, "--python", "app:handler")
    bootstrap = tmp_path / "bootstrap"
    assert os.access(bootstrap, os.X_OK)
    env = {"PATH": os.environ["PATH"], "DISPATCHER_INTERPRETER": sys.executable}
    with Emulator(runtime_argv=[str(bootstrap)], env=env, task_root=str(tmp_path), handler="anything") as emu:
        emu.start()
        result = emu.invoke(b'{"name": "Ada"}')
    assert result.outcome == "success", result.body
    assert json.loads(result.body) == {"message": "Hello, Ada!"}


def test_template_and_dockerfile(tmp_path: Path) -> None:
    write(tmp_path / "app.py", APP_PY)
    init(tmp_path, "--python", "app:handler", "--python-version", "3.12", "--arch", "arm64")
    assert (tmp_path / "Dockerfile").read_text() == render_dockerfile("3.12", "arm64")
    template = yaml.safe_load((tmp_path / "template.yaml").read_text())
    layer = template["Resources"]["DispatcherLayer"]["Properties"]
    function = template["Resources"]["Function"]["Properties"]
    assert layer == {"ContentUri": "layer.zip", "CompatibleRuntimes": ["python3.12"], "CompatibleArchitectures": ["arm64"]}
    assert function["Runtime"] == "python3.12" and function["Architectures"] == ["arm64"] and function["Handler"] == "app"
    assert function["CodeUri"] == "function.zip" and function["Layers"] == [{"Ref": "DispatcherLayer"}]
    assert function["Environment"]["Variables"] == {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/dispatcher-wrapper"}


def test_never_overwrites_without_force(tmp_path: Path) -> None:
    write(tmp_path / "app.py", APP_PY)
    init(tmp_path, "--python", "app:handler")
    (tmp_path / "dispatcher.yaml").write_text("# mine\n")
    done = run_cli("init", str(tmp_path), "--python", "app:handler")
    assert done.returncode == 2
    assert b"Dockerfile, bootstrap, dispatcher.yaml, template.yaml already exist" in done.stderr
    assert b"nothing was written; pass --force to overwrite" in done.stderr
    assert (tmp_path / "dispatcher.yaml").read_text() == "# mine\n"
    init(tmp_path, "--python", "app:handler", "--force")
    assert (tmp_path / "dispatcher.yaml").read_text().startswith("# dispatcher.yaml, written by `dispatcher init`")


@pytest.mark.parametrize(
    "setup, args, message",
    [
        ("", ["--script", "nope.sh"], "--script 'nope.sh' does not exist in"),
        ("plain.sh", ["--script", "plain.sh"], "plain.sh is not executable: chmod +x"),
        ("", ["--script", "../outside.sh"], "is outside"),
        ("", ["--script", "/etc/hostname"], "is outside"),
        ("run.sh+x", ["--script", "run.sh", "--kind", "msgpack"], "--kind msgpack does not apply to --script: use one of exec, jsonl"),
        ("", ["--command", "./x 'unbalanced"], "cannot be split into arguments"),
        ("", ["--python", "app"], "is not MODULE:FUNCTION"),
        ("", ["--python", "app:h", "--python-version", "3.9"], "--python-version 3.9 is not one of 3.11, 3.12, 3.13"),
        ("", ["--command", "./x", "--name", "bad name"], "is not a worker name"),
    ],
)
def test_refusals(tmp_path: Path, setup: str, args: list[str], message: str) -> None:
    folder = tmp_path / "fn"
    folder.mkdir()
    (tmp_path / "outside.sh").write_text("#!/bin/sh\n")
    if setup:
        write(folder / setup.removesuffix("+x"), "#!/bin/sh\n", executable=setup.endswith("+x"))
    done = run_cli("init", str(folder), *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr.decode(), done.stderr.decode()
    assert not (folder / "dispatcher.yaml").exists()


def test_init_help() -> None:
    done = run_cli("init", "--help")
    assert done.returncode == 0
    for flag in (b"--command", b"--python", b"--node", b"--php", b"--script", b"--kind", b"--force", b"exit status"):
        assert flag in done.stdout
