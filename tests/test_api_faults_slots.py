"""Runtime API faults on posts with N slots: the real supervisor (`python -m
dispatcher run`, two slots, a pool of two workers) against tests/faulty_api.py.

With more than one slot a post's answer (202) is read when the slot's socket
polls readable instead of by a blocking read right after the post
(dispatcher/post_side.py); the rules for that answer must be the ones the
one-slot path applies (tests/test_api_faults.py): a reset retries the post
once alone on a new connection, 400/403 to that retry mean "already
answered", 413/400/403/410 are logged and the loop goes on, `Connection:
close` costs the pipelined GET /next, which is sent again, 5xx ends the
process.  Each test hands out one event at a time where the scripted post
answer must meet a given post (the other slot waits on an empty /next).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from faulty_api import FaultyApi, Raw, Reset, Status
from test_api_faults import accepted_ids, api, runtime, wait_accepted  # noqa: F401 - fixtures
from test_faults import wait_no_marked
from test_supervisor import write_config

SLOTS = {"AWS_LAMBDA_MAX_CONCURRENCY": "2"}


def served_by_two_slots(a: FaultyApi) -> None:
    """Both slots have called /next: the supervisor serves two slots."""
    assert a.wait_for(lambda x: x.next_calls() >= 2), f"one /next only: {a.received}"


def test_reset_during_post_is_retried_once(api, runtime) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address, env=SLOTS)
    served_by_two_slots(a)
    a.post_actions.put(Reset())
    a.events("r1")
    wait_accepted(a, "r1")
    first, second = a.posts("r1")
    assert first.answered is None and second.answered == 202
    assert first.body == second.body == b"{}" and first.path == second.path
    assert "retrying once on a new connection" in rt.logs()
    a.events("r2", "r3")  # both slots serve on
    wait_accepted(a, "r2", "r3")
    assert [len(a.posts(r)) for r in ("r1", "r2", "r3")] == [2, 1, 1]
    assert rt.alive


@pytest.mark.parametrize("status, error_type", [(400, "InvalidRequestID"), (403, "InvalidStateTransition")])
def test_reset_then_already_answered_counts_as_answered(api, runtime, status: int, error_type: str) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address, env=SLOTS)
    served_by_two_slots(a)
    a.post_actions.put(Reset())
    a.post_actions.put(Status(status, error_type=error_type))
    a.events("r1")
    assert a.wait_for(lambda x: len(x.posts("r1")) == 2), a.received
    a.events("r2")
    wait_accepted(a, "r2")
    assert [p.answered for p in a.posts("r1")] == [None, status]
    assert all(p.path.endswith("/response") for p in a.posts("r1"))  # no /error after it
    assert f"answered {status}" not in rt.logs()
    assert rt.alive


def test_reset_twice_during_post_goes_on(api, runtime) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address, env=SLOTS)
    served_by_two_slots(a)
    a.post_actions.put(Reset())
    a.post_actions.put(Reset())
    a.events("r1")
    assert a.wait_for(lambda x: len(x.posts("r1")) == 2), a.received
    a.events("r2", "r3")
    wait_accepted(a, "r2", "r3")
    assert len(a.posts("r1")) == 2  # once, retried once, no more
    assert "failed twice" in rt.logs()
    assert rt.alive


@pytest.mark.parametrize(
    "status, error_type",
    [(400, "InvalidRequestID"), (403, "InvalidStateTransition"), (410, "InvokeTimeout"), (413, "RequestEntityTooLarge")],
)
def test_rejected_post_is_logged_and_loop_goes_on(api, runtime, status: int, error_type: str) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address, env=SLOTS)
    served_by_two_slots(a)
    a.post_actions.put(Status(status, error_type=error_type))
    a.events("r1")
    assert a.wait_for(lambda x: len(x.posts("r1")) == 1), a.received
    a.events("r2", "r3")
    wait_accepted(a, "r2", "r3")
    assert [(p.path.rsplit("/", 1)[1], p.answered) for p in a.posts("r1")] == [("response", status)]  # not retried, no /error
    logs = rt.logs()
    assert f"answered {status} for r1" in logs and error_type in logs  # with the body
    assert rt.alive


def test_connection_close_on_the_posts_answer_sends_next_again(api, runtime) -> None:  # type: ignore[no-untyped-def]
    """The GET /next pipelined behind the post is lost with the connection:
    the slot sends it again on a new one and goes on serving."""
    a = api()
    rt = runtime(a.address, env=SLOTS)
    served_by_two_slots(a)
    a.post_actions.put(Status(202, close=True))
    a.events("r1")
    wait_accepted(a, "r1")
    a.events("r2", "r3")
    wait_accepted(a, "r2", "r3")
    assert [len(a.posts(r)) for r in ("r1", "r2", "r3")] == [1, 1, 1]
    assert rt.alive


def test_500_on_a_post_exits_nonzero(api, runtime) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address, env=SLOTS)
    served_by_two_slots(a)
    a.post_actions.put(Status(500, b'{"errorMessage":"container trouble","errorType":"InternalServerError"}'))
    a.events("r1")
    assert rt.wait(10) != 0
    logs = rt.logs()
    assert "answered 500 to a post" in logs and "container trouble" in logs
    assert accepted_ids(a) == []


def test_a_post_never_answered_is_cut_off_and_retried_once(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One slot's blocking read would give up after POST_TIMEOUT (the socket's
    timeout); with N slots the same limit runs on the poll loop's clock."""
    a = api()
    marker = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
    env.update(SLOTS, AWS_LAMBDA_RUNTIME_API=a.address, DISPATCHER_TEST_RUN=marker)
    # Fault injection: the post timeout (30 s) cut to half a second for this process.
    code = "import sys, dispatcher.post_side as p; p.POST_TIMEOUT = 0.5; from dispatcher.cli import main; sys.exit(main())"
    log = tmp_path / "runtime.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code, "run", "--config", str(write_config(tmp_path))],
                                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=tmp_path)
    try:
        served_by_two_slots(a)
        a.post_actions.put(Raw(b""))  # the post is read and never answered
        a.events("r1")
        assert a.wait_for(lambda x: len(x.posts("r1")) == 2), a.received
        first, second = a.posts("r1")
        assert first.answered is None and second.answered == 202 and first.body == second.body
        # Two slots' first GET /next, the one pipelined behind the unanswered
        # post, and the slot's GET /next on a new connection after the retry.
        assert a.wait_for(lambda x: x.next_calls() >= 4), a.received
        text = log.read_text(errors="replace")
        assert "did not answer within" in text and "retrying once on a new connection" in text
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(10)
    assert not wait_no_marked(marker), "a worker outlived its supervisor"
