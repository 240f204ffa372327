"""The supervisor's steady state as a straight line (mixed into Supervisor).

One slot, one msgpack worker alive and idle, replies in time, nothing on
stderr, no signal: then an invocation is always the same six steps.

    poll(/next socket) -> read /next -> write the invoke frame
    -> poll(worker stdout, deadline) -> read the reply -> post + GET /next

`_steady` runs those steps in a loop with no event objects, no action
lists and no poll-set bookkeeping.  The core (core.py) decides when it may:
`steady_worker()` names the worker only when one slot is WAITING and its one
worker IDLE, the states a whole invocation returns to; each answer is then
reported with `steady_replied`, which says when the general path must take
over (max_invocations, max_rss).  Anything else that happens -- another
descriptor ready, a deadline, a partial frame, a message that is not the
expected `result` -- ends the straight line: an invocation in flight is
handed to the core with the same `next_answered` call the general path
makes (the core checks it would have sent exactly that invoke to exactly
that worker), and what poll() reported is handled by the general path.
So the two never disagree about state; the straight line only skips the
bookkeeping that would have come back to where it began.
"""

from __future__ import annotations

from os import readv
from select import EPOLLIN, epoll

from dispatcher import frames
from dispatcher.answers import MAX_RESPONSE, convert_result
from dispatcher.core_table import CoreBug, Send
from dispatcher.errors import HttpError, ProtocolError
from dispatcher.runtime_api import Invocation, response_head
from dispatcher.worker import MsgpackWorker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SteadyPath"]


