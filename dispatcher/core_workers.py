"""The worker side of the core (dispatcher/core.py): what workers report and
how the pool hands invocations to them.  No I/O, no clock reads.

`WorkerSide` is mixed into `Core`; it uses the core's slots, its `_answer`
and its transitions.  A pool holds `target` workers that take invocations:
N plain workers taking one each, or one that announced `multiplex` and takes
up to N.  Held invocations (oldest first) go to a worker with room; when
none has room and none is starting, a worker is started, unless the restart
policy is backing off, in which case the invocation is answered at once with
the last start error.
"""

from __future__ import annotations

from dispatcher import errors as E
from dispatcher.answers import Failure, convert_result
from dispatcher.core_table import (
    ANSWERED, ANSWERED_LAST, ASSIGN, BROKE, BUSY, DISPATCH, DRAINING, EXITED, FAILED, HAND_OVER, HELD_ANSWER, IDLE,
    LATE, READY, REPLIED, RETIRE, START_FAILED, STARTING, CheckRss, GetNext, InitError, Log, Named, Send, Serve, Spawn,
    Stop,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["WorkerRow", "WorkerSide", "MULTIPLEX"]

MULTIPLEX = "multiplex"  # the `ready` feature: several invocations at once


class WorkerRow:
    __slots__ = ("id", "state", "inflight", "abandoned", "invocations", "start_by", "capacity")

    def __init__(self, wid: int, start_by: float) -> None:
        self.id = wid
        self.state: Named = STARTING
        self.inflight: dict[str, int] = {}  # request id -> slot
        self.abandoned: set[str] = set()  # answered at their deadline, the worker may still reply
        self.invocations = 0
        self.start_by = start_by
        self.capacity = 1



class WorkerSide:
    """Worker events and the pool (see the module docstring)."""

    # Defined by Core.
    name: str
    slots: list[Any]
    workers: dict[int, WorkerRow]
    serving: bool
    stop_at: float | None
    target: int
    startup_timeout: float
    max_invocations: int
    max_rss: int
    restarts: Any
    _held: list[Any]
    _next_wid: int
    _out: list[Any]

    def _worker(self, w: WorkerRow, event: Named) -> str:  # pragma: no cover - Core's
        raise NotImplementedError

    def _slot(self, s: Any, event: Named) -> str:  # pragma: no cover - Core's
        raise NotImplementedError

    def _answer(self, s: Any, event: Named, answer: Any, now: float) -> None:  # pragma: no cover - Core's
        raise NotImplementedError

    def _flush(self) -> list[Any]:  # pragma: no cover - Core's
        raise NotImplementedError

    # == workers ================================================================
    def spawn_failed(self, wid: int, message: str, now: float) -> list[Any]:
        w = self.workers.get(wid)
        if w is not None:
            self._worker(w, START_FAILED)
            self._start_failed(w, Failure(E.INVALID_ENTRYPOINT, message), now, stop=False)
        return self._flush()

    def worker_message(self, wid: int, msg: dict[str, Any], now: float) -> list[Any]:
        w = self.workers.get(wid)
        if w is None:
            return []
        kind = msg["type"]
        if w.state is STARTING:
            if kind == "ready":
                self._worker(w, READY)
                self._started(w, msg.get("features") or (), now)
            elif kind == "init_error":
                self._worker(w, START_FAILED)
                self._start_failed(w, Failure(msg["error_type"], msg["error_message"], tuple(msg.get("stack_trace") or ())), now)
            else:
                self._worker(w, BROKE)
                self._start_failed(w, Failure(E.PROTOCOL_ERROR, f"worker {self.name!r} sent `{kind}` before `ready`"), now)
            return self._flush()
        rid = msg.get("id")
        if kind in ("result", "error") and rid in w.inflight:
            w.invocations += 1
            if kind == "error":
                answer: Any = Failure(msg["error_type"], msg["error_message"], tuple(msg.get("stack_trace") or ()))
            else:
                answer = convert_result(msg["payload"])
            sid = w.inflight.pop(rid)
            self._answer(self.slots[sid], REPLIED, answer, now)
            self._released(w, now)
        elif kind in ("result", "error") and rid in w.abandoned:
            w.abandoned.discard(rid)
            self._worker(w, LATE)
            self._out.append(Log(f"worker {self.name!r} answered {rid} after its deadline; the answer is dropped"))
        elif w.inflight:
            if kind in ("result", "error") and len(w.inflight) == 1:
                detail = f"replied for invocation {rid!r} while {next(iter(w.inflight))!r} was in flight"
            elif kind in ("result", "error"):
                detail = f"replied for invocation {rid!r}, which is not in flight"
            else:
                detail = f"sent `{kind}` during an invocation"
            self._broke_busy(w, f"worker {self.name!r} {detail}", now)
        else:
            self._broke_idle(w, f"sent `{kind}` with no invocation in flight", now)
        return self._flush()

    def worker_broke(self, wid: int, detail: str, now: float) -> list[Any]:
        """A bad frame, or a reply the session itself refused (`detail` says what)."""
        w = self.workers.get(wid)
        if w is None:
            return []
        if w.state is STARTING:
            self._worker(w, BROKE)
            self._start_failed(w, Failure(E.PROTOCOL_ERROR, f"worker {self.name!r}: {detail}"), now)
        elif w.inflight:
            self._broke_busy(w, f"worker {self.name!r}: {detail}", now)
        else:
            self._broke_idle(w, detail, now)
        return self._flush()

    def worker_exited(self, wid: int, detail: str, tail: str, consumed: bool, now: float) -> list[Any]:
        """The process ended.  `consumed`: some of the invoke frame in flight was read
        (False: the event can go to a fresh worker); `tail`: its last stderr lines."""
        w = self.workers.get(wid)
        if w is None:
            return []
        detail = detail.replace("exit status", "exited with status").replace("killed by", "was killed by")
        msg = f"worker {self.name!r} {detail}"
        tail = f"; last stderr lines:\n{tail}" if tail else ""
        state = w.state
        if state is STARTING:
            self._worker(w, EXITED)
            self._start_failed(w, Failure(E.EXIT_ERROR, f"{msg} before it was ready{tail}"), now)
        elif state is IDLE:
            self._worker(w, EXITED)
            self._out.append(Log(f"{msg} while idle{tail}; a fresh worker starts with the next event"))
            self._out.append(Stop(w.id, False))
        else:
            self._worker(w, EXITED)
            if not consumed and len(w.inflight) == 1 and w.capacity == 1 and not self.slots[next(iter(w.inflight.values()))].handed_over:
                s = self.slots[next(iter(w.inflight.values()))]
                s.handed_over = True
                self._out.append(Log(f"worker {self.name!r} was found dead before the event reached it; handing the event to a fresh worker"))
                self._slot(s, HAND_OVER)
                s.worker = None
                self._held.insert(0, s)
            else:
                for rid, sid in w.inflight.items():
                    s = self.slots[sid]
                    if not consumed and s.handed_over:
                        text = f"worker {self.name!r} died before receiving the event, twice in a row"
                    else:
                        text = f"{msg} during the invocation{tail}"
                    self._answer(s, FAILED, Failure(E.EXIT_ERROR, text), now)
            self._out.append(Stop(w.id, False))
            self._fill(now)
            self._schedule(now)
        return self._flush()

    def rss_measured(self, wid: int, total: int, now: float) -> list[Any]:
        """The pool's resident memory (every worker's process group, summed)."""
        w = self.workers.get(wid)
        if w is not None and w.state is IDLE and self.max_rss and total > self.max_rss:
            self._retire(w, f"resident memory {total // 1024} KiB over max_rss ({self.max_rss // 1024} KiB)", now)
        return self._flush()

    # == the pool ================================================================
    def _spawn(self, now: float) -> WorkerRow:
        wid = self._next_wid
        self._next_wid += 1
        w = self.workers[wid] = WorkerRow(wid, now + self.startup_timeout)
        self._out.append(Spawn(wid))
        return w

    def worker_is_ready(self, wid: int, now: float) -> list[Any]:
        """A kind that is ready as soon as it runs (exec, jsonl `ready: spawn`)."""
        return self.worker_message(wid, {"type": "ready", "features": ()}, now)

    def _started(self, w: WorkerRow, features: Any, now: float) -> None:
        self.restarts.started()
        n = len(self.slots)
        if MULTIPLEX in features and n > 1:
            w.capacity = n
            self.target = 1
        elif not self.serving:
            self.target = n
        if not self.serving:
            self.serving = True
            self._out.append(Serve())
            self._out.extend(GetNext(s.id) for s in self.slots)
            self._fill(now)
        self._schedule(now)

    def _fill(self, now: float) -> None:
        """Start workers until the pool has `target` that take invocations."""
        if self.stop_at is not None or self.restarts.backing_off(now) is not None:
            return
        live = sum(1 for w in self.workers.values() if w.state is not DRAINING)
        for _ in range(self.target - live):
            self._spawn(now)

    def _schedule(self, now: float) -> None:
        """Hand held invocations to workers with room; start one or answer at once when none can."""
        held = self._held
        if not held:
            return
        starting = 0
        for w in self.workers.values():
            if w.state is STARTING:
                starting += w.capacity
        i = 0
        while i < len(held):
            s = held[i]
            w = self._free_worker()
            if w is not None:
                del held[i]
                self._dispatch(s, w)
                continue
            if starting > 0:
                starting -= 1  # it waits for a worker that is starting
                i += 1
                continue
            if sum(1 for w in self.workers.values() if w.state is not DRAINING) < self.target:
                last = self.restarts.backing_off(now)
                if last is not None:
                    del held[i]  # backing off: answered at once, never held while its deadline burns
                    self._answer(s, HELD_ANSWER, last, now)
                    continue
                starting += self._spawn(now).capacity
                continue
            i += 1  # every worker is busy: it waits for one to finish

    def _free_worker(self) -> WorkerRow | None:
        for w in self.workers.values():
            if (w.state is IDLE or w.state is BUSY) and len(w.inflight) < w.capacity:
                return w
        return None

    def _dispatch(self, s: SlotRow, w: WorkerRow) -> None:
        self._slot(s, DISPATCH)
        self._worker(w, ASSIGN)
        inv = s.inv
        assert inv is not None
        w.inflight[inv.request_id] = s.id
        s.worker = w.id
        self._out.append(Send(w.id, s.id, inv, w.capacity == 1))

    def _released(self, w: WorkerRow, now: float) -> None:
        """One of the worker's invocations was answered by the worker."""
        if self._worker(w, ANSWERED_LAST if not w.inflight else ANSWERED) == "kill":
            self._out.append(Log(f"stopping worker {self.name!r}: its invocations are answered after it missed a deadline"))
            self._out.append(Stop(w.id, False))
        elif w.state is IDLE and self.stop_at is None:
            if self.max_invocations and w.invocations >= self.max_invocations:
                self._retire(w, f"max_invocations ({self.max_invocations}) reached", now)
            elif self.max_rss:
                self._out.append(CheckRss(w.id))
        self._schedule(now)

    def _retire(self, w: WorkerRow, reason: str, now: float) -> None:
        self._worker(w, RETIRE)
        self._out.append(Log(f"replacing worker {self.name!r}: {reason}"))
        self._out.append(Stop(w.id, True))
        self._fill(now)

    def _broke_busy(self, w: WorkerRow, text: str, now: float) -> None:
        self._worker(w, BROKE)
        for sid in w.inflight.values():
            self._answer(self.slots[sid], FAILED, Failure(E.PROTOCOL_ERROR, text), now)
        # What it sent is in the invocation's error only (it may hold event data).
        self._out.append(Log(f"replacing worker {self.name!r}: it broke the protocol during an invocation"))
        self._out.append(Stop(w.id, False))
        self._fill(now)
        self._schedule(now)

    def _broke_idle(self, w: WorkerRow, detail: str, now: float) -> None:
        self._worker(w, BROKE)
        self._out.append(Log(f"worker {self.name!r} broke the protocol: {detail}; replacing it"))
        self._out.append(Stop(w.id, False))
        self._fill(now)

    def _start_failed(self, w: WorkerRow, failure: Failure, now: float, stop: bool = True) -> None:
        if stop:
            self._out.append(Stop(w.id, False))
        if not self.serving:
            self._out.append(InitError(failure))
            return
        self._out.append(Log(self.restarts.failed(failure, now)))
        if self._held:  # the event that waited for this start gets its error
            s = self._held.pop(0)
            self._answer(s, HELD_ANSWER, failure, now)
        self._schedule(now)

