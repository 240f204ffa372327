"""Issue #5, the randomized run: 5,000 invocations through one supervisor,
10% of them faults drawn at random (seeded) from the per-invocation list of
tests/workers/faulty.py.

At the end: every event the emulator handed out was answered (202), each
fault got its errorType, the supervisor is the same process it was at the
start, and neither a process, a zombie nor a file descriptor is left over.
Hang faults get a 300 ms deadline; everything else 10 s, so that a busy
2-core machine never turns a normal invocation into a timeout.

Run it alone with: .venv/bin/python -m pytest tests/test_randomized.py
(RANDOMIZED_SEED=N and RANDOMIZED_COUNT=N override the defaults).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest

from harness import wait_gone, wait_until
from test_faults import Run, fd_count, wait_no_marked, zombie_children
from test_supervisor import write_config

SEED = int(os.environ.get("RANDOMIZED_SEED", "20240505"))
COUNT = int(os.environ.get("RANDOMIZED_COUNT", "5000"))
FAULT_RATE = 0.10
HANG_TIMEOUT = 0.3
NORMAL_TIMEOUT = 10.0
CHECK_EVERY = 500

EXIT, PROTO, TIMEOUT = "Runtime.ExitError", "Runtime.ProtocolError", "Sandbox.Timedout"
OK = None  # success; the expected body is checked by `body`


class Fault:
    def __init__(self, event: dict[str, Any], expect: str | None, body: bytes | Callable[[bytes], bool] | None = None, hang: bool = False) -> None:
        self.event = event
        self.expect = expect  # errorType, or None for success
        self.body = body
        self.hang = hang

    @property
    def name(self) -> str:
        extra = "/".join(str(v) for k, v in sorted(self.event.items()) if k not in ("fault", "mark"))
        return self.event["fault"] + (f"({extra})" if extra else "")


def _is_pid(body: bytes) -> bool:
    return body.isdigit()


FAULTS = [
    Fault({"fault": "exit", "code": 0}, EXIT),
    Fault({"fault": "exit", "code": 1}, EXIT),
    Fault({"fault": "exit", "code": 137}, EXIT),
    Fault({"fault": "signal", "sig": "SIGKILL"}, EXIT),
    Fault({"fault": "signal", "sig": "SIGSEGV"}, EXIT),
    Fault({"fault": "hang"}, TIMEOUT, hang=True),
    Fault({"fault": "hang_ignore_term"}, TIMEOUT, hang=True),
    Fault({"fault": "half_frame"}, TIMEOUT, hang=True),
    Fault({"fault": "slow_frame"}, OK, body=lambda b: json.loads(b)["fault"] == "slow_frame"),
    Fault({"fault": "zero_length"}, PROTO),
    Fault({"fault": "huge_length"}, PROTO),
    Fault({"fault": "not_map"}, PROTO),
    Fault({"fault": "no_type"}, PROTO),
    Fault({"fault": "unknown_type"}, PROTO),
    Fault({"fault": "wrong_id"}, PROTO),
    Fault({"fault": "print"}, PROTO),
    Fault({"fault": "close_stdout"}, PROTO),
    # Extra frames or bytes written *with* the reply; written separately they may
    # arrive during the next invocation, which then rightly fails.
    Fault({"fault": "two_replies_at_once"}, OK, body=b'"one"'),
    Fault({"fault": "print_with_reply"}, OK, body=b'"one"'),
    Fault({"fault": "exit_after_reply"}, OK, body=_is_pid),
    Fault({"fault": "close_stdin"}, OK, body=b'"closed stdin"'),
    Fault({"fault": "error", "type": "my_crate::Boom"}, "my_crate::Boom"),
    Fault({"fault": "result_nan"}, "Runtime.MarshalError"),
    Fault({"fault": "big_result"}, "Function.ResponseSizeTooLarge"),
    Fault({"fault": "stderr_flood", "mb": 1}, OK, body=b'"flooded"'),
    Fault({"fault": "long_line", "bytes": 300_000}, OK, body=b'"long"'),
    Fault({"fault": "grow", "mb": 90}, OK, body=b'"grown"'),  # over max_rss: recycled after the answer
    Fault({"fault": "grandchild_holds_pipes"}, EXIT),
    Fault({"fault": "setsid_grandchild", "then": "exit"}, EXIT),
    Fault({"fault": "children_ignore_term", "n": 3}, TIMEOUT, hang=True),
]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_randomized_faults(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    config = write_config(
        tmp_path,
        timeout_margin="100ms",
        shutdown_grace="200ms",
        max_rss="64MB",
        max_invocations=700,
    )
    fn = Run(tmp_path, config, NORMAL_TIMEOUT, None)
    try:
        _drive(fn, rng, tmp_path)
    finally:
        fn.close()
    left = wait_no_marked(fn.marker)
    assert not left, f"processes outlived the supervisor: {left}"


def _fd_targets(pid: int) -> list[str]:
    """What each of the supervisor's descriptors is open on, in one listing."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return out


