"""The emulated sandbox: Runtime API routes, invoke queue, timers, runtime lifecycle.

Runs entirely on the server loop's thread, so it needs no locks.  Requests are
classified into events of the table in `state.py`, which names the action to
run; this module and its mixins only implement those actions (posts.py: the
answers the runtime posts; failures.py: exits, timeouts and init failures;
streamed.py: streamed answers; callers.py: the outcome handed to each caller;
routes.py: the routes off the invoke hot path).  Invokes arrive from other
threads through `Loop.call_soon_threadsafe(sandbox.enqueue)` and are served one
at a time, in order; each caller waits on its own `Invoke.done` event.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import state as st
from ._http import BodyPart, Request
from ._render import CLASSIC_CHUNKS, GO_BUFFER, ChunkPolicy, date_line, frame_body, render_error
from .callers import Callers
from .model import STATUS_FOR, EmulatorClosedError, EmulatorError, error_document
from .extensions import Extensions
from .invoke import Invoke
from .report import Lifecycle
from .routes import NEXT_PATH, Routes
from .runtime import OutputSink, RuntimeProcess, build_env, describe_exit, function_arn
from .server import Connection, Loop
from .failures import Failures
from .posts import _HDR_INVOCATION_ID, Posts
from .streamed import StreamedAnswers

__all__ = ["Sandbox", "SandboxConfig", "NEXT_PATH"]

log = logging.getLogger(__name__)

TIMEOUT_GRACE = 0.1  # the RIE answers about 100 ms after the deadline



@dataclass(frozen=True)
class SandboxConfig:
    runtime_argv: tuple[str, ...]  # empty: the runtime is started by someone else
    env: dict[str, str]
    function_name: str
    function_timeout: float
    handler: str | None
    task_root: str
    runtime_stdout: OutputSink = None
    runtime_stderr: OutputSink = None
    init_timeout: float = 10.0
    shutdown_grace: float = 0.5
    autoinvoke: bytes | None = None  # serve this event forever, with no callers (self-benchmark)
    lifecycle: Lifecycle | None = None  # writes START/END/REPORT (dispatcher invoke/serve)
    # How a /next body above Go's 2,048-byte buffer is cut into chunks (classic RAPID: one chunk).
    next_chunks: ChunkPolicy = CLASSIC_CHUNKS


class Sandbox(Posts, Failures, StreamedAnswers, Callers, Routes):
    """Implements the actions of state.TRANSITIONS against one loop and one runtime at a time."""

    def __init__(self, loop: Loop, config: SandboxConfig) -> None:
        self.loop = loop
        self.config = config
        self.state = st.NO_RUNTIME
        self.wake_at: float | None = None
        self.queue: collections.deque[Invoke] = collections.deque()
        self.current: Invoke | None = None
        self.parked: Connection | None = None
        self.runtime: RuntimeProcess | None = None
        self.exit_code: int | None = None
        self.init_started = 0.0
        self.init_for: Invoke | None = None
        self.init_error: tuple[bytes, str | None, str | None] | None = None  # body, type header, content type
        self.pending_failure: Callable[[Invoke], None] | None = None  # an eager init failed: tell the next invoke
        self.registration_open = True
        self.extensions = Extensions(loop, config.function_name, config.handler)
        self.closing = False
        self.on_closed: Callable[[], None] | None = None
        self.address = "%s:%d" % loop.address
        self.status_for = STATUS_FOR
        self._arn = function_arn(config.function_name).encode()
        self._arn_line = b"\r\nLambda-Runtime-Invoked-Function-Arn: " + self._arn
        self._external = not config.runtime_argv
        # counters (read from other threads as a snapshot; ints are safe under the GIL)
        self.handed_out = self.answered = self.errors = self.no_echo = self.rejected = 0
        self.init_errors = self.launches = self.timeouts = self.exits = self.invokes = self.next_chunked = 0
        self._table: dict[tuple[str, str], tuple[str, Callable[[Connection | None, Request | None], None]]] = {
            key: (nxt, getattr(self, "_a_" + action)) for key, (nxt, action) in st.TRANSITIONS.items()
        }
        self._echo: bytes | None = None  # Lambda-Runtime-Invocation-Id of the post being handled
        self.stream_conn: Connection | None = None  # where the current streamed answer arrives

    # -- entry points (loop thread) ----------------------------------------------

    def enqueue(self, inv: Invoke) -> None:
        if self.closing:
            self._fail_waiter(inv, EmulatorClosedError("the emulator was closed before this invoke ran"))
            return
        self.queue.append(inv)
        self._pump()

    def start_runtime(self) -> None:
        if not self.closing and self.state == st.NO_RUNTIME and not self._external:
            self._fire(st.LAUNCH)

    def handle(self, conn: Connection, req: Request | BodyPart) -> None:
        if type(req) is BodyPart:
            self._stream_part(conn, req)
            return
        assert isinstance(req, Request)
        target = req.target
        if req.method == b"GET" and target == NEXT_PATH:
            self._fire(st.NEXT, conn, req)
            return
        cur = self.current
        if req.method == b"POST" and cur is not None and (target == cur.resp_path or target == cur.err_path):
            echo = self._echo = req.header(_HDR_INVOCATION_ID)
            if echo is not None and echo != cur.invocation_id:
                event = st.STALE_POST  # a reply cross-wired from an earlier invoke
            elif req.too_large:
                event = st.TOO_LARGE
            elif req.streaming and target == cur.resp_path:
                event = st.STREAM_OPEN
            else:
                event = st.RESPONSE if target == cur.resp_path else st.ERROR
            self._fire(event, conn, req)
            return
        self._route_other(conn, req)

    def on_timer(self) -> None:
        self.wake_at = None
        if self.closing:
            self._finish_close()
        else:
            self._fire(st.DEADLINE)

    def on_close(self, conn: Connection) -> None:
        if conn is self.parked:
            self.parked = None
        self.extensions.forget(conn)

    def on_crash(self) -> None:
        exc = EmulatorError("the emulator's server loop crashed (see the log); this invoke could not complete")
        self._fail_all(exc)
        if self.runtime is not None:
            self.runtime.kill()
            self.runtime = None
        if self.on_closed is not None:
            self.on_closed()

    def close(self) -> None:
        """Shut down as Lambda does: SIGTERM then SIGKILL with an extension, SIGKILL without."""
        if self.closing:
            return
        self.closing = True
        self._fail_all(EmulatorClosedError("the emulator was closed while this invoke was waiting or running"))
        self.extensions.shutdown()
        rt = self.runtime
        if rt is None:
            self._finish_close()
        elif self.extensions:
            rt.terminate()
            self.wake_at = time.monotonic() + self.config.shutdown_grace
        else:
            self._finish_close()

    # -- plumbing -------------------------------------------------------------------

    def _fire(self, event: str, conn: Connection | None = None, req: Request | None = None) -> None:
        entry = self._table.get((self.state, event))
        if entry is None:
            if event in st.HTTP_EVENTS and conn is not None:
                self.rejected += 1
                message = "State transition from %s to %s failed for runtime. Error: State transition is not allowed" % (
                    st.RAPID_NAMES[self.state],
                    st.RAPID_NAMES[event],
                )
                self.loop.send(conn, render_error(403, "InvalidStateTransition", message))
            return
        self.state = entry[0]
        entry[1](conn, req)

    def _pump(self) -> None:
        """Start whatever the queue head needs: a runtime, or the hand-out."""
        while not self.closing:
            if not self.queue and self.config.autoinvoke is None:
                return
            if self.state == st.IDLE:
                if self.parked is not None:
                    self._fire(st.INVOKE)
                return
            if self.state != st.NO_RUNTIME or self._external:
                return
            if self.pending_failure is not None and self.queue:
                deliver, self.pending_failure = self.pending_failure, None
                deliver(self.queue.popleft())
                continue
            self._fire(st.LAUNCH)  # a launch that fails at once moves on to the next invoke

    def _reset(self, *, kill: bool) -> None:
        """End the sandbox: runtime gone, connections closed, registrations forgotten."""
        rt, self.runtime = self.runtime, None
        if rt is not None:
            self.loop.remove_reader(rt.pidfd)
            if kill:
                if self.config.lifecycle is not None:
                    self.config.lifecycle.measure(rt.pid)  # its peak, before it is gone
                rt.kill()
        self.current = None
        self.parked = None
        self.stream_conn = None
        self.init_error = None
        self.init_for = None
        self.extensions.reset()
        self.registration_open = True
        self.wake_at = None
        for conn in self.loop.connections():
            self.loop.close(conn)

    def _on_runtime_readable(self) -> None:
        rt = self.runtime
        if rt is None or rt.pidfd < 0:
            return
        self.loop.read_pending()  # posts that raced the exit count first
        if self.runtime is not rt:  # a post ended the sandbox meanwhile
            return
        self.loop.remove_reader(rt.pidfd)
        self.exit_code = rt.reap()
        self.exits += 1
        log.info("runtime pid %d exited: %s", rt.pid, describe_exit(self.exit_code))
        if self.closing:
            self._finish_close()
            return
        self._fire(st.EXIT)

    def _finish_close(self) -> None:
        rt, self.runtime = self.runtime, None
        if rt is not None:
            self.loop.remove_reader(rt.pidfd)
            rt.kill()
        self.loop.stop()
        if self.on_closed is not None:
            self.on_closed()

    # -- actions (named in state.TRANSITIONS) -------------------------------------------

    def _a_launch(self, conn: Connection | None, req: Request | None) -> None:
        cfg = self.config
        self.init_for = self.queue[0] if self.queue else None
        self.init_started = time.monotonic()
        self.registration_open = True
        self.launches += 1
        env = build_env(
            cfg.env,
            api_address=self.address,
            function_name=cfg.function_name,
            function_timeout=cfg.function_timeout,
            handler=cfg.handler,
            task_root=cfg.task_root,
        )
        try:
            rt = RuntimeProcess.launch(
                list(cfg.runtime_argv), env, cwd=cfg.task_root, stdout=cfg.runtime_stdout, stderr=cfg.runtime_stderr
            )
        except OSError as exc:
            self.state = st.NO_RUNTIME
            reason = exc.strerror or str(exc)

            def make(inv: Invoke) -> None:
                msg = f"RequestId: {inv.request_id} Error: cannot start runtime {cfg.runtime_argv[0]!r}: {reason}; check the runtime command"
                self._deliver(inv, "init_error", error_document("Runtime.InvalidEntrypoint", msg), error_type="Runtime.InvalidEntrypoint")

            self._fail_init(make)
            return
        self.runtime = rt
        self.loop.add_reader(rt.pidfd, self._on_runtime_readable)
        self.wake_at = self.init_started + cfg.init_timeout
        log.info("runtime started: pid %d: %s", rt.pid, " ".join(cfg.runtime_argv))

    def _a_attach(self, conn: Connection | None, req: Request | None) -> None:
        if not self._external:
            self.state = st.NO_RUNTIME
            assert conn is not None
            self._reject(conn, 403, "InvalidStateTransition", "no runtime was started by this emulator: this poll comes from a dead sandbox")
            return
        self.registration_open = False
        self._a_park(conn, req)

    def _a_init_done(self, conn: Connection | None, req: Request | None) -> None:
        if self.init_for is not None and self.runtime is not None:
            self.init_for.init_ms = round((time.monotonic() - self.init_started) * 1000, 3)
        self.init_for = None
        self.registration_open = False
        self.wake_at = None
        self._a_park(conn, req)

    def _a_park(self, conn: Connection | None, req: Request | None) -> None:
        old = self.parked
        if old is not None and old is not conn:
            self.loop.close(old)  # the runtime abandoned that poll for this one
        self.parked = conn
        self._pump()

    def _a_hand_out(self, conn: Connection | None, req: Request | None) -> None:
        if self.queue:
            inv = self.queue.popleft()
        else:
            assert self.config.autoinvoke is not None
            inv = Invoke(self.config.autoinvoke, self.config.function_timeout, (b"", b""), None)
        now = time.monotonic()
        inv.handed_at = now
        inv.deadline = now + inv.timeout
        wall = time.time()
        deadline_ms = int((wall + inv.timeout) * 1000)
        event = inv.event
        # RAPID's order: the handler's headers sorted by name, then Date, then the framing.
        mid, late = inv.headers
        if len(event) <= GO_BUFFER:
            framing: tuple[bytes, ...] | list[bytes] = (b"Content-Length: %d\r\n\r\n" % len(event), event)
        else:
            framing = frame_body(event, self.config.next_chunks)
            self.next_chunked += 1
        inv.next_response = b"".join(
            (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: ",
                inv.rid,
                mid,
                b"\r\nLambda-Runtime-Deadline-Ms: %d\r\nLambda-Runtime-Invocation-Id: " % deadline_ms,
                inv.invocation_id,
                self._arn_line,
                late,
                b"\r\n",
                date_line(wall),
                *framing,
            )
        )
        if self.extensions.invoke_subscribers:
            self.extensions.invoke_event(inv.rid, deadline_ms, self._arn)
        self.current = inv
        self.handed_out += 1
        self.wake_at = inv.deadline + TIMEOUT_GRACE
        parked, self.parked = self.parked, None
        assert parked is not None
        if self.config.lifecycle is not None:
            self.config.lifecycle.start(inv.request_id)
        self.loop.send(parked, inv.next_response)

    def _a_redeliver(self, conn: Connection | None, req: Request | None) -> None:
        assert conn is not None and self.current is not None
        self.loop.send(conn, self.current.next_response)

    def _a_complete(self, conn: Connection | None, req: Request | None) -> None:
        inv = self.current
        assert inv is not None
        self.current = None
        self.wake_at = None
        self._deliver_answer(inv, inv.outcome, inv.answer)
        self._a_park(conn, req)

    def _a_reset_idle(self, conn: Connection | None, req: Request | None) -> None:
        self._reset(kill=False)
        self._pump()