class SteadyPath:
    """Mixin: `_steady()`; the rest of the driver is supervisor.py's."""

    _steady_polls: tuple[Any, Any, Any] | None = None  # (what they watch, epoll for /next, epoll for the reply)

    def _steady_start(self) -> list[tuple[int, int]] | bool:
        """Serve in the straight line while the steady state lasts.  Returns
        False when it is not the steady state; else what the poll() that ended
        it reported (for the general path to handle), or True when everything
        that happened is handled."""
        self_: Any = self
        if self_._early or not self_.next_out[0] or self_.stopping.items:
            return False
        row = self_.core.steady_worker()
        if row is None:
            return False
        session = self_.sessions.get(row.id)
        if type(session) is not MsgpackWorker or session.writing or session.decoder.pending or session.log.pending:
            return False
        proc = session.proc
        api = self_.apis[0]
        fds = (api.fileno(), proc.stdout, proc.stderr, proc.pidfd, self_.signals.rfd)
        if None in fds:
            return False
        polls = self._steady_polls
        # The epoll objects are kept for as long as the same socket and the
        # same worker session are served: registered once, not per wait (as
        # poll() does per call), which is cheaper each time the loop blocks.
        # Keyed by the objects too: a new socket or worker may reuse numbers.
        key = (api.sock, session, fds)
        if polls is None or polls[0] != key:
            api_fd, out_fd, err_fd, pid_fd, sig_fd = fds
            waiting, invoking = epoll(), epoll()
            for fd in (api_fd, sig_fd, out_fd, err_fd, pid_fd):
                waiting.register(fd, EPOLLIN)
            # Stdout reported alone means no stderr line was written before
            # the reply: a write to stderr puts it on epoll's ready list at
            # once, and a wait collects everything on that list (then the
            # read that would say EAGAIN is skipped; see Supervisor._post).
            for fd in (out_fd, err_fd, pid_fd, sig_fd):
                invoking.register(fd, EPOLLIN)
            if polls is not None:
                polls[1].close()
                polls[2].close()
            polls = self._steady_polls = (key, waiting, invoking)
        if frames.msgpack is None:
            # Until msgpack is loaded (dispatcher/frames.py: when the reply to
            # the second invocation is read), the general path serves: its
            # import stays off the cold start.
            return False
        return self._steady(row, session, polls)

    def _steady(self, row: Any, session: MsgpackWorker, polls: tuple[Any, Any, Any]) -> list[tuple[int, int]] | bool:
        self_: Any = self
        core = self_.core
        api = self_.apis[0]
        reporter = self_.reporters[0]
        clock, wall = self_.clock, self_.wall
        fn_timeout = core.function_timeout
        next_out = self_.next_out
        (_sock, _session, (api_fd, out_fd, _e, _p, _s)), waiting, invoking = polls
        on_stdout = session._on_stdout  # noqa: SLF001 - the session's own reader
        unpackb = frames.msgpack.unpackb  # loaded: _steady_start checked it
        # Replies are read into the decoder's own buffer; bytes not advance()d
        # are not the decoder's, so a reply parsed here leaves it untouched.
        scratch = session.decoder.writable()
        into, room, max_frame = [scratch], len(scratch), session.decoder.max_frame
        templates = self_._post_templates  # Content-Type: application/json, Success's default
        resp = None
        while True:
            if resp is None:
                ready = waiting.poll()
                if len(ready) != 1 or ready[0][0] != api_fd:
                    return ready
                now = clock()
                resp = self_._read_next(0, now)
                if resp is None:
                    return True
            else:
                now = clock()
            inv = None
            if resp.status == 200:
                try:
                    inv = Invocation.from_headers(resp.headers, resp.body, wall(), fn_timeout)
                except ProtocolError:
                    pass
            if inv is None or inv.note is not None:
                self_._next_answer(0, resp, now)  # the general path says what was wrong
                return True
            next_out[0] = False
            deadline = core.deadline_for(inv, now)
            events = session.send_invoke(inv)
            if events or session.writing:
                self._hand_over(row, inv, now)
                if events:
                    self_._worker_events(row.id, session, events, clock())
                return True
            left = deadline - now  # (a late wake-up is the general path's: it ticks)
            ready = invoking.poll(left if left > 0.0 else 0)
            if len(ready) != 1 or ready[0][0] != out_fd:
                self._hand_over(row, inv, now)
                return ready
            # The reply, parsed in place when one read brought exactly one
            # frame: the common case, and the only one handled here.
            rid = inv.request_id
            try:
                n = readv(out_fd, into)
            except OSError:
                n = -1
            msg: Any = None
            if 4 < n < room and n - 4 <= max_frame and int.from_bytes(scratch[:4], "big") == n - 4:
                try:
                    msg = unpackb(scratch[4:n], raw=False, unicode_errors="replace", strict_map_key=False)
                except Exception:  # noqa: BLE001 - the general path names the fault
                    msg = None
            if (
                type(msg) is not dict or msg.get("type") != "result" or msg.get("id") != rid
                or "payload" not in msg or (len(msg) != 3 and not all(type(k) is str for k in msg))
            ):
                # Anything else: the bytes go to the session's decoder, which
                # validates them as ever, and the core takes over.
                self._hand_over(row, inv, now)
                events: list[Any] = []
                if n > 0:
                    session.received(n, events)
                else:
                    events = on_stdout()
                self_._worker_events(row.id, session, events, clock())
                return True
            body = msg["payload"]
            if type(body) is bytes and len(body) <= MAX_RESPONSE:
                # What convert_result makes a Success of, posted from the template.
                head = response_head(templates, rid, inv.invocation_id, len(body))
                # As ResponseRequest.encode: a small body joins its head, a large one is not copied.
                sent = reporter.send(inv, [head + body] if len(body) < 4096 else [head, body], True)
            else:
                sent = reporter.post(inv, convert_result(body), pipeline_next=True)
            if not sent:
                self_._get_next(0)
            else:
                next_out[0] = True
            resp = None
            if next_out[0]:
                # The /next answer may have come with the post's: it is
                # buffered already, and poll() would not report it.
                try:
                    resp = api.buffered_response()
                except HttpError as exc:
                    next_out[0] = False
                    self_._do(core.fatal(f"the Runtime API sent a malformed response to GET /next: {exc}"))
                    return True
            actions = core.steady_replied(row, clock())
            if actions or not next_out[0]:
                if resp is not None:
                    self_._early.append((0, resp))  # handled after the actions, as the general path does
                self_._do(actions)
                return True

    def _hand_over(self, row: Any, inv: Invocation, now: float) -> None:
        """The invocation in flight goes to the core, as the general path would
        have handed it at `now`; its invoke frame is already written."""
        self_: Any = self
        actions = self_.core.next_answered(0, inv, now)
        if len(actions) != 1 or type(actions[0]) is not Send or actions[0].worker != row.id:
            raise CoreBug(f"the steady state sent {inv.request_id} to worker {row.id}; the core would do {actions!r}")
        self_._note_sent(actions[0])
