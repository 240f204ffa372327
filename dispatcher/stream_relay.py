"""Moving one streamed response from a worker's pipe to the Runtime API socket.

The supervisor hands over here at a worker's `stream_open` and gets back the
invocation's answer: `Streamed` when the POST went out (the stream is done,
its 202 read), or a `Failure` when nothing was sent yet (posted as an
ordinary /error by the caller).  What to send for each frame is decided by
`dispatcher/streaming.py`; this module only polls and moves bytes.

Back-pressure: while bytes wait for the socket, the worker's stdout is not
polled, so a worker that writes faster than Lambda reads blocks in its own
pipe write, and the supervisor holds at most one read's worth of chunks.
Signals, the worker's stderr and its exit are watched throughout; the
deadline is enforced as for any invocation.
"""

from __future__ import annotations

from select import POLLERR, POLLHUP, POLLIN, POLLOUT, poll
from _socket import MSG_DONTWAIT

from dispatcher import errors as E
from dispatcher.answers import Failure, Streamed, say
from dispatcher.client import POST_TIMEOUT, ApiClient, ConnectionLost
from dispatcher.errors import FatalError, HttpError
from dispatcher.frames import STREAM_KINDS
from dispatcher.streaming import ENDED, Stream, bad_content_type

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Protocol

    from dispatcher.runtime_api import Invocation
    from dispatcher.worker import Event, WorkerSession

    class RelayHost(Protocol):
        """What the relay asks of the supervisor that runs it."""

        clock: Callable[[], float]

        def wake_fd(self) -> int: ...  # readable when a signal came
        def on_wake(self) -> None: ...  # handle the signals
        def invocation_limit(self, deadline: float) -> tuple[float, bool]: ...  # (limit, True if it is the shutdown's)
        def stopping_now(self) -> bool: ...  # a shutdown is under way: no GET /next behind the stream
        def exit_message(self, w: WorkerSession, ev: Event) -> str: ...
        def timeout_answer(self, inv: Invocation) -> Failure: ...


__all__ = ["relay_stream"]


def relay_stream(
    host: RelayHost, api: ApiClient, w: WorkerSession, inv: Invocation, events: list[Event], deadline: float,
    *, pipeline_next: bool,
) -> Streamed | Failure:
    """Relay the stream that starts with events[0] (a stream_open) to the end."""
    return _Relay(host, api, w, inv, deadline, pipeline_next).run(events)


