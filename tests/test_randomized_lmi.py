"""The randomized run with N slots: 800 invocations through one supervisor
with `concurrency: 4` and a multiplexed worker or a pool of four plain ones
(tests/workers/multiplex.py),
so that the N-slot straight line (dispatcher/steady_many.py) serves them
and hands over, at random moments, to the core: hangs past a 300 ms
deadline, crashes of the worker with other invocations in flight, log lines,
replies of every size up to 300 KiB, events queued in bursts.  Seeded.

At the end: every event handed out was answered exactly once and accepted
(202); a hang got `Sandbox.Timedout`; a crash `Runtime.ExitError`, and so did
only others in flight on the crashing worker (at most three per crash, none
in a pool); every other
event its own body; the line served most of them.

RANDOMIZED_SEED=N and RANDOMIZED_LMI_COUNT=N override the defaults.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sys

from test_concurrency import queue
from test_steady_many import lmi  # noqa: F401 (the fixture: the probed supervisor)

SEED = int(os.environ.get("RANDOMIZED_SEED", "20240505"))
COUNT = int(os.environ.get("RANDOMIZED_LMI_COUNT", "800"))
HANG_TIMEOUT = 0.3


def draw(rng: random.Random, i: int) -> tuple[str, dict[str, object], float]:
    """(kind, event, timeout) of invocation i."""
    r = rng.random()
    if r < 0.015:
        return "hang", {"hang": True}, HANG_TIMEOUT
    if r < 0.03:
        return "crash", {"crash": True}, 10.0
    event: dict[str, object] = {"sleep": rng.choice([0, 0, 0, 0.001, 0.005]), "tag": f"t{i}"}
    if r < 0.10:
        event["log"] = f"log line of t{i}"
    if r < 0.15:
        event["tag"] = f"t{i}:" + "x" * rng.choice([1_000, 60_000, 300_000])
    return "ok", event, 10.0


def test_randomized_faults_with_four_slots(lmi, request) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    api, rt = lmi(4, timeout_margin="50ms", shutdown_grace="500ms")
    rng = random.Random(SEED)
    plan = {f"r{i}": draw(rng, i) for i in range(COUNT)}
    rids = list(plan)
    i = 0
    while i < len(rids):  # bursts of 1-12 events, each burst queued once the one before is answered
        burst = rids[i:i + rng.randint(1, 12)]
        for rid in burst:
            kind, event, timeout = plan[rid]
            queue(api, rid, event, timeout=timeout)
        assert api.wait_for(lambda a: all(a.posts(r) for r in burst), 20), f"unanswered in {burst}: {rt.logs()[-2000:]}"
        i += len(burst)
    crashed_with = 0
    for rid in rids:
        kind, event, _ = plan[rid]
        posts = api.posts(rid)
        assert len(posts) == 1 and posts[0].answered == 202, (rid, posts)
        outcome = posts[0].path.rsplit("/", 1)[1]
        body = json.loads(posts[0].body)
        # The worker died under it: its own crash, another invocation's crash
        # while it was in flight, or one that came before its invoke was written.
        cut = outcome == "error" and body["errorType"] == "Runtime.ExitError" and (
            "exited with status 3 during the invocation" in body["errorMessage"]
            or "closed its stdin during the invocation" in body["errorMessage"])
        if kind == "crash":
            assert cut, (rid, body)
        elif cut:
            crashed_with += 1
        elif kind == "hang":
            assert body["errorType"] == "Sandbox.Timedout", (rid, body)
        else:
            assert outcome == "response" and body["tag"] == event["tag"], (rid, body)
    crashes = sum(1 for k, _, _ in plan.values() if k == "crash")
    if request.node.callspec.params["lmi"] == "pool":
        assert crashed_with == 0  # a crash costs only its own invocation
    else:
        assert crashed_with <= 3 * crashes  # at most the other three slots' invocations per crash
    logs = rt.logs()
    for rid in rids:
        kind, event, _ = plan[rid]
        if "log" in event and api.posts(rid)[0].path.endswith("/response"):
            assert f"{event['log']}\n" in logs, rid
    assert len(api.posts()) == COUNT  # nothing answered that was not handed out
    rt.proc.send_signal(signal.SIGTERM)
    assert rt.wait(10) == 0
    seen = re.search(r"probe: entered=(\d+) served=(\d+) handed_over=(\d+)", rt.logs())
    assert seen and int(seen[2]) >= COUNT // 2, rt.logs()[-2000:]  # the line served most of them
    print(f"\nrandomized LMI run: {COUNT} invocations, seed {SEED}; line entered {seen[1]} times, "
          f"served {seen[2]}, handed {seen[3]} back; {crashed_with} cut by a crash", file=sys.stderr)

