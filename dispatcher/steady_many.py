"""The N-slot steady state as a straight line (mixed into Supervisor).

N slots served by one multiplexed worker (Rust `run_concurrent`, the Node
adapter on LMI) or by a pool of N plain workers, all alive, replies in
time: then every wake-up is one of three things, each a few steps.

    a slot's /next answer -> write the invoke frame to a worker with room
    a worker's stdout     -> its reply frames -> post each, GET /next behind it
    a slot's post answer  -> 202, and the /next answer if it came along

`_steady_many` runs those steps in a loop on one epoll set registered once
per (sockets, workers), with no event objects, no action lists and no
poll-set bookkeeping; the earliest deadline of the invocations in flight is
the wait's timeout.  The core (core_steady.py's ManyCore) decides when it may:
`steady_many()` names the workers only when every slot is WAITING or
INVOKING and nothing else is going on, and `steady_take()` hands the
invocations already in flight to the straight line, each with the time it
was read.  Anything else -- a deadline, a worker's exit, a signal, a partial
or unexpected frame, a post not answered 202, a lost connection -- ends it:
every invocation it holds goes back to the core with `steady_give(slot, inv,
read_at, worker)`, which gives it the deadline it had on the worker it was
sent to (CoreBug if that worker could not have taken it), and what happened
is handled by the general path.

Posts are sent without waiting for their answer, as the general path does
with N slots (post_side.py): the 202 is read when the slot's socket is
readable, with the /next answer behind it if that came too.  A slot's socket
that is readable while nothing is expected on it (no GET /next out: the
Runtime API closed the connection, or sent bytes nobody asked for) is closed
and the straight line ends; the next post goes out on a new connection.
"""

from __future__ import annotations

from os import readv
from select import EPOLLIN, epoll

from dispatcher import frames
from dispatcher.answers import MAX_RESPONSE
from dispatcher.client import POST_TIMEOUT, ConnectionLost
from dispatcher.core_steady import ManyCore
from dispatcher.core_table import CoreBug, Send
from dispatcher.errors import HttpError, ProtocolError
from dispatcher.runtime_api import Invocation, response_head
from dispatcher.supervisor import Supervisor
from dispatcher.worker import MsgpackWorker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SteadyMany", "ManySlots"]

_NEVER = float("inf")
_SMALL = 4096  # a body under this joins its head in one buffer (as ResponseRequest.encode)


class _Worker:
    """One worker as the line serves it."""

    __slots__ = ("row", "session", "out", "err", "capacity", "busy", "scratch", "into", "room", "max_frame")

    def __init__(self, row: Any, session: MsgpackWorker) -> None:
        self.row = row
        self.session = session
        self.out = session.proc.stdout
        self.err = session.proc.stderr
        self.capacity = row.capacity
        self.busy = 0  # invocations in flight on it
        self.scratch: Any = None
        self.into: list[Any] = []
        self.room = 0
        self.max_frame = session.decoder.max_frame

    def reset(self) -> None:
        # Replies are read into the decoder's own buffer; bytes not advance()d
        # are not the decoder's, so replies parsed here leave it untouched.
        self.scratch = self.session.decoder.writable()
        self.into = [self.scratch]
        self.room = len(self.scratch)
        self.busy = 0


