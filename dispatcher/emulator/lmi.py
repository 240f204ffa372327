"""The emulated sandbox in Lambda Managed-Instances (LMI) mode: N invokes at once.

What RAPID does in this mode (recorded from RIE v1.30 with
AWS_LAMBDA_MAX_CONCURRENCY set; see docs/emulator.md "LMI mode"):

- the runtime starts eagerly, and AWS_LAMBDA_MAX_CONCURRENCY is in its environment;
- every GET /next the runtime keeps open is one idle slot; they are not capped
  at the concurrency;
- an invoke goes to the oldest open /next, or, when none is open, gets
  `400 Runtime.Unavailable` at once (with `queue=True` it waits for one instead,
  which RAPID never does: what someone load-testing locally wants);
- answers are posted by request id, in any order, on any connection, and reach
  the caller at once;
- a deadline answers the caller `Sandbox.Timedout`; the runtime gets no signal
  and its late answer gets `410 InvokeTimeout`;
- /next carries the LMI header set, large bodies in chunks of up to 32 KiB.

Decisions come from `state.LMI_TRANSITIONS`; the launch, init, extension and
shutdown actions are the classic sandbox's.  Runs on the server loop's thread.
"""

from __future__ import annotations

import collections
import heapq
import logging
import time

from . import state as st
from ._http import MAX_PAYLOAD, Request
from ._render import GO_BUFFER, accepted, chunks_of, date_line, frame_body, render_error, render_response
from .invoke import INVOCATION_PREFIX, Invoke
from .model import (
    LMI_STATUS_FOR,
    RESPONSE_SIZE_TOO_LARGE,
    RUNTIME_EXIT_ERROR,
    RUNTIME_UNAVAILABLE,
    SANDBOX_TIMEDOUT,
    EmulatorError,
    sanitize_error_type,
)
from .runtime import describe_exit
from .sandbox import NEXT_PATH, Sandbox, SandboxConfig
from .server import Connection, Loop

__all__ = ["LmiSandbox", "render_lmi_next", "LMI_ARN_PREFIX", "LMI_CHUNKS"]

log = logging.getLogger(__name__)

LMI_ARN_PREFIX = "arn:aws:lambda:us-east-1:123456789012:function:"  # RIE-LMI's account (classic: 012345678912)
LMI_CHUNKS = chunks_of(32 * 1024)  # RAPID-LMI copies the event in 32 KiB reads: one chunk each
LATE_MEMORY = 10_000  # timed-out request ids remembered for 410 (RIE-LMI caps its slot queue at this too)

_GONE_BODY = b'{"errorMessage":"Invoke timeout","errorType":"InvokeTimeout"}\n'
_UNAVAILABLE_BODY = b'{"errorType":"Runtime.Unavailable"}'
_HDR_CT = b"content-type"

def render_lmi_next(inv: Invoke, arn: bytes, deadline_ms: int) -> bytes:
    """The /next answer in RAPID-LMI's header order; absent optional values are sent empty."""
    assert inv.lmi_headers is not None
    ctype, context, trace = inv.lmi_headers
    return b"".join(
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: ",
            ctype,
            b"\r\nLambda-Runtime-Aws-Request-Id: ",
            inv.rid,
            b"\r\nLambda-Runtime-Client-Context: ",
            context,
            b"\r\nLambda-Runtime-Cognito-Identity: \r\nLambda-Runtime-Deadline-Ms: %d" % deadline_ms,
            b"\r\nLambda-Runtime-Invoked-Function-Arn: ",
            arn,
            b"\r\nLambda-Runtime-Trace-Id: ",
            trace,
            b"\r\n",
            date_line(),
            *frame_body(inv.event, LMI_CHUNKS),
        )
    )


