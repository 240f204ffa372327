"""The RIE-compatible invoke endpoint: POST /2015-03-31/functions/function/invocations.

Lets curl, SAM-style tooling and tests invoke the emulated function over HTTP
the way they would invoke AWS's Runtime Interface Emulator.  Not a hot path, so
it is a plain threaded http.server; ordering and one-at-a-time execution come
from `Emulator.invoke`, which queues concurrent callers in arrival order.

Differences from the RIE, on purpose: X-Amzn-Trace-Id is forwarded (the RIE
drops it), errors carry `X-Amz-Function-Error: Unhandled` as the real Invoke API
does, and the runtime's Content-Type is passed on (the RIE sends text/plain).
A streamed answer is streamed to the caller with chunked transfer encoding as
it arrives (the RIE buffers it whole), an error after its first byte in the
trailers, and an HTTP-integration prelude applied as a function URL does
(docs/streaming.md).

In LMI mode (an emulator with `concurrency`) callers run at once and the
headers follow RIE-LMI: X-Amzn-RequestId becomes the request id, Content-Type
and the still-base64 client context are passed to the runtime, X-Amz-Tenant-Id
is not; a success carries `Lambda-Runtime-Function-Response-Mode: buffered`
and a platform error (Runtime.Unavailable, Sandbox.Timedout,
Runtime.ExitError) an `Error-Type` header.
"""

from __future__ import annotations

import base64
import binascii
import http.server
import json
import re
import socket
import threading
from collections.abc import Iterator

from .emulator import Emulator
from .model import EmulatorError, InvokeResult, StreamStart
from .prelude import PreludeError, PreludeSplitter, is_http_integration

__all__ = ["FrontDoor", "serve_frontdoor"]

_INVOKE_PATH = re.compile(r"/2015-03-31/functions/([A-Za-z0-9_:$.-]+)/invocations")
_MAX_EVENT = 6 * 1024 * 1024  # synchronous invoke payload limit
_TRAILER_NAMES = "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"


