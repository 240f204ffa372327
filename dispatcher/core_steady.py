"""The steady states of the core (dispatcher/core.py): when the driver may
serve in a straight line, and what it tells the core while it does.  No I/O.

`SteadySide` is mixed into `Core`.  One slot: `steady_worker` names the idle
worker the one-slot line (dispatcher/steady.py) may serve on, and it hands an
unusual invocation back with `next_answered`.  N slots: `steady_many` names
the workers the N-slot line (dispatcher/steady_many.py) may serve on -- one
multiplexed worker, or a pool of N plain ones -- `steady_take` gives it the
invocations already in flight, and `steady_give` takes each back, on the
worker the line sent it to, with the deadline it had.  Both lines report
each answer with `steady_replied`.
"""

from __future__ import annotations

from dispatcher.core_table import (
    BUSY, GOT_EVENT, IDLE, INVOKING, TAKEN, WAITING, CheckRss, CoreBug,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dispatcher.core_workers import WorkerRow
    from dispatcher.runtime_api import Invocation

__all__ = ["SteadySide"]

_NOTHING = ()  # "no action", without building a list


class SteadySide:
    """The straight lines' side of the core (see the module docstring)."""

    # Defined by Core.
    slots: list[Any]
    workers: dict[int, WorkerRow]
    serving: bool
    stop_at: float | None
    exiting: bool
    max_invocations: int
    max_rss: int
    restarts: Any
    _held: list[Any]
    _out: list[Any]

    def _slot(self, s: Any, event: Any) -> str:  # pragma: no cover - Core's
        raise NotImplementedError

    def _worker(self, w: WorkerRow, event: Any) -> str:  # pragma: no cover - Core's
        raise NotImplementedError

    def _flush(self) -> list[Any]:  # pragma: no cover - Core's
        raise NotImplementedError

    def _retire(self, w: WorkerRow, reason: str, now: float) -> None:  # pragma: no cover - WorkerSide's
        raise NotImplementedError

    def _dispatch(self, s: Any, w: WorkerRow) -> None:  # pragma: no cover - WorkerSide's
        raise NotImplementedError

    def deadline_for(self, inv: Invocation, now: float) -> float:  # pragma: no cover - Core's
        raise NotImplementedError

    # == one slot (dispatcher/steady.py) ========================================
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

    # == N slots (dispatcher/steady_many.py) ====================================
    def steady_many(self) -> list[WorkerRow] | None:
        """The workers an N-slot straight line may serve on, or None.

        Steady: N slots served by one multiplexed worker or by a pool of N
        plain ones, every one of them live (IDLE or BUSY, none starting or
        draining), no stop, nothing held or abandoned, every slot WAITING or
        INVOKING, and no answer within reach that would recycle a worker
        (max_invocations; max_rss is checked after every answer): those
        answers are the general path's.  The line checks the same before it
        posts each answer: `w.invocations` plus what `w` has in flight stays
        under max_invocations."""
        slots = self.slots
        if len(slots) == 1 or not self.serving or self.stop_at is not None or self.exiting or self._held:
            return None
        if not self.workers or self.max_rss or self.restarts.attempts:
            return None
        room = 0
        for w in self.workers.values():
            if w.abandoned or not (w.state is IDLE or w.state is BUSY):
                return None
            if self.max_invocations and w.invocations + w.capacity >= self.max_invocations:
                return None
            room += w.capacity
        if room != len(slots):
            return None
        for s in slots:
            if s.state is not WAITING and (s.state is not INVOKING or s.handed_over):
                return None
        return list(self.workers.values())

    def steady_take(self, workers: list[WorkerRow]) -> list[tuple[int, Invocation, float, int]]:
        """The straight line takes over the invocations in flight on `workers`:
        each as (slot, invocation, when it was read, worker), in the order each
        worker was sent them.  Their slots return to WAITING and the workers to
        IDLE, the states the line starts from; it gives each back with
        `steady_give`."""
        taken = []
        for w in workers:
            for rid, sid in w.inflight.items():
                s = self.slots[sid]
                inv = s.inv
                assert inv is not None and inv.request_id == rid
                taken.append((sid, inv, s.got_at, w.id))
                self._slot(s, TAKEN)
                s.inv = None
                s.worker = None
            if w.inflight:
                w.inflight.clear()
                self._worker(w, TAKEN)
        return taken

    def steady_give(self, sid: int, inv: Invocation, read_at: float, wid: int) -> list[Any]:
        """The straight line gives back an invocation it read at `read_at` and sent
        to worker `wid`: the core then holds it as if the general path had read
        and sent it (the same deadline; a Send to `wid`, whose frame is already
        written).  CoreBug unless `wid` could have taken it."""
        s = self.slots[sid]
        w = self.workers.get(wid)
        if (
            s.state is not WAITING or w is None or not (w.state is IDLE or w.state is BUSY)
            or len(w.inflight) >= w.capacity or self._held or self.stop_at is not None
        ):
            raise CoreBug(f"the straight line sent {inv.request_id} on slot {sid} to worker {wid}, which could not take it")
        s.attempts = 0
        self._slot(s, GOT_EVENT)
        s.inv = inv
        s.got_at = read_at
        s.deadline = self.deadline_for(inv, read_at)
        s.handed_over = False
        self._dispatch(s, w)
        return self._flush()
