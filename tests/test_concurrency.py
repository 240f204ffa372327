"""N slots with real processes: the supervisor (`python -m dispatcher run`,
`concurrency: 4`) against tests/faulty_api.py, a Runtime API that holds any
number of GET /next open at once (as Lambda Managed Instances do) and hands
each queued event to one of them.  Workers are tests/workers/multiplex.py:
a pool of plain workers, or one worker that announces `multiplex`.

These are the proof that the driver performs the core's decisions
faithfully; the decisions themselves are covered in tests/test_core.py."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import pytest

from conftest import WORKERS
from faulty_api import Event, FaultyApi
from harness import all_gone
from test_api_faults import Runtime

MULTIPLEX = str(WORKERS / "multiplex.py")


@pytest.fixture
def lmi(tmp_path: Path):  # type: ignore[no-untyped-def]
    made: list[tuple[FaultyApi, Runtime]] = []

    def make(slots: int = 4, multiplex: bool = False, **opts: object) -> tuple[FaultyApi, Runtime]:
        api = FaultyApi()
        env = {"AWS_LAMBDA_MAX_CONCURRENCY": str(slots), "MULTIPLEX": "on" if multiplex else "off"}
        rt = Runtime(tmp_path, api.address, env, command=[sys.executable, MULTIPLEX], **opts)
        made.append((api, rt))
        assert api.wait_for(lambda a: a.next_calls() >= slots, 15), rt.logs()  # one GET /next per slot
        return api, rt

    yield make
    for api, rt in made:
        rt.close()
        api.close()


def queue(api: FaultyApi, rid: str, event: dict[str, object], timeout: float = 10.0) -> None:
    api.next_actions.put(Event(rid, json.dumps(event).encode(), deadline_ms=int((time.time() + timeout) * 1000)))


def answered(api: FaultyApi, rids: list[str], timeout: float = 15.0) -> dict[str, tuple[str, dict]]:  # type: ignore[type-arg]
    """rid -> ("response" | "error", body) once every rid was answered."""
    assert api.wait_for(lambda a: all(a.posts(r) for r in rids), timeout), f"unanswered: {[r for r in rids if not api.posts(r)]}"
    out = {}
    for r in rids:
        posts = api.posts(r)
        assert len(posts) == 1, f"{r} answered {len(posts)} times"
        out[r] = (posts[0].path.rsplit("/", 1)[1], json.loads(posts[0].body))
    return out


def max_overlap(bodies: list[dict]) -> int:  # type: ignore[type-arg]
    """The most handlers running at one moment, from their start/end times."""
    edges = sorted([(b["start"], 1) for b in bodies] + [(b["end"], -1) for b in bodies])
    best = cur = 0
    for _, step in edges:
        cur += step
        best = max(best, cur)
    return best


@pytest.mark.parametrize("multiplex", [False, True], ids=["pool", "multiplex"])
def test_sixteen_200ms_invocations_run_four_at_a_time(lmi, multiplex: bool) -> None:  # type: ignore[no-untyped-def]
    api, rt = lmi(4, multiplex)
    rids = [f"e{i}" for i in range(16)]
    t0 = time.monotonic()
    for rid in rids:
        queue(api, rid, {"sleep": 0.2, "tag": rid})
    got = answered(api, rids)
    elapsed = time.monotonic() - t0
    assert all(kind == "response" for kind, _ in got.values()), got
    bodies = [body for _, body in got.values()]
    assert max_overlap(bodies) == 4  # four at once, never more
    assert len({b["pid"] for b in bodies}) == (1 if multiplex else 4)
    # One at a time would take 16 x 0.2 s = 3.2 s at the very least.
    assert elapsed < 3.2, f"took {elapsed:.2f}s"
    assert rt.alive


def wait_running(marks: list[Path], timeout: float = 10.0) -> None:
    """The invocations that write these marks are running in their workers
    (handed out by the API is earlier: the supervisor may not have read them)."""
    end = time.monotonic() + timeout
    while not all(m.exists() for m in marks):
        assert time.monotonic() < end, f"not running: {[m.name for m in marks if not m.exists()]}"
        time.sleep(0.01)


def test_a_crash_in_one_slot_costs_only_its_invocation(lmi, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api, rt = lmi(4)
    for i in range(3):
        queue(api, f"ok{i}", {"sleep": 0.4, "mark": str(tmp_path / f"ok{i}")})
    wait_running([tmp_path / f"ok{i}" for i in range(3)])
    queue(api, "boom", {"crash": True})
    got = answered(api, ["boom", "ok0", "ok1", "ok2"])
    assert got["boom"][0] == "error" and got["boom"][1]["errorType"] == "Runtime.ExitError"
    assert "exited with status 3 during the invocation" in got["boom"][1]["errorMessage"]
    assert all(got[f"ok{i}"][0] == "response" for i in range(3))
    for i in range(4):  # all four slots serve again
        queue(api, f"after{i}", {"sleep": 0.05})
    assert all(kind == "response" for kind, _ in answered(api, [f"after{i}" for i in range(4)]).values())


def hang_while_others_serve(api: FaultyApi, mark: Path, sleep: float) -> None:
    """A hang (1.5 s deadline) held by a worker, then 12 events of `sleep` s:
    the hang is answered Sandbox.Timedout, every other one before it, each its own response."""
    queue(api, "hang", {"hang": True, "mark": str(mark)}, timeout=1.5)
    wait_running([mark])  # held by a worker (handed out is before the supervisor read it)
    others = [f"q{i}" for i in range(12)]
    for rid in others:
        queue(api, rid, {"sleep": sleep})
    got = answered(api, others + ["hang"])
    assert got["hang"][1]["errorType"] == "Sandbox.Timedout"
    hang_post = api.posts("hang")[0].at
    assert all(api.posts(r)[0].at < hang_post for r in others), "the others waited for the hung slot"
    assert all(kind == "response" for r, (kind, _) in got.items() if r != "hang")


def test_a_hang_in_one_slot_is_answered_at_its_deadline_while_the_others_serve(lmi, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api, rt = lmi(4, timeout_margin="100ms")
    hang_while_others_serve(api, tmp_path / "hang", 0.05)


def test_multiplexed_worker_missing_one_deadline_finishes_the_others_first(lmi) -> None:  # type: ignore[no-untyped-def]
    api, rt = lmi(4, multiplex=True, timeout_margin="100ms")
    queue(api, "first", {"sleep": 0.05})
    pid = answered(api, ["first"])["first"][1]["pid"]
    queue(api, "hang", {"hang": True}, timeout=0.6)
    queue(api, "slow", {"sleep": 1.2})
    got = answered(api, ["hang"])
    assert got["hang"][1]["errorType"] == "Sandbox.Timedout"
    queue(api, "new", {"sleep": 0.01})  # goes to a fresh worker: the old one takes no more
    new = answered(api, ["new", "slow"])
    assert new["slow"][0] == "response" and new["slow"][1]["pid"] == pid  # answered by the old worker
    assert new["new"][1]["pid"] != pid
    assert all_gone([pid]) == [], "the drained worker was not stopped"


def test_sigterm_drains_every_slot_within_one_budget(lmi, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api, rt = lmi(4, shutdown_grace="600ms")
    rids = [f"h{i}" for i in range(3)]
    for rid in rids:
        queue(api, rid, {"hang": True, "mark": str(tmp_path / rid)})
    queue(api, "quick", {"sleep": 0.1, "mark": str(tmp_path / "quick")})
    wait_running([tmp_path / r for r in rids + ["quick"]])
    t0 = time.monotonic()
    rt.proc.send_signal(signal.SIGTERM)
    assert rt.wait(5) == 0
    assert time.monotonic() - t0 < 1.5
    got = answered(api, rids + ["quick"], timeout=1)
    assert got["quick"][0] == "response"
    for rid in rids:
        assert got[rid][1]["errorType"] == "Runtime.ExitError" and "shutting down" in got[rid][1]["errorMessage"]
