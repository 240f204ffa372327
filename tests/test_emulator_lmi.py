"""The emulator's LMI (Managed Instances) mode against a real multi-slot runtime.

tests/emulator_runtimes/lmi_runtime.py keeps LMI_SLOTS /next requests open on
their own keep-alive connections, as AWS's runtimes do on LMI.  The expected
bytes come from RIE v1.30 recorded in that mode (docs/emulator.md "LMI mode").
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from dispatcher.emulator import Emulator, InvokeResult
from dispatcher.emulator.frontdoor import serve_frontdoor

RUNTIME = Path(__file__).resolve().parent / "emulator_runtimes" / "lmi_runtime.py"
REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(60)


def make(tmp_path: Path, slots: int | None = None, **kwargs: object) -> Emulator:
    env = dict(os.environ, EMU_TEST_LOG=str(tmp_path / "runtime.log"))
    env.pop("AWS_LAMBDA_RUNTIME_API", None)
    env.pop("AWS_LAMBDA_MAX_CONCURRENCY", None)
    if slots is not None:
        env["LMI_SLOTS"] = str(slots)
    kwargs.setdefault("function_timeout", 5.0)
    kwargs.setdefault("concurrency", 4)
    return Emulator(runtime_argv=[sys.executable, str(RUNTIME)], env=env, task_root=str(tmp_path), **kwargs)  # type: ignore[arg-type]


def notes(tmp_path: Path) -> list[str]:
    path = tmp_path / "runtime.log"
    return path.read_text().splitlines() if path.exists() else []


def wait_for(check: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def cmd(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def seen(result: InvokeResult) -> dict:
    assert result.outcome == "success", result
    doc: dict = json.loads(result.body)
    return doc


def run_concurrently(emu: Emulator, events: list[bytes]) -> list[InvokeResult]:
    results: list[InvokeResult | None] = [None] * len(events)

    def call(i: int) -> None:
        results[i] = emu.invoke(events[i])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(events))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def test_runtime_starts_eagerly_with_max_concurrency_in_its_environment(tmp_path: Path) -> None:
    with make(tmp_path, concurrency=3) as emu:
        wait_for(lambda: emu.runtime_pid is not None, "the runtime to start without an invoke")
        wait_for(lambda: emu.open_slots == 3, "three open /next")
        assert emu.stats.invokes == 0
        assert notes(tmp_path)[0].endswith("slots=3 max=3")


def test_invokes_run_at_once_one_per_open_next(tmp_path: Path) -> None:
    with make(tmp_path) as emu:
        wait_for(lambda: emu.open_slots == 4, "four open /next")
        results = run_concurrently(emu, [cmd(sleep=1.0, i=i) for i in range(4)])
        docs = [seen(r) for r in results]
        assert sorted(d["slot"] for d in docs) == [0, 1, 2, 3]
        assert len({d["pid"] for d in docs}) == 1  # one runtime process, as RIE-LMI
        assert sorted(d["event"]["i"] for d in docs) == [0, 1, 2, 3]
        assert emu.stats.launches == 1 and emu.stats.answered == 4


def test_open_next_is_not_capped_at_the_concurrency(tmp_path: Path) -> None:
    with make(tmp_path, slots=6, concurrency=4) as emu:
        wait_for(lambda: emu.open_slots == 6, "six open /next with concurrency 4")
        docs = [seen(r) for r in run_concurrently(emu, [cmd(sleep=0.5) for _ in range(6)])]
        assert sorted(d["slot"] for d in docs) == list(range(6))


def test_invoke_with_no_open_next_is_runtime_unavailable_at_once(tmp_path: Path) -> None:
    with make(tmp_path, slots=1) as emu:
        wait_for(lambda: emu.open_slots == 1, "the one open /next")
        first: list[InvokeResult] = []
        t = threading.Thread(target=lambda: first.append(emu.invoke(cmd(sleep=2.0))))
        t.start()
        wait_for(lambda: emu.in_flight == 1, "the first invoke to be handed out")
        refused = emu.invoke(cmd(i=2))
        assert not first, "the refusal must not wait for the busy slot"
        assert refused.outcome == "unavailable"
        assert refused.status == 400
        assert refused.body == b'{"errorType":"Runtime.Unavailable"}'
        assert refused.error_type == "Runtime.Unavailable"
        t.join(10)
        assert first[0].outcome == "success"


def test_queue_mode_holds_callers_until_a_slot_frees(tmp_path: Path) -> None:
    with make(tmp_path, slots=1, queue=True) as emu:
        wait_for(lambda: emu.open_slots == 1, "the one open /next")
        results = run_concurrently(emu, [cmd(sleep=0.2, i=i) for i in range(4)])
        assert [r.outcome for r in results] == ["success"] * 4
        assert sorted(seen(r)["event"]["i"] for r in results) == [0, 1, 2, 3]


def test_timeout_answers_the_caller_leaves_the_runtime_and_late_answer_gets_410(tmp_path: Path) -> None:
    with make(tmp_path, slots=2, function_timeout=1.0) as emu:
        wait_for(lambda: emu.open_slots == 2, "two open /next")
        pid = emu.runtime_pid
        slow = emu.invoke(cmd(sleep=2.5))
        assert slow.outcome == "timeout"
        assert slow.status == 200
        assert slow.body == b'{"errorType":"Sandbox.Timedout","errorMessage":"Task timed out after 1.00 seconds"}'
        # The other slot goes on serving, in the same process: nothing was reset.
        wait_for(lambda: emu.open_slots >= 1, "the other slot's /next")
        other = seen(emu.invoke(cmd(i="after-timeout")))
        assert other["pid"] == pid and emu.runtime_pid == pid
        wait_for(lambda: any(" 410 " in line for line in notes(tmp_path)), "the late answer to be refused")
        late = [line for line in notes(tmp_path) if " 410 " in line]
        assert late == [f"{slow.request_id} 410 " + '{"errorMessage":"Invoke timeout","errorType":"InvokeTimeout"}']
        assert emu.stats.timeouts == 1


def test_next_headers_follow_rie_lmi_and_invoker_values_pass_through(tmp_path: Path) -> None:
    with make(tmp_path, slots=1) as emu:
        wait_for(lambda: emu.open_slots == 1, "the open /next")
        before = int(time.time() * 1000)
        doc = seen(
            emu.invoke(
                b'{"n":1}',
                request_id="my-own-request-id-1",
                content_type="application/x-www-form-urlencoded",
                client_context="eyJjdXN0b20iOnsiYSI6MX19",
                trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            )
        )
        assert doc["header_names"] == [
            "Content-Type",
            "Lambda-Runtime-Aws-Request-Id",
            "Lambda-Runtime-Client-Context",
            "Lambda-Runtime-Cognito-Identity",
            "Lambda-Runtime-Deadline-Ms",
            "Lambda-Runtime-Invoked-Function-Arn",
            "Lambda-Runtime-Trace-Id",
            "Date",
            "Content-Length",
        ]
        h = doc["headers"]
        assert h["content-type"] == "application/x-www-form-urlencoded"
        assert h["lambda-runtime-aws-request-id"] == "my-own-request-id-1"
        assert h["lambda-runtime-client-context"] == "eyJjdXN0b20iOnsiYSI6MX19"  # still base64 in LMI mode
        assert h["lambda-runtime-cognito-identity"] == ""
        assert h["lambda-runtime-trace-id"].startswith("Root=1-5759e988")
        assert h["lambda-runtime-invoked-function-arn"] == "arn:aws:lambda:us-east-1:123456789012:function:test_function"
        assert before + 4000 <= int(h["lambda-runtime-deadline-ms"]) <= int(time.time() * 1000) + 5000
        assert h["date"].endswith(" GMT")
        wait_for(lambda: emu.open_slots == 1, "the /next again")
        bare = seen(emu.invoke(b"{}"))["headers"]
        assert bare["content-type"] == "application/json"
        assert bare["lambda-runtime-client-context"] == "" and bare["lambda-runtime-trace-id"] == ""
        assert len(bare["lambda-runtime-aws-request-id"]) == 36


@pytest.mark.parametrize(
    ("size", "chunks"),
    [(2048, []), (2049, [2049]), (100_000, [32768, 32768, 32768, 1696]), (6_000_000, [32768] * 183 + [3456])],
)
def test_large_next_bodies_come_in_chunks_of_up_to_32_kib(tmp_path: Path, size: int, chunks: list[int]) -> None:
    event = b'{"pad":"' + b"a" * (size - 10) + b'"}'
    assert len(event) == size
    with make(tmp_path, slots=1) as emu:
        wait_for(lambda: emu.open_slots == 1, "the open /next")
        doc = seen(emu.invoke(event))
        assert doc["len"] == size and doc["chunks"] == chunks
        assert doc["event"]["pad"] == "a" * (size - 10)


def test_error_post_reaches_the_caller_at_once(tmp_path: Path) -> None:
    with make(tmp_path, slots=2) as emu:
        wait_for(lambda: emu.open_slots == 2, "two open /next")
        res = emu.invoke(cmd(do="error"))
        assert res.outcome == "error" and res.status == 200
        assert res.error_type_header == "Function.Boom"
        assert json.loads(res.body)["slot"] in (0, 1)


def test_runtime_exit_fails_every_invoke_in_flight_then_a_new_runtime_serves(tmp_path: Path) -> None:
    with make(tmp_path, slots=2) as emu:
        wait_for(lambda: emu.open_slots == 2, "two open /next")
        first_pid = emu.runtime_pid
        results: list[InvokeResult] = []
        t = threading.Thread(target=lambda: results.append(emu.invoke(cmd(sleep=3.0))))
        t.start()
        wait_for(lambda: emu.in_flight == 1, "the long invoke to be handed out")
        crashed = emu.invoke(cmd(do="exit", code=3))
        t.join(10)
        for res in (crashed, results[0]):
            assert res.outcome == "exit" and res.status == 200
            assert res.body == b'{"errorType":"Runtime.ExitError"}'
        again = seen(emu.invoke(cmd(i="after-exit")))
        assert again["pid"] != first_pid
        assert emu.stats.launches == 2


def _raw_post(address: str, path: str, body: bytes = b"{}") -> tuple[int, bytes]:
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("POST", path, body)
    resp = conn.getresponse()
    out = (resp.status, resp.read())
    conn.close()
    return out


def test_post_for_an_unknown_request_id_is_400(tmp_path: Path) -> None:
    with make(tmp_path, slots=1) as emu:
        wait_for(lambda: emu.open_slots == 1, "the open /next")
        status, body = _raw_post(emu.address, "/2018-06-01/runtime/invocation/no-such-id/response")
        assert status == 400 and json.loads(body)["errorType"] == "InvalidRequestID"


def test_bad_lmi_arguments_fail_loudly(tmp_path: Path) -> None:
    for bad in (0, -1, "four", 10_001, True):
        with pytest.raises(ValueError, match="whole number of slots"):
            make(tmp_path, concurrency=bad)
    with pytest.raises(ValueError, match="needs concurrency"):
        make(tmp_path, concurrency=None, queue=True)
    with make(tmp_path, slots=1) as emu:
        with pytest.raises(ValueError, match="URL path"):
            emu.invoke(b"{}", request_id="a/b")
        with pytest.raises(ValueError, match="CR, LF"):
            emu.invoke(b"{}", trace_id="x\r\ny")


def test_frontdoor_in_lmi_mode_answers_like_rie_lmi(tmp_path: Path) -> None:
    with make(tmp_path, slots=1, function_timeout=1.0) as emu, serve_frontdoor(emu, "127.0.0.1", 0) as door:
        wait_for(lambda: emu.open_slots == 1, "the open /next")
        conn = http.client.HTTPConnection(door.host, door.port, timeout=10)
        conn.request("POST", "/2015-03-31/functions/function/invocations", b'{"n":1}', {"X-Amzn-RequestId": "rid-1", "Content-Type": "application/json"})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 200
        assert resp.getheader("Lambda-Runtime-Function-Response-Mode") == "buffered"
        assert resp.getheader("Content-Type") == "application/json"
        assert body["headers"]["lambda-runtime-aws-request-id"] == "rid-1"
        # The one slot busy: the next caller is refused at once.
        busy: list[int] = []
        t = threading.Thread(target=lambda: busy.append(emu.invoke(cmd(sleep=0.8)).status))
        wait_for(lambda: emu.open_slots == 1, "the /next again")
        t.start()
        wait_for(lambda: emu.in_flight == 1, "the slot to be busy")
        conn.request("POST", "/2015-03-31/functions/function/invocations", b"{}")
        resp = conn.getresponse()
        assert resp.status == 400
        assert resp.getheader("Error-Type") == "Runtime.Unavailable"
        assert resp.read() == b'{"errorType":"Runtime.Unavailable"}'
        t.join(10)
        assert busy == [200]
        conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_invoke_with_max_concurrency_in_the_environment(tmp_path: Path) -> None:
    env = dict(os.environ, AWS_LAMBDA_MAX_CONCURRENCY="2")
    env.pop("AWS_LAMBDA_RUNTIME_API", None)
    out = subprocess.run(
        [sys.executable, "-m", "dispatcher", "invoke", "--config", str(REPO / "examples/python-hello/dispatcher.yaml"), "--repeat", "3", '{"name": "Ada"}'],
        env=env, capture_output=True, timeout=60, cwd=str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr.decode()
    assert b"Ada" in out.stdout
    assert b"3 invocations, 0 failed" in out.stderr
    bad = subprocess.run([sys.executable, "-m", "dispatcher", "serve", "--concurrency", "0"], env=env, capture_output=True, timeout=30)
    assert bad.returncode == 2 and b"--concurrency must be a whole number of slots" in bad.stderr
    env.pop("AWS_LAMBDA_MAX_CONCURRENCY")
    noq = subprocess.run([sys.executable, "-m", "dispatcher", "serve", "--queue"], env=env, capture_output=True, timeout=30)
    assert noq.returncode == 2 and b"--queue needs --concurrency" in noq.stderr
