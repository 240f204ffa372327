"""The Runtime API loop: one event loop, every decision made here.

    init:  start worker -> wait `ready` -> (register no-op extension)
    loop:  GET /next -> invoke frame -> reply | deadline | death -> POST -> next

One poll() waits on the API socket, the worker's pipes and pidfd, and the
signal wake-up fd together, so SIGTERM is handled at any moment, including
while idle in GET /next.  Workers only report events (worker.py); this module
turns them into exactly one /response or /error per event fetched, restarts
workers, and enforces deadlines and the shutdown budget.
"""

from __future__ import annotations

import _signal as signal  # `signal` imports enum: ~4 ms of cold start
import sys
import time
TYPE_CHECKING = False  # `import typing` costs ~4 ms of cold start
if TYPE_CHECKING:
    from typing import Any, Callable, Mapping
from select import POLLIN, poll

from dispatcher import errors as E
from dispatcher.answers import Failure, Streamed, Success, convert_result, say, timeout_failure
from dispatcher.client import ApiClient, ConnectionLost
from dispatcher.config import WorkerConfig
from dispatcher.errors import FatalError, HttpError, ProtocolError
from dispatcher.frames import STREAM_KINDS
from dispatcher.http_parse import Response
from dispatcher.process import SpawnError, become_subreaper, group_rss, reap_orphans
from dispatcher.runtime_api import Invocation
from dispatcher.kinds import make_worker
from dispatcher.logs import configure as configure_logs
from dispatcher.reporter import Reporter
from dispatcher.restart import RestartPolicy
from dispatcher.signals import SignalWatcher
from dispatcher.stream_relay import relay_stream
from dispatcher.worker import Event, WorkerSession

__all__ = ["Supervisor", "worker_environment", "run_from_environment"]

_STREAM = object()  # _on_invoke_event: the worker opened a stream
_POLL_MAX_MS = 2**31 - 1  # about 24.8 days; deadlines are at most 900 s ahead (runtime_api.Invocation)
NEXT_RETRIES = 5  # GET /next on a dead connection: PyRIC retries 5 times
_DROP_FROM_WORKER_ENV = ("AWS_LAMBDA_RUNTIME_API", "_LAMBDA_TELEMETRY_LOG_FD", "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET")


class _Pending:
    """What one poll() round produced (mutable, one per round)."""

    __slots__ = ("worker", "api", "api_error", "stop", "timed_out")

    def __init__(self) -> None:
        self.worker: list[Event] = []
        self.api: Response | None = None
        self.api_error: Exception | None = None
        self.stop = False
        self.timed_out = False


def _framing(headers: Mapping[str, str]) -> str:
    cl = headers.get("content-length")
    return f"Content-Length {cl}" if cl is not None else f"Transfer-Encoding {headers.get('transfer-encoding', '?')}"


def worker_environment(config: WorkerConfig, environ: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if k not in _DROP_FROM_WORKER_ENV}
    env.update(config.env)
    env["DISPATCHER_PROTOCOL"] = "1"
    env["DISPATCHER_FEATURES"] = "stream"  # docs/protocol.md "Streaming"
    env["DISPATCHER_MAX_FRAME"] = str(config.max_frame)
    env["DISPATCHER_WORKER"] = config.name
    return env


