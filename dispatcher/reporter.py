"""Everything the supervisor tells the Runtime API: answers, init errors, and
the no-op extension registration.  The loop decides; this module posts and
applies the contract's rules for each status (docs/runtime-api.md, "Status codes").
"""

from __future__ import annotations

from dispatcher.answers import Failure, Streamed, Success, say
from dispatcher.client import ApiClient, ConnectionLost, _connect
from dispatcher import errors as E
from dispatcher.errors import FatalError, HttpError
from dispatcher.xray import error_cause
from dispatcher.runtime_api import (
    ErrorRequest,
    ExtensionNextRequest,
    ExtensionRegisterRequest,
    InitErrorRequest,
    Invocation,
    ResponseRequest,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Reporter", "EXTENSION_NAME"]

EXTENSION_NAME = "lambda-dispatcher"
# Failures only the supervisor makes: nothing else logged them, so the
# supervisor does (at ERROR, with the request id), as Lambda logs its own
# "Task timed out" line.  The stderr tail of an exit message is already in the log.
_OWN_FAILURES = (E.SANDBOX_TIMEDOUT, E.EXIT_ERROR)


class Reporter:
    def __init__(self, api: ApiClient, working_directory: str = ".") -> None:
        self.api = api
        self.working_directory = working_directory  # the worker's: the X-Ray cause names it
        self._ext_sock: Any = None  # kept open: its event/next never returns

    def post(self, inv: Invocation, answer: Success | Failure | Streamed, *, pipeline_next: bool) -> bool:
        """Post the one answer for `inv`.  Returns True when GET /next went out
        with it (pipelined) and is now awaiting its answer on the connection.

        The answer and the next GET /next go out together (HTTP/1.1
        pipelining; the Runtime API answers them in order).  That saves a
        round trip, two context switches, per invocation; an invoke completes
        only at /next anyway (docs/runtime-api.md, "Lifecycle").  After a reset the
        post is retried once on a new connection, alone; 400 or 403 to that
        retry mean the first attempt got through.
        """
        api = self.api
        if isinstance(answer, Streamed):
            return answer.next_sent  # posted as it was produced (dispatcher/stream_relay.py)
        if isinstance(answer, Success):
            req: Any = ResponseRequest(inv.request_id, answer.body, answer.content_type, inv.invocation_id)
        else:
            if answer.error_type in _OWN_FAILURES:
                say(answer.message.split("; last stderr lines:", 1)[0], level="ERROR", request_id=inv.request_id)
            req = ErrorRequest(
                inv.request_id, answer.error_type, answer.message, answer.stack_trace,
                inv.invocation_id, answer.header_type,
                error_cause(self.working_directory, answer.error_type, answer.message, answer.stack_trace),
            )
        return self.send(inv, req.encode(api.address), pipeline_next)

    def send(self, inv: Invocation, buffers: list[Any], pipeline_next: bool) -> bool:
        """Send an answer's request bytes and apply the status rules (see `post`)."""
        api = self.api
        if pipeline_next:
            # One small buffer (the usual answer) takes GET /next along in
            # the same buffer: one send() with no vector to build.
            out = [buffers[0] + api.next_request] if len(buffers) == 1 else buffers + [api.next_request]
        else:
            out = buffers
        try:
            resp = api.request(out)
        except (ConnectionLost, HttpError) as exc:
            return self.retry(inv, buffers, exc)
        return self.judge(inv, resp, pipeline_next, retried=False)

    def retry(self, inv: Invocation, buffers: list[Any], exc: Exception) -> bool:
        """The post (sent with `buffers`) was cut off by `exc`: once more, alone,
        on a new connection.  Returns False: no GET /next went out with it."""
        api = self.api
        say(f"posting the answer for {inv.request_id} failed ({exc}); retrying once on a new connection")
        api.close()
        try:
            resp = api.request(buffers)
        except (ConnectionLost, HttpError) as exc2:
            say(f"posting the answer for {inv.request_id} failed twice: {exc2}; going on")
            return False
        return self.judge(inv, resp, False, retried=True)

    def judge(self, inv: Invocation, resp: Any, pipelined: bool, *, retried: bool) -> bool:
        """The rules for the post's answer `resp`; True when the GET /next sent
        behind it (`pipelined`) is still awaiting its answer on the connection."""
        # A `Connection: close` answer closed the socket: the GET /next
        # pipelined behind it is lost and must be sent again.
        pipelined = pipelined and resp.keep_alive
        if resp.status == 202:
            return pipelined
        body = bytes(resp.body[:500]).decode("utf-8", "replace")
        if resp.status >= 500:
            raise FatalError(f"the Runtime API answered {resp.status} to a post: {body}")
        if retried and resp.status in (400, 403):
            return False  # the first attempt got through before the reset
        # 413: the caller already has Function.ResponseSizeTooLarge and a
        # later /error would get 403; 400/403/410: stale or duplicate.
        # Logged with the body; the loop goes on.
        say(f"the Runtime API answered {resp.status} for {inv.request_id}: {body}")
        return pipelined

    def init_error(self, failure: Failure) -> None:
        say(f"init failed: {failure.error_type}: {failure.message}")
        try:
            self.api.request(InitErrorRequest(failure.error_type, failure.message, failure.stack_trace).encode(self.api.address))
        except (ConnectionLost, HttpError) as exc:
            say(f"could not post /init/error: {exc}")

    def register_extension(self) -> None:
        """A no-op internal extension makes Lambda send SIGTERM before a shutdown
        (docs/runtime-api.md, "Lifecycle"; Go and Rust do the same)."""
        api = self.api
        try:
            resp = api.request(ExtensionRegisterRequest(EXTENSION_NAME).encode(api.address), timeout=2.0)
            ext_id = resp.headers.get("lambda-extension-identifier")
            if resp.status != 200 or not ext_id:
                say(f"extension registration refused ({resp.status}); SIGTERM may not be delivered")
                return
            # The first event/next tells Lambda the extension is initialised.
            # It never returns (no events subscribed): send it, never read it.
            sock = _connect(api.host, api.port)
            sock.sendall(ExtensionNextRequest(ext_id).encode(api.address)[0])
            self._ext_sock = sock
        except (ConnectionLost, HttpError, OSError) as exc:
            say(f"extension registration failed ({exc}); SIGTERM may not be delivered")
