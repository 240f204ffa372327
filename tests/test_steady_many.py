"""The N-slot straight line (dispatcher/steady_many.py) with real processes:
the supervisor, run by tests/probe_steady.py so that it says at exit how
much of the serving its straight line did, against tests/faulty_api.py (a
Runtime API that holds any number of GET /next open, as LMI does) and
tests/workers/multiplex.py: one worker announcing `multiplex`, or a pool of
N plain ones (each test runs with both).

Each test first proves the line served (so the fault below hits the line,
not the general path), then breaks something the line must hand to the core:
every event is still answered exactly once, and the line takes over again."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

import pytest

from conftest import WORKERS
from faulty_api import Event, FaultyApi, Reset, Status
from test_api_faults import Runtime
from test_concurrency import answered, hang_while_others_serve, queue

MULTIPLEX = str(WORKERS / "multiplex.py")
PROBE = str(Path(__file__).parent / "probe_steady.py")


@pytest.fixture(params=["multiplex", "pool"])
def lmi(tmp_path: Path, request):  # type: ignore[no-untyped-def]
    """One worker announcing `multiplex`, or a pool of N plain ones."""
    made: list[tuple[FaultyApi, Runtime]] = []

    def make(slots: int = 2, **opts: object) -> tuple[FaultyApi, Runtime]:
        api = FaultyApi()
        env = {"AWS_LAMBDA_MAX_CONCURRENCY": str(slots), "MULTIPLEX": "on" if request.param == "multiplex" else "off"}
        rt = Runtime(tmp_path, api.address, env, launcher=[sys.executable, PROBE], command=[sys.executable, MULTIPLEX], **opts)
        made.append((api, rt))
        assert api.wait_for(lambda a: a.next_calls() >= slots, 15), rt.logs()
        return api, rt

    yield make
    for api, rt in made:
        rt.close()
        api.close()


def probe(rt: Runtime) -> dict[str, int]:
    """Stop the supervisor; what its straight line did."""
    rt.proc.send_signal(signal.SIGTERM)
    assert rt.wait(10) == 0, rt.logs()
    m = re.search(r"probe: entered=(\d+) served=(\d+) handed_over=(\d+)", rt.logs())
    assert m, rt.logs()
    return {"entered": int(m[1]), "served": int(m[2]), "handed_over": int(m[3])}


def serve(api: FaultyApi, prefix: str, count: int, sleep: float = 0.0) -> None:
    rids = [f"{prefix}{i}" for i in range(count)]
    for rid in rids:
        queue(api, rid, {"sleep": sleep})
    assert all(kind == "response" for kind, _ in answered(api, rids).values())


def test_the_line_serves_a_multiplexed_worker_and_answers_each_event_once(lmi) -> None:  # type: ignore[no-untyped-def]
    api, rt = lmi(2)
    serve(api, "e", 300)
    seen = probe(rt)
    # The first answers load msgpack on the general path; then the line serves.
    assert seen["entered"] >= 1 and seen["served"] >= 290, seen
    assert len(api.posts()) == 300


def test_a_post_answered_410_is_logged_and_the_line_goes_on(lmi) -> None:  # type: ignore[no-untyped-def]
    api, rt = lmi(2)
    serve(api, "warm", 10)
    api.post_actions.put(Status(410, error_type="InvokeTimeout"))
    serve(api, "after", 50)
    assert len(re.findall(r"answered 410 for after\d+", rt.logs())) == 1, rt.logs()
    seen = probe(rt)
    assert seen["entered"] >= 2 and seen["served"] >= 50, seen  # left for the 410, then back


def test_a_post_reset_is_retried_once_on_a_new_connection(lmi) -> None:  # type: ignore[no-untyped-def]
    api, rt = lmi(2)
    serve(api, "warm", 10)
    api.post_actions.put(Reset())
    rids = [f"after{i}" for i in range(50)]
    for rid in rids:
        queue(api, rid, {"sleep": 0.0})
    assert api.wait_for(lambda a: all(any(p.answered == 202 for p in a.posts(r)) for r in rids), 15)
    assert sorted(len(api.posts(r)) for r in rids) == [1] * 49 + [2]
    twice = next(r for r in rids if len(api.posts(r)) == 2)
    assert [p.answered for p in api.posts(twice)] == [None, 202]  # read and reset, then the retry accepted
    assert "retrying once on a new connection" in rt.logs()
    seen = probe(rt)
    assert seen["entered"] >= 2 and seen["served"] >= 49, seen


@pytest.mark.parametrize("how", ["drop", "close"])
def test_a_connection_the_api_closes_is_replaced_and_the_line_comes_back(lmi, how: str) -> None:  # type: ignore[no-untyped-def]
    # drop: the API closes a slot's connection (no Connection: close said)
    # while the event it handed out runs: the line closes its end and steps
    # aside.  close: the event says Connection: close.  Either way the answer
    # goes out on a new connection, and the line serves again.
    api, rt = lmi(2)
    serve(api, "warm", 10)
    api.next_actions.put(Event("cut", b'{"sleep": 0.3}', **{how: True}))  # type: ignore[arg-type]
    assert answered(api, ["cut"])["cut"][0] == "response" and api.posts("cut")[0].answered == 202
    serve(api, "after", 50)
    seen = probe(rt)
    assert seen["entered"] >= 2 and seen["served"] >= 50, seen


def test_a_hang_is_answered_at_its_deadline_while_the_line_serves_the_other_slots(lmi, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api, rt = lmi(3, timeout_margin="100ms")
    serve(api, "warm", 10)  # the line serves when the hang comes
    hang_while_others_serve(api, tmp_path / "hang", 0.01)
    serve(api, "after", 20)  # a fresh worker: the old one drained and was stopped
    seen = probe(rt)
    assert seen["handed_over"] >= 1 and seen["served"] >= 12, seen


def test_stderr_lines_of_a_multiplexed_worker_are_forwarded_from_the_line(lmi, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api, rt = lmi(2)
    serve(api, "warm", 10)
    rids = [f"log{i}" for i in range(30)]
    for rid in rids:
        queue(api, rid, {"sleep": 0.0, "log": f"line for {rid}"})
    answered(api, rids)
    logs = rt.logs()
    assert all(f"line for {rid}\n" in logs for rid in rids), logs
    seen = probe(rt)
    assert seen["served"] >= 30, seen


def test_the_line_echoes_lambda_runtime_invocation_id(lmi) -> None:  # type: ignore[no-untyped-def]
    # Lambda sends a per-invoke Lambda-Runtime-Invocation-Id on /next; every
    # post must carry it back (the line posts from a template that holds it).
    api, rt = lmi(2)
    rids = [f"i{n}" for n in range(40)]
    for rid in rids:
        api.next_actions.put(Event(rid, b'{"sleep": 0}', extra_headers=b"Lambda-Runtime-Invocation-Id: id-of-%s\r\n" % rid.encode()))
    assert api.wait_for(lambda a: all(a.posts(r) for r in rids), 15)
    for rid in rids:
        (post,) = api.posts(rid)
        assert post.headers.get("lambda-runtime-invocation-id") == f"id-of-{rid}", post.headers
    seen = probe(rt)
    assert seen["served"] >= 30, seen
