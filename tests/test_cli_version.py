"""`dispatcher --version`, `--help` on every command, and the documented exit statuses.

The CLI runs in a fresh interpreter, as a user runs it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dispatcher
from dispatcher.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dispatcher", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, stdin=subprocess.DEVNULL)


def pyproject_version() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]  # only the [project] table
    match = re.search(r'^version\s*=\s*"([^"]+)"', project, re.MULTILINE)
    assert match, "pyproject.toml [project] has no version"
    return match.group(1)


def test_version_in_package_matches_pyproject() -> None:
    assert dispatcher.__version__ == pyproject_version(), (
        "dispatcher/__init__.py __version__ and pyproject.toml [project] version differ: change both together"
    )


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_flag_prints_name_and_version(flag: str) -> None:
    proc = cli(flag)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"dispatcher {pyproject_version()}\n", "")


def test_version_imports_nothing_beyond_the_cli() -> None:
    code = ("import sys; from dispatcher.cli import main; rc = main(['--version']); "
            "heavy = sorted(m for m in ('argparse', 'json', 'yaml', 'msgpack', 'dispatcher.supervisor', "
            "'dispatcher.config') if m in sys.modules); print(rc, heavy, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.stdout == f"dispatcher {dispatcher.__version__}\n"
    assert proc.stderr.strip() == "0 []", proc.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command: str) -> None:
    proc = cli(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: dispatcher {command}"), proc.stdout


def test_top_level_help_lists_every_command_and_its_exit_statuses() -> None:
    proc = cli("--help")
    assert proc.returncode == 0
    commands, _, rest = proc.stdout.partition("exit status:")
    assert rest, "dispatcher --help documents no exit statuses"
    for command in COMMANDS:
        assert re.search(rf"^  {command}\s", commands, re.MULTILINE), f"{command} missing from the command list"
        assert re.search(rf"^  {command}\s+0 ", rest, re.MULTILINE), f"no exit statuses for {command}"
    assert "-V, --version" in commands


def test_exit_status_documented_for_usage_errors_is_the_real_one() -> None:
    assert cli("no-such-command").returncode == 2
    assert cli().returncode == 2
    assert cli("check", "--no-such-option").returncode == 2
    # `run` outside Lambda is a usage error, as documented (a config is needed first)
    example = ROOT / "examples" / "python-hello" / "dispatcher.yaml"
    env_free = subprocess.run([sys.executable, "-m", "dispatcher", "run", "--config", str(example)],
                              capture_output=True, text=True, timeout=60, cwd=ROOT,
                              env={k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"})
    assert env_free.returncode == 2, env_free.stderr
    assert "AWS_LAMBDA_RUNTIME_API is not set" in env_free.stderr
