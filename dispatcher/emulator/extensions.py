"""The Extensions API of the emulated sandbox: register, event/next, init and exit errors.

Every extension that registers here runs inside the runtime's process tree (the
emulator launches no external extensions), so each is an *internal* extension
in RAPID's terms: it may subscribe only to INVOKE (RIE: core
ValidateInternalAgentEvent).  Registration is open only during init.  An
`event/next` poll of an extension subscribed to INVOKE is answered with one
INVOKE event per invoke (queued until it polls); any other poll is held open
and never answered: an internal extension cannot subscribe to SHUTDOWN, and
RAPID sends it nothing at shutdown.  Registering matters for the shutdown:
with an extension, the runtime is sent SIGTERM before SIGKILL, as Lambda does.
(RAPID also waits for every extension to poll again before the next invoke;
the emulator does not.)
"""

from __future__ import annotations

import collections
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
        self.invoke_subscribers: dict[bytes, collections.deque[bytes]] = {}  # identifier -> INVOKE events not yet polled
        self._waiting: dict[bytes, Connection] = {}  # identifier -> its open poll, for those subscribers
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

    def shutdown(self) -> None:
        """At shutdown RAPID sends internal extensions nothing: their polls just end with the sandbox."""
        self.parked.clear()

    def reset(self) -> None:
        """A new sandbox: forget registrations (their connections are closed by the caller)."""
        self.registered.clear()
        self.parked.clear()
        self.invoke_subscribers.clear()
        self._waiting.clear()

    def invoke_event(self, request_id: bytes, deadline_ms: int, arn: bytes) -> None:
        """Give every INVOKE subscriber the event of an invoke that starts (RAPID's order of fields)."""
        body = b'{"eventType":"INVOKE","deadlineMs":%d,"requestId":"%s","invokedFunctionArn":"%s"}' % (deadline_ms, request_id, arn)
        for ext_id, queue in self.invoke_subscribers.items():
            event = render_response(200, body, headers=[(b"Lambda-Extension-Event-Identifier", new_uuid().encode())])
            conn = self._waiting.pop(ext_id, None)
            if conn is None:
                queue.append(event)
            else:
                self.forget(conn)
                self.loop.send(conn, event)

    def forget(self, conn: Connection) -> None:
        if conn in self.parked:
            self.parked.remove(conn)
            for ext_id, waiting in list(self._waiting.items()):
                if waiting is conn:
                    del self._waiting[ext_id]

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
        if "INVOKE" in events:
            self.invoke_subscribers[ext_id] = collections.deque()
        self.loop.send(conn, render_response(200, self._register_body, headers=[(b"Lambda-Extension-Identifier", ext_id)]))

    def _next(self, conn: Connection, req: Request) -> None:
        ext_id = req.header(b"lambda-extension-identifier")
        if ext_id is None:
            return self._reject(conn, "Extension.MissingHeader", "Missing Lambda-Extension-Identifier header")
        if ext_id not in self.registered:
            return self._reject(conn, "Extension.UnknownExtensionIdentifier", f"Unknown extension {ext_id.decode('latin-1')}")
        queue = self.invoke_subscribers.get(ext_id)
        if queue:
            self.loop.send(conn, queue.popleft())
            return
        if queue is not None:
            old = self._waiting.get(ext_id)
            if old is not None:
                self.forget(old)
            self._waiting[ext_id] = conn
        self.parked.append(conn)
