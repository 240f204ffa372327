"""The Python worker adapter (adapters/python, `dispatcher_worker`), driven as
a real process over pipes with hand-built frames: no supervisor involved.

Frames are read here with msgpack directly, not with the adapter's codec, so
a codec bug cannot hide itself.  The shared to_worker vectors run twice: in
process against the adapter's decoder, and against a live adapter process
(valid ones are served, malformed ones make it exit 70 with a diagnostic).
"""

from __future__ import annotations

import base64
import json
import os
import select
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

from conftest import ADAPTERS

ADAPTER_SRC = ADAPTERS / "python"
VECTORS = Path(__file__).resolve().parent / "vectors"
sys.path.insert(0, str(VECTORS))
import generate as gen  # noqa: E402  (tests/vectors/generate.py)

sys.path.insert(0, str(ADAPTER_SRC))
from dispatcher_worker import _wire  # noqa: E402

READ_TIMEOUT = 20.0


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DISPATCHER_", "_X_AMZN"))}
    env["PYTHONPATH"] = str(ADAPTER_SRC)  # the source tree, installed or not
    env["DISPATCHER_PROTOCOL"] = "1"
    env.update(extra or {})
    return env


class Worker:
    """One adapter process; frames in on stdin, frames out on stdout, stderr to a file."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.stderr_path = cwd / f"stderr-{time.monotonic_ns()}.log"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, cwd=cwd, env=_env(env)
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin
        self._out = self.proc.stdout.fileno()

    @classmethod
    def spec(cls, spec: str, cwd: Path, *extra: str, env: dict[str, str] | None = None) -> Worker:
        return cls([sys.executable, "-m", "dispatcher_worker", spec, *extra], cwd, env)

    def _read_exact(self, n: int) -> bytes:
        out = bytearray()
        deadline = time.monotonic() + READ_TIMEOUT
        while len(out) < n:
            left = deadline - time.monotonic()
            assert left > 0, f"no frame within {READ_TIMEOUT}s; stderr: {self.stderr()}"
            ready, _, _ = select.select([self._out], [], [], left)
            if ready:
                chunk = os.read(self._out, n - len(out))
                if not chunk:
                    raise EOFError(f"worker closed stdout; stderr: {self.stderr()}")
                out += chunk
        return bytes(out)

    def read_frame(self) -> bytes:
        head = self._read_exact(4)
        return head + self._read_exact(struct.unpack(">I", head)[0])

    def read(self) -> dict[str, Any]:
        return msgpack.unpackb(self.read_frame()[4:], raw=False)

    def send(self, data: bytes) -> None:
        self._in.write(data)
        self._in.flush()

    def invoke(self, payload: bytes = b'{"name":"Ada"}', **fields: Any) -> dict[str, Any]:
        fields.setdefault("deadline_ms", int(time.time() * 1000) + 60_000)
        msg = gen.invoke(payload, **fields)
        self.send(gen.frame(gen.pack(msg)))
        reply = self.read()
        assert reply["id"] == msg["id"], reply
        return reply

    def finish(self, shutdown: bool = True) -> int:
        """Send shutdown (or just EOF), wait, return the exit status."""
        try:
            if shutdown:
                self.send(gen.frame(gen.pack({"type": "shutdown"})))
            self._in.close()
        except BrokenPipeError:
            pass
        try:
            return self.proc.wait(timeout=READ_TIMEOUT)
        finally:
            self._stderr.close()

    def stderr(self) -> str:
        return self.stderr_path.read_text("utf-8", "replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


@pytest.fixture
def app(tmp_path: Path):
    """Write modules into tmp_path, start workers there; every worker is reaped."""
    started: list[Worker] = []

    class App:
        dir = tmp_path

        def write(self, name: str, source: str) -> Path:
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source))
            return path

        def start(self, spec: str, *extra: str, env: dict[str, str] | None = None) -> Worker:
            w = Worker.spec(spec, tmp_path, *extra, env=env)
            started.append(w)
            return w

        def start_argv(self, argv: list[str], env: dict[str, str] | None = None) -> Worker:
            w = Worker(argv, tmp_path, env)
            started.append(w)
            return w

    yield App()
    for w in started:
        w.kill()


HELLO = """
    def handler(event, context):
        return {"message": "Hello, " + event.get("name", "world") + "!"}
