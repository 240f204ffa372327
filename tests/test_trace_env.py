"""`_X_AMZN_TRACE_ID` in each adapter: the right value everywhere, and no leak.

glibc's setenv() never frees a `NAME=value` string it allocated, so an adapter
that sets the variable with setenv (Rust's std::env::set_var, Python's
os.environ[...] =, Node's process.env.X =) grows a long-lived worker by about
the value's size on every invocation with a new trace id (docs/protocol.md,
"`_X_AMZN_TRACE_ID` and glibc's setenv").  Here each adapter is a real worker
process driven over pipes with hand-built frames:

- a "look" event answers what the handler, C's getenv (where the language
  reaches it), and a child process see of the variable: the current
  invocation's value, or nothing when it has none (also when the worker
  started with a stale value);
- a long run of invocations with distinct trace ids must not grow the
  worker's resident memory (VmRSS in /proc/PID/status) by more than a bound
  that setenv's leak (~150 bytes each) exceeds several times over.
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

from conftest import ADAPTERS, IN_CI, ROOT, require_tool

RUST = ADAPTERS / "rust"
OFFLINE_CONFIG = ROOT / ".ci" / "cargo-offline.toml"
READ_TIMEOUT = 30.0
NAME = "_X_AMZN_TRACE_ID"

# A trace header as Lambda sends it; `n` makes every invocation's distinct.
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=1:{n:08x}:0"
LONG_RUN = 50_000
# setenv's leak over LONG_RUN distinct values is ~7 MB; a leak-free worker
# grows by allocator noise only.
RSS_GROWTH_BOUND_KB = 1_500

PY_APP = """
    import ctypes, os, subprocess

    _libc = ctypes.CDLL(None)
    _libc.getenv.restype = ctypes.c_char_p
    _libc.getenv.argtypes = [ctypes.c_char_p]

    def handler(event, context):
        if event != "look":
            return {}
        c = _libc.getenv(b"_X_AMZN_TRACE_ID")
        child = subprocess.run(["sh", "-c", 'printf %s "${_X_AMZN_TRACE_ID-<unset>}"'], capture_output=True, text=True).stdout
        return {"env": os.environ.get("_X_AMZN_TRACE_ID"), "getenv": os.getenv("_X_AMZN_TRACE_ID"),
                "c": c.decode() if c is not None else None, "child": None if child == "<unset>" else child}
"""

NODE_APP = """
    import { execFileSync } from "node:child_process";

    export function handler(event) {
      if (event !== "look") return {};
      const child = execFileSync("sh", ["-c", 'printf %s "${_X_AMZN_TRACE_ID-<unset>}"'], { encoding: "utf8" });
      // process.env reads the C environment (getenv) on every access.
      return { env: process.env._X_AMZN_TRACE_ID ?? null, child: child === "<unset>" ? null : child };
    }
"""

PHP_APP = """
    <?php
    return static function (mixed $event, $context): mixed {
        if ($event !== 'look') {
            return new stdClass();
        }
        $child = shell_exec('printf %s "${_X_AMZN_TRACE_ID-<unset>}"');
        $c = getenv('_X_AMZN_TRACE_ID', true);
        return ['env' => $_SERVER['_X_AMZN_TRACE_ID'] ?? null, 'c' => $c === false ? null : $c,
                'child' => $child === '<unset>' ? null : $child];
    };
