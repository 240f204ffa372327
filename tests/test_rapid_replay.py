"""The emulator against RAPID's own bytes: every recorded runtime conversation replayed.

For each folder of tests/rapid_wire (recorded from RAPID inside AWS's Runtime
Interface Emulator v1.30, classic mode), the emulator launches
rapid_wire/replay_runtime.py as its runtime, which sends the recorded requests
(with the live request ids), while the recorded invokes are made.  Each
response the emulator gives must match the recorded one: status line, header
names in RAPID's order, header values, body, and chunk sizes; only the values
that differ from run to run (Date, request ids, deadlines, extension ids) are
left out, and are checked for their form instead.  The invoker's side is
compared as status and body (InvokeResult, what the RIE invoke endpoint answers).

Deliberate differences (docs/emulator.md), left out of the comparison:
- /next carries Lambda-Runtime-Invocation-Id (real Lambda sends it; RIE v1.30 does not);
- a timeout's caller body is Lambda's `{"errorType":"Sandbox.Timedout",...}`, not the RIE's bare text;
- the invokes are made as the RIE front door makes them (client context decoded,
  tenant id passed, X-Amzn-Trace-Id dropped); the emulator's own front door also forwards the trace id.
Not replayed: extension/external (no external extensions), lmi/ (LMI mode).
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "rapid_wire"))
from wire import Message, parse_all, read_index, recorded, segment  # noqa: E402

from dispatcher.emulator import Emulator, InvokeResult

WIRE = Path(__file__).resolve().parent / "rapid_wire"
RUNTIME = WIRE / "replay_runtime.py"

pytestmark = pytest.mark.timeout(120)

# folder -> (connections of each runtime process, what the last process does after them)
SCENARIOS: dict[str, tuple[list[list[int]], str]] = {
    "next-small": ([[1]], "hang"),
    "next-2kb-boundary": ([[1]], "hang"),
    "response-202": ([[1]], "hang"),
    "invalid-id": ([[1]], "hang"),
    "oversize": ([[1]], "hang"),
    "client-context": ([[1]], "hang"),
    "streaming": ([[1]], "hang"),
    "streaming/trailers": ([[1]], "hang"),
    "extension": ([[1, 2, 3, 4]], "hang"),
    "extension/none": ([[1]], "hang"),
    "extension/internal-invoke": ([[1, 2, 3, 4]], "hang"),
    "init-error": ([[1], [2]], "exit"),  # each process posts /init/error and exits 1
    "timeout": ([[1], [2]], "hang"),  # the first process hangs until the deadline kills it
}

VOLATILE = {b"date", b"lambda-runtime-aws-request-id", b"lambda-runtime-deadline-ms", b"lambda-extension-identifier",
            b"lambda-extension-event-identifier"}
DELIBERATE = {b"lambda-runtime-invocation-id"}
FORMS = {
    b"date": re.compile(rb"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT"),
    b"lambda-runtime-aws-request-id": re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"),
    b"lambda-extension-identifier": re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    b"lambda-extension-event-identifier": re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    b"lambda-runtime-deadline-ms": re.compile(rb"\d{13}"),
}

UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DEADLINE = re.compile(rb"\d{13}")


def make_plan(folder: Path, tmp: Path) -> tuple[dict, dict[int, list[Message]]]:
    requests = recorded(folder, "request.bin")
    responses = recorded(folder, "response.bin")
    (tmp / "request.bin").write_bytes(requests)
    expected: dict[int, list[Message]] = {}
    conns = {}
    for c in read_index(folder):
        if c.kind != "rapi":
            continue
        reqs = parse_all(segment(requests, c.req), response=False)
        resps = parse_all(segment(responses, c.resp), response=True)
        expected[c.number] = resps
        spans, at = [], c.req[0]
        for r in reqs:
            spans.append([at, len(r.raw)])
            at += len(r.raw)
        learn = [(r.header(b"Lambda-Runtime-Aws-Request-Id") or r.header(b"Lambda-Extension-Identifier") or b"").decode() or None
                 for r in resps]
        conns[c.number] = {"number": c.number, "requests": spans, "answered": len(resps), "learn": learn}
    layout, then = SCENARIOS[folder.relative_to(WIRE).as_posix()]
    processes = [{"connections": [conns[n] for n in group], "then": "hang"} for group in layout]
    processes[-1]["then"] = then
    if then == "exit":
        for p in processes:
            p["then"] = "exit"
    return {"request_file": str(tmp / "request.bin"), "processes": processes}, expected


def recorded_invokes(folder: Path) -> list[tuple[Message, Message]]:
    """(invoke request, RIE's answer) pairs; the requests of next-2kb-boundary are rebuilt from its /next bodies."""
    # curl's `Expect: 100-continue` on big events got an interim 100 Continue first: not an answer.
    answers = [m for m in parse_all(recorded(folder, "invoke-response.bin"), response=True) if not m.start.startswith(b"HTTP/1.1 1")]
    raw = recorded(folder, "invoke-request.bin") if (folder / "invoke-request.bin").exists() else None
    if raw is not None:
        return list(zip(parse_all(raw, response=False), answers))
    events = [m.body for m in parse_all(recorded(folder, "response.bin"), response=True) if m.start.startswith(b"HTTP/1.1 200")]
    return [(Message(b"POST", [], e, None, e), a) for e, a in zip(events, answers)]


def invoke_all(emu: Emulator, invokes: list[tuple[Message, Message]], results: list[InvokeResult | BaseException]) -> None:
    for request, _ in invokes:
        context = request.header(b"X-Amz-Client-Context")
        tenant = request.header(b"X-Amz-Tenant-Id")
        try:
            results.append(emu.invoke(
                request.body,
                client_context=None if context is None else base64.b64decode(context).decode(),
                tenant_id=None if tenant is None else tenant.decode(),
            ))
        except BaseException as exc:  # handed to the test
            results.append(exc)


def compare(where: str, want: Message, got: Message) -> None:
    assert got.start == want.start, where
    want_names = [k.lower() for k, _ in want.headers]
    got_names = [k.lower() for k, _ in got.headers if k.lower() not in DELIBERATE]
    assert got_names == want_names, f"{where}: header names/order"
    assert [k for k, _ in got.headers if k.lower() not in DELIBERATE] == [k for k, _ in want.headers], f"{where}: header case"
    for (name, value), (_, mine) in zip(want.headers, [h for h in got.headers if h[0].lower() not in DELIBERATE]):
        key = name.lower()
        if key in VOLATILE:
            assert FORMS[key].fullmatch(mine), f"{where}: {name.decode()}: {mine!r}"
        else:
            assert mine == value, f"{where}: {name.decode()}"
    assert got.chunks == want.chunks, f"{where}: chunk sizes"
    if want.header(b"Lambda-Extension-Event-Identifier"):  # an INVOKE event: its request id and deadline are live
        assert len(got.body) == len(want.body), f"{where}: body"
        assert DEADLINE.sub(b"<ms>", UUID.sub(b"<id>", got.body)) == DEADLINE.sub(b"<ms>", UUID.sub(b"<id>", want.body)), f"{where}: body"
    else:
        assert got.body == want.body, f"{where}: body"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_replay(scenario: str, tmp_path: Path) -> None:
    folder = WIRE / scenario
    plan, expected = make_plan(folder, tmp_path)
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    invokes = recorded_invokes(folder)
    results: list[InvokeResult | BaseException] = []
    with Emulator(runtime_argv=[sys.executable, str(RUNTIME), str(tmp_path / "plan.json"), str(tmp_path)],
                  function_timeout=1.0 if scenario == "timeout" else 10.0) as emu:
        driver = threading.Thread(target=invoke_all, args=(emu, invokes, results))
        driver.start()
        driver.join(90)
        assert not driver.is_alive(), "the invokes did not complete"
    for number, want in expected.items():
        path = tmp_path / f"conn-{number}.bin"
        got = parse_all(path.read_bytes(), response=True) if path.exists() else []
        assert len(got) == len(want), f"connection {number}: {len(got)} responses, RAPID gave {len(want)}"
        for i, (w, g) in enumerate(zip(want, got)):
            compare(f"{scenario} connection {number} response {i + 1}", w, g)
    assert len(results) == len(invokes)
    for i, ((_, answer), got) in enumerate(zip(invokes, results)):
        assert isinstance(got, InvokeResult), got
        status = int(answer.start.split()[1])
        assert got.status == status, f"invoke {i + 1}"
        if got.outcome == "timeout":  # deliberate: Lambda's error document instead of the RIE's bare text
            assert answer.body == b"Task timed out after 2.00 seconds"
            assert json.loads(got.body)["errorMessage"].endswith("Task timed out after 1.00 seconds")
        else:  # a runtime that echoes what it got echoes the live ids
            assert UUID.sub(b"<id>", got.body) == UUID.sub(b"<id>", answer.body), f"invoke {i + 1}"
