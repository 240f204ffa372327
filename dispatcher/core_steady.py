"""The core for N slots (dispatcher/core.py's Core, and the N-slot straight
line's side of it).  No I/O.

The N-slot straight line (dispatcher/steady_many.py) serves while
`steady_many` names the workers it may serve on -- one multiplexed worker,
or a pool of N plain ones; `steady_take` gives it the invocations already in
flight, and `steady_give` takes each back, on the worker the line sent it
to, with the deadline it had; each answer it posts is reported with
`steady_replied`, as the one-slot line does.  A separate class so that a
one-slot supervisor, the common case, does not import it at cold start.
"""

from __future__ import annotations

from dispatcher.core import Core
from dispatcher.core_table import BUSY, GOT_EVENT, IDLE, INVOKING, TAKEN, WAITING, CoreBug

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dispatcher.core_workers import WorkerRow
    from dispatcher.runtime_api import Invocation

__all__ = ["ManyCore"]


class ManyCore(Core):
    """Core, with the N-slot straight line's side (see the module docstring)."""

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
