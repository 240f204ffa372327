"""Everything the benchmark installs or builds for itself, and where it lands.

- the pinned Python packages (awslambdaric, matplotlib), from wheels only,
  into the interpreter running the benchmark;
- the std-only Rust programs in bench/ (Runtime API server, native baseline,
  stand-in echo worker), built offline with .ci/cargo-offline.toml.

Every function returns notes instead of raising for optional pieces, so a
missing toolchain costs one contender or the chart, not the whole run.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TARGET = BENCH / "target"
BIN = TARGET / "release"
CARGO_OFFLINE = ROOT / ".ci" / "cargo-offline.toml"

# Pinned so that runs stay comparable; wheels only (no compiler needed).
PIP_PINS = {"awslambdaric": "4.2.2", "matplotlib": "3.11.2"}


@dataclass(frozen=True)
class Binaries:
    apiserver: Path
    native: Path
    echo_worker: Path


class BuildError(Exception):
    """A piece the benchmark cannot run without could not be built."""


def ensure_pip_packages(pins: dict[str, str] = PIP_PINS) -> dict[str, str]:
    """Install each missing pinned package; returns {name: "ok" | why not}."""
    status: dict[str, str] = {}
    for name, version in pins.items():
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            have = None
        if have == version:
            status[name] = "ok"
            continue
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
               "--only-binary", ":all:", f"{name}=={version}"]
        print(f"bench: installing {name}=={version} (have {have or 'none'})", file=sys.stderr)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            status[name] = "ok"
        else:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            status[name] = f"pip install {name}=={version} failed: {' / '.join(tail)}"
    importlib.invalidate_caches()
    return status


def cargo_command(*args: str) -> list[str]:
    """`cargo ARGS` offline when the project's offline config exists (std-only crates need nothing)."""
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    cmd = [cargo]
    if CARGO_OFFLINE.exists():
        cmd += ["--config", str(CARGO_OFFLINE)]
    return cmd + list(args)


def build_bench_binaries() -> Binaries:
    """Build bench/'s Rust workspace (release); raises BuildError with cargo's output."""
    cmd = cargo_command("build", "--release", "--quiet", "--manifest-path", str(BENCH / "Cargo.toml"))
    if not Path(cmd[0]).exists() and shutil.which(cmd[0]) is None:
        raise BuildError("cargo not found: install Rust (https://rustup.rs) or `apt-get install cargo`")
    env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise BuildError(f"building bench/ Rust programs failed:\n{proc.stderr[-3000:]}")
    bins = Binaries(BIN / "bench-apiserver", BIN / "bench-native", BIN / "bench-echo-worker")
    for path in (bins.apiserver, bins.native, bins.echo_worker):
        if not path.exists():
            raise BuildError(f"cargo succeeded but {path} is missing")
    return bins


def run_build_step(argv: list[str], cwd: Path, extra_env: dict[str, str]) -> str | None:
    """Run a contender's build command; None on success, else the reason."""
    env = dict(os.environ, **extra_env)
    if CARGO_OFFLINE.exists():
        env["CARGO_CONFIG"] = str(CARGO_OFFLINE)  # honoured by the examples' build.sh
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"build `{' '.join(argv)}` failed: {exc}"
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        return f"build `{' '.join(argv)}` exited {proc.returncode}:\n{tail}"
    return None
