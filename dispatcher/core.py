"""The supervisor's decisions, without I/O: events in, actions out.

The driver (supervisor.py) owns poll(), sockets, pipes and processes; it
calls one method of `Core` per thing that happened, with `now` (monotonic
seconds: the core never reads a clock), and performs the actions returned
(core_table.py: Spawn, Send, Post, GetNext, Stop, CheckRss, Serve,
InitError, Log, Shutdown, Fatal), in order.  Every state change goes through
`_slot` / `_worker`, which look the (state, event) pair up in SLOT_TABLE /
WORKER_TABLE and raise CoreBug for a pair that is not there.

N slots (GET /next connections) share a pool of workers: by default N
workers taking one invocation each; a worker that announces `multiplex` in
`ready` takes up to N at once and is then the whole pool.  The promise held
here: every event fetched gets exactly one Post.
"""

from __future__ import annotations

from dispatcher import errors as E
from dispatcher.answers import Failure, timeout_failure
from dispatcher.core_table import (
    ANSWERED, ANSWERED_LAST, BACKOFF, CLOSE, CLOSED, CUT_SHORT, DEADLINE, FAILED, GONE, GOT_EVENT, HELD, HELD_ANSWER, IDLE,
    INVOKING, NEXT_FAILED,
    REPLIED, RETRY_DUE, SHUT_CUT, SLOT_TABLE, START_FAILED, STARTING, TIMED_OUT, TIMED_OUT_LAST, WAITING, WORKER_TABLE,
    CheckRss, CoreBug, Fatal, GetNext, Log, Named, Post, Shutdown, Stop,
)
from dispatcher.core_workers import WorkerRow, WorkerSide
from dispatcher.restart import RestartPolicy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dispatcher.runtime_api import Invocation

__all__ = ["Core", "SlotRow", "NEXT_RETRIES"]

_NOTHING = ()  # "no action", without building a list

NEXT_RETRIES = 5  # GET /next on a dead connection: PyRIC retries 5 times


class SlotRow:
    __slots__ = ("id", "state", "inv", "got_at", "deadline", "wake", "worker", "attempts", "handed_over")

    def __init__(self, sid: int) -> None:
        self.id = sid
        self.state: Named = WAITING
        self.inv: Invocation | None = None
        self.got_at = 0.0  # monotonic; when the invocation was read
        self.deadline = 0.0  # monotonic; the answer is due (timeout_margin taken off)
        self.wake = 0.0  # BACKOFF: when GET /next is retried
        self.worker: int | None = None
        self.attempts = 0  # consecutive GET /next failures
        self.handed_over = False


