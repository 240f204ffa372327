"""The Extensions API of the emulated sandbox: register, event/next, init and exit errors.

Every extension that registers here runs inside the runtime's process tree (the
emulator launches no external extensions), so each is an *internal* extension
in RAPID's terms: it may subscribe only to INVOKE (RIE: core
ValidateInternalAgentEvent).  Registration is open only during init.  An
`event/next` poll is held open until the emulator shuts down, then answered
with a SHUTDOWN event; INVOKE events are not emulated.  Registering matters
for the shutdown: with an extension, the runtime is sent SIGTERM before
SIGKILL, as Lambda does.
"""

from __future__ import annotations

import json

from ._http import Request
from ._render import accepted, render_error, render_response
from .invoke import new_uuid
from .server import Connection, Loop

__all__ = ["Extensions", "REGISTER_PATH", "NEXT_PATH", "ERROR_PATHS"]

REGISTER_PATH = b"/2020-01-01/extension/register"
NEXT_PATH = b"/2020-01-01/extension/event/next"
ERROR_PATHS = (b"/2020-01-01/extension/init/error", b"/2020-01-01/extension/exit/error")


class Extensions:
    """Registrations of one sandbox; runs on the loop thread."""

    def __init__(self, loop: Loop, function_name: str, handler: str | None) -> None:
        self.loop = loop
        self.registered: dict[bytes, str] = {}  # identifier -> name
        self.parked: list[Connection] = []
        self.rejected = 0
        # Go's json.Encoder: compact, in the struct's field order, and a newline.
        self._register_body = json.dumps(
            {"functionName": function_name, "functionVersion": "$LATEST", "handler": handler or ""},
            separators=(",", ":"),
        ).encode() + b"\n"

    def __bool__(self) -> bool:
        return bool(self.registered)

    def route(self, conn: Connection, req: Request, path: bytes, *, registration_open: bool) -> bool:
        """Answer an Extensions API request; False when `path` is not one of ours."""
        method = req.method
        if path == REGISTER_PATH and method == b"POST":
            self._register(conn, req, registration_open)
        elif path == NEXT_PATH and method == b"GET":
            self._next(conn, req)
        elif path in ERROR_PATHS and method == b"POST":
            if req.header(b"lambda-extension-identifier") not in self.registered:
                self._reject(conn, "Extension.UnknownExtensionIdentifier", "Unknown or missing Lambda-Extension-Identifier")
            else:
                self.loop.send(conn, accepted())
        else:
            return False
        return True

    def shutdown(self, deadline_ms: int) -> None:
        """Answer every open event/next poll with SHUTDOWN."""
        event = b'{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":%d}' % deadline_ms
        for conn in self.parked:
            self.loop.send(conn, render_response(200, event))
        self.parked.clear()

    def reset(self) -> None:
        """A new sandbox: forget registrations (their connections are closed by the caller)."""
        self.registered.clear()
        self.parked.clear()

    def forget(self, conn: Connection) -> None:
        if conn in self.parked:
            self.parked.remove(conn)

    def _reject(self, conn: Connection, error_type: str, message: str) -> None:
        self.rejected += 1
        self.loop.send(conn, render_error(403, error_type, message))

    def _register(self, conn: Connection, req: Request, registration_open: bool) -> None:
        # Checked in RAPID's order (rapi/handler/agentregister.go): name, body, events, state.
        name = (req.header(b"lambda-extension-name") or b"").decode("latin-1")
        if not name:
            return self._reject(conn, "Extension.InvalidExtensionName", "Empty extension name")
        try:
            doc = json.loads(req.body or b"{}")
            events = doc.get("events", []) if isinstance(doc, dict) else None
            if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
                raise ValueError('expected {"events": ["INVOKE", ...]}')
        except ValueError as exc:
            return self._reject(conn, "InvalidRequestFormat", f"bad register body: {exc}")
        for event in events:
            if event != "INVOKE":  # RAPID's words (core/agentutil.go)
                reason = "ShutdownEventNotSupportedForInternalExtension" if event == "SHUTDOWN" else "ErrorInvalidEventType"
                return self._reject(conn, "Extension.InvalidEventType", f"{event}: {reason}")
        if not registration_open:
            return self._reject(conn, "Extension.RegistrationClosed", "Extension registration closed already")
        if name in self.registered.values():
            return self._reject(conn, "Extension.InvalidExtensionState", "Extension with this name already registered")
        ext_id = new_uuid().encode()
        self.registered[ext_id] = name
        self.loop.send(conn, render_response(200, self._register_body, headers=[(b"Lambda-Extension-Identifier", ext_id)]))

    def _next(self, conn: Connection, req: Request) -> None:
        ext_id = req.header(b"lambda-extension-identifier")
        if ext_id is None:
            return self._reject(conn, "Extension.MissingHeader", "Missing Lambda-Extension-Identifier header")
        if ext_id not in self.registered:
            return self._reject(conn, "Extension.UnknownExtensionIdentifier", f"Unknown extension {ext_id.decode('latin-1')}")
        self.parked.append(conn)