class _Relay:
    def __init__(self, host: RelayHost, api: ApiClient, w: WorkerSession, inv: Invocation, deadline: float, pipeline_next: bool) -> None:
        self.host = host
        self.api = api
        self.w = w
        self.inv = inv
        self.deadline = deadline
        self.pipeline_next = pipeline_next
        self.stream: Stream | None = None
        self.out: list[memoryview] = []
        self.api_gone = False  # the connection broke or answered early: drop the rest
        self.next_queued = False  # GET /next is queued behind the stream's end

    # -- the loop -------------------------------------------------------------
    def run(self, events: list[Event]) -> Streamed | Failure:
        host, w = self.host, self.w
        self._events(events)
        p = poll()
        clock = host.clock
        flush_by: float | None = None
        while True:
            self._send()
            stream = self.stream
            assert stream is not None
            if stream.state is ENDED and (not self.out or self.api_gone):
                break
            now = clock()
            if stream.state is ENDED:
                # Only the tail is left to send; an API that stops reading gets
                # the usual post timeout, not forever.
                if flush_by is None:
                    flush_by = now + POST_TIMEOUT
                if now >= flush_by:
                    say(f"the Runtime API did not take the end of the stream for {self.inv.request_id} within {POST_TIMEOUT:.0f} s; closing")
                    self._lose_api()
                    break
                limit = flush_by
            else:
                limit, shutting_down = host.invocation_limit(self.deadline)
                if now >= limit:
                    self._on_limit(shutting_down)
                    continue
            fds = {host.wake_fd(): POLLIN}
            api_fd = self.api.fileno() if not self.api_gone and stream.started else -1
            if stream.state is not ENDED:  # after the end, the supervisor takes the worker back
                for fd, ev in w.poll_fds():
                    if fd == w.proc.stdout and self.out:
                        continue  # back-pressure: the socket first
                    fds[fd] = ev
            if api_fd >= 0:
                fds[api_fd] = POLLIN | (POLLOUT if self.out else 0)
            for fd, ev in fds.items():
                p.register(fd, ev)
            ready = p.poll(max(0.0, limit - now) * 1000)
            for fd in fds:
                p.unregister(fd)
            for fd, rev in ready:
                if fd == api_fd:
                    if rev & (POLLIN | POLLERR | POLLHUP):
                        self._api_readable()
                elif fd == w.proc.stdout and hasattr(w, "read_once"):
                    self._events(w.read_once())
                elif fd in fds and fd != host.wake_fd():
                    self._events(w.handle(fd, rev))
                else:
                    host.on_wake()
        return self._finish()

    # -- worker events -------------------------------------------------------------
    def _events(self, events: list[Event]) -> None:
        for i, ev in enumerate(events):
            if self.stream is not None and self.stream.state is ENDED:
                self._after_end(events[i:])
                return
            self._event(ev)

    def _event(self, ev: Event) -> None:
        w, inv = self.w, self.inv
        if ev.kind == "exited":
            self._fail(Failure(E.EXIT_ERROR, self.host.exit_message(w, ev)))
            return
        if ev.kind != "message":
            w.broken = ev.detail or ev.kind
            self._fail(Failure(E.PROTOCOL_ERROR, f"worker {w.name!r}: {w.broken}"))
            return
        msg = ev.message or {}
        kind = msg["type"]
        if msg.get("id") != inv.request_id or kind not in ("stream_chunk", "stream_end", "error", "stream_open"):
            self._protocol_error(
                f"sent `{kind}` for invocation {msg.get('id')!r} during the stream of {inv.request_id!r}"
                if kind in STREAM_KINDS or kind in ("result", "error")
                else f"sent `{kind}` during a stream"
            )
            return
        if kind == "stream_open":
            if self.stream is not None:
                self._protocol_error("sent a second `stream_open` for the same invocation")
                return
            ctype = msg.get("content_type")
            self.stream = Stream(inv, ctype, self.api.address)
            why = None if ctype is None else bad_content_type(ctype)
            if why is not None:
                self._protocol_error(f"sent `stream_open` with content_type {ctype[:80]!r}: it {why}")
            return
        assert self.stream is not None
        if kind == "stream_chunk":
            self._queue(self.stream.chunk(msg["data"]))
            if self.stream.cut:
                self.stream.cut = False
                say(
                    f"the stream for {inv.request_id} passed Lambda's limit of {self.stream.limit} bytes: "
                    "cut with Function.ResponseSizeTooLarge; the rest is dropped"
                )
            return
        w.invocations += 1
        if kind == "stream_end":
            self._queue(self.stream.end())
            return
        self._fail(Failure(msg["error_type"], msg["error_message"], tuple(msg.get("stack_trace") or ())))

    def _protocol_error(self, detail: str) -> None:
        self.w.broken = detail
        self._fail(Failure(E.PROTOCOL_ERROR, f"worker {self.w.name!r} {detail}"))

    def _fail(self, failure: Failure) -> None:
        if self.stream is None:  # cannot happen: events[0] is a stream_open
            self.stream = Stream(self.inv, None, self.api.address)
        self._queue(self.stream.fail(failure))

    def _after_end(self, rest: list[Event]) -> None:
        """Frames after the stream's end: the answer stands, the worker goes."""
        for ev in rest:
            if ev.kind == "exited":
                continue
            detail = ev.detail or f"sent `{(ev.message or {}).get('type')}` after its stream ended"
            say(f"worker {self.w.name!r} broke the protocol after its stream: {detail}; replacing it")
            self.w.broken = detail
            return

    def _on_limit(self, shutting_down: bool) -> None:
        w = self.w
        if shutting_down:
            w.broken = "shutdown"
            self._fail(Failure(E.EXIT_ERROR, "runtime shutting down before the invocation finished"))
        else:
            w.broken = "timeout"
            self._fail(self.host.timeout_answer(self.inv))

    # -- the socket ------------------------------------------------------------
    def _queue(self, buffers: list[Any]) -> None:
        if self.api_gone:
            return
        out = self.out
        for b in buffers:
            if len(b):
                out.append(memoryview(b).cast("B"))
        stream = self.stream
        if (
            self.pipeline_next and not self.next_queued and stream is not None and stream.state is ENDED
            and stream.started and not self.host.stopping_now()
        ):
            # The stream's end and the next GET /next leave together (pipelined).
            out.append(memoryview(self.api.next_request))
            self.next_queued = True
        self._send()

    def _send(self) -> None:
        out = self.out
        while out and not self.api_gone:
            try:
                n = self.api.connect().sendmsg(out[:64], [], MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except (OSError, ConnectionLost) as exc:
                say(f"sending the stream for {self.inv.request_id} to the Runtime API failed: {exc}; dropping the rest")
                self._lose_api()
                return
            while n:
                head = out[0]
                if n >= len(head):
                    n -= len(head)
                    out.pop(0)
                else:
                    out[0] = head[n:]
                    n = 0

    def _api_readable(self) -> None:
        """An answer before the body is complete: Lambda refused the stream."""
        try:
            resp = self.api.read_available()
        except (ConnectionLost, HttpError) as exc:
            say(f"the Runtime API connection broke during the stream for {self.inv.request_id}: {exc}; dropping the rest")
            self._lose_api()
            return
        if resp is None:
            return
        body = bytes(resp.body[:500]).decode("utf-8", "replace")
        say(f"the Runtime API answered {resp.status} during the stream for {self.inv.request_id}: {body}; dropping the rest")
        self._lose_api()

    def _lose_api(self) -> None:
        self.api_gone = True
        self.out.clear()
        self.api.close()
        if self.stream is not None:
            self.stream.abandon()

    def _finish(self) -> Streamed | Failure:
        stream = self.stream
        assert stream is not None
        if not stream.started and stream.failure is not None:
            return stream.failure  # nothing was sent: an ordinary /error
        next_sent = False
        if not self.api_gone:
            next_sent = self.next_queued
            try:
                resp = self.api.await_response()
            except (ConnectionLost, HttpError) as exc:
                say(f"no answer from the Runtime API to the stream for {self.inv.request_id}: {exc}")
                self.api.close()
                return Streamed(False, stream.failure, stream.sent)
            if resp.status != 202:
                body = bytes(resp.body[:500]).decode("utf-8", "replace")
                if resp.status >= 500:
                    raise FatalError(f"the Runtime API answered {resp.status} to a streamed response: {body}")
                say(f"the Runtime API answered {resp.status} for {self.inv.request_id}: {body}")
        return Streamed(next_sent, stream.failure, stream.sent)
