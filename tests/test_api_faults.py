"""Issue #5, Runtime API faults: the real supervisor (`python -m dispatcher run`)
against tests/faulty_api.py, a Runtime API that resets connections, cuts
bodies short and answers with the statuses Lambda uses for trouble.

The promise under test: each event handed out is answered once (a 202, or a
status Lambda documents as "already answered"); the loop goes on after what
Lambda says to log, and the supervisor exits non-zero (with a message
saying why) where Lambda says the runtime should exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from faulty_api import CutBody, FaultyApi, Raw, Reset, Status, refused_address
from test_faults import wait_no_marked
from test_supervisor import write_config


class Runtime:
    """`python -m dispatcher run` on a config, against a given Runtime API address."""

    def __init__(self, tmp_path: Path, address: str, env: dict[str, str] | None = None,
                 launcher: list[str] | None = None, **opts: object) -> None:
        """`launcher`: what runs `run --config ...` (default `python -m dispatcher`)."""
        config = write_config(tmp_path, **opts)
        self.marker = uuid.uuid4().hex
        self.log_path = tmp_path / "runtime.log"
        self.log = open(self.log_path, "wb")
        full = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
        full.update(env or {})
        full.update(AWS_LAMBDA_RUNTIME_API=address, DISPATCHER_TEST_RUN=self.marker)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            (launcher or [sys.executable, "-m", "dispatcher", "run"]) + ["--config", str(config)],
            env=full, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, cwd=tmp_path,
        )

    def wait(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def logs(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        assert not wait_no_marked(self.marker), "a worker outlived its supervisor"


@pytest.fixture
def api():  # type: ignore[no-untyped-def]
    made: list[FaultyApi] = []

    def make(**kw: object) -> FaultyApi:
        a = FaultyApi(**kw)  # type: ignore[arg-type]
        made.append(a)
        return a

    yield make
    for a in made:
        a.close()


@pytest.fixture
def runtime(tmp_path: Path):  # type: ignore[no-untyped-def]
    made: list[Runtime] = []

    def make(address: str, **kw: object) -> Runtime:
        rt = Runtime(tmp_path, address, **kw)  # type: ignore[arg-type]
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.close()


def accepted_ids(api: FaultyApi) -> list[str]:
    return [r.path.split("/")[-2] for r in api.accepted]


def wait_accepted(api: FaultyApi, *ids: str, timeout: float = 10.0) -> None:
    ok = api.wait_for(lambda a: all(i in accepted_ids(a) for i in ids), timeout)
    assert ok, f"not answered: {[i for i in ids if i not in accepted_ids(api)]}; received: {api.received}"


# -- connecting ---------------------------------------------------------------------


def test_connection_refused_at_startup_exits_nonzero(runtime) -> None:  # type: ignore[no-untyped-def]
    sock, address = refused_address()
    try:
        rt = runtime(address)
        code = rt.wait(20)
    finally:
        sock.close()
    elapsed = time.monotonic() - rt.started
    assert code != 0
    assert elapsed < 10, "the retry is not bounded"
    logs = rt.logs()
    assert f"the Runtime API at {address} is unreachable after 5 retries" in logs, logs
    assert "Connection refused" in logs


def test_connection_refused_briefly_then_served(runtime) -> None:  # type: ignore[no-untyped-def]
    sock, address = refused_address()
    rt = runtime(address)
    end = time.monotonic() + 10
    while "retry 1/5" not in rt.logs() and time.monotonic() < end:  # a refused attempt or two
        time.sleep(0.01)
    api = FaultyApi(sock)
    try:
        api.events("r1")
        wait_accepted(api, "r1")
        assert rt.alive
        assert "retry" in rt.logs()
        rt.close()  # before the API goes away (see test_sigterm_while_api_refuses_connections)
    finally:
        api.close()


@pytest.mark.parametrize("status", [403, 404])
def test_extension_register_refused_goes_on(api, runtime, status: int) -> None:  # type: ignore[no-untyped-def]
    a = api(register_status=status)
    rt = runtime(a.address)
    a.events("r1")
    wait_accepted(a, "r1")
    assert f"extension registration refused ({status})" in rt.logs()
    assert rt.alive


def test_sigterm_while_api_refuses_connections(runtime) -> None:  # type: ignore[no-untyped-def]
    sock, address = refused_address()
    try:
        rt = runtime(address, shutdown_grace="300ms")
        end = time.monotonic() + 5
        while "retry 1/5" not in rt.logs() and time.monotonic() < end:
            time.sleep(0.02)
        t0 = time.monotonic()
        rt.proc.send_signal(signal.SIGTERM)
        code = rt.wait(10)
    finally:
        sock.close()
    assert time.monotonic() - t0 < 1.0
    assert code == 0 and "SIGTERM received" in rt.logs()


# -- resets ------------------------------------------------------------------------------


def test_reset_during_next_is_retried(api, runtime) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address)
    a.next_actions.put(Reset())
    a.events("r1", "r2")
    wait_accepted(a, "r1", "r2")
    assert [len(a.posts(r)) for r in ("r1", "r2")] == [1, 1]
    assert "retry 1/5" in rt.logs()
    assert rt.alive


def test_reset_during_post_is_retried_once(api, runtime) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address)
    a.post_actions.put(Reset())
    a.events("r1", "r2")
    wait_accepted(a, "r1", "r2")
    first, second = a.posts("r1")
    assert first.answered is None and second.answered == 202
    assert first.body == second.body == b"{}" and first.path == second.path
    assert "retrying once on a new connection" in rt.logs()
    assert len(a.posts("r2")) == 1


@pytest.mark.parametrize("status, error_type", [(400, "InvalidRequestID"), (403, "InvalidStateTransition")])
def test_reset_then_already_answered_counts_as_answered(api, runtime, status: int, error_type: str) -> None:  # type: ignore[no-untyped-def]
    """The first post got through before the reset: the retry hears 400/403,
    which means "already answered", so nothing more is posted for it."""
    a = api()
    rt = runtime(a.address)
    a.post_actions.put(Reset())
    a.post_actions.put(Status(status, error_type=error_type))
    a.events("r1", "r2")
    wait_accepted(a, "r2")
    assert [p.answered for p in a.posts("r1")] == [None, status]
    assert all(p.path.endswith("/response") for p in a.posts("r1"))  # no /error after it
    assert f"answered {status}" not in rt.logs()
    assert rt.alive


def test_reset_twice_during_post_goes_on(api, runtime) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address)
    a.post_actions.put(Reset())
    a.post_actions.put(Reset())
    a.events("r1", "r2")
    wait_accepted(a, "r2")
    assert len(a.posts("r1")) == 2  # once, retried once, no more
    assert "failed twice" in rt.logs()
    assert rt.alive


# -- statuses ------------------------------------------------------------------------------


def test_500_on_next_exits_nonzero(api, runtime) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address)
    a.events("r1")
    wait_accepted(a, "r1")
    a.next_actions.put(Status(500, b'{"errorMessage":"container trouble","errorType":"InternalServerError"}'))
    assert rt.wait(10) != 0
    logs = rt.logs()
    assert "GET /next answered 500" in logs and "container trouble" in logs


def test_413_on_response_posts_no_error(api, runtime) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address)
    a.post_actions.put(Status(413, error_type="RequestEntityTooLarge"))
    a.events("r1", "r2")
    wait_accepted(a, "r2")
    posts = a.posts("r1")
    assert [(p.path.rsplit("/", 1)[1], p.answered) for p in posts] == [("response", 413)]  # no /error after it
    assert "413" in rt.logs()
    assert rt.alive


@pytest.mark.parametrize(
    "status, error_type",
    [(400, "InvalidRequestID"), (403, "InvalidStateTransition"), (410, "InvokeTimeout")],
)
def test_rejected_post_is_logged_and_loop_goes_on(api, runtime, status: int, error_type: str) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address)
    a.post_actions.put(Status(status, error_type=error_type))
    a.events("r1", "r2")
    wait_accepted(a, "r2")
    assert [p.answered for p in a.posts("r1")] == [status]  # not retried
    logs = rt.logs()
    assert f"answered {status} for r1" in logs and error_type in logs  # with the body
    assert rt.alive


def test_next_body_cut_short_is_unmarshal_error(api, runtime) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address)
    a.next_actions.put(CutBody("r1", b'{"name": "Ada", "pad": "xxxxxxxx"}', keep=5))
    a.events("r2")
    wait_accepted(a, "r2")
    assert rt.alive
    wait_accepted(a, "r1", timeout=2)
    (post,) = a.posts("r1")
    assert post.path.endswith("/error")
    assert json.loads(post.body)["errorType"] == "Runtime.UnmarshalError"
    assert post.headers["lambda-runtime-function-error-type"] == "Runtime.UnmarshalError"


def test_next_header_block_over_limit_exits_nonzero(api, runtime) -> None:  # type: ignore[no-untyped-def]
    """An endless header block is refused at 64 KiB, not buffered without bound."""
    a = api()
    rt = runtime(a.address)
    a.next_actions.put(Raw(b"HTTP/1.1 200 OK\r\nX-Filler: " + b"a" * 200_000 + b"\r\n\r\n"))
    assert rt.wait(10) != 0
    logs = rt.logs()
    assert "malformed response to GET /next" in logs, logs


def test_crash_loop_exits_nonzero(api, runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """After 5 starts in a row that never reach `ready`, `dispatcher run`
    exits 1 so that Lambda re-runs init; every event handed out before that
    was answered at once with the last start error."""
    control = tmp_path / "start"
    control.write_text("")
    a = api()
    rt = runtime(a.address, env={"FAULTY_START_FILE": str(control)})
    a.events("ok")
    wait_accepted(a, "ok")
    control.write_text("exit_before_ready")
    i = 0
    end = time.monotonic() + 20
    # Events back to back: during a backoff each is answered at once; after it
    # the next one starts a worker that fails, until the fifth in a row.
    while rt.alive and time.monotonic() < end:
        i += 1
        a.events(f"e{i}", body=b'{"fault": "exit", "code": 1}')
        a.wait_for(lambda s: f"e{i}" in accepted_ids(s) or rt.proc.poll() is not None, 5)
    assert rt.wait(5) == 1
    assert sorted(a.handed_out) == sorted(accepted_ids(a))  # each answered, once
    for rid in a.handed_out[1:]:
        doc = json.loads(a.posts(rid)[0].body)
        assert doc["errorType"] == "Runtime.ExitError"
    assert "failed to start 5 times in a row" in rt.logs()
