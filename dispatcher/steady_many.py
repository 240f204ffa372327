"""The N-slot steady state as a straight line (mixed into Supervisor).

N slots served by one multiplexed worker (Rust `run_concurrent`, the Node
adapter on LMI), the worker alive, replies in time: then every wake-up is
one of three things, each a few steps.

    a slot's /next answer -> write the invoke frame to the worker
    the worker's stdout   -> its reply frames -> post each, GET /next behind it
    a slot's post answer  -> 202, and the /next answer if it came along

`_steady_many` runs those steps in a loop on one epoll set registered once
per (sockets, worker), with no event objects, no action lists and no
poll-set bookkeeping; the earliest deadline of the invocations in flight is
the wait's timeout.  The core (core.py) decides when it may:
`steady_many()` names the worker only when every slot is WAITING or
INVOKING on it and nothing else is going on, and `steady_take()` hands the
invocations already in flight to the straight line, each with the time it
was read.  Anything else -- a deadline, the worker's exit, a signal, a
partial or unexpected frame, a post not answered 202, a lost connection --
ends it: every invocation it holds goes back to the core with the same
`next_answered(slot, inv, read_at)` the general path makes (the core checks
it would have sent exactly that invoke to exactly that worker, and the
deadline is the same), and what happened is handled by the general path.

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
from dispatcher.core_table import CoreBug, Send
from dispatcher.errors import HttpError, ProtocolError
from dispatcher.runtime_api import Invocation, ResponseRequest
from dispatcher.supervisor import Supervisor
from dispatcher.worker import MsgpackWorker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SteadyMany", "ManySlots"]

_NEVER = float("inf")
_SMALL = 4096  # a body under this joins its head in one buffer (as ResponseRequest.encode)


class SteadyMany:
    """Mixin: `_steady_many_start()`; the rest of the driver is supervisor.py's."""

    # (what they watch, the epoll set, slot by socket fd)
    _many_polls: tuple[Any, Any, dict[int, int]] | None = None

    def _steady_many_start(self) -> list[tuple[int, int]] | bool:
        """Serve in the N-slot straight line while the steady state lasts.
        Returns False when it is not the steady state; else what the wait that
        ended it reported (for the general path to handle), or True when
        everything that happened is handled."""
        self_: Any = self
        if self_._early or self_.stopping.items or frames.msgpack is None:
            return False
        core = self_.core
        row = core.steady_many()
        if row is None:
            return False
        session = self_.sessions.get(row.id)
        if type(session) is not MsgpackWorker or session.writing or session.decoder.pending or session.log.pending:
            return False
        next_out = self_.next_out
        for s in core.slots:  # a WAITING slot has its GET /next out (behind a post, maybe)
            if not next_out[s.id] and s.inv is None:
                return False
        socks = tuple(api.sock for api in self_.apis)
        proc = session.proc
        fds = (proc.stdout, proc.stderr, proc.pidfd, self_.signals.rfd)
        if None in socks or None in fds:
            return False
        polls = self._many_polls
        # Registered once for as long as the same sockets and worker are
        # served (keyed by the objects: a new one may reuse a number).
        key = (socks, session, fds)
        if polls is None or polls[0] != key:
            if polls is not None:
                polls[1].close()
            ep = epoll()
            for fd in fds + tuple(sock.fileno() for sock in socks):
                ep.register(fd, EPOLLIN)
            polls = self._many_polls = (key, ep, {sock.fileno(): i for i, sock in enumerate(socks)})
        inflight = {inv.request_id: (sid, inv, at, core.deadline_for(inv, at)) for sid, inv, at in core.steady_take(row)}
        return self._steady_many(row, session, polls, inflight)

    def _steady_many(self, row: Any, session: MsgpackWorker, polls: Any, inflight: dict[str, Any]) -> list[tuple[int, int]] | bool:
        self_: Any = self
        core = self_.core
        apis = self_.apis
        next_out, posting = self_.next_out, self_._posting
        clock, wall = self_.clock, self_.wall
        fn_timeout = core.function_timeout
        max_invocations = core.max_invocations
        (_socks, _session, (out_fd, err_fd, _p, _s)), ep, slot_of = polls
        wait = ep.poll
        unpackb = frames.msgpack.unpackb
        # Replies are read into the decoder's own buffer; bytes not advance()d
        # are not the decoder's, so replies parsed here leave it untouched.
        scratch = session.decoder.writable()
        into, room, max_frame = [scratch], len(scratch), session.decoder.max_frame
        template = self_._post_template
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
                    give_up(row, inflight)  # due, though the wait kept finding work: the general path ticks
                    return []
                ready = wait(left)
                if not ready:
                    continue  # it is due now: the check above
            arrivals = []
            reply = unusual = False
            for fd, _ev in ready:
                sid = slot_of.get(fd)
                if sid is not None:
                    if next_out[sid]:
                        arrivals.append(sid)
                    else:
                        unusual = True  # nothing is expected there: closed below
                elif fd == out_fd:
                    reply = True
                elif fd != err_fd:
                    unusual = True  # the worker exited, or a signal
            if unusual:
                give_up(row, inflight)
                for fd, _ev in ready:
                    sid = slot_of.get(fd)
                    if sid is not None and not next_out[sid]:
                        apis[sid].close()  # closed by the Runtime API (or garbage): the next post reconnects
                # What the general path watches: not a socket nothing is expected on.
                return [(fd, ev) for fd, ev in ready if fd not in slot_of or next_out[slot_of[fd]]]
            now = clock()
            if len(ready) > len(arrivals) + reply:  # stderr: its lines go out before any answer
                session.drain_stderr()
                if session.proc.stderr is None or session.log.pending:
                    give_up(row, inflight)
                    return True
            # -- answers from the Runtime API on the slots' connections ------
            for sid in arrivals:
                api = apis[sid]
                if posting[sid] is not None:
                    try:
                        resp = api.read_available()
                    except (ConnectionLost, HttpError) as exc:
                        give_up(row, inflight)
                        self_._post_lost(sid, exc)
                        return True
                    if resp is not None and (resp.status != 202 or api.sock is None):
                        give_up(row, inflight)
                        self_._post_answered(sid, resp, now)
                        return True
                    if resp is not None:
                        posting[sid] = None  # as _post_done
                        self_._posts_out -= 1
                        try:
                            resp = api.buffered_response()  # the /next answer may have come with it
                        except HttpError as exc:
                            give_up(row, inflight)
                            next_out[sid] = False
                            self_._do(core.fatal(f"the Runtime API sent a malformed response to GET /next: {exc}"))
                            return True
                else:
                    try:
                        resp = api.read_available()
                    except (ConnectionLost, HttpError) as exc:
                        give_up(row, inflight)
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
                if inv is None or inv.note is not None or inv.request_id in inflight:
                    give_up(row, inflight)
                    self_._next_answer(sid, resp, now)  # the general path says what was wrong
                    return True
                next_out[sid] = False
                inflight[inv.request_id] = (sid, inv, now, core.deadline_for(inv, now))
                events = session.send_invoke(inv)
                if events or session.writing:
                    give_up(row, inflight)
                    if events:
                        self_._worker_events(row.id, session, events, clock())
                    return True
            if not reply:
                continue
            # -- the worker's replies ------------------------------------------
            # Handled here when one read brought whole `result` frames for
            # invocations in flight, the common case; anything else goes to
            # the session's decoder, which validates it as ever.
            try:
                n = readv(out_fd, into)
            except OSError:
                n = -1
            replies = []
            pos = 0
            if 4 < n < room and (not max_invocations or row.invocations + len(inflight) < max_invocations):
                while pos < n:
                    end = pos + 4 + int.from_bytes(scratch[pos:pos + 4], "big")
                    if n - pos < 5 or end > n or end - pos - 4 > max_frame:
                        break
                    try:
                        msg: Any = unpackb(scratch[pos + 4:end], raw=False, unicode_errors="replace", strict_map_key=False)
                    except Exception:  # noqa: BLE001 - the general path names the fault
                        break
                    if type(msg) is not dict or msg.get("type") != "result" or "payload" not in msg:
                        break
                    rid, body = msg.get("id"), msg["payload"]
                    if (
                        rid not in inflight or any(r[0] == rid for r in replies) or type(body) is not bytes
                        or len(body) > MAX_RESPONSE or (len(msg) != 3 and not all(type(k) is str for k in msg))
                    ):
                        break
                    replies.append((rid, body))
                    pos = end
            if pos != n or n <= 4:
                give_up(row, inflight)
                events: list[Any] = []
                if n > 0:
                    session.received(n, events)
                else:
                    events = session._on_stdout()  # noqa: SLF001 - EOF or an error, said the session's way
                self_._worker_events(row.id, session, events, clock())
                return True
            lost = []
            for rid, body in replies:
                sid, inv, _at, _due = inflight.pop(rid)
                self_._sent.pop(rid, None)  # sent by the general path before the straight line took it
                api = apis[sid]
                if inv.invocation_id is None:
                    head = template % (rid.encode("latin-1"), len(body))
                    buffers = [head + body] if len(body) < _SMALL else [head, body]
                else:
                    buffers = ResponseRequest(rid, body, "application/json", inv.invocation_id).encode(api.address)
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
                if core.steady_replied(row, now):  # pragma: no cover - steady_many() rules it out
                    raise CoreBug(f"an answer in the N-slot straight line asked for more than a post ({rid})")
            if lost:
                # Retried once, alone, on a new connection, as the general path does.
                give_up(row, inflight)
                for sid, inv, buffers, exc in lost:
                    self_.reporters[sid].retry(inv, buffers, exc)
                    self_._get_next(sid)
                return True

    def _many_hand_over(self, row: Any, inflight: dict[str, Any]) -> None:
        """Every invocation the straight line holds goes to the core, as the general
        path would have handed it when it was read; their frames are already written."""
        self_: Any = self
        core = self_.core
        for sid, inv, at, _due in inflight.values():
            actions = core.next_answered(sid, inv, at)
            if len(actions) != 1 or type(actions[0]) is not Send or actions[0].worker != row.id:
                raise CoreBug(f"the N-slot straight line sent {inv.request_id} to worker {row.id}; the core would do {actions!r}")
            self_._note_sent(actions[0])
        inflight.clear()


class ManySlots(SteadyMany, Supervisor):
    """The supervisor for N slots: the driver with the N-slot straight line."""