"""


def _vector(name: str) -> tuple[bytes, dict[str, Any]]:
    return (VECTORS / f"{name}.bin").read_bytes(), json.loads((VECTORS / f"{name}.json").read_text("utf-8"))


# --- the happy path -------------------------------------------------------------


def test_ready_then_result_frames_are_the_canonical_vectors(app) -> None:
    app.write("app.py", HELLO)
    w = app.start("app:handler")
    assert w.read_frame() == _vector("to_supervisor_ready_stream")[0]
    w.send(_vector("to_worker_invoke_all_nil")[0])
    assert w.read_frame() == _vector("to_supervisor_result_bin")[0]
    assert w.finish() == 0


STREAMING = {"DISPATCHER_FEATURES": "stream"}


def test_a_generator_streams_frames_that_are_the_canonical_vectors(app) -> None:
    app.write("app.py", """
        def handler(event, context):
            yield b"chunk-0\\n"
            yield ""  # an empty piece sends nothing
    """)
    w = app.start("app:handler", env=STREAMING)
    w.read()
    w.send(_vector("to_worker_invoke_all_nil")[0])
    assert w.read_frame() == _vector("to_supervisor_stream_open_nil_content_type")[0]
    assert w.read_frame() == _vector("to_supervisor_stream_chunk")[0]
    assert w.read_frame() == _vector("to_supervisor_stream_end")[0]
    assert w.finish() == 0


def test_a_large_piece_is_cut_into_128k_chunks_and_a_failure_ends_the_stream(app) -> None:
    app.write("app.py", """
        from dispatcher_worker import StreamingResponse
        def handler(event, context):
            def body():
                yield bytes(300 * 1024)
                raise KeyError("gone")
            return StreamingResponse(body(), content_type="text/plain")
    """)
    w = app.start("app:handler", env=STREAMING)
    w.read()
    w.send(gen.frame(gen.pack(gen.invoke(deadline_ms=int(time.time() * 1000) + 60_000))))
    assert w.read() == {"type": "stream_open", "id": gen.REQUEST_ID, "content_type": "text/plain"}
    sizes = []
    while (msg := w.read())["type"] == "stream_chunk":
        sizes.append(len(msg["data"]))
    assert sizes == [128 * 1024, 128 * 1024, 44 * 1024]
    assert msg["type"] == "error" and msg["error_type"] == "KeyError"
    assert w.invoke()["type"] == "stream_open"  # the worker goes on
    w.kill()


def test_http_response_writes_the_prelude_first(app) -> None:
    app.write("app.py", """
        from dispatcher_worker import http_response
        def handler(event, context):
            return http_response(iter([b"body"]), status_code=404, headers={"x-a": "1"}, cookies=["c=1"])
    """)
    w = app.start("app:handler", env=STREAMING)
    w.read()
    opened = w.invoke()
    assert opened["content_type"] == "application/vnd.awslambda.http-integration-response"
    assert w.read()["data"] == b'{"statusCode":404,"headers":{"x-a":"1"},"cookies":["c=1"]}' + bytes(8)
    assert w.read()["data"] == b"body"
    assert w.read()["type"] == "stream_end"
    w.kill()


def test_a_stream_without_the_supervisor_feature_is_a_marshal_error(app) -> None:
    app.write("app.py", """
        def handler(event, context):
            yield b"x"
    """)
    w = app.start("app:handler")
    w.read()
    reply = w.invoke()
    assert reply["type"] == "error" and reply["error_type"] == "Runtime.MarshalError"
    assert "DISPATCHER_FEATURES" in reply["error_message"]
    assert w.finish() == 0


def test_result_json_is_compact_utf8_without_escapes(app) -> None:
    app.write("app.py", """
        def handler(event, context):
            return {"echo": event, "list": [1, 2.5, None, True], "text": "Zoë 世界 🚀"}
    """)
    w = app.start("app:handler")
    w.read()
    reply = w.invoke(gen.UNICODE_EVENT)
    assert reply["type"] == "result"
    expected = '{"echo":{"name":"Zoë Ångström — 世界 🚀"},"list":[1,2.5,null,true],"text":"Zoë 世界 🚀"}'
    assert reply["payload"] == expected.encode()
    assert w.finish() == 0


def test_context_fields(app) -> None:
    app.write("app.py", """
        def handler(event, context):
            cc, ident = context.client_context, context.identity
            return {
                "aws_request_id": context.aws_request_id,
                "invoked_function_arn": context.invoked_function_arn,
                "remaining": context.get_remaining_time_in_millis(),
                "function_name": context.function_name,
                "function_version": context.function_version,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "tenant_id": context.tenant_id,
                "trace_id": context.trace_id,
                "client_context": None if cc is None else {
                    "custom": cc.custom, "env": cc.env,
                    "app_title": cc.client.app_title, "installation_id": cc.client.installation_id,
                },
                "identity": [ident.cognito_identity_id, ident.cognito_identity_pool_id],
            }
    """)
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": "hello",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/hello",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]abc",
    }
    w = app.start("app:handler", env=env)
    w.read()
    deadline = int(time.time() * 1000) + 5000
    got = json.loads(w.invoke(
        deadline_ms=deadline, trace_id=gen.TRACE_ID, client_context=gen.CLIENT_CONTEXT,
        cognito_identity=gen.COGNITO_IDENTITY, tenant_id="tenant-42",
    )["payload"])
    assert 3000 < got.pop("remaining") <= 5000
    assert got == {
        "aws_request_id": gen.REQUEST_ID,
        "invoked_function_arn": gen.FUNCTION_ARN,
        "function_name": "hello",
        "function_version": "$LATEST",
        "memory_limit_in_mb": "512",
        "log_group_name": "/aws/lambda/hello",
        "log_stream_name": "2024/01/01/[$LATEST]abc",
        "tenant_id": "tenant-42",
        "trace_id": gen.TRACE_ID,
        "client_context": {
            "custom": {"name": "Zoë"}, "env": {"locale": "ja_JP", "platform": "Android"},
            "app_title": "Ünïcödé 🚀", "installation_id": "i-1",
        },
        "identity": ["us-east-1:1234", "us-east-1:pool"],
    }
    # Absent headers: no client context; identity is an object of Nones, as on AWS.
    got = json.loads(w.invoke(deadline_ms=1)["payload"])
    assert got["remaining"] == 0
    assert (got["client_context"], got["identity"], got["trace_id"], got["tenant_id"]) == (None, [None, None], None, None)
    assert w.finish() == 0


def test_w3c_trace_context_from_the_client_context_as_awslambdaric(app) -> None:
    app.write("app.py", """
        def handler(event, context):
            cc = context.client_context
            return {"w3c": context.w3c(), "has_w3c_attr": hasattr(cc, "w3c") if cc else None}
    """)
    w = app.start("app.handler")
    w.read()
    client_context = json.dumps({"custom": {}, "w3c": {"traceparent": "00-abc-def-01", "tracestate": "k=v",
                                                      "baggage": 7, "other": "dropped"}})
    got = json.loads(w.invoke(client_context=client_context)["payload"])
    assert got == {"w3c": {"traceparent": "00-abc-def-01", "tracestate": "k=v"}, "has_w3c_attr": False}
    assert json.loads(w.invoke()["payload"]) == {"w3c": {}, "has_w3c_attr": None}
    assert json.loads(w.invoke(client_context='{"w3c": "not an object"}')["payload"])["w3c"] == {}
    assert w.finish() == 0


def test_bad_client_context_is_an_unmarshal_error_and_the_worker_goes_on(app) -> None:
    app.write("app.py", HELLO)
    w = app.start("app:handler")
    w.read()
    reply = w.invoke(client_context="{not json")
    assert reply["type"] == "error" and reply["error_type"] == "Runtime.UnmarshalError"
    assert "client_context is not valid JSON" in reply["error_message"]
    assert w.invoke()["type"] == "result"
    assert w.finish() == 0


def test_trace_id_env_is_set_per_invoke_and_unset_when_absent(app) -> None:
    app.write("app.py", """
        import os
        def handler(event, context):
            return os.environ.get("_X_AMZN_TRACE_ID", "<unset>")
    """)
    w = app.start("app:handler", env={"_X_AMZN_TRACE_ID": "stale-from-env"})
    w.read()
    assert w.invoke()["payload"] == b'"<unset>"'
    assert w.invoke(trace_id=gen.TRACE_ID)["payload"] == json.dumps(gen.TRACE_ID).encode()
    assert w.invoke()["payload"] == b'"<unset>"'
    assert w.finish() == 0


def test_user_stdout_stdin_and_children_never_touch_the_frame_stream(app) -> None:
    app.write("app.py", """
        import os, subprocess, sys
        print("printed at import")
        def handler(event, context):
            print("printed by handler", end="")  # no newline: the flush before the reply matters
            try:
                line = input()
            except EOFError:
                line = "<EOF>"
            os.write(1, b"raw write to fd 1\\n")
            child = subprocess.run(
                [sys.executable, "-c",
                 "import os, sys; print('child stdout'); print(sorted(os.listdir('/proc/self/fd')));"
                 "print(os.readlink('/proc/self/fd/0')); sys.stdout.flush()"],
                capture_output=False,
            )
            sys.stderr.write("stderr line\\n")
            return {"input": line, "child_rc": child.returncode}
    """)
    w = app.start("app:handler")
    assert w.read()["type"] == "ready"
    reply = w.invoke()
    assert reply["type"] == "result", reply
    assert json.loads(reply["payload"]) == {"input": "<EOF>", "child_rc": 0}
    assert w.finish() == 0
    log = w.stderr()
    for text in ("printed at import", "printed by handler", "raw write to fd 1", "child stdout", "stderr line"):
        assert text in log
    # The private stream descriptors are close-on-exec: the child sees only 0, 1, 2
    # (and the one listdir itself opens), and its stdin is /dev/null.
    assert "['0', '1', '2', '3']" in log
    assert "/dev/null" in log


def test_no_log_line_per_invocation(app) -> None:
    app.write("app.py", HELLO)
    w = app.start("app:handler")
    w.read()
    for _ in range(20):
        w.invoke()
    assert w.finish() == 0
    assert w.stderr() == ""


def test_eof_means_shutdown(app) -> None:
    app.write("app.py", HELLO)
    w = app.start("app:handler")
    w.read()
    w.invoke()
    assert w.finish(shutdown=False) == 0


# --- errors during an invocation --------------------------------------------------


def test_handler_exception_becomes_an_error_frame_and_the_worker_goes_on(app) -> None:
    app.write("app.py", """
        class NameProblem(ValueError):
            pass

        def check(name):
            raise NameProblem(f"bad name: {name!r}")

        def handler(event, context):
            if event.get("name") == "bad":
                check(event["name"])
            return "ok"
    """)
    w = app.start("app:handler")
    w.read()
    reply = w.invoke(b'{"name":"bad"}')
    assert reply["type"] == "error"
    assert reply["error_type"] == "NameProblem"
    assert reply["error_message"] == "bad name: 'bad'"
    stack = reply["stack_trace"]
    assert [line.split(", in ")[1].split("\n")[0] for line in stack] == ["handler", "check"]
    assert all(line.startswith('  File "') and "app.py" in line for line in stack)
    assert not any("dispatcher_worker" in line for line in stack)
    assert w.invoke()["payload"] == b'"ok"'
    assert w.finish() == 0


def test_event_that_is_not_json_is_an_unmarshal_error(app) -> None:
    app.write("app.py", HELLO)
    w = app.start("app:handler")
    w.read()
    for payload in (b"not json", b"", b'{"name": "\xff"}'):
        reply = w.invoke(payload)
        assert reply["type"] == "error" and reply["error_type"] == "Runtime.UnmarshalError", payload
        assert reply["error_message"].startswith("Unable to unmarshal input: ")
    assert w.invoke()["type"] == "result"
    assert w.finish() == 0


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("{1, 2}", "not JSON serializable"),
        ("float('nan')", "Out of range float values"),
        ("'\\ud800'", "surrogates not allowed"),
        ("object()", "not JSON serializable"),
    ],
)
def test_value_json_cannot_encode_is_a_marshal_error(app, expr: str, fragment: str) -> None:
    app.write("app.py", f"def handler(event, context):\n    return {expr}\n")
    w = app.start("app:handler")
    w.read()
    reply = w.invoke()
    assert reply["error_type"] == "Runtime.MarshalError"
    assert reply["error_message"].startswith("Unable to marshal response: ") and fragment in reply["error_message"]
    assert w.finish() == 0


def test_bytes_returned_in_json_mode_are_the_body_as_is(app) -> None:
    """As in awslambdaric: a handler may return pre-encoded bytes."""
    app.write("app.py", "def handler(event, context):\n    return b'\\x00raw\\xff'\n")
    w = app.start("app:handler")
    w.read()
    assert w.invoke()["payload"] == b"\x00raw\xff"
    assert w.finish() == 0


def test_response_over_max_frame_is_reported_not_sent(app) -> None:
    app.write("app.py", "def handler(event, context):\n    return 'x' * 5000\n")
    w = app.start("app:handler", env={"DISPATCHER_MAX_FRAME": "1000"})
    w.read()
    reply = w.invoke()
    assert reply["error_type"] == "Function.ResponseSizeTooLarge"
    assert "5002 bytes" in reply["error_message"] and "max_frame" in reply["error_message"]
    assert w.finish() == 0


def test_handler_exception_with_unencodable_message_still_reports(app) -> None:
    app.write("app.py", "def handler(event, context):\n    raise RuntimeError('bad \\udcff name')\n")
    w = app.start("app:handler")
    w.read()
    reply = w.invoke()
    assert reply["error_type"] == "RuntimeError"
    assert reply["error_message"] == "bad \\udcff name"
    assert w.finish() == 0


# --- raw mode --------------------------------------------------------------------


def test_raw_mode_passes_bytes_both_ways(app) -> None:
    app.write("app.py", """
        def handler(payload, context):
            if payload == b"str":
                return "Zoë"
            if payload == b"int":
                return 42
            if payload == b"view":
                return memoryview(b"abcdef")[1:4]
            return payload[::-1]
    """)
    w = app.start("app:handler", "--raw")
    w.read()
    every_byte = bytes(range(256))
    assert w.invoke(every_byte)["payload"] == every_byte[::-1]
    assert w.invoke(b"")["payload"] == b""
    assert w.invoke(b"str")["payload"] == "Zoë".encode()
    assert w.invoke(b"view")["payload"] == b"bcd"
    reply = w.invoke(b"int")
    assert reply["error_type"] == "Runtime.MarshalError" and "not int" in reply["error_message"]
    assert w.finish() == 0


def test_raw_worker_imports_no_json_logging_or_asyncio(app) -> None:
    app.write("app.py", "import sys\ndef handler(payload, context):\n    return ' '.join(sorted(sys.modules))\n")
    w = app.start("app:handler", "--raw")
    w.read()
    modules = set(w.invoke()["payload"].decode().split())
    assert {"dispatcher_worker", "msgpack"} <= modules
    assert not modules & {"json", "logging", "asyncio", "argparse", "traceback"}, modules
    assert w.finish() == 0


@pytest.mark.parametrize("raw", [True, False])
def test_six_megabyte_event_is_fast(app, raw: bool) -> None:
    size = 6 * 1024 * 1024
    if raw:
        app.write("app.py", "def handler(payload, context):\n    return payload\n")
    else:
        app.write("app.py", "def handler(event, context):\n    return {'n': len(event['data'])}\n")
    w = app.start("app:handler", *(["--raw"] if raw else []))
    w.read()
    frame = gen.big_invoke(size)
    start = time.monotonic()
    for _ in range(3):
        w.send(frame)
        reply = w.read()
    elapsed = (time.monotonic() - start) / 3
    if raw:
        assert reply["payload"] == gen.json_payload(size)
    else:
        assert json.loads(reply["payload"]) == {"n": size - len('{"data":""}')}
    # Generous for a 2-core CI box; a copy-per-chunk reader takes far longer.
    assert elapsed < 1.0, f"{elapsed:.3f}s per 6 MB invoke"
    assert w.finish() == 0


# --- loading user code: init_error ------------------------------------------------


def _init_error(w: Worker) -> dict[str, Any]:
    msg = w.read()
    assert msg["type"] == "init_error", msg
    assert w.proc.wait(timeout=READ_TIMEOUT) != 0
    return msg


def test_missing_module_is_import_module_error(app) -> None:
    msg = _init_error(app.start("nope:handler"))
    assert msg["error_type"] == "Runtime.ImportModuleError"
    assert msg["error_message"] == "Unable to import module 'nope': No module named 'nope'"


def test_missing_dependency_is_import_module_error_with_the_import_line(app) -> None:
    app.write("app.py", "import not_installed_dep\ndef handler(e, c):\n    pass\n")
    msg = _init_error(app.start("app:handler"))
    assert msg["error_type"] == "Runtime.ImportModuleError"
    assert "No module named 'not_installed_dep'" in msg["error_message"]
    assert any("app.py" in line and "import not_installed_dep" in line for line in msg["stack_trace"])


def test_syntax_error_is_user_code_syntax_error(app) -> None:
    app.write("app.py", "def handler(event, context)\n    return 1\n")
    msg = _init_error(app.start("app:handler"))
    assert msg["error_type"] == "Runtime.UserCodeSyntaxError"
    assert msg["error_message"].startswith("Syntax error in module 'app': ")
    assert "app.py" in msg["stack_trace"][0] and "Line 1" in msg["stack_trace"][0]


def test_missing_function_is_handler_not_found(app) -> None:
    app.write("app.py", HELLO)
    msg = _init_error(app.start("app:handle"))
    assert msg["error_type"] == "Runtime.HandlerNotFound"
    assert msg["error_message"] == "Handler 'handle' missing on module 'app'"


@pytest.mark.parametrize("spec", ["app", "app:", ":handler", "app:han-dler", "my app:handler"])
def test_bad_spec_is_malformed_handler_name(app, spec: str) -> None:
    msg = _init_error(app.start(spec))
    assert msg["error_type"] == "Runtime.MalformedHandlerName"
    assert f"Bad handler '{spec}'" in msg["error_message"] and "module:function" in msg["error_message"]


def test_exception_at_import_is_reported_with_its_class_name(app) -> None:
    app.write("app.py", """
        import os
        TABLE = os.environ["TABLE_NAME"]
        def handler(event, context):
            return TABLE
    """)
    w = app.start("app:handler")
    msg = _init_error(w)
    assert msg["error_type"] == "KeyError"
    assert msg["error_message"] == "'TABLE_NAME'"
    stack = msg["stack_trace"]
    assert stack[0].startswith('  File "' + str(app.dir / "app.py") + '", line 3, in <module>'), stack
    assert not any("importlib" in line or "dispatcher_worker" in line for line in stack)


def test_no_handler_argument_and_no_HANDLER_is_a_usage_error_with_init_error(app) -> None:
    w = app.start_argv([sys.executable, "-m", "dispatcher_worker"], env={"_HANDLER": ""})
    msg = w.read()
    assert msg["type"] == "init_error" and msg["error_type"] == "Runtime.MalformedHandlerName"
    assert "no HANDLER argument and _HANDLER is not set" in msg["error_message"]
    assert w.proc.wait(timeout=READ_TIMEOUT) == 2
    assert "usage: python -m dispatcher_worker [HANDLER] [--raw]" in w.stderr()


def test_without_an_argument_HANDLER_names_the_handler_as_on_aws(app) -> None:
    app.write("pkg/__init__.py", "")
    app.write("pkg/api.py", HELLO)
    w = app.start_argv([sys.executable, "-m", "dispatcher_worker"], env={"_HANDLER": "pkg.api.handler"})
    assert w.read()["type"] == "ready"
    assert w.invoke()["payload"] == b'{"message":"Hello, Ada!"}'
    assert w.finish() == 0
    # an argument wins over _HANDLER
    app.write("other.py", "def main(event, context):\n    return 'other'\n")
    w = app.start("other.main", env={"_HANDLER": "pkg.api.handler"})
    assert w.read()["type"] == "ready"
    assert w.invoke()["payload"] == b'"other"'
    assert w.finish() == 0


@pytest.mark.parametrize(
    ("spec", "error_type", "message"),
    [
        ("my-module.handler", "Runtime.ImportModuleError", "Unable to import module 'my-module': No module named 'my-module'"),
        ("app.handle", "Runtime.HandlerNotFound", "Handler 'handle' missing on module 'app'"),
        ("src/nowhere.handler", "Runtime.ImportModuleError", "Unable to import module 'src.nowhere': No module named 'src'"),
        ("handler", "Runtime.MalformedHandlerName", "Bad handler 'handler': expected 'module.function'"),
        (".handler", "Runtime.MalformedHandlerName", "Bad handler '.handler'"),
        ("app.", "Runtime.MalformedHandlerName", "Bad handler 'app.'"),
        ("sys.exit", "Runtime.BuiltInModuleConflict", "Cannot use built-in module sys as a handler module"),
    ],
)
def test_lambda_handler_form_fails_as_awslambdaric_does(app, spec: str, error_type: str, message: str) -> None:
    app.write("app.py", HELLO)
    msg = _init_error(app.start(spec))
    assert (msg["error_type"], msg["error_message"].startswith(message)) == (error_type, True), msg


@pytest.mark.parametrize(
    ("files", "spec"),
    [
        ({"app.py": HELLO}, "app.handler"),  # Lambda's Handler setting, awslambdaric's rules
        ({"pkg/__init__.py": "", "pkg/mod.py": HELLO}, "pkg.mod.handler"),  # the last dot splits
        ({"src/app.py": HELLO}, "src/app.handler"),  # "/" is a package separator (namespace package src)
        ({"src/hello.py": HELLO}, "src/hello.py:handler"),  # a file path
        ({"pkg/__init__.py": "", "pkg/mod.py": HELLO}, "pkg.mod:handler"),
        (
            {"app.py": "class Api:\n    @staticmethod\n    def handle(event, context):\n"
                       "        return {'message': 'Hello, ' + event['name'] + '!'}\n"},
            "app:Api.handle",
        ),
    ],
)
def test_handler_spec_forms(app, files: dict[str, str], spec: str) -> None:
    for name, source in files.items():
        app.write(name, source)
    w = app.start(spec)
    assert w.read()["type"] == "ready"
    assert w.invoke()["payload"] == b'{"message":"Hello, Ada!"}'
    assert w.finish() == 0


# --- library form: serve(handler, init=...) --------------------------------------------


def test_library_serve_with_init(app) -> None:
    app.write("main.py", """
        from dispatcher_worker import serve
        state = {}

        def init():
            print("init runs after the stream is protected")
            state["greeting"] = "Hi"

        def handler(event, context):
            return {"message": state["greeting"] + ", " + event["name"] + "!"}

        if __name__ == "__main__":
            raise SystemExit(serve(handler, init=init))
    """)
    w = app.start_argv([sys.executable, "main.py"])
    assert w.read()["type"] == "ready"
    assert w.invoke()["payload"] == b'{"message":"Hi, Ada!"}'
    assert w.finish() == 0
    assert "init runs after the stream is protected" in w.stderr()


def test_library_init_exception_is_init_error(app) -> None:
    app.write("main.py", """
        from dispatcher_worker import serve

        class ConfigMissing(Exception):
            pass

        def init():
            raise ConfigMissing("set TABLE_NAME")

        if __name__ == "__main__":
            raise SystemExit(serve(lambda e, c: None, init=init))
    """)
    msg = _init_error(app.start_argv([sys.executable, "main.py"]))
    assert (msg["error_type"], msg["error_message"]) == ("ConfigMissing", "set TABLE_NAME")
    assert any("in init" in line for line in msg["stack_trace"])


# --- malformed input from the supervisor -------------------------------------------------


def test_invalid_max_frame_setting_exits_70_with_a_diagnostic(app) -> None:
    app.write("app.py", HELLO)
    w = app.start("app:handler", env={"DISPATCHER_MAX_FRAME": "16MB"})
    assert w.proc.wait(timeout=READ_TIMEOUT) == 70
    assert "DISPATCHER_MAX_FRAME='16MB' is not a positive number of bytes" in w.stderr()


def test_eof_inside_a_frame_exits_70(app) -> None:
    app.write("app.py", HELLO)
    w = app.start("app:handler")
    w.read()
    w.send(_vector("to_worker_invoke_all_nil")[0][:-5])
    assert w.finish(shutdown=False) == 70
    assert "malformed frame from the supervisor (truncated_frame" in w.stderr()


# --- the shared vectors, to_worker direction ----------------------------------------------

TO_WORKER = sorted(p.stem for p in VECTORS.glob("to_worker_*.json"))
VALID = [n for n in TO_WORKER if _vector(n)[1]["valid"]]
INVALID = [n for n in TO_WORKER if not _vector(n)[1]["valid"]]


def _decode(data: bytes, max_frame: int) -> dict[str, Any]:
    n = _wire.frame_length(data[:4], max_frame)
    assert len(data) == 4 + n
    return _wire.decode_body(memoryview(data)[4:])


@pytest.mark.parametrize("name", VALID)
def test_adapter_decoder_reads_valid_vector(name: str) -> None:
    data, doc = _vector(name)
    assert _decode(data, doc.get("max_frame", gen.DEFAULT_MAX_FRAME)) == gen.from_json(doc["message"])


@pytest.mark.parametrize("name", INVALID)
def test_adapter_decoder_rejects_invalid_vector(name: str) -> None:
    data, doc = _vector(name)
    with pytest.raises(_wire.FrameError) as info:
        _decode(data, doc.get("max_frame", gen.DEFAULT_MAX_FRAME))
    assert info.value.code == doc["error"]


PROBE = """
    import base64, os
    def handler(payload, context):
        cc = context.client_context
        return (
            base64.b64encode(payload).decode() + "|" + context.aws_request_id + "|"
            + context.invoked_function_arn + "|" + repr(context.trace_id) + "|" + repr(context.tenant_id)
            + "|" + repr(os.environ.get("_X_AMZN_TRACE_ID")) + "|" + repr(cc and cc.custom)
            + "|" + repr(context.identity.cognito_identity_id)
        )
