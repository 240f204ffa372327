"""The Runtime API routes of the emulated sandbox outside the invoke hot path:
a post for an invocation that is not the current one, /runtime/init/error,
wrong methods, the Extensions API, and 404 for anything else.  A mixin of
`Sandbox` (same loop thread, same state); `Sandbox.handle` routes /next and the
current invocation's posts itself and hands everything else to `_route_other`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import state as st
from ._http import MAX_PAYLOAD
from ._render import render_error
from .invoke import INVOCATION_PREFIX

if TYPE_CHECKING:
    from ._http import Request
    from .server import Connection

__all__ = ["Routes", "NEXT_PATH", "INIT_ERROR_PATH"]

NEXT_PATH = b"/2018-06-01/runtime/invocation/next"
INIT_ERROR_PATH = b"/2018-06-01/runtime/init/error"


class Routes:
    """Sandbox's routes off the invoke hot path (mixed into Sandbox; uses its
    attributes and its _fire)."""

    loop: Any
    state: str
    extensions: Any
    registration_open: bool
    rejected: int

    def _fire(self, event: str, conn: Connection | None = None, req: Request | None = None) -> None: ...  # Sandbox

    def _route_other(self, conn: Connection, req: Request) -> None:
        path = req.target.partition(b"?")[0]
        method = req.method
        if path.startswith(INVOCATION_PREFIX) and (path.endswith(b"/response") or path.endswith(b"/error")):
            if method != b"POST":
                return self._reject(conn, 405, "MethodNotAllowed", f"{method.decode()} not allowed on {path.decode('latin-1')}: use POST")
            # Not the current invoke (or none is running): RAPID checks the state first.
            self._fire(st.STALE_POST, conn, req)
            return
        if path == INIT_ERROR_PATH:
            if method != b"POST":
                return self._reject(conn, 405, "MethodNotAllowed", "use POST for /runtime/init/error")
            if req.too_large:
                return self._reject(conn, 413, "RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({MAX_PAYLOAD} bytes).")
            self._fire(st.INIT_ERROR, conn, req)
            return
        if path == NEXT_PATH:
            return self._reject(conn, 405, "MethodNotAllowed", "use GET for /runtime/invocation/next")
        open_ = self.registration_open and self.state in (st.INITIALIZING, st.NO_RUNTIME)
        if self.extensions.route(conn, req, path, registration_open=open_):
            return
        if req.too_large:
            return self._reject(conn, 413, "RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({MAX_PAYLOAD} bytes).")
        self._reject(conn, 404, "NotFound", f"no such Runtime API endpoint: {method.decode()} {path.decode('latin-1')[:200]}")

    def _reject(self, conn: Connection, status: int, error_type: str, message: str) -> None:
        self.rejected += 1
        self.loop.send(conn, render_error(status, error_type, message))