def _error_json(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass  # the CLI owns logging; a request line per invoke is noise

    def setup(self) -> None:
        super().setup()
        # Streamed chunks go out as written, not held back by Nagle's algorithm.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        # As the RIE's Go server writes it: the handler's headers sorted, then
        # Date and Content-Length; no Server header.
        self.log_request(status)
        self.send_response_only(status)
        for name, value in sorted((headers or {"Content-Type": "application/json"}).items()):
            self.send_header(name, value)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._reply(404 if not _INVOKE_PATH.fullmatch(self.path) else 405, _error_json(
            "ResourceNotFoundException", f"use POST /2015-03-31/functions/function/invocations, not GET {self.path}"))

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        if not _INVOKE_PATH.fullmatch(self.path.partition("?")[0]):
            self._reply(404, _error_json("ResourceNotFoundException", f"no such path {self.path}: use /2015-03-31/functions/function/invocations"))
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self._reply(400, _error_json("InvalidRequestContentException", "Content-Length is not a number"))
            return
        if length < 0 or length > _MAX_EVENT:
            self.close_connection = True
            self._reply(413, _error_json("RequestTooLargeException", f"request payload of {length} bytes exceeds the {_MAX_EVENT}-byte limit"))
            return
        event = self.rfile.read(length) if length else b""
        if self.server.emulator.concurrency is not None:
            self._invoke_lmi(event)
            return
        client_context = None
        raw_context = self.headers.get("X-Amz-Client-Context")
        if raw_context:
            try:
                client_context = base64.b64decode(raw_context, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                self._reply(400, _error_json("InvalidRequestContentException", "X-Amz-Client-Context must be base64 of UTF-8 JSON"))
                return
        try:
            items = self.server.emulator.invoke_stream(
                event,
                client_context=client_context,
                trace_id=self.headers.get("X-Amzn-Trace-Id"),
                tenant_id=self.headers.get("X-Amz-Tenant-Id"),
            )
            first = next(items)
            if isinstance(first, StreamStart):
                self._stream(first, items)
                return
        except (EmulatorError, ValueError) as exc:
            self._reply(500, _error_json("ServiceException", str(exc)))
            return
        assert isinstance(first, InvokeResult)
        self._result(first)

    def _result(self, result: InvokeResult) -> None:
        headers = {
            "Content-Type": result.content_type or "application/json",
            "X-Amzn-RequestId": result.request_id,
            "X-Amz-Executed-Version": "$LATEST",
        }
        if result.outcome != "success":
            headers["X-Amz-Function-Error"] = "Unhandled"
            if result.outcome != "error":
                headers["Content-Type"] = "application/json"
        self._reply(result.status, result.body, headers)

    def _invoke_lmi(self, event: bytes) -> None:
        try:
            result = self.server.emulator.invoke(
                event,
                client_context=self.headers.get("X-Amz-Client-Context"),
                trace_id=self.headers.get("X-Amzn-Trace-Id"),
                request_id=self.headers.get("X-Amzn-RequestId") or None,
                content_type=self.headers.get("Content-Type"),
            )
        except (EmulatorError, ValueError) as exc:
            self._reply(500, _error_json("ServiceException", str(exc)))
            return
        headers = {"X-Amzn-RequestId": result.request_id, "X-Amz-Executed-Version": "$LATEST"}
        if result.outcome in ("success", "error"):
            headers["Content-Type"] = result.content_type or "application/json"
            headers["Lambda-Runtime-Function-Response-Mode"] = "buffered"
            if result.outcome == "error":
                headers["X-Amz-Function-Error"] = "Unhandled"
        else:
            headers["Error-Type"] = result.error_type or "Runtime.Unknown"
            headers["Content-Type"] = "text/plain; charset=utf-8" if result.outcome == "timeout" else "application/json"
            headers["X-Amz-Function-Error"] = "Unhandled"
        self._reply(result.status, result.body, headers)


    # -- streamed answers ---------------------------------------------------------
    def _stream(self, start: StreamStart, items: Iterator[StreamStart | bytes | InvokeResult]) -> None:
        """Forward each piece as it arrives (chunked), the error after the first byte as trailers."""
        splitter = PreludeSplitter() if is_http_integration(start.content_type) else None
        started = False
        if splitter is None:
            self._begin(200, [("Content-Type", start.content_type or "application/octet-stream")], start.request_id)
            started = True
        result: InvokeResult | None = None
        try:
            for item in items:
                if isinstance(item, InvokeResult):
                    result = item
                    break
                data = item
                if not started:
                    assert splitter is not None and isinstance(data, bytes)
                    prelude, data = splitter.feed(data)
                    if prelude is None:
                        continue
                    self._begin_prelude(prelude, start.request_id)
                    started = True
                if data:
                    self.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))
            assert result is not None
            if not started:
                assert splitter is not None
                if result.outcome != "success":
                    self._result(result)
                    return
                self._begin_prelude(splitter.finish(), start.request_id)
            self.wfile.write(b"0\r\n" + self._trailers(result) + b"\r\n")
        except PreludeError as exc:
            _drain(items)
            self._reply(502, _error_json("Runtime.InvalidHttpIntegrationPrelude", str(exc)))
        except OSError:  # the caller went away: let the invoke finish unseen
            self.close_connection = True
            _drain(items)

    def _begin(self, status: int, headers: list[tuple[str, str]], request_id: str) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("X-Amzn-RequestId", request_id)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Trailer", _TRAILER_NAMES)
        self.end_headers()

    def _begin_prelude(self, prelude, request_id: str) -> None:  # type: ignore[no-untyped-def]
        headers = list(prelude.headers) + [("Set-Cookie", c) for c in prelude.cookies]
        self._begin(prelude.status, headers, request_id)

    @staticmethod
    def _trailers(result: InvokeResult) -> bytes:
        if result.outcome != "success":  # died or timed out mid-stream: the platform's error
            error_type, body = result.error_type or "Runtime.Unknown", result.body
        elif result.stream_error_type is not None:
            error_type, body = result.stream_error_type, result.stream_error_body or b""
        else:
            return b""
        return (
            b"Lambda-Runtime-Function-Error-Type: " + error_type.encode("latin-1", "replace")
            + b"\r\nLambda-Runtime-Function-Error-Body: " + base64.b64encode(body) + b"\r\n"
        )


def _drain(items: Iterator[object]) -> None:
    for _ in items:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a burst of concurrent callers
    # overflowed it and the kernel reset the extra connections.
    request_queue_size = 128
    emulator: Emulator


class FrontDoor:
    """A running front door.  `stop()` (idempotent) closes it; the emulator stays up."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        host, port = server.server_address[:2]
        self.host: str = str(host)
        self.port: int = int(port)
        self.url = f"http://{self.host}:{self.port}/2015-03-31/functions/function/invocations"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="lambda-frontdoor", daemon=True)
        self._thread.start()
        self._stopped = False
        self._done = threading.Event()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stop() (from another thread or a signal handler); True once stopped."""
        return self._done.wait(timeout)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._done.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> FrontDoor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_frontdoor(emulator: Emulator, host: str = "127.0.0.1", port: int = 9000) -> FrontDoor:
    """Serve the RIE invoke endpoint for `emulator` in a background thread (port 0: pick one)."""
    server = _Server((host, port), _Handler)
    server.emulator = emulator
    return FrontDoor(server)
