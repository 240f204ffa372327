"""The emulator's Runtime API and front door over real sockets.

Protocol details are driven from the test itself with a raw socket, the emulator
in external mode (runtime_argv=[]: it launches nothing), so each status code can
be asserted exactly.  The front door runs against a real runtime process.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatcher.emulator import Emulator, EmulatorClosedError, InvokeResult, serve_frontdoor
from dispatcher.emulator._selfbench import measure_pairs

RUNTIME = Path(__file__).resolve().parent / "emulator_runtimes" / "runtime.py"

pytestmark = pytest.mark.timeout(60)


class Client:
    """A raw keep-alive HTTP/1.1 client, as a lean runtime would use."""

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.buf = b""

    def send(self, raw: bytes) -> None:
        self.sock.sendall(raw)

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        lines = [f"{method} {path} HTTP/1.1", "Host: t"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        if "Transfer-Encoding" not in (headers or {}):
            lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return self.read()

    def read(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        self.buf = rest
        if hdrs.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size = int(self._line(), 16)
                body += self._take(size + 2)[:size]
                if size == 0:
                    return int(status_line.split()[1]), hdrs, body
        return int(status_line.split()[1]), hdrs, self._take(int(hdrs.get("content-length", "0")))

    def _fill(self, n: int) -> None:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def _take(self, n: int) -> bytes:
        self._fill(n)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill(len(self.buf) + 1)
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def closed_by_peer(self) -> bool:
        self.sock.settimeout(5)
        return self.sock.recv(1) == b""


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(runtime_argv=[], function_timeout=5) as e:
        yield e


def start_invoke(emu: Emulator, event: bytes = b"{}", **kwargs: object) -> tuple[threading.Thread, list[InvokeResult | Exception]]:
    out: list[InvokeResult | Exception] = []

    def run() -> None:
        try:
            out.append(emu.invoke(event, **kwargs))  # type: ignore[arg-type]
        except Exception as exc:  # handed to the test to assert on
            out.append(exc)

    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_address_is_loopback_with_a_real_port(emu: Emulator) -> None:
    host, port = emu.address.rsplit(":", 1)
    assert host == "127.0.0.1" and 0 < int(port) < 65536


def test_next_blocks_until_an_invoke_then_keep_alive_round_trips(emu: Emulator) -> None:
    c = Client(emu.address)
    c.send(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: t\r\n\r\n")
    c.sock.settimeout(0.3)
    with pytest.raises(socket.timeout):
        c.sock.recv(1)  # long poll: nothing until an invoke is queued
    c.sock.settimeout(10)
    for i in range(3):
        t, out = start_invoke(emu, b'{"i":%d}' % i)
        status, hdrs, body = c.read()
        assert status == 200 and body == b'{"i":%d}' % i
        rid = hdrs["lambda-runtime-aws-request-id"]
        status, reply_headers, reply = c.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", b"[%d]" % i,
                                                 {"Lambda-Runtime-Invocation-Id": hdrs["lambda-runtime-invocation-id"]})
        assert (status, reply) == (202, b'{"status":"OK"}\n')
        assert list(reply_headers) == ["content-type", "date", "content-length"]
        c.send(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: t\r\n\r\n")  # completes the invoke
        t.join(10)
        got = out[0]
        assert isinstance(got, InvokeResult) and got.body == b"[%d]" % i and got.outcome == "success"
        assert got.init_duration_ms is None  # external runtime: not launched by the emulator


def read_raw_head(c: Client) -> list[bytes]:
    while b"\r\n\r\n" not in c.buf:
        c.buf += c.sock.recv(65536)
    return c.buf.partition(b"\r\n\r\n")[0].split(b"\r\n")


def test_next_headers_in_gos_order_with_every_optional_header(emu: Emulator) -> None:
    c = Client(emu.address)
    t, out = start_invoke(emu, b"{}", client_context='{"c":1}', trace_id="Root=1-a", tenant_id="t-1", cognito_identity='{"i":2}')
    c.send(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: t\r\n\r\n")
    head = read_raw_head(c)
    names = [line.split(b":")[0] for line in head[1:]]
    assert names == [
        b"Content-Type", b"Lambda-Runtime-Aws-Request-Id", b"Lambda-Runtime-Aws-Tenant-Id", b"Lambda-Runtime-Client-Context",
        b"Lambda-Runtime-Cognito-Identity", b"Lambda-Runtime-Deadline-Ms", b"Lambda-Runtime-Invocation-Id",
        b"Lambda-Runtime-Invoked-Function-Arn", b"Lambda-Runtime-Trace-Id", b"Date", b"Content-Length",
    ]  # the handler's headers sorted (Go writes a header map sorted), then Date, then the framing
    assert names[:9] == sorted(names[:9])
    _, hdrs, _ = c.read()
    rid = hdrs["lambda-runtime-aws-request-id"]
    c.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", b"{}")
    c.send(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: t\r\n\r\n")
    t.join(10)
    assert isinstance(out[0], InvokeResult) and out[0].outcome == "success"


@pytest.mark.parametrize("size, chunked", [(2048, False), (2049, True), (70_000, True)])
def test_next_body_is_chunked_above_2048_bytes_in_one_chunk(emu: Emulator, size: int, chunked: bool) -> None:
    c = Client(emu.address)
    event = b'"' + b"e" * (size - 2) + b'"'
    t, out = start_invoke(emu, event)
    c.send(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: t\r\n\r\n")
    head = read_raw_head(c)
    if chunked:
        assert head[-1] == b"Transfer-Encoding: chunked" and not any(h.startswith(b"Content-Length") for h in head)
        while not c.buf.endswith(b"0\r\n\r\n"):
            c.buf += c.sock.recv(65536)
        raw_after_head = c.buf.partition(b"\r\n\r\n")[2]
        assert raw_after_head == b"%x\r\n" % size + event + b"\r\n0\r\n\r\n"
    else:
        assert head[-1] == b"Content-Length: %d" % size
    status, hdrs, body = c.read()
    assert status == 200 and body == event
    rid = hdrs["lambda-runtime-aws-request-id"]
    c.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", b"{}")
    c.send(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: t\r\n\r\n")
    t.join(10)
    assert emu.stats.next_chunked == (1 if chunked else 0)


def test_a_request_that_asks_to_close_gets_connection_close_then_the_close(emu: Emulator) -> None:
    c = Client(emu.address)
    t, out = start_invoke(emu, b'"' + b"k" * 3000 + b'"')
    c.send(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    head = read_raw_head(c)
    assert [line.split(b":")[0] for line in head[-3:]] == [b"Date", b"Connection", b"Transfer-Encoding"]
    status, hdrs, body = c.read()
    assert status == 200 and hdrs["connection"] == "close" and len(body) == 3002
    assert c.closed_by_peer()
    c = Client(emu.address)
    rid = hdrs["lambda-runtime-aws-request-id"]
    status, hdrs, _ = c.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", b"{}", {"Connection": "close"})
    assert status == 202 and list(hdrs) == ["content-type", "date", "content-length", "connection"]
    assert c.closed_by_peer()
    c = Client(emu.address)
    c.send(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: t\r\n\r\n")
    t.join(10)
    assert isinstance(out[0], InvokeResult) and out[0].outcome == "success"


def test_chunked_response_upload(emu: Emulator) -> None:
    c = Client(emu.address)
    t, out = start_invoke(emu)
    _, hdrs, _ = c.request("GET", "/2018-06-01/runtime/invocation/next")
    rid = hdrs["lambda-runtime-aws-request-id"]
    status, _, _ = c.request(
        "POST", f"/2018-06-01/runtime/invocation/{rid}/response", b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
        {"Transfer-Encoding": "chunked", "Lambda-Runtime-Function-Response-Mode": "streaming"},
    )
    assert status == 202
    c.send(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: t\r\n\r\n")
    t.join(10)
    assert isinstance(out[0], InvokeResult) and out[0].body == b"abcdefg"


def test_state_errors_match_rapid(emu: Emulator) -> None:
    c = Client(emu.address)
    status, _, body = c.request("POST", "/2018-06-01/runtime/invocation/nope/response", b"{}")
    assert status == 403 and json.loads(body)["errorType"] == "InvalidStateTransition"  # nothing running
    t, out = start_invoke(emu)
    _, hdrs, _ = c.request("GET", "/2018-06-01/runtime/invocation/next")
    rid = hdrs["lambda-runtime-aws-request-id"]
    status, _, body = c.request("POST", "/2018-06-01/runtime/invocation/other-id/response", b"{}")
    assert status == 400 and json.loads(body)["errorType"] == "InvalidRequestID"
    status, _, body = c.request("POST", "/2018-06-01/runtime/init/error", b"{}")
    assert status == 403  # /init/error after init
    assert c.request("POST", f"/2018-06-01/runtime/invocation/{rid}/error", b'{"errorType":"E","errorMessage":"m"}',
                     {"Lambda-Runtime-Function-Error-Type": "Function.Bad"})[0] == 202
    status, _, body = c.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", b"{}")
    assert status == 403 and "RuntimeResponseSentState" in json.loads(body)["errorMessage"]
    c.send(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: t\r\n\r\n")
    t.join(10)
    assert isinstance(out[0], InvokeResult)
    assert out[0].outcome == "error" and out[0].error_type_header == "Function.Bad" and out[0].error_type == "E"
    assert emu.stats.rejected == 4


def test_extension_register_rules(emu: Emulator) -> None:
    c = Client(emu.address)
    status, _, body = c.request("POST", "/2020-01-01/extension/register", b'{"events":[]}')
    assert status == 403 and json.loads(body)["errorType"] == "Extension.InvalidExtensionName"
    status, _, body = c.request("POST", "/2020-01-01/extension/register", b'{"events":["SHUTDOWN"]}', {"Lambda-Extension-Name": "x"})
    assert status == 403 and json.loads(body)["errorType"] == "Extension.InvalidEventType"
    status, hdrs, body = c.request("POST", "/2020-01-01/extension/register", b'{"events":["INVOKE"]}', {"Lambda-Extension-Name": "x"})
    assert status == 200 and len(hdrs["lambda-extension-identifier"]) == 36
    assert json.loads(body) == {"functionName": "test_function", "functionVersion": "$LATEST", "handler": ""}
    status, _, body = c.request("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": "unknown"})
    assert status == 403 and json.loads(body)["errorType"] == "Extension.UnknownExtensionIdentifier"
    # init ends with the first /next; registration closes then
    t, out = start_invoke(emu)
    assert c.request("GET", "/2018-06-01/runtime/invocation/next")[0] == 200
    other = Client(emu.address)
    status, _, body = other.request("POST", "/2020-01-01/extension/register", b'{"events":[]}', {"Lambda-Extension-Name": "late"})
    assert status == 403 and json.loads(body)["errorType"] == "Extension.RegistrationClosed"
    emu.close()
    t.join(10)
    assert isinstance(out[0], EmulatorClosedError)


def test_unknown_paths_methods_and_malformed_requests(emu: Emulator) -> None:
    c = Client(emu.address)
    status, _, body = c.request("GET", "/2018-06-01/runtime/nothing")
    assert status == 404 and json.loads(body)["errorType"] == "NotFound"
    assert c.request("POST", "/2018-06-01/runtime/invocation/next")[0] == 405
    c.send(b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000)
    status, hdrs, body = c.read()
    assert status == 400 and hdrs["connection"] == "close" and "longer than" in json.loads(body)["errorMessage"]
    assert c.closed_by_peer()


def test_oversized_init_error_gets_413_without_a_reset(emu: Emulator) -> None:
    c = Client(emu.address)
    big = b"x" * (6 * 1024 * 1024 + 101)
    status, _, body = c.request("POST", "/2018-06-01/runtime/init/error", big)
    assert status == 413 and json.loads(body)["errorType"] == "RequestEntityTooLarge"
    assert c.request("GET", "/2018-06-01/runtime/nothing")[0] == 404  # the connection is still usable


def test_timeout_in_external_mode_closes_connections(emu: Emulator) -> None:
    c = Client(emu.address)
    t, out = start_invoke(emu, timeout=0.3)
    assert c.request("GET", "/2018-06-01/runtime/invocation/next")[0] == 200
    t.join(10)
    assert isinstance(out[0], InvokeResult) and out[0].outcome == "timeout"
    assert c.closed_by_peer()  # a timed-out sandbox is reset


def test_frontdoor_like_the_rie(tmp_path: Path) -> None:
    env = dict(os.environ, EMU_TEST_LOG=str(tmp_path / "log"))
    with Emulator(runtime_argv=[sys.executable, str(RUNTIME)], env=env, task_root=str(tmp_path)) as emu:
        door = serve_frontdoor(emu, port=0)
        try:
            def post(body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
                req = urllib.request.Request(door.url, data=body, headers=headers or {}, method="POST")
                try:
                    with urllib.request.urlopen(req, timeout=20) as resp:
                        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
                except urllib.error.HTTPError as err:
                    return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()

            status, hdrs, body = post(b'{"name":"Ada"}')
            assert (status, body) == (200, b'{"name":"Ada"}') and "x-amz-function-error" not in hdrs
            ctx = base64.b64encode(b'{"custom":1}').decode()
            status, _, body = post(json.dumps({"do": "headers"}).encode(),
                                   {"X-Amz-Client-Context": ctx, "X-Amzn-Trace-Id": "Root=1-x", "X-Amz-Tenant-Id": "t9"})
            seen = json.loads(body)
            assert seen["lambda-runtime-client-context"] == '{"custom":1}'
            assert seen["lambda-runtime-trace-id"] == "Root=1-x" and seen["lambda-runtime-aws-tenant-id"] == "t9"
            status, hdrs, body = post(json.dumps({"do": "error", "type": "Function.X"}).encode())
            assert status == 200 and hdrs["x-amz-function-error"] == "Unhandled" and json.loads(body)["errorType"] == "MyError"
            status, hdrs, body = post(json.dumps({"do": "exit", "code": 3}).encode())
            assert status == 502 and json.loads(body)["errorType"] == "Runtime.ExitError"
            assert post(b"{}", {"X-Amz-Client-Context": "%%%"})[0] == 400
            # concurrent clients: served one at a time, none lost
            results: list[bytes] = []
            threads = [threading.Thread(target=lambda i=i: results.append(post(b"%d" % i)[2])) for i in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert sorted(results) == [b"%d" % i for i in range(6)]
        finally:
            door.stop()
            door.stop()  # idempotent


def test_selfbench_runs(tmp_path: Path) -> None:
    # A smoke test of the measurement helper only: speed is never asserted.
    assert measure_pairs(0.3) > 0
