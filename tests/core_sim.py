"""A fake driver for dispatcher.core: it performs the core's actions on plain
lists (no process, no socket) and moves a fake clock, so that a test feeds a
scripted history and asserts what the core asked for, in milliseconds."""

from __future__ import annotations

from typing import Any

from dispatcher.answers import Failure, Success
from dispatcher.core import Core
from dispatcher.core_steady import ManyCore
from dispatcher.core_table import CheckRss, Fatal, GetNext, InitError, Log, Post, Send, Serve, Shutdown, Spawn, Stop
from dispatcher.runtime_api import Invocation

WALL = 1_000.0  # the wall clock when every event is received


def invocation(rid: str, timeout: float = 3.0) -> Invocation:
    return Invocation(
        request_id=rid, deadline_ms=int((WALL + timeout) * 1000), function_arn="arn:aws:lambda:x:1:function:f",
        trace_id=None, client_context=None, cognito_identity=None, tenant_id=None, invocation_id=None,
        content_type="application/json", payload=b"{}", received_at=WALL,
    )


class Sim:
    def __init__(self, slots: int = 1, **opts: Any) -> None:
        kw: dict[str, Any] = dict(startup_timeout=2.0, timeout_margin=0.1, shutdown_grace=0.3, api_address="127.0.0.1:9001")
        kw.update(opts)
        # As the supervisor: a one-slot Core, or the N-slot line's ManyCore.
        self.core = (Core if slots == 1 else ManyCore)("w", slots=slots, **kw)
        self.t = 0.0
        self.actions: list[Any] = []
        self.posts: dict[str, Any] = {}  # request id -> answer
        self.post_times: dict[str, float] = {}
        self.sent: list[tuple[int, str]] = []  # (worker, request id)
        self.spawned: list[int] = []
        self.stopped: list[tuple[int, bool]] = []
        self.logs: list[str] = []
        self.waiting: set[int] = set()  # slots with GET /next out
        self.rss_checks: list[int] = []
        self.exit: int | None = None
        self.init_error: Failure | None = None
        self.served = False

    # -- performing ---------------------------------------------------------
    def run(self, actions: list[Any]) -> list[Any]:
        for a in actions:
            assert self.exit is None, f"{a!r} after the exit"
            self.actions.append(a)
            t = type(a)
            if t is Spawn:
                self.spawned.append(a.worker)
            elif t is GetNext:
                assert a.slot not in self.waiting, f"two GET /next on slot {a.slot}"
                self.waiting.add(a.slot)
            elif t is Post:
                rid = a.invocation.request_id
                assert rid not in self.posts, f"{rid} answered twice"
                self.posts[rid] = a.answer
                self.post_times[rid] = self.t
                if a.then_next:
                    self.waiting.add(a.slot)
            elif t is Send:
                self.sent.append((a.worker, a.invocation.request_id))
            elif t is Stop:
                self.stopped.append((a.worker, a.polite))
            elif t is Log:
                self.logs.append(a.text)
            elif t is CheckRss:
                self.rss_checks.append(a.worker)
            elif t is Serve:
                self.served = True
            elif t is Shutdown:
                assert a.end == self.core.stop_at
                self.exit = 0
            elif t is Fatal:
                self.logs.append("fatal: " + a.text)
                self.exit = 1
            elif t is InitError:
                self.init_error = a.answer
                self.exit = 1
            else:
                raise AssertionError(f"unknown action {a!r}")
        return actions

    def call(self, method: str, *args: Any) -> list[Any]:
        return self.run(getattr(self.core, method)(*args, self.t))

    def wait(self, ms: float) -> None:
        """Let `ms` pass, ticking at every wake-up time the core asks for."""
        end = self.t + ms / 1000
        while self.exit is None:
            wake = self.core.wake_at()
            if wake is None or wake > end:
                break
            self.t = max(self.t, wake)
            self.run(self.core.tick(self.t))
        self.t = end

    # -- scripted happenings ------------------------------------------------------
    def start(self, features: tuple[str, ...] = ()) -> None:
        self.run(self.core.start(self.t))
        self.ready(self.spawned[-1], features)

    def ready(self, wid: int, features: tuple[str, ...] = ()) -> list[Any]:
        return self.call("worker_message", wid, {"type": "ready", "protocol": 1, "features": list(features)})

    def event(self, slot: int, rid: str, timeout: float = 3.0) -> list[Any]:
        assert slot in self.waiting, f"slot {slot} has no GET /next out"
        self.waiting.discard(slot)
        return self.call("next_answered", slot, invocation(rid, timeout))

    def reply(self, wid: int, rid: str, payload: Any = b"ok") -> list[Any]:
        return self.call("worker_message", wid, {"type": "result", "id": rid, "payload": payload})

    def error(self, wid: int, rid: str, etype: str = "my_crate::BadInput") -> list[Any]:
        return self.call("worker_message", wid, {"type": "error", "id": rid, "error_type": etype,
                                                 "error_message": "bad value", "stack_trace": ["File x, line 1"]})

    def exited(self, wid: int, detail: str = "exit status 3", consumed: bool = True, tail: str = "") -> list[Any]:
        return self.call("worker_exited", wid, detail, tail, consumed)

    def broke(self, wid: int, detail: str) -> list[Any]:
        return self.call("worker_broke", wid, detail)

    # -- questions ------------------------------------------------------------
    def worker_of(self, rid: str) -> int:
        return next(w for w, r in self.sent if r == rid)

    def type_of(self, rid: str) -> str:
        a = self.posts[rid]
        return "success" if isinstance(a, Success) else a.error_type

    def message_of(self, rid: str) -> str:
        return self.posts[rid].message

    def index(self, pred: Any) -> int:
        return next(i for i, a in enumerate(self.actions) if pred(a))
