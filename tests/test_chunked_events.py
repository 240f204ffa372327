"""Events around RAPID's 2,048-byte framing threshold, end to end.

The emulator sends a /next body over 2,048 bytes `Transfer-Encoding: chunked`,
as RAPID does (one chunk, docs/emulator.md); the supervisor must read it and
the worker must get every byte.  Events of 2,047, 2,049, 100,000 and
6,000,000 bytes go through the real supervisor to a Rust and a Python raw echo
worker (non-canonical JSON: any re-encoding would show) and to a jsonl echo
worker in bash + jq (canonical JSON, which the jsonl protocol re-encodes
unchanged), and must come back byte for byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT
from harness import Function, big_pretty_event
from test_rust_adapter import RustBuild, rust_build  # noqa: F401 - the session fixture that builds examples/rust-echo

SIZES = [2047, 2049, 100_000, 6_000_000]

pytestmark = pytest.mark.timeout(300)


def pretty_event(size: int) -> bytes:
    """Non-canonical JSON (pretty, non-ASCII, 2.50, 1e3) of exactly `size` bytes."""
    event = big_pretty_event(size - 300)  # it may overshoot its target by one item
    assert len(event) <= size
    return event + b" " * (size - len(event))


def canonical_event(size: int) -> bytes:
    head, tail = b'{"data":"', b'"}'
    return head + (b"0123456789abcdef" * (size // 16 + 1))[: size - len(head) - len(tail)] + tail


def round_trip(tmp_path: Path, config: Path, make: object) -> None:
    fn = Function(tmp_path, config, timeout=60)
    try:
        for n, size in enumerate(SIZES):
            event = make(size)  # type: ignore[operator]
            assert len(event) == size
            got = fn.invoke(raw=event)
            assert got.outcome == "success", (size, got.body[:300], fn.logs()[-2000:])
            assert len(got.body) == size and got.body == event, f"{size}-byte event changed on the way"
            assert fn.emu.stats.next_chunked == sum(1 for s in SIZES[: n + 1] if s > 2048)
        assert fn.emu.stats.launches == 1  # one warm runtime served them all
    finally:
        fn.close()


def test_python_raw_echo(tmp_path: Path) -> None:
    round_trip(tmp_path, EXAMPLES / "python-echo" / "dispatcher.yaml", pretty_event)


def test_rust_raw_echo(tmp_path: Path, rust_build: RustBuild) -> None:  # noqa: F811
    round_trip(tmp_path, EXAMPLES / "rust-echo" / "dispatcher.yaml", pretty_event)


@pytest.mark.skipif(not (shutil.which("bash") and shutil.which("jq")), reason="bash and jq are needed (make setup installs them)")
def test_jsonl_echo(tmp_path: Path) -> None:
    round_trip(tmp_path, ROOT / "bench" / "configs" / "jsonl-bash.yaml", canonical_event)
