"""Streamed responses end to end: a worker streams, the real supervisor relays,
the emulator's front door (`dispatcher serve`) streams to an HTTP caller.

Covers docs/protocol.md "Streaming" and docs/streaming.md: byte-for-byte
delivery, chunks reaching the caller as they are written, failures after the
first byte as trailers (and before it as an ordinary error), the 200 MiB cut
and the supervisor's memory during a 200 MiB stream.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, WORKERS, require_tool
from harness import Function, wait_gone
from stream_client import post

from dispatcher.emulator import InvokeResult, StreamStart
from dispatcher.emulator.frontdoor import serve_frontdoor

STREAMER = str(WORKERS / "streamer.py")
MIB = 1024 * 1024


def _config(tmp_path: Path, command: list[str], cwd: str | None = None) -> Path:
    worker: dict[str, object] = {"command": command}
    if cwd:
        worker["cwd"] = cwd
    path = tmp_path / "dispatcher.yaml"
    path.write_text(json.dumps({"workers": {"w": worker}}))
    return path


class Served:
    """The real supervisor behind the emulator, and `dispatcher serve`'s front door."""

    def __init__(self, tmp_path: Path, command: list[str], *, timeout: float = 10.0, env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.fn = Function(tmp_path, _config(tmp_path, command, cwd), timeout=timeout, env=env)
        self.door = serve_frontdoor(self.fn.emu, "127.0.0.1", 0)

    def post(self, event: object, **kw: object):  # type: ignore[no-untyped-def]
        return post(self.door.host, self.door.port, json.dumps(event).encode(), **kw)  # type: ignore[arg-type]

    def supervisor_pid(self) -> int:
        pid = self.fn.emu.runtime_pid
        assert pid is not None
        return pid

    def worker_pids(self) -> list[int]:
        """The supervisor's children that run the worker (not its guardian)."""
        sup = self.supervisor_pid()
        kids = [int(k) for k in Path(f"/proc/{sup}/task/{sup}/children").read_text().split()]
        out = []
        for k in kids:
            try:
                cmd = Path(f"/proc/{k}/cmdline").read_bytes()
            except OSError:
                continue
            if b"streamer.py" in cmd:
                out.append(k)
        return out

    def close(self) -> None:
        self.door.stop()
        self.fn.close()


@pytest.fixture
def streamer(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Served(tmp_path, [sys.executable, STREAMER], timeout=3.0)
    yield s
    s.close()


@pytest.fixture
def nodestream(tmp_path: Path):  # type: ignore[no-untyped-def]
    node = require_tool("node", "apt-get install nodejs npm")
    node_dir = ROOT / "adapters" / "node"
    s = Served(tmp_path, [node, str(node_dir / "bin.mjs"), "./streaming_aws.mjs"], cwd=str(node_dir / "test" / "fixtures"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def rust_streaming_binary() -> Path:
    """adapters/rust/examples/streaming.rs, built once (offline, from Debian's crates)."""
    cargo = require_tool("cargo", "the rustup toolchain (see tests/test_rust_adapter.py)")
    crate = ROOT / "adapters" / "rust"
    env = {**os.environ, "CARGO_TARGET_DIR": str(crate / "target"), "CARGO_TERM_COLOR": "never"}
    done = subprocess.run(
        [cargo, "--config", str(ROOT / ".ci" / "cargo-offline.toml"), "build", "--release", "--example", "streaming"],
        cwd=crate, env=env, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    binary = crate / "target" / "release" / "examples" / "streaming"
    assert binary.is_file()
    return binary


@pytest.fixture
def ruststream(tmp_path: Path, rust_streaming_binary: Path):  # type: ignore[no-untyped-def]
    s = Served(tmp_path, [str(rust_streaming_binary)])
    yield s
    s.close()


@pytest.fixture
def phpstream(tmp_path: Path):  # type: ignore[no-untyped-def]
    php = require_tool("php", "apt-get install php-cli php-msgpack")
    php_dir = ROOT / "adapters" / "php"
    s = Served(tmp_path, [php, str(php_dir / "bin" / "dispatcher-worker.php"), str(php_dir / "tests" / "fixtures" / "streaming.php")])
    yield s
    s.close()


@pytest.fixture
def pystream(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Served(tmp_path, [sys.executable, "-m", "dispatcher_worker", "app:handler"], cwd=str(WORKERS / "pystream"))
    yield s
    s.close()


def _trailer_error(reply) -> tuple[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    doc = json.loads(base64.b64decode(reply.trailers["lambda-runtime-function-error-body"]))
    return reply.trailers["lambda-runtime-function-error-type"], doc


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _came_while_the_handler_slept(reply, pause: float) -> None:  # type: ignore[no-untyped-def]
    """The first line ("first <time.time() at its write>") reached the caller
    while the handler slept `pause` seconds before its second write: streamed,
    not buffered.  Buffered, it would arrive with the second, `pause` after its
    write; so the bound is half the pause, not a latency (a loaded machine
    stretches the hops through worker, supervisor, emulator and front door)."""
    text = reply.body.decode()
    assert text.startswith("first ") and "second " in text, text
    # Same machine, same clock: the delay from the handler's write to the caller.
    wall_at_arrival = time.time() - (time.monotonic() - reply.pieces[0][0])
    delay = wall_at_arrival - float(text.split()[1])
    assert delay < pause / 2, f"the first chunk took {delay:.3f}s to reach the caller (the handler slept {pause}s)"
    assert reply.pieces[-1][0] - reply.pieces[0][0] > 0.8 * pause  # and the second one came after the pause


# -- the happy path -------------------------------------------------------------------


def test_python_adapter_20mb_stream_arrives_byte_for_byte(pystream: Served) -> None:
    size = 20 * 1000 * 1000 + 17
    reply = pystream.post({"mode": "big", "size": size})
    assert reply.status == 200 and reply.chunked
    assert reply.header("content-type") == "application/octet-stream"
    pattern = bytes(range(256)) * 400
    expected = b"".join(pattern[: min(100_000, size - at)] for at in range(0, size, 100_000))
    assert len(reply.body) == size and reply.body == expected
    assert reply.trailers == {}
    assert len(reply.pieces) > 10, "the body came in one piece: it was buffered, not streamed"


def test_a_slow_caller_slows_the_function_instead_of_filling_memory(pystream: Served, tmp_path: Path) -> None:
    """Back-pressure end to end: the emulator stops reading the supervisor, the
    supervisor stops reading the worker, the worker blocks in its write."""
    progress = tmp_path / "progress"
    size = 60 * 1000 * 1000
    items = pystream.fn.emu.invoke_stream(json.dumps({"mode": "big", "size": size, "progress": str(progress)}).encode())
    assert isinstance(next(items), StreamStart)
    got = len(next(items))  # type: ignore[arg-type]
    # The caller stalls.  The function gets a few MiB ahead (emulator queue,
    # sockets, the pipe), then waits: poll until its progress stops moving.
    last, still_since = -1, time.monotonic()
    deadline = time.monotonic() + 10
    while time.monotonic() - still_since < 0.5:
        assert time.monotonic() < deadline, "the function never stopped: nothing held it back"
        now = int(progress.read_text() or 0) if progress.exists() else 0
        if now != last:
            last, still_since = now, time.monotonic()
        time.sleep(0.05)
    assert last < 20 * 1000 * 1000, f"the function ran {last} bytes ahead of a stalled caller"
    for item in items:  # the caller reads again: everything arrives
        if isinstance(item, bytes):
            got += len(item)
        else:
            assert isinstance(item, InvokeResult) and item.ok
    assert got == size


def test_first_chunk_reaches_the_serve_caller_while_the_handler_sleeps(pystream: Served) -> None:
    _came_while_the_handler_slept(pystream.post({"mode": "slow", "pause": 1.0}), 1.0)


def test_async_generator_and_content_type(pystream: Served) -> None:
    reply = pystream.post({"mode": "async"})
    assert reply.status == 200 and reply.header("content-type") == "text/plain"
    assert reply.body == b"async-0;async-1;async-2;"


def test_a_list_is_still_json_not_a_stream(pystream: Served) -> None:
    reply = pystream.post({"mode": "list"})
    assert not reply.chunked and reply.body == b"[1,2,3]"


def test_http_integration_prelude_is_applied_like_a_function_url(pystream: Served) -> None:
    reply = pystream.post({"mode": "http"})
    assert reply.status == 201
    assert reply.header("content-type") == "text/html" and reply.header("x-custom") == "yes"
    assert reply.header_all("set-cookie") == ["a=1; Path=/", "b=2"]
    assert reply.body == b"<h1>hello</h1> streamed"


def test_invoke_stream_hands_out_pieces_then_the_result(streamer: Served) -> None:
    items = list(streamer.fn.emu.invoke_stream(json.dumps({"steps": [["open", "text/csv"], ["chunk", "a,b\n"], ["chunk", "1,2\n"], ["end"]]}).encode()))
    assert isinstance(items[0], StreamStart) and items[0].content_type == "text/csv"
    assert b"".join(i for i in items[1:-1]) == b"a,b\n1,2\n"  # type: ignore[misc]
    result = items[-1]
    assert isinstance(result, InvokeResult) and result.ok and result.streamed and result.stream_error_type is None
    # Without a consumer of pieces, the body is collected as before.
    whole = streamer.fn.emu.invoke(json.dumps({"steps": [["open", None], ["chunk", "x"], ["chunk", "y"], ["end"]]}).encode())
    assert whole.ok and whole.streamed and whole.body == b"xy"


def test_empty_stream_and_empty_chunks(streamer: Served) -> None:
    reply = streamer.post({"steps": [["open", "text/plain"], ["chunk", ""], ["end"]]})
    assert reply.status == 200 and reply.chunked and reply.body == b"" and reply.trailers == {}


# -- the Node adapter: a handler written for AWS's Node.js runtime, unmodified ----------------


def test_node_aws_handler_20mb_stream_arrives_byte_for_byte(nodestream: Served) -> None:
    size = 20 * 1000 * 1000 + 17
    reply = nodestream.post({"mode": "big", "size": size})
    assert reply.status == 200 and reply.chunked and reply.header("content-type") == "application/octet-stream"
    pattern = bytes(i % 256 for i in range(102400))
    expected = b"".join(pattern[: min(100_000, size - at)] for at in range(0, size, 100_000))
    assert len(reply.body) == size and reply.body == expected and reply.trailers == {}
    assert len(reply.pieces) > 10


def test_node_first_chunk_reaches_the_serve_caller_while_the_handler_sleeps(nodestream: Served) -> None:
    _came_while_the_handler_slept(nodestream.post({"mode": "slow", "pause": 1.0}), 1.0)


def test_node_http_response_stream_through_a_function_url_style_caller(nodestream: Served) -> None:
    reply = nodestream.post({"mode": "http"})
    assert reply.status == 201
    assert reply.header("content-type") == "text/html" and reply.header("x-custom") == "yes"
    assert reply.header_all("set-cookie") == ["a=1; Path=/", "b=2"]
    assert reply.body == b"<h1>hello</h1> streamed"


def test_node_set_content_type_and_object_writes(nodestream: Served) -> None:
    reply = nodestream.post({"mode": "content-type"})
    assert reply.header("content-type") == "text/csv"
    assert reply.body == b'{"a":1}\n36'


@pytest.mark.parametrize(
    "mode,error_type,partial",
    [("throw-after-write", "Function.TypeError", b"partial;"), ("pipeline-error", "Function.Error", b"some;")],
)
def test_node_failure_after_first_byte_gives_trailers(nodestream: Served, mode: str, error_type: str, partial: bytes) -> None:
    reply = nodestream.post({"mode": mode})
    assert reply.chunked and reply.body == partial
    got_type, doc = _trailer_error(reply)
    assert got_type == error_type, doc
    assert nodestream.post({"mode": "content-type"}).header("content-type") == "text/csv"  # the next one is fine


def test_node_failure_before_first_byte_is_an_ordinary_error(nodestream: Served) -> None:
    reply = nodestream.post({"mode": "throw-before-write"})
    assert not reply.chunked and json.loads(reply.body)["errorType"] == "RangeError"


# -- the Rust adapter: a handler writing to a std::io::Write sink -----------------------------


def test_rust_20mb_stream_arrives_byte_for_byte(ruststream: Served) -> None:
    size = 20 * 1000 * 1000 + 17
    reply = ruststream.post({"mode": "big", "size": size})
    assert reply.status == 200 and reply.chunked
    pattern = bytes(i % 256 for i in range(102400))
    expected = b"".join(pattern[: min(100_000, size - at)] for at in range(0, size, 100_000))
    assert len(reply.body) == size and reply.body == expected and reply.trailers == {}
    assert len(reply.pieces) > 10


def test_rust_first_chunk_reaches_the_serve_caller_while_the_handler_sleeps(ruststream: Served) -> None:
    _came_while_the_handler_slept(ruststream.post({"mode": "slow", "pause": 1.0}), 1.0)


def test_rust_http_prelude_and_iterator(ruststream: Served) -> None:
    reply = ruststream.post({"mode": "http"})
    assert reply.status == 201 and reply.header("content-type") == "text/html" and reply.header("x-custom") == "yes"
    assert reply.header_all("set-cookie") == ["a=1; Path=/", "b=2"] and reply.body == b"<h1>hello</h1> streamed"
    assert ruststream.post({"mode": "iter"}).body == b"a;b;c;"


@pytest.mark.parametrize("mode,error_type", [("fail", "Function.StreamBroke"), ("panic", "Function.Panic")])
def test_rust_failure_after_first_byte_gives_trailers(ruststream: Served, mode: str, error_type: str) -> None:
    reply = ruststream.post({"mode": mode})
    assert reply.chunked and reply.body == b"partial;"
    assert _trailer_error(reply)[0] == error_type
    assert ruststream.post({"mode": "iter"}).body == b"a;b;c;"


# -- the PHP adapter: a handler writing with $out->write() -----------------------------------


def test_php_stream_prelude_and_failure(phpstream: Served) -> None:
    size = 3 * 1000 * 1000 + 5
    reply = phpstream.post({"mode": "big", "size": size})
    pattern = bytes(i % 256 for i in range(102400))
    assert reply.body == b"".join(pattern[: min(100_000, size - at)] for at in range(0, size, 100_000))
    reply = phpstream.post({"mode": "http"})
    assert reply.status == 201 and reply.header("content-type") == "text/html"
    assert reply.header_all("set-cookie") == ["a=1; Path=/", "b=2"] and reply.body == b"<h1>hello</h1> streamed"
    reply = phpstream.post({"mode": "fail"})
    assert reply.body == b"partial;" and _trailer_error(reply)[0] == "Function.DomainException"
    _came_while_the_handler_slept(phpstream.post({"mode": "slow", "pause": 1.0}), 1.0)


# -- failures after the first byte: trailers; before it: an ordinary error ------------------------

MID_STREAM = {
    "error": (["error", "Function.Boom", "it broke"], "Function.Boom", "it broke"),
    "timeout": (["hang"], "Runtime.InvokeTimeout", "Task timed out"),
    "crash": (["exit", 3], "Runtime.ExitError", "exited with status 3"),
    "protocol": (["result", "late"], "Runtime.ProtocolError", "sent `result`"),
    "garbage": (["garbage"], "Runtime.ProtocolError", "printed to stdout"),
    "second_open": (["open", None], "Runtime.ProtocolError", "second `stream_open`"),
    "wrong_id": (["frame", {"type": "stream_chunk", "id": "other", "data": "x"}], "Runtime.ProtocolError", "'other'"),
}


@pytest.mark.parametrize("case", sorted(MID_STREAM))
def test_failure_after_the_first_byte_ends_the_stream_with_trailers(streamer: Served, case: str) -> None:
    step, header_type, message = MID_STREAM[case]
    assert streamer.post({"steps": [["open", None], ["chunk", "warm"], ["end"]]}).body == b"warm"
    sup = streamer.supervisor_pid()
    (worker,) = streamer.worker_pids()
    fds = _open_fds(sup)
    reply = streamer.post({"steps": [["open", "text/plain"], ["chunk", "part-1;"], ["chunk", "part-2;"], step]})
    assert reply.status == 200 and reply.chunked
    assert reply.body == b"part-1;part-2;"
    error_type, doc = _trailer_error(reply)
    assert error_type == header_type
    assert message in str(doc["errorMessage"]), doc
    # The next invocation is fine.
    after = streamer.post({"steps": [["open", None], ["chunk", "next"], ["end"]]})
    assert after.body == b"next" and after.trailers == {}
    if case == "error":
        assert streamer.worker_pids() == [worker]  # a handler error keeps the worker
    else:
        assert wait_gone(worker), f"{case}: the old worker {worker} is still alive"
    # Nothing leaks: the supervisor holds as many descriptors as before.
    deadline = time.monotonic() + 3
    while _open_fds(sup) != fds and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _open_fds(sup) == fds


@pytest.mark.parametrize(
    "step,error_type",
    [
        (["error", "Function.Early", "no bytes yet"], "Function.Early"),
        (["exit", 4], "Runtime.ExitError"),
        (["result", "x"], "Runtime.ProtocolError"),
    ],
)
def test_failure_before_the_first_byte_is_an_ordinary_error(streamer: Served, step: list[object], error_type: str) -> None:
    reply = streamer.post({"steps": [["open", "text/plain"], ["chunk", ""], step]})
    assert not reply.chunked and reply.header("x-amz-function-error") == "Unhandled"
    assert json.loads(reply.body)["errorType"] == error_type
    assert streamer.post({"steps": [["open", None], ["chunk", "ok"], ["end"]]}).body == b"ok"


def test_stream_frames_from_a_worker_that_did_not_announce_stream_are_a_protocol_error(tmp_path: Path) -> None:
    s = Served(tmp_path, [sys.executable, STREAMER], env={"STREAMER_NO_FEATURE": "1"})
    try:
        reply = s.post({"steps": [["open", None], ["chunk", "x"], ["end"]]})
        doc = json.loads(reply.body)
        assert doc["errorType"] == "Runtime.ProtocolError"
        assert "without announcing feature `stream`" in doc["errorMessage"]
    finally:
        s.close()


def test_stream_chunk_before_stream_open_is_a_protocol_error(streamer: Served) -> None:
    reply = streamer.post({"steps": [["chunk", "x"]]})
    doc = json.loads(reply.body)
    assert doc["errorType"] == "Runtime.ProtocolError" and "before `stream_open`" in doc["errorMessage"]


def test_content_type_with_a_line_break_is_refused(streamer: Served) -> None:
    reply = streamer.post({"steps": [["open", "text/plain\r\nX-Evil: 1"], ["chunk", "x"], ["end"]]})
    doc = json.loads(reply.body)
    assert doc["errorType"] == "Runtime.ProtocolError" and "control characters" in doc["errorMessage"]
    assert reply.header("x-evil") is None


# -- the limit, and the supervisor's memory -------------------------------------------


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_200mib_stream_is_cut_at_the_limit_with_bounded_supervisor_memory(streamer: Served) -> None:
    emu = streamer.fn.emu
    assert emu.invoke(json.dumps({"steps": [["open", None], ["bulk", 4 * MIB, 128 * 1024], ["end"]]}).encode()).ok  # warm up
    sup = streamer.supervisor_pid()
    before = _rss_kib(sup)
    peak = [before]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_kib(sup))
            stop.wait(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    total = 0
    result = None
    try:
        event = {"steps": [["open", None], ["bulk", 200 * MIB + 300 * 1024, 128 * 1024], ["end"]]}
        for item in emu.invoke_stream(json.dumps(event).encode(), timeout=120):
            if isinstance(item, bytes):
                total += len(item)
            elif isinstance(item, InvokeResult):
                result = item
    finally:
        stop.set()
        sampler.join()
    assert result is not None and result.ok
    assert total == 200 * MIB, "the body must be cut exactly at Lambda's 200 MiB limit"
    assert result.stream_error_type == "Function.ResponseSizeTooLarge"
    assert b"200 MiB" in (result.stream_error_body or b"") or b"209715200" in (result.stream_error_body or b"")
    growth = peak[0] - before
    assert growth < 8 * 1024, f"the supervisor's RSS grew by {growth} KiB during a 200 MiB stream"
    # The worker was not replaced for it, and serves the next invoke.
    assert emu.invoke(json.dumps({"steps": [["open", None], ["chunk", "again"], ["end"]]}).encode()).body == b"again"


# -- the Runtime API misbehaves mid-stream (tests/faulty_api.py) ------------------------------


@pytest.fixture
def faulty_run(tmp_path: Path):  # type: ignore[no-untyped-def]
    """`dispatcher run` with the streamer worker against a FaultyApi."""
    from faulty_api import FaultyApi

    api = FaultyApi()
    log = open(tmp_path / "runtime.log", "wb")
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
    env["AWS_LAMBDA_RUNTIME_API"] = api.address
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatcher", "run", "--config", str(_config(tmp_path, [sys.executable, STREAMER]))],
        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
    )
    yield api, proc, tmp_path / "runtime.log"
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
    api.close()


def _event(steps: list[object]) -> bytes:
    return json.dumps({"steps": steps}).encode()


def test_streamed_post_carries_the_mode_header_chunks_and_trailers(faulty_run) -> None:  # type: ignore[no-untyped-def]
    from faulty_api import Event

    api, proc, _ = faulty_run
    api.next_actions.put(Event("r1", _event([["open", "text/plain"], ["chunk", "a"], ["chunk", "bc"], ["error", "Function.Late", "x"]])))
    api.next_actions.put(Event("r2", _event([["open", None], ["chunk", "ok"], ["end"]])))
    assert api.wait_for(lambda a: len(a.accepted) == 2)
    first, second = api.accepted
    assert first.headers["lambda-runtime-function-response-mode"] == "streaming"
    assert first.headers["content-type"] == "text/plain" and first.body == b"abc"
    assert first.trailers["lambda-runtime-function-error-type"] == "Function.Late"
    assert json.loads(base64.b64decode(first.trailers["lambda-runtime-function-error-body"]))["errorType"] == "Function.Late"
    assert second.body == b"ok" and second.trailers == {}
    assert second.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize("status", [413, None], ids=["answered-413", "reset"])
def test_api_gives_up_mid_stream_then_the_next_event_is_served(faulty_run, status: int | None) -> None:  # type: ignore[no-untyped-def]
    from faulty_api import Event, MidStream

    api, proc, log = faulty_run
    api.stream_actions.put(MidStream(status, after=300_000))
    api.next_actions.put(Event("r1", _event([["open", None], ["bulk", 3 * MIB, 128 * 1024], ["end"]])))
    api.next_actions.put(Event("r2", _event([["open", None], ["chunk", "next"], ["end"]])))
    assert api.wait_for(lambda a: any(r.path.endswith("/r2/response") and r.answered == 202 for r in a.received)), log.read_text()
    cut = [r for r in api.received if "/r1/" in r.path]
    assert len(cut) == 1 and 300_000 <= len(cut[0].body) < 3 * MIB  # not retried: a stream cannot be replayed
    text = log.read_text()
    # Noticed mid-stream, or (when the worker was faster) as the answer to the whole post.
    assert ("answered 413" in text and "for r1" in text) if status else ("for r1" in text), text
    assert proc.poll() is None


def test_sigterm_mid_stream_ends_it_with_trailers_within_the_grace(streamer: Served) -> None:
    emu = streamer.fn.emu
    items = emu.invoke_stream(_event([["open", None], ["chunk", "first;"], ["hang"]]))
    assert isinstance(next(items), StreamStart)
    assert next(items) == b"first;"  # the stream is under way
    sup = streamer.supervisor_pid()
    (worker,) = streamer.worker_pids()
    os.kill(sup, 15)
    result = next(items)
    assert isinstance(result, InvokeResult) and result.stream_error_type == "Runtime.ExitError"
    assert b"shutting down" in (result.stream_error_body or b"")
    assert wait_gone(worker) and wait_gone(sup)


# -- `dispatcher invoke` ---------------------------------------------------------------


def test_invoke_writes_the_body_to_stdout_and_the_prelude_to_stderr(tmp_path: Path) -> None:
    from conftest import run_cli

    config = _config(tmp_path, [sys.executable, "-m", "dispatcher_worker", "app:handler"], str(WORKERS / "pystream"))
    done = run_cli("invoke", "--config", str(config), json.dumps({"mode": "http"}))
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"<h1>hello</h1> streamed"
    assert b"HTTP 201; content-type: text/html; x-custom: yes; Set-Cookie: a=1; Path=/; Set-Cookie: b=2" in done.stderr


def test_invoke_reports_an_error_after_the_first_byte_with_status_1(tmp_path: Path) -> None:
    from conftest import run_cli

    config = _config(tmp_path, [sys.executable, STREAMER])
    done = run_cli("invoke", "--config", str(config), json.dumps({"steps": [["open", None], ["chunk", "part;"], ["error", "Function.Late", "broke"]]}))
    assert done.returncode == 1
    assert done.stdout == b"part;"
    assert b"the stream ended with an error (Function.Late)" in done.stderr and b"broke" in done.stderr


def test_node_stream_example_runs_under_invoke() -> None:
    from conftest import EXAMPLES, run_cli

    require_tool("node", "apt-get install nodejs npm")
    done = run_cli("invoke", "--config", str(EXAMPLES / "node-stream" / "dispatcher.yaml"), '{"count":2}')
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"line 1 of 2\nline 2 of 2\n"
    assert b"HTTP 200; content-type: text/plain; charset=utf-8" in done.stderr and b"Set-Cookie: visited=yes; Path=/" in done.stderr


def test_emulator_refuses_a_streamed_answer_over_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A runtime that streams past the limit (the supervisor never does: it cuts
    first) gets 413, and the caller Function.ResponseSizeTooLarge."""
    import socket

    from dispatcher.emulator import Emulator
    from dispatcher.emulator import streamed as streamed_module

    monkeypatch.setattr(streamed_module, "MAX_STREAMED", 1000)  # the limit, scaled down for the test
    with Emulator(runtime_argv=[]) as emu:
        host, port = emu.address.split(":")
        results: list[InvokeResult] = []
        caller = threading.Thread(target=lambda: results.append(emu.invoke(b"{}")))
        caller.start()
        sock = socket.create_connection((host, int(port)))
        sock.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        rid = next(line.split(b": ")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"lambda-runtime-aws-request-id"))
        sock.sendall(
            b"POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\n"
            b"Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n\r\n" % rid
        )
        answer = b""
        try:
            for _ in range(10):
                sock.sendall(b"200\r\n" + b"x" * 512 + b"\r\n")
        except OSError:
            pass  # the emulator answered and closed: the rest is not read
        sock.settimeout(5)
        while b"\r\n\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
        assert answer.startswith(b"HTTP/1.1 413 "), answer
        sock.close()
        sock = socket.create_connection((host, int(port)))
        sock.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")  # completes the invoke
        caller.join(10)
        sock.close()
    (result,) = results
    assert result.outcome == "too_large" and result.error_type == "Function.ResponseSizeTooLarge"


def test_stream_is_not_offered_with_several_slots(tmp_path: Path) -> None:
    """With concurrency above 1 the relay would stall the other slots: the
    supervisor does not offer `stream`, and the adapter says so."""
    from dispatcher.emulator import Emulator

    config = tmp_path / "dispatcher.yaml"
    config.write_text(json.dumps({"workers": {"w": {
        "command": [sys.executable, "-m", "dispatcher_worker", "app:handler"],
        "cwd": str(WORKERS / "pystream"),
        "concurrency": "auto",
    }}}))
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
    with Emulator(
        runtime_argv=[sys.executable, "-m", "dispatcher", "run", "--config", str(config)],
        env=env, task_root=str(tmp_path), concurrency=2,
    ) as emu:
        result = emu.invoke(json.dumps({"mode": "async"}).encode())
        assert result.outcome == "error" and result.error_type == "Runtime.MarshalError", result.body
        assert b"did not announce feature `stream`" in result.body
        assert emu.invoke(json.dumps({"mode": "list"}).encode()).body == b"[1,2,3]"
