"""adapters/shell/dispatcher.sh, the POSIX-sh helper for jsonl workers, driven
line by line over real pipes under every shell we can find (dash and bash)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ADAPTERS, require_tool

HELPER = ADAPTERS / "shell" / "dispatcher.sh"
SHELLS = [s for s in ("dash", "bash") if shutil.which(s)]

ECHO = """
. "$HELPER"
if [ -n "$FAIL_INIT" ]; then dispatcher_init_error Function.BadConfig "missing \\"TABLE\\" setting"; exit 1; fi
dispatcher_ready
while dispatcher_next; do
    echo "stray echo goes to the log"
    cat   # stdin is /dev/null now: this must not eat the next invocation
    case $DISPATCHER_EVENT in
    '"error"') dispatcher_error 'my.Err' "quote \\" backslash \\\\ newline
h\u00e9 \u2713" "at one" "at two" ;;
    '"context"') dispatcher_result "$(jq -n -c --arg id "$DISPATCHER_ID" --arg d "$DISPATCHER_DEADLINE_MS" \\
        --arg arn "$DISPATCHER_FUNCTION_ARN" --arg cc "$DISPATCHER_CLIENT_CONTEXT" --arg ci "$DISPATCHER_COGNITO_IDENTITY" \\
        --arg t "$DISPATCHER_TENANT_ID" --arg lc "${LC_ALL-unset}" '{id: $id, d: $d, arn: $arn, cc: $cc, ci: $ci, t: $t, trace: env._X_AMZN_TRACE_ID, lc: $lc}')" ;;
    '"pretty"') dispatcher_result "$(printf '{\\r\\n  "a": 1,\\n  "b": [2,\\n 3]\\n}\\n')" ;;
    '"empty"') dispatcher_result "" ;;
    *) dispatcher_result "$DISPATCHER_EVENT" ;;
    esac