"""


def test_adapter_process_serves_every_valid_vector(app) -> None:
    app.write("probe.py", PROBE)
    for name in VALID:
        data, doc = _vector(name)
        msg = gen.from_json(doc["message"])
        env = {"DISPATCHER_MAX_FRAME": str(doc.get("max_frame", gen.DEFAULT_MAX_FRAME))}
        w = app.start("probe:handler", "--raw", env=env)
        assert w.read()["type"] == "ready"
        w.send(data)
        if msg["type"] == "shutdown":
            assert w.proc.wait(timeout=READ_TIMEOUT) == 0, name
            continue
        reply = w.read()
        assert reply["type"] == "result", (name, reply)
        cc = json.loads(msg["client_context"])["custom"] if msg["client_context"] else None
        ident = json.loads(msg["cognito_identity"])["cognitoIdentityId"] if msg["cognito_identity"] else None
        assert reply["payload"].decode().split("|") == [
            base64.b64encode(msg["payload"]).decode(), msg["id"], msg["function_arn"], repr(msg["trace_id"]),
            repr(msg["tenant_id"]), repr(msg["trace_id"]), repr(cc), repr(ident),
        ], name
        assert w.finish() == 0, name


def test_adapter_process_exits_70_on_every_invalid_vector(app) -> None:
    app.write("app.py", HELLO)
    for name in INVALID:
        data, doc = _vector(name)
        env = {"DISPATCHER_MAX_FRAME": str(doc.get("max_frame", gen.DEFAULT_MAX_FRAME))}
        w = app.start("app:handler", env=env)
        assert w.read()["type"] == "ready"
        w.send(data)
        # Closing stdin too: a header-only vector must fail on its header, not on EOF.
        assert w.finish(shutdown=False) == 70, (name, w.stderr())
        assert f"malformed frame from the supervisor ({doc['error']}: " in w.stderr(), name