"""


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DISPATCHER_", "_X_AMZN"))}
    env["DISPATCHER_PROTOCOL"] = "1"
    env.update(extra)
    return env


class Worker:
    """One adapter process: frames in on stdin, frames out on stdout."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self._stderr_path = cwd / f"stderr-{time.monotonic_ns()}.log"
        self._stderr = open(self._stderr_path, "wb")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, cwd=cwd, env=_env(env)
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin
        self._out = self.proc.stdout.fileno()
        self._buf = bytearray()
        self._seq = 0
        ready = self._read()
        assert ready["type"] == "ready", ready

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + READ_TIMEOUT
        while True:
            if len(self._buf) >= 4:
                size = struct.unpack(">I", self._buf[:4])[0]
                if len(self._buf) >= 4 + size:
                    body = bytes(self._buf[4 : 4 + size])
                    del self._buf[: 4 + size]
                    return msgpack.unpackb(body, raw=False)
            left = deadline - time.monotonic()
            assert left > 0, f"no frame within {READ_TIMEOUT}s; stderr: {self.stderr()}"
            ready, _, _ = select.select([self._out], [], [], left)
            if ready:
                chunk = os.read(self._out, 1 << 16)
                if not chunk:
                    raise EOFError(f"the worker closed stdout; stderr: {self.stderr()}")
                self._buf += chunk

    def _frame(self, payload: bytes, trace_id: str | None) -> tuple[str, bytes]:
        self._seq += 1
        rid = f"req-{self._seq}"
        msg = {
            "type": "invoke", "id": rid, "payload": payload, "deadline_ms": int(time.time() * 1000) + 600_000,
            "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:trace",
            "trace_id": trace_id, "client_context": None, "cognito_identity": None, "tenant_id": None,
        }
        body = msgpack.packb(msg, use_bin_type=True)
        return rid, struct.pack(">I", len(body)) + body

    def _reply(self, rid: str) -> bytes:
        reply = self._read()
        assert (reply["type"], reply["id"]) == ("result", rid), f"{reply}; stderr: {self.stderr()}"
        return bytes(reply["payload"])

    def look(self, trace_id: str | None) -> dict[str, Any]:
        rid, frame = self._frame(b'"look"', trace_id)
        self._in.write(frame)
        self._in.flush()
        return json.loads(self._reply(rid))

    def run(self, count: int, first: int, batch: int = 200) -> None:
        """`count` invocations with distinct trace ids, `batch` frames in flight."""
        n = first
        while n < first + count:
            todo = [self._frame(b"{}", TRACE.format(n=n + i)) for i in range(min(batch, first + count - n))]
            self._in.write(b"".join(frame for _, frame in todo))
            self._in.flush()
            for rid, _ in todo:
                self._reply(rid)
            n += len(todo)

    def rss_kb(self) -> int:
        with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS line")

    def stderr(self) -> str:
        return self._stderr_path.read_text("utf-8", "replace")[-3000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


def _rust_worker(tmp_path: Path, env: dict[str, str]) -> Worker:
    cargo = require_tool("cargo", "rustup (see tests/test_rust_adapter.py)")
    done = subprocess.run(
        [cargo, "--config", str(OFFLINE_CONFIG), "build", "--release", "--example", "trace_env"],
        cwd=RUST, env={**os.environ, "CARGO_TARGET_DIR": str(RUST / "target"), "CARGO_TERM_COLOR": "never"},
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, f"cargo build failed:\n{done.stderr[-4000:]}"
    return Worker([str(RUST / "target" / "release" / "examples" / "trace_env")], tmp_path, env)


def _python_worker(tmp_path: Path, env: dict[str, str]) -> Worker:
    (tmp_path / "app.py").write_text(textwrap.dedent(PY_APP))
    env = {"PYTHONPATH": str(ADAPTERS / "python"), **env}
    return Worker([sys.executable, "-m", "dispatcher_worker", "app:handler"], tmp_path, env)


def _node_worker(tmp_path: Path, env: dict[str, str]) -> Worker:
    node = require_tool("node", "apt-get install nodejs npm")
    if not (ADAPTERS / "node" / "node_modules" / "@msgpack" / "msgpack" / "package.json").is_file():
        msg = "the Node adapter's dependency is missing: run `npm ci` in adapters/node (tests/test_node_adapter.py does)"
        pytest.fail(msg) if IN_CI else pytest.skip(msg)
    (tmp_path / "app.mjs").write_text(textwrap.dedent(NODE_APP))
    return Worker([node, str(ADAPTERS / "node" / "bin.mjs"), "./app.mjs#handler"], tmp_path, env)


def _php_worker(tmp_path: Path, env: dict[str, str]) -> Worker:
    php = require_tool("php", "apt-get install php-cli php-msgpack")
    (tmp_path / "handler.php").write_text(textwrap.dedent(PHP_APP).lstrip())
    return Worker([php, str(ADAPTERS / "php" / "bin" / "dispatcher-worker.php"), "handler.php"], tmp_path, env)


STARTERS = {"rust": _rust_worker, "python": _python_worker, "node": _node_worker, "php": _php_worker}


@pytest.fixture
def start(tmp_path: Path):
    workers: list[Worker] = []

    def start(adapter: str, **env: str) -> Worker:
        w = STARTERS[adapter](tmp_path, env)
        workers.append(w)
        return w

    yield start
    for w in workers:
        w.close()


@pytest.mark.parametrize("adapter", sorted(STARTERS))
def test_handler_c_and_children_see_the_current_trace_id(start, adapter: str) -> None:
    w = start(adapter, _X_AMZN_TRACE_ID="stale-from-the-environment")
    long = TRACE.format(n=1) + ";" + "x" * 1500  # bigger than any buffer the adapter starts with
    for trace in (None, TRACE.format(n=1), TRACE.format(n=2), long, TRACE.format(n=3), None, None, TRACE.format(n=4)):
        seen = w.look(trace)
        assert set(seen.values()) == {trace}, f"invocation with trace {trace!r}: {seen}"


# Node reaches the environment only through process.env, whose setter is
# setenv: no JS way to putenv a buffer it owns (docs/protocol.md says why it
# is left as is).  Strict: the day it stops leaking, this says so.
NODE_LEAKS = pytest.mark.xfail(strict=True, reason="process.env assignment is glibc setenv (~250 bytes per distinct value)")


@pytest.mark.parametrize("adapter", [pytest.param(a, marks=NODE_LEAKS) if a == "node" else a for a in sorted(STARTERS)])
def test_distinct_trace_ids_do_not_grow_the_worker(start, adapter: str) -> None:
    w = start(adapter)
    w.run(5_000, first=0)  # warm: caches, allocator arenas, JIT
    before = w.rss_kb()
    w.run(LONG_RUN, first=5_000)
    grown = w.rss_kb() - before
    assert grown < RSS_GROWTH_BOUND_KB, (
        f"{adapter}: VmRSS grew {grown} kB over {LONG_RUN} invocations with distinct trace ids "
        f"({grown * 1024 // LONG_RUN} bytes each; bound {RSS_GROWTH_BOUND_KB} kB)"
    )
    assert w.look(TRACE.format(n=LONG_RUN + 5_000))["env"] == TRACE.format(n=LONG_RUN + 5_000)


def test_python_trace_env_in_process_keeps_os_environ_and_c_in_step(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctypes

    sys.path.insert(0, str(ADAPTERS / "python"))
    from dispatcher_worker._trace_env import TraceEnv

    getenv = ctypes.CDLL(None).getenv
    getenv.restype, getenv.argtypes = ctypes.c_char_p, [ctypes.c_char_p]
    monkeypatch.setenv(NAME, "stale")  # restored after the test
    env = TraceEnv()
    for value in ("Root=1-first", "Root=1-a", "x" * 700, "Root=1-b", None, None, "Root=1-c"):
        env.set(value)
        assert (os.environ.get(NAME), os.getenv(NAME)) == (value, value)
        assert getenv(NAME.encode()) == (value.encode() if value is not None else None)
        if env.wanted:  # the first trace id went through os.environ; putenv loads between invocations
            assert value == "Root=1-first"
            env.load()
            assert not env.wanted and env._putenv  # noqa: SLF001
    os.environ[NAME] = "set by the handler"  # setenv replaces our entry; the next value wins
    env.set("Root=1-d")
    assert (os.environ[NAME], getenv(NAME.encode())) == ("Root=1-d", b"Root=1-d")
    with pytest.raises(ValueError, match="embedded null byte"):  # as os.environ says it
        env.set("bad\0value")
    env.set(None)
    assert NAME not in os.environ and getenv(NAME.encode()) is None
