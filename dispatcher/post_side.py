"""The answer side of the driver (supervisor.py), as a mixin: performing the
core's Post actions.

With one slot, a post is synchronous: the answer and the next GET /next go
out together and the post's own answer (202) is read at once, blocking
(reporter.py).  With N slots that blocking read would hold every other slot
up for a round trip to the Runtime API per invocation, so there a plain
answer is sent the same way but its 202 is read when the slot's socket polls
readable, like the /next answer behind it on the same connection: the slot
is *posting* until then.  The rules for the 202 (or anything else) are the
same either way (Reporter.judge / Reporter.retry): a reset or a closed
connection retries the post once, alone, on a new connection; a post
unanswered for POST_TIMEOUT counts as cut off, as the synchronous read's
socket timeout does.  Posts still unanswered when the supervisor exits are
awaited first (a close with unread data would reset the connection).
"""

from __future__ import annotations

from select import POLLIN, poll

from dispatcher.answers import Success
from dispatcher.client import POST_TIMEOUT, ConnectionLost
from dispatcher.errors import HttpError
from dispatcher.runtime_api import ResponseRequest, response_head

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dispatcher.core_table import Post

__all__ = ["PostSide"]

_JSON = "application/json"


class PostSide:
    """Uses the driver's core, apis, reporters, sessions, next_out, clock, _do,
    _get_next, _next_answer, _early, _relayed, _sent and _lone."""

    core: Any
    apis: list[Any]
    reporters: list[Any]
    sessions: dict[int, Any]
    next_out: list[bool]
    clock: Any
    _do: Any
    _get_next: Any
    _next_answer: Any
    _early: list[Any]
    _relayed: dict[str, Any]
    _sent: dict[str, Any]
    _lone: bool
    _single: bool
    _post_templates: tuple[bytes, bytes]

    def _init_posts(self, slots: int) -> None:
        # Per slot: (invocation, request buffers, give-up time) of a post
        # whose answer is awaited on the slot's connection (N slots only).
        self._posting: list[tuple[Any, list[Any], float] | None] = [None] * slots
        self._posts_out = 0

    def _post(self, a: Post) -> None:
        if a.worker is not None:
            session = self.sessions.get(a.worker)
            if session is not None:
                # Its stderr is forwarded before the answer is posted.  When the
                # reply came from a poll() that reported its stdout alone, the
                # stderr pipe was empty when poll() looked: poll checks the
                # descriptors in order, stdout before stderr, in one pass, so
                # a line written before the reply was readable then.  The
                # read that would say EAGAIN is skipped (one syscall less).
                if not self._lone:
                    session.drain_stderr()
                session.log.flush()
                session.log.request_id = None
        sid = a.slot
        inv: Any = a.invocation
        rid = inv.request_id
        self._sent.pop(rid, None)
        answer = self._relayed.pop(rid, a.answer)  # a streamed answer was posted by the relay
        if a.then_next and not self._single and type(answer) is Success:
            self._post_async(sid, inv, answer)
            return
        pipelined = self.reporters[sid].post(inv, answer, pipeline_next=a.then_next)
        if not a.then_next:
            return
        if not pipelined:
            # GET /next goes out before any worker is stopped or recycled: an
            # invoke only completes when /next is called again.
            self._get_next(sid)
            return
        self.next_out[sid] = True
        # With pipelining the /next answer may already sit in the parser's
        # buffer, read together with the post's answer.
        try:
            early = self.apis[sid].buffered_response()
        except HttpError as exc:
            self.next_out[sid] = False
            self._do(self.core.fatal(f"the Runtime API sent a malformed response to GET /next: {exc}"))
            return
        if early is not None:
            # Handled after the actions that came with this answer (stopping or
            # recycling the worker), as if it had been read in the next round.
            self._early.append((sid, early))

    def _post_async(self, sid: int, inv: Any, answer: Success) -> None:
        """Send the answer and GET /next; the post's answer is read later (`_post_readable`)."""
        api = self.apis[sid]
        body = answer.body
        if answer.content_type == _JSON:
            head = response_head(self._post_templates, inv.request_id, inv.invocation_id, len(body))
            # As ResponseRequest.encode: a small body joins its head, a large one is not copied.
            buffers = [head + body] if len(body) < 4096 else [head, body]
        else:
            buffers = ResponseRequest(inv.request_id, body, answer.content_type, inv.invocation_id).encode(api.address)
        try:
            api._send(buffers + [api.next_request])  # noqa: SLF001 - the request half of ApiClient.request
        except ConnectionLost as exc:
            self.reporters[sid].retry(inv, buffers, exc)
            self._get_next(sid)
            return
        self._posting[sid] = (inv, buffers, self.clock() + POST_TIMEOUT)
        self._posts_out += 1
        self.next_out[sid] = True

    def _post_readable(self, sid: int, now: float) -> None:
        """The slot's socket is readable while its post's answer is awaited."""
        api = self.apis[sid]
        try:
            resp = api.read_available()
        except (ConnectionLost, HttpError) as exc:
            self._post_lost(sid, exc)
            return
        if resp is None:
            return  # more to come
        self._post_answered(sid, resp, now)

    def _post_answered(self, sid: int, resp: Any, now: float) -> None:
        """The answer to the slot's post came (`resp`): its rules, then the /next answer if it came with it."""
        api = self.apis[sid]
        inv = self._post_done(sid)
        if not self.reporters[sid].judge(inv, resp, True, retried=False):
            self.next_out[sid] = False  # the GET /next behind it was lost with the connection
            self._get_next(sid)
            return
        try:
            early = api.buffered_response()  # the /next answer, read with the post's
        except HttpError as exc:
            self.next_out[sid] = False
            self._do(self.core.fatal(f"the Runtime API sent a malformed response to GET /next: {exc}"))
            return
        if early is not None:
            self._next_answer(sid, early, now)

    def _post_done(self, sid: int) -> Any:
        inv = self._posting[sid][0]  # type: ignore[index]
        self._posting[sid] = None
        self._posts_out -= 1
        return inv

    def _post_lost(self, sid: int, exc: Exception) -> None:
        """The connection failed before the post's answer: retried once, alone, then GET /next."""
        buffers = self._posting[sid][1]  # type: ignore[index]
        inv = self._post_done(sid)
        self.next_out[sid] = False
        self.reporters[sid].retry(inv, buffers, exc)
        self._get_next(sid)

    def _posts_wake_at(self) -> float:
        return min(p[2] for p in self._posting if p is not None)

    def _posts_tick(self, now: float) -> None:
        """Posts unanswered for POST_TIMEOUT: cut off, as a blocking read's timeout would say."""
        for sid, p in enumerate(self._posting):
            if p is not None and now >= p[2]:
                self.apis[sid].close()
                self._post_lost(sid, ConnectionLost(f"the Runtime API did not answer within {POST_TIMEOUT:.0f} s"))

    def _settle_posts(self, wait: float = 1.0) -> None:
        """Before exiting: read the answers of posts still awaited, for at most `wait` seconds."""
        end = self.clock() + wait
        for sid, p in enumerate(self._posting):
            if p is None:
                continue
            self._post_done(sid)
            api = self.apis[sid]
            try:
                watch = poll()
                watch.register(api.fileno(), POLLIN)
                resp = None
                while resp is None and watch.poll(max(0.0, end - self.clock()) * 1000):
                    resp = api.read_available()
                if resp is not None:
                    self.reporters[sid].judge(p[0], resp, True, retried=False)
            except Exception:  # noqa: BLE001 - exiting anyway: the answer went out
                pass
