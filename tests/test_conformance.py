"""Any runtime under the emulator: `dispatcher serve --bootstrap` running runtimes that are not ours.

Each runtime is run unmodified, as the RIE would run it, behind the real invoke
endpoint, and its outcomes are checked against what RAPID does (docs/emulator.md):
success (200, the body), a handler error (200, the error body verbatim), a
timeout (200 `Task timed out after N.00 seconds`, then a fresh init), a 6 MB
event, and 16 concurrent callers (each answered with its own event, one at a
time, the server still up).

- awslambdaric: AWS's Python runtime interface client (pinned in the test
  extra), `python -m awslambdaric app.handler` with the test interpreter.
- bash: the bash + curl runtime of AWS's custom-runtime tutorial (examples/bash-runtime).
- node: AWS's Node.js runtime interface client, when .ci/setup could install it
  (tests/conformance/node); otherwise skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from served import Served

ROOT = Path(__file__).resolve().parent.parent
CONFORMANCE = ROOT / "tests" / "conformance"
NODE_RIC = CONFORMANCE / "node" / "node_modules" / "aws-lambda-ric" / "index.mjs"

pytestmark = pytest.mark.timeout(240)

SIX_MB = 6_000_000


@dataclass
class Runtime:
    name: str
    cwd: Path
    args: list[str]  # for `dispatcher serve`
    byte_exact: bool  # echoes bytes (bash) or re-encodes JSON (the RICs)

    def missing(self) -> str | None:
        if self.name == "bash":
            for tool in ("bash", "curl", "jq"):
                if shutil.which(tool) is None:
                    return f"{tool} is not installed (make setup installs it)"
        if self.name == "node":
            if shutil.which("node") is None:
                return "node is not installed"
            if not NODE_RIC.exists():
                return "aws-lambda-ric is not installed in tests/conformance/node (.ci/setup installs it; its output says why it could not)"
        return None


RUNTIMES = [
    Runtime("awslambdaric", CONFORMANCE, ["--bootstrap", sys.executable, "--", "-m", "awslambdaric", "app.handler"], False),
    Runtime("bash", ROOT / "examples" / "bash-runtime", ["--bootstrap", "./bootstrap", "--handler", "function.handler"], True),
    Runtime("node", CONFORMANCE / "node", ["--handler", "app.handler", "--bootstrap", "node", "--", str(NODE_RIC)], False),
]


@pytest.fixture(scope="module", params=RUNTIMES, ids=[r.name for r in RUNTIMES])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Served, Path]]:
    runtime: Runtime = request.param
    reason = runtime.missing()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp(runtime.name)
    handler_log = tmp / "handler.log"
    s = Served("--timeout", "5s", *runtime.args, cwd=runtime.cwd, log=tmp / "serve.log",
               env={"HANDLER_LOG": str(handler_log), "TMPDIR": str(tmp)})
    try:
        yield runtime, s, handler_log
    finally:
        status = s.stop()
    assert status == 0, f"dispatcher serve ended with {status}: {s.log_path.read_text(errors='replace')[-3000:]}"


def same_event(runtime: Runtime, sent: bytes, got: bytes) -> bool:
    return got == sent if runtime.byte_exact else json.loads(got) == json.loads(sent)


def test_success(served: tuple[Runtime, Served, Path]) -> None:
    runtime, s, _ = served
    event = b'{"name": "Ada", "n": [1, 2, 3]}'
    status, _, body = s.invoke(event)
    assert status == 200 and same_event(runtime, event, body)


def test_handler_error_reaches_the_caller_verbatim(served: tuple[Runtime, Served, Path]) -> None:
    runtime, s, _ = served
    status, headers, body = s.invoke(b'{"fail": "boom"}')
    assert status == 200  # as RAPID: an /error is a 200 with the posted document
    doc = json.loads(body)
    assert doc["errorMessage"] == "boom" and doc["errorType"] in ("HandlerError", "ValueError", "Error")
    assert headers.get("x-amz-function-error") == "Unhandled"  # the emulator's one addition (real Invoke API)
    status, _, body = s.invoke(b'{"after": "error"}')  # the runtime stays up
    assert status == 200 and json.loads(body) == {"after": "error"}


def test_timeout_answers_task_timed_out_and_the_next_invoke_reinits(served: tuple[Runtime, Served, Path]) -> None:
    runtime, s, _ = served
    status, headers, body = s.invoke(b'{"sleep": 30}')
    assert status == 200
    doc = json.loads(body)
    assert doc["errorType"] == "Sandbox.Timedout" and doc["errorMessage"].endswith("Task timed out after 5.00 seconds")
    status, _, body = s.invoke(b'{"after": "timeout"}')
    assert status == 200 and json.loads(body) == {"after": "timeout"}


def test_six_megabyte_event_round_trips(served: tuple[Runtime, Served, Path]) -> None:
    runtime, s, _ = served
    head = b'{"data": "'
    event = head + b"x" * (SIX_MB - len(head) - 2) + b'"}'
    assert len(event) == SIX_MB
    status, _, body = s.invoke(event)
    assert status == 200 and same_event(runtime, event, body)


def test_sixteen_concurrent_callers_are_served_one_at_a_time(served: tuple[Runtime, Served, Path]) -> None:
    runtime, s, handler_log = served
    handler_log.write_text("")
    results: dict[int, tuple[int, bytes] | BaseException] = {}
    start = threading.Barrier(16)

    def call(i: int) -> None:
        start.wait()
        try:
            status, _, body = s.invoke(b'{"i": %d, "pad": "%s"}' % (i, b"p" * 3000))
            results[i] = (status, body)
        except BaseException as exc:  # handed to the assertions below
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(results) == list(range(16))
    for i, got in results.items():
        assert not isinstance(got, BaseException), f"caller {i}: {got!r}"
        assert got[0] == 200 and json.loads(got[1])["i"] == i
    lines = handler_log.read_text().split()
    assert lines == ["begin", "end"] * 16, "invocations overlapped"
    assert s.alive()
