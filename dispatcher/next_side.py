"""The GET /next side of the driver (supervisor.py), as a mixin: sending it,
reading its answer when the slot's socket polls readable, and turning what
came (an event, a refusal, a broken or lost connection) into one core call.
"""

from __future__ import annotations

from dispatcher.answers import say
from dispatcher.client import ConnectionLost
from dispatcher.errors import HttpError, ProtocolError
from dispatcher.runtime_api import Invocation

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping

__all__ = ["NextSide"]


def _framing(headers: Mapping[str, str]) -> str:
    cl = headers.get("content-length")
    return f"Content-Length {cl}" if cl is not None else f"Transfer-Encoding {headers.get('transfer-encoding', '?')}"


class NextSide:
    """Uses the driver's core, apis, next_out, wall clock, _do and the post side's _posting."""

    core: Any
    apis: list[Any]
    next_out: list[bool]
    wall: Any
    clock: Any
    _do: Any
    _posting: list[Any]
    _post_readable: Any

    def _api_readable(self, sid: int, now: float) -> None:
        if self._posting[sid] is not None:  # the post's answer comes first (post_side.py)
            self._post_readable(sid, now)
            return
        resp = self._read_next(sid, now)
        if resp is not None:
            self._next_answer(sid, resp, now)

    def _read_next(self, sid: int, now: float) -> Any:
        """The /next answer, when complete; a broken one goes to the core here."""
        try:
            return self.apis[sid].read_available()
        except (HttpError, ConnectionLost) as exc:
            self._next_read_failed(sid, exc, now)
        return None

    def _next_read_failed(self, sid: int, exc: Exception, now: float) -> None:
        """Reading the /next answer raised `exc`: a malformed answer is fatal, a lost connection retried."""
        self.next_out[sid] = False
        if isinstance(exc, HttpError):
            self._do(self.core.fatal(f"the Runtime API sent a malformed response to GET /next: {exc}"))
        else:
            self._next_lost(sid, exc, now)

    def _next_answer(self, sid: int, resp: Any, now: float) -> None:
        self.next_out[sid] = False
        if resp.status == 200:
            try:
                inv = Invocation.from_headers(resp.headers, resp.body, self.wall(), self.core.function_timeout)
            except ProtocolError as exc:
                # No request id: nothing can be posted for it (the id is in the
                # URL).  Logged, and this slot asks for the next event.
                say(f"{exc}; going on to the next event")
                self._get_next(sid)
                return
            if inv.note is not None:
                say(f"invocation {inv.request_id}: {inv.note}")
            self._do(self.core.next_answered(sid, inv, now))
            return
        body = bytes(resp.body[:500]).decode("utf-8", "replace")
        self.apis[sid].close()
        self._do(self.core.next_refused(sid, resp.status, body, now))

    def _next_lost(self, sid: int, exc: Exception, now: float) -> None:
        """An event whose headers arrived but whose body was cut short still has
        a request id: it gets its one answer; otherwise GET /next is retried."""
        api = self.apis[sid]
        head = api.partial_head
        if head is not None and head[0] == 200 and "lambda-runtime-aws-request-id" in head[2]:
            try:
                inv = Invocation.from_headers(head[2], b"", self.wall(), self.core.function_timeout)
            except ProtocolError:
                pass
            else:
                self._do(self.core.next_cut_short(sid, inv, _framing(head[2]), now))
                return
        api.close()
        self._do(self.core.next_failed(sid, str(exc), now))

    def _get_next(self, sid: int) -> None:
        try:
            self.apis[sid].send_next()
        except ConnectionLost as exc:
            self._do(self.core.next_failed(sid, str(exc), self.clock()))
            return
        self.next_out[sid] = True
