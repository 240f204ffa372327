"""Shared fixtures: paths, the interpreter running the tests, toolchain gates.

Workers written in Python are always started with sys.executable (never the
`python3` on PATH, which may be a slow version-manager shim).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ADAPTERS = ROOT / "adapters"
WORKERS = Path(__file__).resolve().parent / "workers"  # test workers (Python scripts)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Property tests: a fixed, derandomized profile in CI (a failure reproduces),
# the default random exploration on a developer's machine.
from hypothesis import settings as _hyp_settings

_hyp_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
_hyp_settings.register_profile("dev", deadline=None)
_hyp_settings.load_profile("ci" if IN_CI else "dev")


def require_tool(tool: str, install_hint: str) -> str:
    """Path of `tool`, or skip the test (fail under CI=true) saying what to install."""
    path = shutil.which(tool)
    if path is None:
        msg = f"{tool} not found: install it with `{install_hint}` (or run `make setup` as root)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def run_cli(
    *args: str,
    input: bytes | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m dispatcher ARGS...` with the test interpreter; capture output."""
    full_env = dict(os.environ)
    full_env.pop("AWS_LAMBDA_RUNTIME_API", None)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "dispatcher", *args],
        input=input if input is not None else b"",
        capture_output=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd,
    )


@pytest.fixture
def python_exe() -> str:
    return sys.executable
