"""The Rust adapter (adapters/rust) and its examples, built with the real toolchain.

Builds run once per session, offline against Debian's packaged crates
(.ci/cargo-offline.toml; crates.io is unreachable here) into one shared
target directory, adapters/rust/target.  Then:
- the adapter's own `cargo test` (codec unit tests, the shared vectors, and
  an over-the-pipes test of a worker binary) must pass;
- the supervisor runs the examples and the `behaviours` test worker
  (adapters/rust/examples/behaviours.rs) through `python -m dispatcher invoke`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import ADAPTERS, EXAMPLES, IN_CI, ROOT, require_tool, run_cli
from harness import big_pretty_event

CRATE = ADAPTERS / "rust"
TARGET = CRATE / "target"
OFFLINE_CONFIG = ROOT / ".ci" / "cargo-offline.toml"
DEBIAN_REGISTRY = Path("/usr/share/cargo/registry")
DEBIAN_CRATES = ("serde", "serde_derive", "serde_json", "rmp-serde", "serde_bytes", "libc", "log")
CARGO_HINT = (
    "curl --proto '=https' -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal"
    " (the rustup toolchain; Debian's rustc is too old)"
)
BUILD_TIMEOUT = 900


@dataclass(frozen=True)
class RustBuild:
    rustc_version: str
    behaviours: Path  # the test worker binary
    build_seconds: float


def _cargo_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CARGO_TARGET_DIR"] = str(TARGET)
    env["CARGO_TERM_COLOR"] = "never"
    return env


def _run(
    cmd: list[str], cwd: Path, timeout: float = BUILD_TIMEOUT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env={**_cargo_env(), **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


def _require_debian_crates() -> None:
    missing = [c for c in DEBIAN_CRATES if not any(DEBIAN_REGISTRY.glob(f"{c}-[0-9]*"))]
    if missing:
        pkgs = " ".join(f"librust-{c.replace('_', '-')}-dev" for c in missing)
        msg = f"Debian crates missing from {DEBIAN_REGISTRY}: {', '.join(missing)}: install them with `apt-get install {pkgs}`"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def rust_build() -> RustBuild:
    """Builds the test worker (release) and both examples once, offline."""
    cargo = require_tool("cargo", CARGO_HINT)
    _require_debian_crates()
    rustc = _run(["rustc", "-V"], CRATE, timeout=60).stdout.strip()
    print(f"rust toolchain: {rustc} ({cargo})")  # shown with -s and on failure
    started = time.monotonic()
    steps: list[tuple[list[str], Path, dict[str, str]]] = [
        ([cargo, "--config", str(OFFLINE_CONFIG), "build", "--release", "--example", "behaviours", "--example", "concurrent"], CRATE, {}),
        # build.sh is what a user runs; it copies the binary next to dispatcher.yaml.
        ([str(EXAMPLES / "rust-hello" / "build.sh")], EXAMPLES / "rust-hello", {"CARGO_CONFIG": str(OFFLINE_CONFIG)}),
        ([str(EXAMPLES / "rust-echo" / "build.sh")], EXAMPLES / "rust-echo", {"CARGO_CONFIG": str(OFFLINE_CONFIG)}),
    ]
    for cmd, cwd, extra in steps:
        done = _run(cmd, cwd, env=extra)
        if done.returncode != 0:
            pytest.fail(f"`{' '.join(cmd)}` failed in {cwd} ({rustc}):\n{done.stderr[-4000:]}")
    seconds = time.monotonic() - started
    print(f"rust builds took {seconds:.1f} s")
    behaviours = TARGET / "release" / "examples" / "behaviours"
    assert behaviours.is_file(), f"cargo reported success but {behaviours} does not exist"
    return RustBuild(rustc, behaviours, seconds)


@pytest.fixture(scope="session")
def behaviours_config(rust_build: RustBuild, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dispatcher.yaml for the behaviours worker (init mode from $BEHAVIOURS_INIT)."""
    path = tmp_path_factory.mktemp("rust-behaviours") / "dispatcher.yaml"
    path.write_text(
        "workers:\n"
        "  behaviours:\n"
        f"    command: [{json.dumps(str(rust_build.behaviours))}]\n"
        "    cwd: .\n"
        "    env:\n"
        '      BEHAVIOURS_INIT: "${BEHAVIOURS_INIT:-ok}"\n'
        "default: behaviours\n",
        encoding="utf-8",
    )
    return path


