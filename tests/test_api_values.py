"""Issue #9 part 4: every value the Runtime API sends is survivable.

The real supervisor against tests/faulty_api.py sending /next answers whose
headers it cannot use as they are: a deadline 10^15 ms ahead (what RIE's
Managed-Instances mode sends, a unit bug), 0, `abc`, none at all, and no
request id.  Each invocation with an id is served (never a crash: poll() used
to overflow); the one without an id cannot be answered and is logged; the
loop goes on.  docs/runtime-api.md, "Values the supervisor cannot use".
"""

from __future__ import annotations

import json
import time

import pytest

from faulty_api import Event
from test_api_faults import accepted_ids, api, runtime, wait_accepted  # noqa: F401 (fixtures)

CONTEXT = b'{"fault": "context"}'


def seen_deadline(a, rid: str) -> int:  # type: ignore[no-untyped-def]
    """The deadline_ms the worker was given (the context fault echoes it)."""
    (post,) = a.posts(rid)
    assert post.path.endswith("/response") and post.answered == 202, post
    return int(json.loads(post.body)["deadline_ms"])


@pytest.mark.parametrize(
    "deadline, note",
    [
        (lambda: int(time.time() * 1000) + 10**15, "s ahead, beyond Lambda's longest timeout; clamped to now + 900 s"),
        (lambda: 0, "s in the past; serving it with the function timeout, a deadline of now + 900 s"),
        (lambda: "abc", "'abc' is not a usable number of milliseconds"),
        (lambda: "", "'' is not a usable number of milliseconds"),
        (lambda: "-1", "'-1' is not a usable number of milliseconds"),
    ],
    ids=["now+1e15ms", "zero", "abc", "empty", "negative"],
)
def test_unusable_deadline_is_served(api, runtime, deadline, note: str) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address)
    a.next_actions.put(Event("odd", CONTEXT, deadline_ms=deadline()))
    a.next_actions.put(Event("odd2", b'{"n": 2}', deadline_ms=deadline()))  # the same again: still no crash
    a.events("normal")
    wait_accepted(a, "odd", "odd2", "normal")
    now_ms = time.time() * 1000
    assert now_ms - 60_000 < seen_deadline(a, "odd") <= now_ms + 900_000  # clamped or replaced: within 900 s
    assert a.posts("odd2")[0].body == b'{"n": 2}'
    assert rt.alive
    logs = rt.logs()
    assert "invocation odd: Lambda-Runtime-Deadline-Ms" in logs and note in logs, logs


def test_missing_deadline_header_is_served(api, runtime) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address)
    a.next_actions.put(Event("nodl", CONTEXT, send_deadline=False))
    a.events("normal")
    wait_accepted(a, "nodl", "normal")
    assert rt.alive
    assert "invocation nodl: Lambda-Runtime-Deadline-Ms is missing" in rt.logs()


def test_unusable_deadline_gets_the_function_timeout(api, runtime) -> None:  # type: ignore[no-untyped-def]
    """With AWS_LAMBDA_FUNCTION_TIMEOUT known, a deadline of `abc` means that
    timeout: a hanging handler is timed out after it, not after 900 s."""
    a = api()
    rt = runtime(a.address, env={"AWS_LAMBDA_FUNCTION_TIMEOUT": "1"})
    t0 = time.monotonic()
    a.next_actions.put(Event("slow", b'{"fault": "hang"}', deadline_ms="abc"))
    a.events("after")
    wait_accepted(a, "slow", "after", timeout=20)
    assert time.monotonic() - t0 < 15
    (post,) = a.posts("slow")
    doc = json.loads(post.body)
    assert post.path.endswith("/error") and doc["errorType"] == "Sandbox.Timedout", doc
    assert doc["errorMessage"] == "Task timed out after 1.00 seconds"
    assert "a deadline of now + 1 s" in rt.logs()
    assert rt.alive


def test_far_future_deadline_is_clamped_to_900s(api, runtime) -> None:  # type: ignore[no-untyped-def]
    """The clamp is what the worker is told: 900 s ahead at most."""
    a = api()
    rt = runtime(a.address)
    a.next_actions.put(Event("far", CONTEXT, deadline_ms=2**63))
    wait_accepted(a, "far")
    now_ms = time.time() * 1000
    assert now_ms + 890_000 < seen_deadline(a, "far") <= now_ms + 900_000
    assert rt.alive


def test_missing_request_id_is_logged_and_the_loop_goes_on(api, runtime) -> None:  # type: ignore[no-untyped-def]
    a = api()
    rt = runtime(a.address)
    a.next_actions.put(Event("", b'{"lost": true}'))
    a.events("r2")
    wait_accepted(a, "r2")
    assert a.next_calls() >= 2
    assert [p.path.rsplit("/", 2)[1] for p in a.posts()] == ["r2"]  # nothing posted for the id-less event
    assert rt.alive
    logs = rt.logs()
    assert "GET /next answered an event of 14 bytes without a Lambda-Runtime-Aws-Request-Id header" in logs, logs
    assert "going on to the next event" in logs


# -- the response size limit: RAPID's 6,291,556 bytes (6 MiB + 100) ---------------------------


@pytest.mark.parametrize("size, outcome", [(6 * 1024 * 1024 + 100, "success"), (6 * 1024 * 1024 + 101, "error")])
def test_response_limit_is_rapids(tmp_path, size: int, outcome: str) -> None:  # type: ignore[no-untyped-def]
    """A result of exactly 6,291,556 bytes goes through (RAPID takes it, see
    tests/rapid_wire/oversize); one byte more is Function.ResponseSizeTooLarge,
    decided by the supervisor before posting."""
    from harness import Function, write_config

    fn = Function(tmp_path, write_config(tmp_path))
    try:
        res = fn.invoke({"fault": "big_result", "bytes": size - 2})  # a JSON string: 2 quotes + size - 2
        assert res.outcome == outcome, res
        if outcome == "success":
            assert len(res.body) == size
        else:
            doc = json.loads(res.body)
            assert doc["errorType"] == "Function.ResponseSizeTooLarge"
            assert doc["errorMessage"] == (
                f"Response payload size ({size} bytes) exceeded maximum allowed payload size (6291556 bytes)."
            )
    finally:
        fn.close()