done
echo "bye" >&2
"""

RUN = """
. "$HELPER"
handler() {
    echo "handler log" >&2
    case $DISPATCHER_EVENT in
    '"fail"') return 3 ;;
    *) printf '{"got":%s}' "$DISPATCHER_EVENT" ;;
    esac
}
dispatcher_run handler
"""


def line(rid: str = "req-1", event: bytes = b"{}", trace: str | None = None, cc: str | None = None, tenant: str | None = None) -> bytes:
    """An invocation line as the supervisor writes it (dispatcher/jsonl_codec.py)."""
    from dispatcher.jsonl_codec import encode_event, encode_invoke

    return b"".join(encode_invoke(rid, encode_event(event), 1700000000123, "arn:aws:lambda:x", trace, cc, None, tenant))


class Worker:
    def __init__(self, shell: str, script: str, tmp_path: Path, env: dict[str, str] | None = None) -> None:
        path = tmp_path / "worker.sh"
        path.write_text(script)
        self.stderr_path = tmp_path / "stderr.log"
        full = dict(os.environ, HELPER=str(HELPER), **(env or {}))
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([shell, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=full)

    def readline(self) -> bytes:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def ask(self, data: bytes) -> dict:  # type: ignore[type-arg]
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()
        reply = self.readline()
        assert reply.endswith(b"\n") and reply.count(b"\n") == 1, reply
        return json.loads(reply)  # type: ignore[no-any-return]

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(10)

    def stderr(self) -> str:
        return self.stderr_path.read_text()


@pytest.fixture(params=SHELLS)
def worker(request, tmp_path: Path):  # type: ignore[no-untyped-def]
    require_tool("jq", "apt-get install jq")
    made: list[Worker] = []

    def make(script: str = ECHO, env: dict[str, str] | None = None) -> Worker:
        w = Worker(request.param, script, tmp_path, env)
        made.append(w)
        return w

    yield make
    for w in made:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def test_ready_echo_and_eof(worker) -> None:  # type: ignore[no-untyped-def]
    w = worker()
    assert w.readline() == b'{"ready":true}\n'
    event = '{"s": "h\u00e9 \u2713 \U0001F600", "n": [1, 2.5], "q": "a\\"b,\\"event\\":"}'.encode()
    rid = 'id with "quotes" and \\ and \u00e9'
    reply = w.ask(line(rid, event))
    assert reply == {"id": rid, "result": json.loads(event)}
    assert w.ask(line("req-2", b"[]")) == {"id": "req-2", "result": []}  # the stray cat did not eat it
    assert w.close() == 0
    assert "stray echo goes to the log" in w.stderr() and w.stderr().endswith("bye\n")


def test_context_variables(worker) -> None:  # type: ignore[no-untyped-def]
    w = worker(env={"LC_ALL": "C.UTF-8"})
    w.readline()
    got = w.ask(line("r1", b'"context"', trace="Root=1-abc;Sampled=1", cc='{"client":{"a":"b"}}', tenant="t1"))["result"]
    assert got == {"id": "r1", "d": "1700000000123", "arn": "arn:aws:lambda:x", "cc": '{"client":{"a":"b"}}', "ci": "", "t": "t1", "trace": "Root=1-abc;Sampled=1", "lc": "C.UTF-8"}
    got = w.ask(line("r2", b'"context"'))["result"]
    assert (got["trace"], got["cc"], got["t"]) == (None, "", "")  # absent: _X_AMZN_TRACE_ID unset


def test_error_reply(worker) -> None:  # type: ignore[no-untyped-def]
    w = worker()
    w.readline()
    reply = w.ask(line("r1", b'"error"'))
    assert reply == {"id": "r1", "error": {"type": "my.Err", "message": 'quote " backslash \\ newline\nh\u00e9 \u2713', "stack_trace": ["at one", "at two"]}}
    assert w.ask(line("r2", b"1")) == {"id": "r2", "result": 1}  # the worker goes on


def test_result_with_line_breaks_is_put_on_one_line(worker) -> None:  # type: ignore[no-untyped-def]
    w = worker()
    w.readline()
    assert w.ask(line("r1", b'"pretty"')) == {"id": "r1", "result": {"a": 1, "b": [2, 3]}}
    assert w.ask(line("r2", b'"empty"')) == {"id": "r2", "result": None}


def test_init_error(worker) -> None:  # type: ignore[no-untyped-def]
    w = worker(env={"FAIL_INIT": "1"})
    assert json.loads(w.readline()) == {"init_error": {"type": "Function.BadConfig", "message": 'missing "TABLE" setting', "stack_trace": []}}
    assert w.proc.wait(10) == 1


def test_dispatcher_run(worker) -> None:  # type: ignore[no-untyped-def]
    w = worker(RUN)
    assert w.readline() == b'{"ready":true}\n'
    assert w.ask(line("r1", b'{"a": 1}')) == {"id": "r1", "result": {"got": {"a": 1}}}
    reply = w.ask(line("r2", b'"fail"'))
    assert reply["error"]["type"] == "Function.HandlerError" and "status 3" in reply["error"]["message"]
    assert w.close() == 0
    assert w.stderr().count("handler log") == 2


def test_megabyte_event_without_jq(worker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A jq on PATH that counts its runs: an ordinary invocation must not start one.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    count = tmp_path / "jq-runs"
    (bindir / "jq").write_text(f'#!/bin/sh\necho run >>"{count}"\nexec {shutil.which("jq")} "$@"\n')
    (bindir / "jq").chmod(0o755)
    w = worker(env={"PATH": f"{bindir}:{os.environ['PATH']}"})
    w.readline()
    event = json.dumps({"blob": "\u00e9x" * 500_000, "list": list(range(1000))}, ensure_ascii=False).encode()
    t0 = time.monotonic()
    reply = w.ask(line("r1", event, trace="Root=1-x", tenant="t"))
    elapsed = time.monotonic() - t0
    assert reply["result"] == json.loads(event)
    assert not count.exists(), "dispatcher_next or dispatcher_result started jq for an ordinary invocation"
    print(f"1 MB event round trip through the shell helper: {elapsed * 1000:.0f} ms")