def _invoke(config: Path, event: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return run_cli("invoke", "--config", str(config), *args, event, env=env)


def _explain(done: subprocess.CompletedProcess[bytes]) -> str:
    return f"exit {done.returncode}\nstdout: {done.stdout[:2000]!r}\nstderr: {done.stderr.decode(errors='replace')[-3000:]}"


def _error_doc(done: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(done.stdout)
    assert set(doc) >= {"errorType", "errorMessage", "stackTrace"}, _explain(done)
    return doc


# -- the adapter's own tests ----------------------------------------------------


def test_cargo_test_passes(rust_build: RustBuild) -> None:
    cargo = require_tool("cargo", CARGO_HINT)
    done = _run([cargo, "--config", str(OFFLINE_CONFIG), "test"], CRATE)
    report = f"{rust_build.rustc_version}\n{done.stdout[-6000:]}\n{done.stderr[-4000:]}"
    assert done.returncode == 0, report
    # Unit tests, the shared vectors, the pipe tests (one at a time, run_concurrent, large answers) and the doc test all ran.
    suites = ("src/lib.rs", "tests/vectors.rs", "tests/worker_answers.rs", "tests/worker_frames.rs", "tests/worker_lifecycle.rs",
              "tests/concurrent.rs", "tests/bigreply.rs", "Doc-tests dispatcher_worker")
    for suite in suites:
        assert suite in done.stderr, f"{suite} did not run:\n{report}"
    results = re.findall(r"test result: (\w+)\. (\d+) passed; (\d+) failed", done.stdout)
    assert len(results) == len(suites), report
    assert all(status == "ok" and int(passed) > 0 and failed == "0" for status, passed, failed in results), report


# -- through the supervisor -----------------------------------------------------


def test_hello_example_answers(rust_build: RustBuild) -> None:
    done = _invoke(EXAMPLES / "rust-hello" / "dispatcher.yaml", '{"name":"Ada"}')
    assert done.returncode == 0, _explain(done)
    assert done.stdout == b'{"message":"Hello, Ada!"}'


def test_hello_example_defaults_to_world(rust_build: RustBuild) -> None:
    done = _invoke(EXAMPLES / "rust-hello" / "dispatcher.yaml", "{}")
    assert (done.returncode, done.stdout) == (0, b'{"message":"Hello, world!"}'), _explain(done)


def test_handler_error_reports_the_rust_type_name(behaviours_config: Path) -> None:
    done = _invoke(behaviours_config, '{"do":"error"}')
    assert done.returncode == 1, _explain(done)
    doc = _error_doc(done)
    assert doc["errorType"] == "behaviours::BadRequest"
    assert doc["errorMessage"] == "bad request: no order id"


def test_worker_keeps_serving_after_a_handler_error(behaviours_config: Path) -> None:
    # First invocation fails, the second reports the worker's own count:
    # 2 means the same process served both.
    done = _invoke(behaviours_config, '{"do":"error_once"}', "--repeat", "2")
    assert done.returncode == 1, _explain(done)  # one of the two failed
    assert json.loads(done.stdout)["invocations"] == 2, _explain(done)


def test_panic_is_an_error_and_the_worker_goes_on(behaviours_config: Path) -> None:
    done = _invoke(behaviours_config, '{"do":"panic"}')
    doc = _error_doc(done)
    assert (doc["errorType"], doc["errorMessage"]) == ("Panic", "deliberate panic"), _explain(done)
    assert doc["stackTrace"][0].startswith("at examples/behaviours.rs:"), _explain(done)
    done = _invoke(behaviours_config, '{"do":"panic_once"}', "--repeat", "2")
    assert json.loads(done.stdout)["invocations"] == 2, _explain(done)


def test_init_failure_is_init_error(behaviours_config: Path) -> None:
    done = _invoke(behaviours_config, "{}", env={"BEHAVIOURS_INIT": "fail"})
    assert done.returncode == 3, _explain(done)
    doc = _error_doc(done)
    assert doc["errorType"] == "behaviours::InitFailed", _explain(done)
    assert "BEHAVIOURS_INIT=fail" in str(doc["errorMessage"])


def test_init_panic_is_init_error(behaviours_config: Path) -> None:
    done = _invoke(behaviours_config, "{}", env={"BEHAVIOURS_INIT": "panic"})
    assert done.returncode == 3, _explain(done)
    assert _error_doc(done)["errorType"] == "Panic"


def test_abort_is_an_exit_error_and_a_new_worker_serves_next(behaviours_config: Path, tmp_path: Path) -> None:
    done = _invoke(behaviours_config, '{"do":"abort"}')
    assert done.returncode == 1, _explain(done)
    assert _error_doc(done)["errorType"] == "Runtime.ExitError", _explain(done)
    # abort_once aborts while its marker file does not exist yet, then answers.
    event = json.dumps({"do": "abort_once", "marker": str(tmp_path / "aborted")})
    done = _invoke(behaviours_config, event, "--repeat", "2")
    assert (tmp_path / "aborted").exists(), _explain(done)
    stats = json.loads(done.stdout)
    assert stats["invocations"] == 1, f"a fresh worker answers the second invocation\n{_explain(done)}"


def test_printing_in_a_handler_goes_to_the_log(behaviours_config: Path) -> None:
    done = _invoke(behaviours_config, '{"do":"print"}', env={"BEHAVIOURS_INIT": "print"})
    assert done.returncode == 0, _explain(done)
    assert json.loads(done.stdout) == {"printed": True, "child_status": 0}
    log = done.stderr.decode(errors="replace")
    for text in ("printed to stdout during init", "println from the handler", "child wrote to its stdout"):
        assert text in log, f"{text!r} missing from the log\n{_explain(done)}"


def test_six_megabyte_event_is_echoed_byte_for_byte(rust_build: RustBuild, tmp_path: Path) -> None:
    event = big_pretty_event(6_000_000)
    assert 5_900_000 < len(event) <= 6_000_000
    path = tmp_path / "event.json"
    path.write_bytes(event)
    done = run_cli(
        "invoke", "--config", str(EXAMPLES / "rust-echo" / "dispatcher.yaml"),
        "--timeout", "30s", "--event-file", str(path),
    )
    assert done.returncode == 0, _explain(done)
    assert len(done.stdout) == len(event), _explain(done)
    assert done.stdout == event


def test_large_answers_of_changing_sizes_through_one_warm_worker(rust_build: RustBuild, tmp_path: Path) -> None:
    """examples/rust-echo answers a large event from the buffer it read it into
    (vmsplice, adapters/rust/src/bigreply.rs): the next event goes into a
    second buffer, and the buffers are reused as sizes go up and down around
    the 256 KiB threshold.  Every answer must be its own event, byte for byte."""
    from harness import Function

    sizes = [6_000_000, 262_144, 262_143, 300_000, 6_000_000, 1_048_576, 5_000_000, 300_001, 6_291_000]
    fn = Function(tmp_path, EXAMPLES / "rust-echo" / "dispatcher.yaml", timeout=60)
    try:
        for n, size in enumerate(sizes):
            # Distinct content each time: a stale page from an earlier event would show.
            head = b'{"n":%d,"data":"' % n
            body = bytes((n * 7 + i) % 26 + 97 for i in range(256)) * (size // 256 + 1)
            event = head + body[: size - len(head) - 2] + b'"}'
            assert len(event) == size
            got = fn.invoke(raw=event)
            assert got.outcome == "success", (size, got.body[:300], fn.logs()[-2000:])
            assert got.body == event, f"the {size}-byte event #{n} came back changed"
        assert fn.emu.stats.launches == 1, "one warm worker served them all"
    finally:
        fn.close()