class Supervisor:
    def __init__(
        self,
        config: WorkerConfig,
        api: ApiClient,
        environ: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        worker_factory: Callable[[WorkerConfig, Mapping[str, str]], WorkerSession] = make_worker,
        register_extension: bool = True,
    ) -> None:
        self.config = config
        self.api = api
        self.environ = environ
        self.clock = clock
        self.wall = wall
        self.worker_factory = worker_factory
        self.register_extension = register_extension
        self.worker_env = worker_environment(config, environ)
        self.worker: WorkerSession | None = None
        self.signals: SignalWatcher | None = None
        self.stop_at: float | None = None  # monotonic end of the shutdown budget
        self.restarts = RestartPolicy(config.name, clock)
        self.reporter = Reporter(api, config.cwd)
        self._preanswer: Failure | None = None  # an event answered without the worker
        self._next_sent = False  # GET /next already on the wire
        self._poll = poll()
        self._registered: dict[int, int] = {}
        self._want: dict[int, int] = {}
        self._poll_key: Any = None
        fn_timeout = environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "")
        self.function_timeout = float(fn_timeout) if fn_timeout.replace(".", "", 1).isdigit() else None

    # ======================================================================
    def run(self) -> int:
        self.signals = SignalWatcher()
        become_subreaper()
        try:
            failure = self._init()
            if failure is not None:
                self.reporter.init_error(failure)
                return 1
            if self.stop_at is not None:
                return self._shutdown()
            if self.register_extension:
                self.reporter.register_extension()
            # Steady state allocates only short-lived, acyclic objects that
            # reference counting frees; the cyclic GC's generation-0 passes
            # would only scan them.  Freeze what init built and make passes rare.
            import gc

            gc.freeze()
            gc.set_threshold(20_000, 20, 20)
            while self.stop_at is None:
                inv = self._next()
                if inv is None:
                    break
                answer, self._preanswer = self._preanswer or self._invoke(inv), None
                self._next_sent = self.reporter.post(inv, answer, pipeline_next=self.stop_at is None)
                if self.restarts.exhausted:
                    raise FatalError(
                        f"worker {self.config.name!r} failed to start {self.restarts.attempts} times in a row; "
                        f"last error: {self.restarts.last.message if self.restarts.last else '?'}"
                    )
                # GET /next goes out before the worker is stopped or recycled:
                # an invoke only completes when /next is called again
                # (docs/runtime-api.md, "Lifecycle"), so housekeeping must not delay it.
                self._send_next()
                self._after_invocation(answer)
            return self._shutdown()
        except FatalError as exc:
            say(f"fatal: {exc}", level="ERROR")
            self._kill_everything()
            return 1
        finally:
            self.api.close()

    # -- init ---------------------------------------------------------------
    def _init(self) -> Failure | None:
        try:
            self.worker = self._spawn()
        except SpawnError as exc:
            return Failure(E.INVALID_ENTRYPOINT, str(exc))
        deadline = self.clock() + self.config.startup_timeout
        failure = self._await_ready(self.worker, deadline)
        if failure is not None:
            self._discard_worker(kill=True)
        return failure

    def _await_ready(self, worker: WorkerSession, deadline: float) -> Failure | None:
        """Wait for `ready`.  None once ready (or when a stop was requested)."""
        name = worker.name
        while not worker.ready:
            got = self._wait(deadline, worker, api=False)
            if got.stop:
                return None
            for ev in got.worker:
                if ev.kind == "message":
                    msg = ev.message or {}
                    if msg["type"] == "ready":
                        worker.ready = True
                        worker.features = list(msg.get("features") or [])  # type: ignore[attr-defined]
                        continue
                    if msg["type"] == "init_error":
                        return Failure(
                            msg["error_type"], msg["error_message"], tuple(msg.get("stack_trace") or ())
                        )
                    return Failure(E.PROTOCOL_ERROR, f"worker {name!r} sent `{msg['type']}` before `ready`")
                if ev.kind == "protocol_error":
                    return Failure(E.PROTOCOL_ERROR, f"worker {name!r}: {ev.detail}")
                if ev.kind == "exited":
                    if worker.ready:  # `ready` came in the same round: it did start
                        return None
                    return Failure(E.EXIT_ERROR, self._exit_message(worker, ev, "before it was ready"))
            if got.timed_out and not worker.ready:
                if self.clock() < worker.started_at + self.config.startup_timeout:
                    return None  # the caller's own deadline came first
                return Failure(
                    E.INIT_TIMEOUT,
                    f"worker {name!r} did not send `ready` within startup_timeout "
                    f"({self.config.startup_timeout:g}s); raise startup_timeout in dispatcher.yaml "
                    "if its init is legitimately slow",
                )
        return None

    def _exit_message(self, worker: WorkerSession, ev: Event, when: str) -> str:
        tail = worker.log.tail()
        detail = ev.detail.replace("exit status", "exited with status").replace("killed by", "was killed by")
        msg = f"worker {worker.name!r} {detail} {when}"
        if tail:
            msg += f"; last stderr lines:\n{tail}"
        return msg

    # -- the poll ---------------------------------------------------------
    def _wait(self, deadline: float | None, worker: WorkerSession | None, api: bool) -> _Pending:
        """One poll() over signals, the worker and (optionally) the API socket."""
        got = _Pending()
        assert self.signals is not None
        sig_fd = self.signals.rfd
        api_fd = self.api.fileno() if api else -1
        if worker is not None:
            wfds = worker.poll_fds()
        else:
            wfds = []
        # One poll object for the life of the supervisor, updated by difference
        # only when the set of descriptors changed (rarely, between rounds).
        key = (api_fd, tuple(wfds))
        want = self._want
        if key != self._poll_key:
            self._poll_key = key
            want = self._want = {sig_fd: POLLIN}
            for fd, ev in wfds:
                want[fd] = ev
            if api:
                want[api_fd] = POLLIN
            registered = self._registered
            p = self._poll
            for fd in [fd for fd in registered if fd not in want]:
                p.unregister(fd)
                del registered[fd]
            for fd, ev in want.items():
                if registered.get(fd) != ev:
                    p.register(fd, ev)
                    registered[fd] = ev
        if self.stop_at is not None:
            deadline = self.stop_at if deadline is None else min(deadline, self.stop_at)
        # Capped: poll() refuses more than a C int of milliseconds (OverflowError).
        timeout = None if deadline is None else min(max(0.0, deadline - self.clock()) * 1000, _POLL_MAX_MS)
        ready = self._poll.poll(timeout)
        if not ready:
            got.timed_out = True
            return got
        for fd, rev in ready:
            if fd == sig_fd:
                self._on_signals(got)
            elif fd == api_fd:
                try:
                    got.api = self.api.read_available()
                except (ConnectionLost, HttpError) as exc:
                    got.api_error = exc
            elif worker is not None and fd in want:
                got.worker.extend(worker.handle(fd, rev))
        return got

    def _on_signals(self, got: _Pending) -> None:
        assert self.signals is not None
        sigs = self.signals.drain()
        if signal.SIGCHLD in sigs:
            keep = {self.worker.proc.pid} if self.worker is not None else set()
            reap_orphans(keep, kill=False)
        if sigs & {signal.SIGTERM, signal.SIGINT} and self.stop_at is None:
            name = "SIGTERM" if signal.SIGTERM in sigs else "SIGINT"
            say(f"{name} received: shutting down within {self.config.shutdown_grace:g}s", info=True)
            self.stop_at = self.clock() + self.config.shutdown_grace
        if self.stop_at is not None:
            got.stop = True

    # -- GET /next -----------------------------------------------------------
    def _send_next(self) -> None:
        if self._next_sent:
            return
        try:
            self.api.send_next()
            self._next_sent = True
        except ConnectionLost:
            self._next_sent = False  # _next() retries with backoff

    def _next(self) -> Invocation | None:
        attempts = 0
        while True:
            if not self._next_sent:
                try:
                    self.api.send_next()
                except ConnectionLost as exc:
                    attempts = self._retry(attempts, exc)
                    if self.stop_at is not None:
                        return None
                    continue
            self._next_sent = False
            while True:
                # With pipelining the /next answer may already sit in the
                # parser's buffer, read together with the post's answer.
                try:
                    early = self.api.buffered_response()
                except HttpError as exc:
                    raise FatalError(f"the Runtime API sent a malformed response to GET /next: {exc}") from None
                if early is not None:
                    got = _Pending()
                    got.api = early
                else:
                    got = self._wait(None, self.worker, api=True)
                self._idle_worker_events(got.worker)
                if got.stop:
                    return None
                if got.api_error is not None:
                    if isinstance(got.api_error, HttpError):
                        raise FatalError(f"the Runtime API sent a malformed response to GET /next: {got.api_error}")
                    cut = self._cut_short_event()
                    if cut is not None:
                        return cut
                    attempts = self._retry(attempts, got.api_error)
                    if self.stop_at is not None:
                        return None
                    break
                resp = got.api
                if resp is None:
                    continue
                if resp.status == 200:
                    try:
                        inv = Invocation.from_headers(resp.headers, resp.body, self.wall(), self.function_timeout)
                    except ProtocolError as exc:
                        say(f"{exc}; going on to the next event")  # no id: nothing can be posted for it
                        break
                    if inv.note is not None:
                        say(f"invocation {inv.request_id}: {inv.note}")
                    return inv
                body = bytes(resp.body[:500]).decode("utf-8", "replace")
                if resp.status >= 500:
                    raise FatalError(f"GET /next answered {resp.status}: {body} (the Runtime API asks the runtime to exit)")
                say(f"GET /next answered {resp.status}: {body}")
                attempts = self._retry(attempts, RuntimeError(f"status {resp.status}"))
                break

    def _cut_short_event(self) -> Invocation | None:
        """An event whose headers arrived but whose body was cut short still has
        a request id: it gets its one answer (Runtime.UnmarshalError)."""
        head = self.api.partial_head
        if head is None or head[0] != 200 or "lambda-runtime-aws-request-id" not in head[2]:
            return None
        try:
            inv = Invocation.from_headers(head[2], b"", self.wall(), self.function_timeout)
        except ProtocolError:
            return None
        self._preanswer = Failure(
            E.UNMARSHAL_ERROR,
            f"the event body was cut short ({_framing(head[2])}); the connection closed before it all arrived",
        )
        return inv

    def _retry(self, attempts: int, exc: Exception) -> int:
        attempts += 1
        if attempts > NEXT_RETRIES:
            raise FatalError(f"the Runtime API at {self.api.address} is unreachable after {NEXT_RETRIES} retries: {exc}")
        say(f"GET /next failed ({exc}); retry {attempts}/{NEXT_RETRIES}")
        self.api.close()
        # Back off, but stay responsive: a SIGTERM during the wait ends it.
        self._wait(self.clock() + min(0.1 * 2 ** (attempts - 1), 2.0), None, api=False)
        return attempts

    def _idle_worker_events(self, events: list[Event]) -> None:
        """A worker may finish starting, or die, while we wait for an event."""
        w = self.worker
        if w is None:
            return
        for ev in events:
            if ev.kind == "message" and ev.message and ev.message["type"] == "ready" and not w.ready:
                w.ready = True
                w.features = list(ev.message.get("features") or [])  # type: ignore[attr-defined]
                self.restarts.started()
                continue
            if ev.kind == "exited" and not w.ready:
                self._start_failed(Failure(E.EXIT_ERROR, self._exit_message(w, ev, "before it was ready")))
            elif ev.kind == "exited":
                say(self._exit_message(w, ev, "while idle") + "; a fresh worker starts with the next event")
            elif ev.kind == "message" and ev.message and ev.message["type"] == "init_error":
                m = ev.message
                self._start_failed(Failure(m["error_type"], m["error_message"], tuple(m.get("stack_trace") or ())))
            else:
                detail = ev.detail or f"sent `{(ev.message or {}).get('type')}` with no invocation in flight"
                say(f"worker {w.name!r} broke the protocol while idle: {detail}; replacing it")
            self._discard_worker(kill=True)
            return

    # -- one invocation ------------------------------------------------------
    def _invoke(self, inv: Invocation) -> Success | Failure | Streamed:
        remaining = inv.deadline_ms / 1000.0 - self.wall()
        deadline = self.clock() + remaining - self.config.timeout_margin
        handed_over = False
        while True:
            failure = self._ensure_worker(deadline)
            if failure is not None:
                return failure
            w = self.worker
            assert w is not None
            if self.stop_at is not None and not w.ready:
                return Failure(E.EXIT_ERROR, "runtime shutting down")
            w.log.request_id = inv.request_id
            try:
                answer = self._exchange(w, inv, deadline)
            finally:
                w.drain_stderr()
                w.log.flush()
                w.log.request_id = None
            if answer == "handover" and not handed_over:
                # Dead before any byte of the invoke frame reached it: the event
                # is not lost, its replacement gets it.
                handed_over = True
                say(f"worker {w.name!r} was found dead before the event reached it; handing the event to a fresh worker")
                self._discard_worker(kill=True)
                continue
            if answer == "handover":
                return Failure(E.EXIT_ERROR, f"worker {w.name!r} died before receiving the event, twice in a row")
            assert not isinstance(answer, str)
            return answer

    def _ensure_worker(self, deadline: float) -> Failure | None:
        if self.worker is not None and self.worker.proc.status is None:
            if self.worker.ready:
                return None
        else:
            self.worker = None
            held = self.restarts.backing_off()
            if held is not None:
                return held  # backing off: answer at once
            try:
                self.worker = self._spawn()
            except SpawnError as exc:
                return self._start_failed(Failure(E.INVALID_ENTRYPOINT, str(exc)))
        w = self.worker
        assert w is not None
        start_deadline = min(deadline, self.clock() + self.config.startup_timeout)
        failure = self._await_ready(w, start_deadline)
        if failure is not None:
            self._discard_worker(kill=True)
            return self._start_failed(failure)
        if not w.ready and self.stop_at is None:
            # The event's deadline came while a replacement was still starting
            # within its startup_timeout: this event times out, the worker
            # keeps starting for the next one and is not a failed start.
            return timeout_failure(self._timeout_seconds_for_deadline(deadline))
        if w.ready:
            self.restarts.started()
        return None

    def _spawn(self) -> WorkerSession:
        w = self.worker_factory(self.config, self.worker_env)
        w.started_at = self.clock()
        return w

    def _start_failed(self, failure: Failure) -> Failure:
        return self.restarts.failed(failure)

    def _exchange(self, w: WorkerSession, inv: Invocation, deadline: float) -> Success | Failure | Streamed | str:
        # A worker that died while idle shows up as EPIPE on this write (or its
        # pidfd), with nothing of the frame delivered: handed over, not failed.
        events = w.send_invoke(inv)
        while True:
            for i, ev in enumerate(events):
                result = self._on_invoke_event(w, inv, ev)
                if result is _STREAM:
                    # The answer is a stream: relayed to the end from here.
                    return relay_stream(self, self.api, w, inv, events[i:], deadline, pipeline_next=self.stop_at is None)
                if result is not None:
                    self._after_reply(w, events[i + 1 :])
                    return result
            limit = deadline
            if self.stop_at is not None:
                # Give the invocation what remains of the budget, keeping a third
                # of the grace period to stop the worker afterwards.
                limit = min(deadline, self.stop_at - self.config.shutdown_grace / 3)
            got = self._wait(limit, w, api=False)
            events = got.worker
            if got.timed_out and not events:
                if self.stop_at is not None and self.clock() < deadline:
                    w.broken = "shutdown"
                    return Failure(E.EXIT_ERROR, "runtime shutting down before the invocation finished")
                w.broken = "timeout"
                return timeout_failure(self._timeout_seconds(inv))

    def _after_reply(self, w: WorkerSession, rest: list[Event]) -> None:
        """Frames that came with the reply: the answer stands, the worker goes."""
        for ev in rest:
            if ev.kind == "exited":
                continue
            detail = ev.detail or f"sent `{(ev.message or {}).get('type')}` after its reply"
            say(f"worker {w.name!r} broke the protocol after replying: {detail}; replacing it once the answer is posted")
            w.broken = detail
            return

    def _on_invoke_event(self, w: WorkerSession, inv: Invocation, ev: Event) -> Success | Failure | str | object | None:
        if ev.kind == "undelivered":
            return "handover"
        if ev.kind == "exited":
            if w.bytes_written == 0 or w.unread_at_exit >= w.bytes_written:
                return "handover"  # nothing of the invoke frame was read
            return Failure(E.EXIT_ERROR, self._exit_message(w, ev, "during the invocation"))
        if ev.kind == "protocol_error":
            w.broken = ev.detail
            return Failure(E.PROTOCOL_ERROR, f"worker {w.name!r}: {ev.detail}")
        msg = ev.message or {}
        kind = msg.get("type")
        if kind in ("result", "error") and msg.get("id") == inv.request_id:
            w.invocations += 1
            if kind == "error":
                return Failure(msg["error_type"], msg["error_message"], tuple(msg.get("stack_trace") or ()))
            return convert_result(msg["payload"])
        if kind == "stream_open" and msg.get("id") == inv.request_id and "stream" in getattr(w, "features", ()):
            return _STREAM
        detail = (
            f"replied for invocation {msg.get('id')!r} while {inv.request_id!r} was in flight"
            if kind in ("result", "error")
            else f"sent `{kind}` without announcing feature `stream` in `ready`"
            if kind in STREAM_KINDS and "stream" not in getattr(w, "features", ())
            else f"sent `{kind}` before `stream_open`"
            if kind in STREAM_KINDS and kind != "stream_open"
            else f"sent `stream_open` for invocation {msg.get('id')!r} while {inv.request_id!r} was in flight"
            if kind == "stream_open"
            else f"sent `{kind}` during an invocation"
        )
        w.broken = detail
        return Failure(E.PROTOCOL_ERROR, f"worker {w.name!r} {detail}")

    # -- what the stream relay asks (dispatcher/stream_relay.py) ------------
    def wake_fd(self) -> int:
        assert self.signals is not None
        return self.signals.rfd

    def on_wake(self) -> None:
        self._on_signals(_Pending())

    def invocation_limit(self, deadline: float) -> tuple[float, bool]:
        """When the invocation in flight must end, and whether that is the shutdown's doing."""
        if self.stop_at is not None:
            # As _exchange: keep a third of the grace period to stop the worker.
            stop = self.stop_at - self.config.shutdown_grace / 3
            if stop < deadline:
                return stop, True
        return deadline, False

    def stopping_now(self) -> bool:
        return self.stop_at is not None

    def exit_message(self, w: WorkerSession, ev: Event) -> str:
        return self._exit_message(w, ev, "during the invocation")

    def timeout_answer(self, inv: Invocation) -> Failure:
        return timeout_failure(self._timeout_seconds(inv))

    def _timeout_seconds(self, inv: Invocation) -> float:
        if self.function_timeout is not None:
            return self.function_timeout
        return float(round(inv.deadline_ms / 1000.0 - inv.received_at))

    def _timeout_seconds_for_deadline(self, deadline: float) -> float:
        if self.function_timeout is not None:
            return self.function_timeout
        return float(round(deadline - self.clock() + self.config.timeout_margin))

    # -- between invocations -----------------------------------------------
    def _after_invocation(self, answer: Success | Failure | Streamed) -> None:
        w = self.worker
        if w is None:
            return
        reason = None
        if w.proc.status is not None:
            reason = "exited"
        elif w.broken == "shutdown":
            return  # _shutdown() stops it within the budget
        elif w.broken:
            reason = w.broken
        elif self.config.max_invocations and w.invocations >= self.config.max_invocations:
            reason = f"max_invocations ({self.config.max_invocations}) reached"
        elif self.config.max_rss:
            rss = group_rss(w.proc.pgid)
            if rss > self.config.max_rss:
                reason = f"resident memory {rss // 1024} KiB over max_rss ({self.config.max_rss // 1024} KiB)"
        if reason is None:
            return
        if reason not in ("exited", "timeout"):
            say(f"replacing worker {w.name!r}: {reason}")
        self._discard_worker(kill=(reason == "timeout" or bool(w.broken)))
        # Start the replacement now; its `ready` is awaited by the next event.
        try:
            self.worker = self._spawn()
        except SpawnError as exc:
            self._start_failed(Failure(E.INVALID_ENTRYPOINT, str(exc)))

    def _discard_worker(self, kill: bool) -> None:
        w = self.worker
        self.worker = None
        if w is None:
            return
        if kill:
            w.terminate(self.clock() + self.config.shutdown_grace, self.clock, polite=False)
        else:
            w.stop(self.config.shutdown_grace)
        reap_orphans(set(), kill=True)

    # -- shutdown ------------------------------------------------------------
    def _shutdown(self) -> int:
        """One budget, shutdown_grace, from the signal: shutdown frame and
        SIGTERM to the worker group at once, SIGKILL when the budget ends."""
        w, self.worker = self.worker, None
        end = self.stop_at if self.stop_at is not None else self.clock() + self.config.shutdown_grace
        if w is not None:
            w.terminate(end, self.clock, polite=True)
        reap_orphans(set(), kill=True)
        say("stopped", info=True)
        return 0

    def _kill_everything(self) -> None:
        w, self.worker = self.worker, None
        if w is not None:
            w.proc.kill_group(signal.SIGKILL)
            w.proc.wait_exit(5.0)
            w.drain_stderr()
            w.proc.close_fds()
        reap_orphans(set(), kill=True)


def run_from_environment(config: WorkerConfig, environ: Mapping[str, str]) -> int:
    address = environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        print(
            "dispatcher run: AWS_LAMBDA_RUNTIME_API is not set. `dispatcher run` is the Lambda bootstrap; "
            "to run a function locally use `dispatcher invoke` (or `dispatcher serve`).",
            file=sys.stderr,
        )
        return 2
    configure_logs(environ)  # AWS_LAMBDA_LOG_FORMAT/LEVEL, _LAMBDA_TELEMETRY_LOG_FD
    return Supervisor(config, ApiClient(address), environ).run()
