"""The emulator's LMI mode against RAPID's own bytes (tests/rapid_wire/lmi/, recorded
from RIE v1.30 with AWS_LAMBDA_MAX_CONCURRENCY=4).

The test plays the runtime on raw sockets (the emulator in external mode) and
compares each answer with the recorded one: status line, header names in
order, header values and body; only Date, deadlines and generated request ids
are left out (their form is checked).  Deliberate differences
(docs/emulator-lmi.md) are not compared: the deadline value (RIE-LMI's is off
by a unit), the chunk sizes of large events, the 500 RIE-LMI gives a /next
after a refused late answer.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "rapid_wire"))
from wire import Message, load, parse_all, read_index, read_response, segment  # noqa: E402

from dispatcher.emulator import Emulator, InvokeResult

LMI = Path(__file__).resolve().parent / "rapid_wire" / "lmi"
NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: rapid\r\n\r\n"
VOLATILE = {b"date", b"lambda-runtime-deadline-ms"}
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

pytestmark = pytest.mark.timeout(60)


def rapi_answers(folder: str) -> list[list[Message]]:
    """The recorded answers RAPID gave, per runtime connection."""
    path = LMI / folder
    data = load(path, "response.bin")
    assert data is not None
    return [parse_all(segment(data, c.resp), response=True) for c in read_index(path) if c.kind == "rapi"]


def caller_answers(folder: str) -> list[Message]:
    path = LMI / folder
    data = load(path, "invoke-response.bin")
    assert data is not None
    return [parse_all(segment(data, c.resp), response=True)[-1] for c in read_index(path) if c.kind == "invoke"]


def same(got: Message, want: Message, *, volatile: set[bytes] = VOLATILE) -> None:
    assert got.start == want.start
    assert [k.lower() for k, _ in got.headers] == [k.lower() for k, _ in want.headers]
    assert [k for k, _ in got.headers] == [k for k, _ in want.headers], "Go's canonical case"
    for (name, value), (_, expected) in zip(got.headers, want.headers):
        if name.lower() == b"date":
            assert re.fullmatch(rb"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", value), value
        elif name.lower() == b"lambda-runtime-deadline-ms":
            assert value.isdigit() and int(value) > time.time() * 1000
        elif name.lower() not in volatile:
            assert value == expected, name
    assert got.body == want.body
    assert got.chunks == want.chunks


class Runtime:
    """One keep-alive connection of a runtime slot, on a raw socket."""

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.buf = bytearray()

    def next_async(self) -> None:
        self.sock.sendall(NEXT)

    def answer(self) -> Message:
        return read_response(self.sock, self.buf)

    def post(self, request_id: bytes, body: bytes) -> Message:
        self.sock.sendall(
            b"POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: rapid\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (request_id, len(body), body)
        )
        return self.answer()


def wait_for(check, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.005)


def invoke_async(emu: Emulator, event: bytes, **kw: object) -> list[InvokeResult]:
    out: list[InvokeResult] = []
    threading.Thread(target=lambda: out.append(emu.invoke(event, **kw)), daemon=True).start()  # type: ignore[arg-type]
    return out


def test_next_headers_202_and_caller_answer_match_rie_lmi() -> None:
    want = rapi_answers("headers")[0]
    callers = caller_answers("headers")
    with Emulator(runtime_argv=[], concurrency=4, function_timeout=300) as emu:
        rt = Runtime(emu.address)
        rt.next_async()
        wait_for(lambda: emu.open_slots == 1, "the /next")
        first = invoke_async(
            emu, b'{"n":1}', request_id="my-own-request-id-1", content_type="application/json",
            client_context="eyJjdXN0b20iOnsiYSI6MX19",
            trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        )  # fmt: skip
        same(rt.answer(), want[0])
        same(rt.post(b"my-own-request-id-1", b'{"slot": 0}'), want[1])  # 202 {"status":"OK"}\n
        wait_for(lambda: first, "the caller's answer")
        assert first[0].status == int(callers[0].start.split()[1]) == 200
        assert first[0].body == b'{"slot": 0}' and first[0].content_type == "application/json"

        rt.next_async()
        wait_for(lambda: emu.open_slots == 1, "the /next again")
        second = invoke_async(emu, b'{"n":2}', content_type="application/x-www-form-urlencoded")
        got = rt.answer()
        same(got, want[2], volatile=VOLATILE | {b"lambda-runtime-aws-request-id"})
        rid = got.header(b"Lambda-Runtime-Aws-Request-Id")
        assert rid is not None and UUID.fullmatch(rid)
        same(rt.post(rid, b"{}"), want[3])
        wait_for(lambda: second, "the second caller's answer")


def test_timeout_caller_answer_and_late_410_match_rie_lmi() -> None:
    want_slot0 = rapi_answers("timeout")[0]
    want_caller = caller_answers("timeout")[0]
    with Emulator(runtime_argv=[], concurrency=2, function_timeout=2) as emu:
        rt = Runtime(emu.address)
        rt.next_async()
        wait_for(lambda: emu.open_slots == 1, "the /next")
        result = invoke_async(emu, b'{"sleep":4.0,"i":0}', content_type="application/x-www-form-urlencoded")
        got = rt.answer()
        same(got, want_slot0[0], volatile=VOLATILE | {b"lambda-runtime-aws-request-id"})
        wait_for(lambda: result, "the deadline", timeout=5)
        assert result[0].outcome == "timeout" and result[0].status == 200
        assert result[0].body == want_caller.body  # {"errorType":"Sandbox.Timedout","errorMessage":"Task timed out after 2.00 seconds"}
        rid = got.header(b"Lambda-Runtime-Aws-Request-Id")
        assert rid is not None
        same(rt.post(rid, b'{"late": true}'), want_slot0[1])  # 410 InvokeTimeout


def test_invoke_with_no_open_next_matches_rie_lmi_runtime_unavailable() -> None:
    refused = caller_answers("slots-1")[1]
    assert refused.start == b"HTTP/1.1 400 Bad Request" and refused.header(b"Error-Type") == b"Runtime.Unavailable"
    with Emulator(runtime_argv=[], concurrency=4, function_timeout=5) as emu:
        rt = Runtime(emu.address)
        rt.next_async()
        wait_for(lambda: emu.open_slots == 1, "the /next")
        busy = invoke_async(emu, b'{"sleep":1.0,"i":1}')
        handed = rt.answer()
        res = emu.invoke(b'{"sleep":1.0,"i":2}')
        assert not busy
        assert (res.status, res.body, res.error_type) == (400, refused.body, "Runtime.Unavailable")
        rid = handed.header(b"Lambda-Runtime-Aws-Request-Id")
        assert rid is not None and rt.post(rid, b"{}").start == b"HTTP/1.1 202 Accepted"
        wait_for(lambda: busy, "the busy invoke's answer")