class LmiSandbox(Sandbox):
    """Implements state.LMI_TRANSITIONS: many open /next, many invokes in flight, one runtime."""

    def __init__(self, loop: Loop, config: SandboxConfig, *, queue: bool = False) -> None:
        if config.autoinvoke is not None:
            raise EmulatorError("the self-benchmark's autoinvoke is not available in LMI mode")
        super().__init__(loop, config)
        self.queue_mode = queue
        self.status_for = LMI_STATUS_FOR
        self.idle: collections.deque[Connection] = collections.deque()  # open /next, oldest first
        self.running: dict[bytes, Invoke] = {}  # request id -> invoke handed out, not answered
        self.late: collections.OrderedDict[bytes, None] = collections.OrderedDict()  # timed-out ids
        self.deadlines: list[tuple[float, int, Invoke]] = []  # heap
        self._seq = 0
        self._init_deadline: float | None = None
        self._post: Invoke | None = None  # the invoke the post being handled answers
        self._expired: Invoke | None = None  # the invoke whose deadline is being handled
        self._lmi_arn = (LMI_ARN_PREFIX + config.function_name).encode()
        self._table = {key: (nxt, getattr(self, "_a_" + action)) for key, (nxt, action) in st.LMI_TRANSITIONS.items()}

    @property
    def in_flight(self) -> int:
        return len(self.running)

    # -- entry points (loop thread) ----------------------------------------------

    def enqueue(self, inv: Invoke) -> None:
        if self.closing:
            return super().enqueue(inv)
        if inv.rid in self.running:
            self._fail_waiter(inv, EmulatorError(f"request id {inv.request_id!r} is already in flight: use a new one"))
            return
        if self.state == st.IDLE and not self._has_idle() and not self.queue_mode:
            self.queue.appendleft(inv)  # the action takes it from the head
            self._fire(st.NO_SLOT)
            return
        self.queue.append(inv)
        self._pump()

    def handle(self, conn: Connection, req: Request) -> None:
        target = req.target
        if req.method == b"GET" and target == NEXT_PATH:
            self._fire(st.NEXT, conn, req)
            return
        if req.method == b"POST" and target.startswith(INVOCATION_PREFIX):
            rid, _, kind = target[len(INVOCATION_PREFIX) :].partition(b"/")
            if kind == b"response" or kind == b"error":
                inv = self.running.get(rid)
                if inv is not None:
                    self._post = inv
                    if req.too_large:
                        event = st.TOO_LARGE
                    else:
                        event = st.RESPONSE if kind == b"response" else st.ERROR
                    self._fire(event, conn, req)
                    return
                if rid in self.late:
                    self._fire(st.LATE_POST, conn, req)
                    return
        self._route_other(conn, req)

    def on_timer(self) -> None:
        self.wake_at = None
        if self.closing:
            self._finish_close()
            return
        if self.state != st.IDLE:
            self._fire(st.DEADLINE)  # the init limit
            return
        now = time.monotonic()
        heap = self.deadlines
        while heap and heap[0][0] <= now:
            _, _, inv = heapq.heappop(heap)
            if self.running.get(inv.rid) is inv:
                self._expired = inv
                self._fire(st.DEADLINE)
        self._rearm()

    def on_close(self, conn: Connection) -> None:
        super().on_close(conn)
        # A closed poll is skipped when its turn comes (see _has_idle): no O(n) removal here.

    def _fail_all(self, exc: BaseException) -> None:
        for inv in self.running.values():
            self._fail_waiter(inv, exc)
        self.running.clear()
        super()._fail_all(exc)

    # -- plumbing -------------------------------------------------------------------

    def _has_idle(self) -> bool:
        idle = self.idle
        while idle and idle[0].closed:
            idle.popleft()
        return bool(idle)

    def _pump(self) -> None:
        while not self.closing and self.queue:
            if self.state == st.IDLE:
                # Invokes that waited for init (or, with queue=True, for a slot) go out as slots open.
                while self.queue and self._has_idle():
                    self._fire(st.INVOKE)
                return
            if self.state != st.NO_RUNTIME or self._external:
                return
            if self.pending_failure is not None:
                deliver, self.pending_failure = self.pending_failure, None
                deliver(self.queue.popleft())
                continue
            self._fire(st.LAUNCH)

    def _rearm(self) -> None:
        heap = self.deadlines
        while heap and self.running.get(heap[0][2].rid) is not heap[0][2]:
            heapq.heappop(heap)
        self.wake_at = heap[0][0] if heap else None

    def _reset(self, *, kill: bool) -> None:
        super()._reset(kill=kill)
        self.idle.clear()
        self.deadlines.clear()

    # -- actions (named in state.LMI_TRANSITIONS) ------------------------------------------

    def _a_init_done(self, conn: Connection | None, req: Request | None) -> None:
        super()._a_init_done(conn, req)  # records the init time, parks through _a_park
        self._rearm()

    def _a_park(self, conn: Connection | None, req: Request | None) -> None:
        self._a_open_slot(conn, req)

    def _a_open_slot(self, conn: Connection | None, req: Request | None) -> None:
        assert conn is not None
        self.idle.append(conn)
        self._pump()

    def _a_hand_out(self, conn: Connection | None, req: Request | None) -> None:
        inv = self.queue.popleft()
        slot = self.idle.popleft()  # _has_idle() dropped the closed ones
        wall = time.time()
        now = time.monotonic()
        inv.handed_at = now
        inv.deadline = now + inv.timeout
        inv.echoed = None  # LMI /next has no Lambda-Runtime-Invocation-Id to echo
        if inv.lmi_headers is None:
            inv.lmi_headers = (b"application/json", b"", b"")
        inv.next_response = render_lmi_next(inv, self._lmi_arn, int((wall + inv.timeout) * 1000))
        if len(inv.event) > GO_BUFFER:
            self.next_chunked += 1
        self.running[inv.rid] = inv
        self.handed_out += 1
        self._seq += 1
        heapq.heappush(self.deadlines, (inv.deadline, self._seq, inv))
        if self.wake_at is None or inv.deadline < self.wake_at:
            self.wake_at = inv.deadline
        self.loop.send(slot, inv.next_response)

    def _a_refuse_unavailable(self, conn: Connection | None, req: Request | None) -> None:
        inv = self.queue.popleft()
        log.info("invoke %s: no open /next (all %d in flight): Runtime.Unavailable", inv.request_id, len(self.running))
        self._deliver(inv, "unavailable", _UNAVAILABLE_BODY, error_type=RUNTIME_UNAVAILABLE)

    def _take_post(self, conn: Connection | None, req: Request | None) -> tuple[Connection, Request, Invoke]:
        inv, self._post = self._post, None
        assert conn is not None and req is not None and inv is not None
        del self.running[inv.rid]
        inv.answered_at = time.monotonic()
        ctype = req.header(_HDR_CT)
        inv.answer_type = None if ctype is None else ctype.decode("latin-1")
        return conn, req, inv

    def _a_accept_response(self, conn: Connection | None, req: Request | None) -> None:
        conn, req, inv = self._take_post(conn, req)
        self.answered += 1
        self.loop.send(conn, accepted())
        self._deliver(inv, "success", req.body, content_type=inv.answer_type, end=inv.answered_at)
        self._rearm()

    def _a_accept_error(self, conn: Connection | None, req: Request | None) -> None:
        conn, req, inv = self._take_post(conn, req)
        raw = req.header(b"lambda-runtime-function-error-type")
        header = sanitize_error_type(None if raw is None else raw.decode("latin-1"))
        self.answered += 1
        self.errors += 1
        self.loop.send(conn, accepted())
        self._deliver(inv, "error", req.body, content_type=inv.answer_type, error_header=header, end=inv.answered_at)
        self._rearm()

    def _a_reject_too_large(self, conn: Connection | None, req: Request | None) -> None:
        conn, req, inv = self._take_post(conn, req)
        size = req.declared_length
        size_text = f"{size} bytes" if size is not None else f"more than {MAX_PAYLOAD} bytes"
        body = b'{"errorType":"%s","errorMessage":"Response payload size (%s) exceeded maximum allowed payload size (%d bytes)."}' % (
            RESPONSE_SIZE_TOO_LARGE.encode(),
            size_text.encode(),
            MAX_PAYLOAD,
        )
        self.rejected += 1
        self.loop.send(conn, render_error(413, "RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({MAX_PAYLOAD} bytes)."))
        self._deliver(inv, "too_large", body, error_type=RESPONSE_SIZE_TOO_LARGE, end=inv.answered_at)
        self._rearm()

    def _a_reject_stale(self, conn: Connection | None, req: Request | None) -> None:
        assert conn is not None and req is not None
        self.rejected += 1
        msg = f"Invalid request ID: {req.target.decode('latin-1')[:200]} is not an invoke in flight"
        self.loop.send(conn, render_error(400, "InvalidRequestID", msg))

    def _a_reject_late(self, conn: Connection | None, req: Request | None) -> None:
        assert conn is not None
        self.rejected += 1
        log.info("late answer for a timed-out invoke: %s", (req.target if req else b"").decode("latin-1")[:200])
        self.loop.send(conn, render_response(410, _GONE_BODY))

    def _a_time_out(self, conn: Connection | None, req: Request | None) -> None:
        inv, self._expired = self._expired, None
        assert inv is not None
        del self.running[inv.rid]
        self.late[inv.rid] = None
        if len(self.late) > LATE_MEMORY:
            self.late.popitem(last=False)
        self.timeouts += 1
        body = b'{"errorType":"%s","errorMessage":"Task timed out after %.2f seconds"}' % (SANDBOX_TIMEDOUT.encode(), inv.timeout)
        self._deliver(inv, "timeout", body, error_type=SANDBOX_TIMEDOUT)

    def _a_fail_exit(self, conn: Connection | None, req: Request | None) -> None:
        # RIE-LMI stops for good here; the emulator answers the invokes in flight
        # as RIE does and starts a new runtime for the next invoke instead.
        in_flight = list(self.running.values())
        self.running.clear()
        self.late.clear()
        self._reset(kill=False)
        log.warning("runtime exited (%s) with %d invoke(s) in flight", describe_exit(self.exit_code or 0), len(in_flight))
        for inv in in_flight:
            self._deliver(inv, "exit", b'{"errorType":"%s"}' % RUNTIME_EXIT_ERROR.encode(), error_type=RUNTIME_EXIT_ERROR)
        self._pump()