class Core(WorkerSide):
    def __init__(self, name: str, *, slots: int = 1, startup_timeout: float, timeout_margin: float,
                 shutdown_grace: float, max_invocations: int = 0, max_rss: int = 0,
                 function_timeout: float | None = None, api_address: str = "") -> None:
        self.name = name
        self.startup_timeout = startup_timeout
        self.timeout_margin = timeout_margin
        self.grace = shutdown_grace
        self.max_invocations = max_invocations
        self.max_rss = max_rss
        self.function_timeout = function_timeout
        self.api_address = api_address
        self.slots = [SlotRow(i) for i in range(slots)]
        self.workers: dict[int, WorkerRow] = {}
        self.restarts = RestartPolicy(name)
        self.serving = False  # init is over
        self.stop_at: float | None = None
        self.exiting = False  # Fatal is on its way: nothing more is fetched
        self.target = 1  # workers wanted in the pool (N, or 1 once one multiplexes)
        self._held: list[SlotRow] = []  # HELD slots, oldest first
        self._next_wid = 0
        self._out: list[Any] = []

    # == transitions ===========================================================
    def _slot(self, s: SlotRow, event: Named) -> str:
        step = SLOT_TABLE.get((s.state, event))
        if step is None:
            raise CoreBug(f"slot {s.id}: {event!r} is not allowed in state {s.state!r}")
        s.state = step[0]
        return step[1]

    def _worker(self, w: WorkerRow, event: Named) -> str:
        step = WORKER_TABLE.get((w.state, event))
        if step is None:
            raise CoreBug(f"worker {w.id}: {event!r} is not allowed in state {w.state!r}")
        w.state = step[0]
        if w.state is GONE:
            del self.workers[w.id]
        return step[1]

    def _flush(self) -> list[Any]:
        out, self._out = self._out, []
        return out

    # == start and stop ========================================================
    def start(self, now: float) -> list[Any]:
        self._spawn(now)
        return self._flush()

    def signal(self, name: str, now: float) -> list[Any]:
        if self.stop_at is None:
            self._out.append(Log(f"{name} received: shutting down within {self.grace:g}s", True))
            self.stop_at = now + self.grace
            if not self.serving:
                self._out.append(Shutdown(self.stop_at))
                return self._flush()
            for s in self.slots:
                if s.state is HELD:
                    self._held.remove(s)
                    self._answer(s, SHUT_CUT, Failure(E.EXIT_ERROR, "runtime shutting down"), now)
                elif s.state is WAITING or s.state is BACKOFF:
                    self._slot(s, CLOSE)
            self._maybe_done()
        return self._flush()

    def _maybe_done(self) -> None:
        if self.stop_at is not None and all(s.state is CLOSED for s in self.slots):
            self._out.append(Shutdown(self.stop_at))

    # == the Runtime API =========================================================
    def next_answered(self, sid: int, inv: Invocation, now: float) -> list[Any]:
        s = self.slots[sid]
        s.attempts = 0
        self._slot(s, GOT_EVENT)
        s.inv = inv
        s.got_at = now
        s.deadline = self.deadline_for(inv, now)
        s.handed_over = False
        if self.stop_at is not None:
            self._answer(s, SHUT_CUT, Failure(E.EXIT_ERROR, "runtime shutting down"), now)
            return self._flush()
        if not self._held:  # the steady state: straight to a worker with room
            w = self._free_worker()
            if w is not None:
                self._dispatch(s, w)
                return self._flush()
        self._held.append(s)
        self._schedule(now)
        return self._flush()

    def next_cut_short(self, sid: int, inv: Invocation, framing: str, now: float) -> list[Any]:
        """The /next answer's headers came, its body did not: it still gets its one answer."""
        s = self.slots[sid]
        s.inv = inv
        self._answer(s, CUT_SHORT, Failure(
            E.UNMARSHAL_ERROR,
            f"the event body was cut short ({framing}); the connection closed before it all arrived",
        ), now)
        return self._flush()

    def next_failed(self, sid: int, why: str, now: float) -> list[Any]:
        """GET /next could not be sent or its connection was lost: retry, bounded."""
        s = self.slots[sid]
        s.attempts += 1
        if s.attempts > NEXT_RETRIES:
            return self.fatal(f"the Runtime API at {self.api_address} is unreachable after {NEXT_RETRIES} retries: {why}")
        self._slot(s, NEXT_FAILED)
        self._out.append(Log(f"GET /next failed ({why}); retry {s.attempts}/{NEXT_RETRIES}"))
        s.wake = now + min(0.1 * 2 ** (s.attempts - 1), 2.0)
        if self.stop_at is not None:
            self._slot(s, CLOSE)
            self._maybe_done()
        return self._flush()

    def next_refused(self, sid: int, status: int, body: str, now: float) -> list[Any]:
        if status >= 500:
            return self.fatal(f"GET /next answered {status}: {body} (the Runtime API asks the runtime to exit)")
        self._out.append(Log(f"GET /next answered {status}: {body}"))
        return self.next_failed(sid, f"status {status}", now)

    def fatal(self, text: str) -> list[Any]:
        self._fatal(text)
        return self._flush()

    def _fatal(self, text: str) -> None:
        """Exit 1; the invocations other slots hold are answered first."""
        if self.exiting:
            return
        self.exiting = True
        for s in self.slots:
            if s.state is HELD or s.state is INVOKING:
                if s.state is HELD:
                    self._held.remove(s)
                self._answer(s, HELD_ANSWER if s.state is HELD else FAILED,
                             Failure(E.EXIT_ERROR, f"the runtime is exiting: {text}"), 0.0)
        self._out.append(Fatal(text))

    def deadline_for(self, inv: Invocation, now: float) -> float:
        """When the answer is due, on the monotonic clock (timeout_margin taken off)."""
        return now + (inv.deadline_ms / 1000.0 - inv.received_at) - self.timeout_margin

    # == the steady state (the driver's straight line, dispatcher/steady.py) =====
    def steady_worker(self) -> WorkerRow | None:
        """The worker one slot's steady state may run on, or None.

        Steady: serving one slot, no stop, nothing held or abandoned, the slot
        WAITING for its /next answer and one plain worker IDLE.  A whole
        invocation then leaves every state as it found it (WAITING, IDLE), so
        the driver may serve invocations on its own and tell the core only
        what changes: `steady_replied` per answer.  At the first unusual event
        it hands the invocation back with `next_answered`, and the core takes
        over from exactly where a general-path invocation would be.
        """
        if len(self.slots) != 1 or not self.serving or self.stop_at is not None or self.exiting or self._held:
            return None
        if self.slots[0].state is not WAITING or len(self.workers) != 1:
            return None
        w = next(iter(self.workers.values()))
        if w.state is not IDLE or w.capacity != 1 or w.abandoned or self.restarts.attempts:
            return None
        return w

    def steady_replied(self, w: WorkerRow, now: float) -> list[Any] | tuple[()]:
        """An invocation served in the steady state was answered by `w`: what a
        REPLIED answer does besides the transitions that come back to where they began."""
        w.invocations += 1
        if self.max_invocations and w.invocations >= self.max_invocations:
            self._retire(w, f"max_invocations ({self.max_invocations}) reached", now)
        elif self.max_rss:
            self._out.append(CheckRss(w.id))
        else:
            return _NOTHING
        return self._flush()

    # == time ===================================================================
    def wake_at(self) -> float | None:
        """When `tick` must be called next (None: only events can change anything)."""
        best = None
        for s in self.slots:
            st = s.state
            if st is INVOKING or st is HELD:
                t = self._limit(s)
            elif st is BACKOFF:
                t = s.wake
            else:
                continue
            if best is None or t < best:
                best = t
        for w in self.workers.values():
            if w.state is STARTING and (best is None or w.start_by < best):
                best = w.start_by
        return best

    def tick(self, now: float) -> list[Any]:
        for w in list(self.workers.values()):
            if w.state is STARTING and now >= w.start_by:
                self._worker(w, START_FAILED)
                self._start_failed(w, Failure(
                    E.INIT_TIMEOUT,
                    f"worker {self.name!r} did not send `ready` within startup_timeout ({self.startup_timeout:g}s); "
                    "raise startup_timeout in dispatcher.yaml if its init is legitimately slow",
                ), now)
        for s in self.slots:
            st = s.state
            if st is BACKOFF and now >= s.wake:
                self._slot(s, RETRY_DUE)
                self._out.append(GetNext(s.id))
            elif (st is INVOKING or st is HELD) and now >= self._limit(s):
                self._expire(s, now)
        return self._flush()

    def _limit(self, s: SlotRow) -> float:
        if self.stop_at is None:
            return s.deadline
        # Give the invocation what remains of the budget, keeping a third of
        # the grace period to stop the workers afterwards.
        return min(s.deadline, self.stop_at - self.grace / 3)

    def _expire(self, s: SlotRow, now: float) -> None:
        held = s.state is HELD
        inv, wid = s.inv, s.worker
        assert inv is not None
        if held:
            self._held.remove(s)
        if now < s.deadline:  # the shutdown budget, not the deadline
            w = self.workers.get(wid) if wid is not None and not held else None
            self._answer(s, SHUT_CUT, Failure(E.EXIT_ERROR, "runtime shutting down before the invocation finished"), now)
            if w is not None:
                w.inflight.pop(inv.request_id, None)
                w.abandoned.add(inv.request_id)
                self._worker(w, ANSWERED_LAST if not w.inflight else ANSWERED)
            return
        self._answer(s, DEADLINE, timeout_failure(self._timeout_seconds(inv)), now)
        if held:  # its worker is still starting: it keeps starting for the next event
            return
        w = self.workers[wid]  # type: ignore[index]
        w.inflight.pop(inv.request_id)
        if w.inflight:
            w.abandoned.add(inv.request_id)
            if self._worker(w, TIMED_OUT) == "drain":
                self._out.append(Log(
                    f"worker {self.name!r} missed the deadline of {inv.request_id}; it takes no more invocations "
                    f"and is stopped once its {len(w.inflight)} other(s) are answered or timed out"))
            self._fill(now)
        else:
            self._worker(w, TIMED_OUT_LAST)
            self._out.append(Stop(w.id, False))
            self._fill(now)
        self._schedule(now)

    def _timeout_seconds(self, inv: Invocation) -> float:
        if self.function_timeout is not None:
            return self.function_timeout
        return float(round(inv.deadline_ms / 1000.0 - inv.received_at))

    # == answers ================================================================
    def _answer(self, s: SlotRow, event: Named, answer: Any, now: float) -> None:
        """The one Post for the slot's invocation (then GET /next unless stopping)."""
        self._slot(s, event)
        # No GET /next when stopping, nor when the crash loop ends the process
        # after this answer: an event fetched then could not be answered.
        restarts = self.restarts
        exhausted = restarts.attempts >= restarts.max_retry
        more = self.stop_at is None and not exhausted and not self.exiting
        self._out.append(Post(s.id, s.inv, answer, s.worker if event is REPLIED else None, more))
        s.worker = None
        s.inv = None
        if self.stop_at is not None:
            self._slot(s, CLOSE)
            self._maybe_done()
        if exhausted and not self.exiting:
            last = self.restarts.last
            self._fatal(f"worker {self.name!r} failed to start {self.restarts.attempts} times in a row; "
                        f"last error: {last.message if last else '?'}")