def _proc_fds(pid: int) -> list[str]:
    """The supervisor's descriptors open on /proc files (the max_rss scan's)."""
    return [t for t in _fd_targets(pid) if t.startswith("/proc/")]


def _module_fds(pid: int) -> list[str]:
    """Source and bytecode files open in the supervisor: an import under way."""
    return [t for t in _fd_targets(pid) if t.endswith((".py", ".pyc"))]


def _non_proc_fds(pid: int) -> list[str]:
    return [t for t in _fd_targets(pid) if not t.startswith("/proc/")]


def _drive(fn: Run, rng: random.Random, tmp_path: Path) -> None:
    # Two warm-ups: the lazy imports (psutil at the first max_rss scan, after
    # the first answer; msgpack at the second reply) are done once the second
    # answer is back, and the wait below covers the scan's /proc files.
    for _ in range(2):
        assert fn.invoke({"warm": True}).outcome == "success"
    sup = fn.emu.runtime_pid
    assert sup is not None
    # The answer reaches the caller before the supervisor's housekeeping
    # (GET /next is pipelined with the post), and that housekeeping (the
    # max_rss scan) briefly opens /proc files, perhaps only after this line
    # runs: the baseline leaves them out.  _settled() then wants the whole
    # count back at it, so a /proc file that stayed open would still show.
    # The first max_rss scan also imports psutil right then: its .pyc files
    # are open for a moment (seen: psutil/__pycache__/_psposix...pyc).
    wait_until(lambda: not _proc_fds(sup) and not _module_fds(sup),
               what="the supervisor's max_rss scan to close its /proc files and its lazy import its .pyc files")
    baseline = len(_non_proc_fds(sup))
    wrong: list[str] = []
    seen: Counter[str] = Counter()
    t0 = time.monotonic()
    for i in range(2, COUNT):  # 0 and 1 were the warm-ups
        is_fault = rng.random() < FAULT_RATE
        if is_fault:
            f = rng.choice(FAULTS)
            event = dict(f.event)
            if f.event["fault"] == "setsid_grandchild":
                event["mark"] = str(tmp_path / f"gc-{i}.pid")
            res = fn.invoke(event, timeout=HANG_TIMEOUT if f.hang else NORMAL_TIMEOUT)
            seen[f.name] += 1
            if f.event["fault"] == "exit_after_reply" and res.outcome == "success":
                # Let it die while idle (handed over); an invoke sent before
                # its exit is test_faults.py::test_exit_after_reply_with_next_invoke_unread.
                assert wait_gone(int(res.body))
            problem = _check(f, res)
            if problem:
                wrong.append(f"#{i} {f.name}: {problem}")
        else:
            body = json.dumps({"n": i, "r": rng.getrandbits(64)}).encode()
            res = fn.invoke(raw=body)
            if res.outcome != "success" or res.body != body:
                wrong.append(f"#{i} echo: {res.outcome} {res.body[:300]!r}")
            if i % CHECK_EVERY == 0:
                wrong.extend(f"#{i}: {p}" for p in _settled(sup, baseline))
        assert fn.emu.runtime_pid == sup and fn.emu.stats.launches == 1, (
            f"#{i}: the supervisor died; log tail:\n{fn.logs()[-3000:]}"
        )
    elapsed = time.monotonic() - t0
    st = fn.emu.stats
    summary = f"{COUNT} invocations in {elapsed:.1f}s, faults: {dict(sorted(seen.items()))}"
    print(summary)
    assert not wrong, f"{len(wrong)} wrong answers ({summary}):\n" + "\n".join(wrong[:40])
    assert st.handed_out == st.answered == COUNT, st
    assert len(seen) == len(FAULTS), f"not every fault was drawn: {summary}"
    assert _settled(sup, baseline) == []


def _check(f: Fault, res: Any) -> str | None:
    if f.expect is None:
        if res.outcome != "success":
            return f"expected success, got {res.outcome}: {res.body[:300]!r}"
        ok = f.body(res.body) if callable(f.body) else res.body == f.body
        return None if ok else f"unexpected body {res.body[:200]!r}"
    if res.outcome != "error":
        return f"expected {f.expect}, got {res.outcome}: {res.body[:300]!r}"
    got = json.loads(res.body).get("errorType")
    return None if got == f.expect else f"expected {f.expect}, got {got}: {res.body[:300]!r}"


def _settled(sup: int, baseline: int, timeout: float = 3.0) -> list[str]:
    """The supervisor's fd count is back at its baseline and it has no zombie
    child.  Replacements start between invocations, so allow a moment."""
    end = time.monotonic() + timeout
    while True:
        fds, zombies = fd_count(sup), zombie_children(sup)
        if fds == baseline and not zombies:
            return []
        if time.monotonic() > end:
            return [f"supervisor holds {fds} fds (baseline {baseline}); zombie children {zombies}"]
        time.sleep(0.05)