class SteadyMany:
    """Mixin: `_steady_many_start()`; the rest of the driver is supervisor.py's."""

    # (what they watch, the epoll set, slot by socket fd, worker by stdout fd, worker by stderr fd, workers by id)
    _many_polls: tuple[Any, Any, dict[int, int], dict[int, _Worker], dict[int, _Worker], dict[int, _Worker]] | None = None

    def _steady_many_start(self) -> list[tuple[int, int]] | bool:
        """Serve in the N-slot straight line while the steady state lasts.
        Returns False when it is not the steady state; else what the wait that
        ended it reported (for the general path to handle), or True when
        everything that happened is handled."""
        self_: Any = self
        if self_._early or self_.stopping.items or frames.msgpack is None:
            return False
        core = self_.core
        rows = core.steady_many()
        if rows is None:
            return False
        sessions = []
        for row in rows:
            session = self_.sessions.get(row.id)
            if type(session) is not MsgpackWorker or session.writing or session.decoder.pending or session.log.pending:
                return False
            proc = session.proc
            if proc.stdout is None or proc.stderr is None or proc.pidfd is None:
                return False
            sessions.append(session)
        next_out = self_.next_out
        for s in core.slots:  # a WAITING slot has its GET /next out (behind a post, maybe)
            if not next_out[s.id] and s.inv is None:
                return False
        socks = tuple(api.sock for api in self_.apis)
        if None in socks:
            return False
        polls = self._many_polls
        # Registered once for as long as the same sockets and workers are
        # served (keyed by the objects: a new one may reuse a number).
        key = (socks, tuple(sessions), tuple((s.proc.stdout, s.proc.stderr, s.proc.pidfd) for s in sessions), self_.signals.rfd)
        if polls is None or polls[0] != key:
            if polls is not None:
                polls[1].close()
            ep = epoll()
            workers = [_Worker(row, session) for row, session in zip(rows, sessions)]
            for fd in [self_.signals.rfd] + [sock.fileno() for sock in socks] + [fd for t in key[2] for fd in t]:
                ep.register(fd, EPOLLIN)
            polls = self._many_polls = (
                key, ep, {sock.fileno(): i for i, sock in enumerate(socks)},
                {w.out: w for w in workers}, {w.err: w for w in workers}, {w.row.id: w for w in workers},
            )
        by_id = polls[5]
        for w in by_id.values():
            w.reset()
        inflight = {}
        for sid, inv, at, wid in core.steady_take(rows):
            w = by_id[wid]
            w.busy += 1
            inflight[inv.request_id] = (sid, inv, at, core.deadline_for(inv, at), w)
        return self._steady_many(polls, inflight)

    def _steady_many(self, polls: Any, inflight: dict[str, Any]) -> list[tuple[int, int]] | bool:
        self_: Any = self
        core = self_.core
        apis = self_.apis
        next_out, posting = self_.next_out, self_._posting
        clock, wall = self_.clock, self_.wall
        fn_timeout = core.function_timeout
        max_invocations = core.max_invocations
        _key, ep, slot_of, out_of, err_of, by_id = polls
        workers = list(by_id.values())
        wait = ep.poll
        unpackb = frames.msgpack.unpackb
        templates = self_._post_templates
        give_up = self._many_hand_over
        # When the first post still out gives up waiting for its answer, or
        # earlier (a lower bound: only new posts lower it, each later than it).
        posts_due = self_._posts_wake_at() if self_._posts_out else _NEVER
        while True:
            # The wait ends at the earliest deadline (the general path answers
            # it) or when a post has waited POST_TIMEOUT for its answer.
            due = posts_due
            for v in inflight.values():
                if v[3] < due:
                    due = v[3]
            if due is _NEVER:
                ready = wait()
            else:
                left = due - clock()
                if left <= 0.0:
                    if due is posts_due:  # maybe stale: the exact time
                        posts_due = self_._posts_wake_at() if self_._posts_out else _NEVER
                        if posts_due > due:
                            continue
                    give_up(inflight)  # due, though the wait kept finding work: the general path ticks
                    return []
                ready = wait(left)
                if not ready:
                    continue  # it is due now: the check above
            arrivals = []
            replies_from = []
            logged = []
            unusual = False
            for fd, _ev in ready:
                sid = slot_of.get(fd)
                if sid is not None:
                    if next_out[sid]:
                        arrivals.append(sid)
                    else:
                        unusual = True  # nothing is expected there: closed below
                elif fd in out_of:
                    replies_from.append(out_of[fd])
                elif fd in err_of:
                    logged.append(err_of[fd])
                else:
                    unusual = True  # a worker exited, or a signal
            if unusual:
                give_up(inflight)
                for fd, _ev in ready:
                    sid = slot_of.get(fd)
                    if sid is not None and not next_out[sid]:
                        apis[sid].close()  # closed by the Runtime API (or garbage): the next post reconnects
                # What the general path watches: not a socket nothing is expected on.
                return [(fd, ev) for fd, ev in ready if fd not in slot_of or next_out[slot_of[fd]]]
            now = clock()
            for w in logged:  # stderr: its lines go out before any answer
                session = w.session
                session.drain_stderr()
                if session.proc.stderr is None or session.log.pending:
                    give_up(inflight)
                    return True
            # -- answers from the Runtime API on the slots' connections ------
            for sid in arrivals:
                api = apis[sid]
                if posting[sid] is not None:
                    try:
                        resp = api.read_available()
                    except (ConnectionLost, HttpError) as exc:
                        give_up(inflight)
                        self_._post_lost(sid, exc)
                        return True
                    if resp is not None and (resp.status != 202 or api.sock is None):
                        give_up(inflight)
                        self_._post_answered(sid, resp, now)
                        return True
                    if resp is not None:
                        posting[sid] = None  # as _post_done
                        self_._posts_out -= 1
                        try:
                            resp = api.buffered_response()  # the /next answer may have come with it
                        except HttpError as exc:
                            give_up(inflight)
                            next_out[sid] = False
                            self_._do(core.fatal(f"the Runtime API sent a malformed response to GET /next: {exc}"))
                            return True
                else:
                    try:
                        resp = api.read_available()
                    except (ConnectionLost, HttpError) as exc:
                        give_up(inflight)
                        self_._next_read_failed(sid, exc, now)
                        return True
                if resp is None:  # more to come
                    continue
                inv = None
                if resp.status == 200 and api.sock is not None:
                    try:
                        inv = Invocation.from_headers(resp.headers, resp.body, wall(), fn_timeout)
                    except ProtocolError:
                        pass
                for w in workers:  # the first with room (one always has: N slots, room for N)
                    if w.busy < w.capacity:
                        break
                else:  # pragma: no cover - ruled out by steady_many()
                    w = None
                if inv is None or inv.note is not None or inv.request_id in inflight or w is None:
                    give_up(inflight)
                    self_._next_answer(sid, resp, now)  # the general path says what was wrong
                    return True
                next_out[sid] = False
                rid = inv.request_id
                inflight[rid] = (sid, inv, now, core.deadline_for(inv, now), w)
                w.busy += 1
                session = w.session
                if w.capacity == 1:
                    session.log.request_id = rid  # its stderr lines are this invocation's
                events = session.send_invoke(inv)
                if events or session.writing:
                    give_up(inflight)
                    if events:
                        self_._worker_events(w.row.id, session, events, clock())
                    return True
            # -- the workers' replies ------------------------------------------
            # Handled here when one read brought whole `result` frames for
            # invocations in flight on that worker, the common case; anything
            # else goes to the session's decoder, which validates it as ever.
            for w in replies_from:
                scratch = w.scratch
                try:
                    n = readv(w.out, w.into)
                except OSError:
                    n = -1
                replies = []
                pos = 0
                if 4 < n < w.room and (not max_invocations or w.row.invocations + w.busy < max_invocations):
                    while pos < n:
                        end = pos + 4 + int.from_bytes(scratch[pos:pos + 4], "big")
                        if n - pos < 5 or end > n or end - pos - 4 > w.max_frame:
                            break
                        try:
                            msg: Any = unpackb(scratch[pos + 4:end], raw=False, unicode_errors="replace", strict_map_key=False)
                        except Exception:  # noqa: BLE001 - the general path names the fault
                            break
                        if type(msg) is not dict or msg.get("type") != "result" or "payload" not in msg:
                            break
                        rid, body = msg.get("id"), msg["payload"]
                        held = inflight.get(rid)
                        if (
                            held is None or held[4] is not w or type(body) is not bytes or len(body) > MAX_RESPONSE
                            or (len(msg) != 3 and not all(type(k) is str for k in msg))
                            or (replies and rid in [r[0] for r in replies])  # twice in one read
                        ):
                            break
                        replies.append((rid, body))
                        pos = end
                if pos != n or n <= 4:
                    give_up(inflight)
                    session = w.session
                    events: list[Any] = []
                    if n > 0:
                        session.received(n, events)
                    else:
                        events = session._on_stdout()  # noqa: SLF001 - EOF or an error, said the session's way
                    self_._worker_events(w.row.id, session, events, clock())
                    return True
                lost = []
                for rid, body in replies:
                    sid, inv, _at, _due, _w = inflight.pop(rid)
                    w.busy -= 1
                    self_._sent.pop(rid, None)  # sent by the general path before the straight line took it
                    if w.capacity == 1:  # as the general path's _post: its lines are out, untagged from now
                        log = w.session.log
                        log.flush()
                        log.request_id = None
                    api = apis[sid]
                    head = response_head(templates, rid, inv.invocation_id, len(body))
                    buffers = [head + body] if len(body) < _SMALL else [head, body]
                    try:
                        api._send([buffers[0] + api.next_request] if len(buffers) == 1 else buffers + [api.next_request])  # noqa: SLF001
                    except ConnectionLost as exc:
                        lost.append((sid, inv, buffers, exc))
                        continue
                    posting[sid] = (inv, buffers, now + POST_TIMEOUT)
                    self_._posts_out += 1
                    next_out[sid] = True
                    if posts_due is _NEVER:
                        posts_due = now + POST_TIMEOUT
                    if core.steady_replied(w.row, now):  # pragma: no cover - steady_many() rules it out
                        raise CoreBug(f"an answer in the N-slot straight line asked for more than a post ({rid})")
                if lost:
                    # Retried once, alone, on a new connection, as the general path does.
                    give_up(inflight)
                    for sid, inv, buffers, exc in lost:
                        self_.reporters[sid].retry(inv, buffers, exc)
                        self_._get_next(sid)
                    return True

    def _many_hand_over(self, inflight: dict[str, Any]) -> None:
        """Every invocation the straight line holds goes back to the core, on the
        worker it was sent to, with the time it was read; their frames are written."""
        self_: Any = self
        core = self_.core
        for sid, inv, at, _due, w in inflight.values():
            actions = core.steady_give(sid, inv, at, w.row.id)
            if len(actions) != 1 or type(actions[0]) is not Send:  # pragma: no cover - steady_give dispatches
                raise CoreBug(f"the N-slot straight line gave back {inv.request_id}; the core would do {actions!r}")
            self_._note_sent(actions[0])
        inflight.clear()


class ManySlots(SteadyMany, Supervisor):
    """The supervisor for N slots: the driver with the N-slot straight line."""

    core_class = ManyCore
