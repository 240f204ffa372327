"""The driver of the supervisor: every I/O the core (core.py) asks for.

    init:  start worker -> wait `ready` -> (register no-op extension)
    loop:  GET /next on every slot -> invoke frame -> reply | deadline | death
           -> POST (+ GET /next in the same write) -> ...

One poll() waits on every slot's API socket, every worker's pipes and pidfd,
and the signal wake-up fd together, so SIGTERM is handled at any moment.
What happens there is turned into one call of the core (with the time); the
actions it returns are performed here, in order: spawning and stopping
workers (worker.py & co., process.py), writing invoke frames, posting
answers (reporter.py), sending GET /next.  No decision is made here.

Beside it: next_side.py (GET /next and its answer), post_side.py (answers;
with N slots a post's 202 is read when its socket polls readable), stream_driver.py
(streamed answers), stopping.py (workers on their way out) and steady.py,
the straight line that serves one slot's steady state with the core's leave
and hands back to this loop at the first unusual event.
"""

from __future__ import annotations

import _signal as signal  # `signal` imports enum: ~4 ms of cold start
import sys
import time
TYPE_CHECKING = False  # `import typing` costs ~4 ms of cold start
if TYPE_CHECKING:
    from typing import Any, Callable, Mapping
from select import poll

from dispatcher.answers import say
from dispatcher.client import ApiClient
from dispatcher.config import WorkerConfig
from dispatcher.core import Core
from dispatcher.core_table import CheckRss, Fatal, GetNext, InitError, Log, Post, Send, Serve, Shutdown, Spawn, Stop
from dispatcher.errors import FatalError
from dispatcher.frames import STREAM_KINDS
from dispatcher.kinds import make_worker
from dispatcher.logs import configure as configure_logs
from dispatcher.boot import worker_environment  # the first worker may start before this module loads
from dispatcher.process import SpawnError, become_subreaper, pool_rss, reap_orphans
from dispatcher.reporter import Reporter
from dispatcher.runtime_api import response_template
from dispatcher.signals import SignalWatcher
from dispatcher.stopping import Stopping
from dispatcher.next_side import NextSide
from dispatcher.post_side import PostSide
from dispatcher.steady import SteadyPath
from dispatcher.stream_driver import StreamDriver
from dispatcher.worker import Event, WorkerSession

__all__ = ["Supervisor", "worker_environment", "run_from_environment"]

_POLL_MAX_MS = 2**31 - 1  # about 24.8 days; deadlines are at most 900 s ahead (runtime_api.Invocation)

_SIG, _API, _WORKER, _STOPPING = 0, 1, 2, 3
_POLLS_KEPT = 8  # poll objects kept for recently seen descriptor sets


class Supervisor(NextSide, PostSide, StreamDriver, SteadyPath):
    core_class = Core  # ManySlots (steady_many.py) brings its own
    def __init__(
        self,
        config: WorkerConfig,
        api: ApiClient,
        environ: Mapping[str, str],
        *,
        slots: int = 1,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        worker_factory: Callable[[WorkerConfig, Mapping[str, str]], WorkerSession] = make_worker,
        register_extension: bool = True,
    ) -> None:
        self.config = config
        self.clock = clock
        self.wall = wall
        self.worker_factory = worker_factory
        self.register_extension = register_extension
        self.worker_env = worker_environment(config, environ, slots)
        # One keep-alive connection per slot, each with its own GET /next.
        self.apis = [api] + [ApiClient(api.address) for _ in range(slots - 1)]
        self._single = slots == 1  # the straight line (steady.py) serves one slot
        # POST /response heads for a JSON answer, without and with Lambda-Runtime-Invocation-Id.
        self._post_templates = (response_template(api.address), response_template(api.address, invocation_id=True))
        self.reporters = [Reporter(a, config.cwd) for a in self.apis]
        self.next_out = [False] * slots  # GET /next on the wire, its answer awaited
        self.sessions: dict[int, WorkerSession] = {}
        self.reported: set[int] = set()  # sessions whose `broken` the core was told
        self.stopping = Stopping(config.shutdown_grace)  # stopped workers on their way out
        self.signals: SignalWatcher | None = None
        self.exit_status: int | None = None
        fn_timeout = environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "")
        self.core = self.core_class(
            config.name, slots=slots, startup_timeout=config.startup_timeout, timeout_margin=config.timeout_margin,
            shutdown_grace=config.shutdown_grace, max_invocations=config.max_invocations, max_rss=config.max_rss,
            function_timeout=float(fn_timeout) if fn_timeout.replace(".", "", 1).isdigit() else None,
            api_address=api.address,
        )
        self._poll = poll()
        self._polls: dict[Any, tuple[Any, dict[int, tuple[int, int]]]] = {}  # recent sets -> (poll, fd roles)
        self._fdmap: dict[int, tuple[int, int]] = {}
        self._poll_key: Any = None
        self._early: list[tuple[int, Any]] = []  # /next answers read with a post's answer
        # True while the events of a poll() that reported one descriptor alone
        # are handled: no worker's stderr was readable then (see _post).
        self._lone = False
        self._init_posts(slots)
        self._exit_by: float | None = None  # a shutdown's budget ends then
        self._init_streaming()

    # ======================================================================
    def run(self) -> int:
        self.signals = SignalWatcher()
        become_subreaper()
        try:
            self._do(self.core.start(self.clock()))
            while self.exit_status is None:
                self._round()
            return self.exit_status
        except FatalError as exc:
            say(f"fatal: {exc}", level="ERROR")
            self._kill_everything()
            return 1
        finally:
            # Within what is left of a shutdown's budget (answers already there are still read).
            self._settle_posts(1.0 if self._exit_by is None else min(1.0, self._exit_by - self.clock()))
            for api in self.apis:
                api.close()

    def _round(self) -> None:
        """One poll() over everything; each thing that happened goes to the core."""
        core = self.core
        if self._early:
            sid, resp = self._early.pop(0)
            self._next_answer(sid, resp, self.clock())
            return
        ready: Any = None
        # The straight line (steady.py, steady_many.py) while it lasts; then what ended it.
        ready = self._steady_start() if self._single else self._steady_many_start()
        if ready is True:
            return  # all it saw is handled: a new round looks again
        if ready is False:
            ready = None
        wake = core.wake_at()
        stopping = self.stopping
        stop_wake = stopping.wake_at() if stopping.items else None
        self._update_poll()
        if ready is None:
            first = wake if stop_wake is None or (wake is not None and wake < stop_wake) else stop_wake
            if self._posts_out:
                post_wake = self._posts_wake_at()
                first = post_wake if first is None or post_wake < first else first
            # Capped: poll() refuses more than a C int of milliseconds (OverflowError).
            timeout = None if first is None else min(max(0.0, first - self.clock()) * 1000, _POLL_MAX_MS)
            ready = self._poll.poll(timeout)
        now = self.clock()
        fdmap = self._fdmap
        self._lone = len(ready) == 1
        signalled = False
        for fd, rev in ready:
            kind, ident = fdmap[fd]
            if kind == _WORKER:
                session = self.sessions.get(ident)
                if session is not None:
                    self._worker_events(ident, session, session.handle(fd, rev), now)
            elif kind == _API:
                if self.next_out[ident]:
                    self._api_readable(ident, now)
            elif kind == _STOPPING:
                stopping.exited(ident)
            else:  # last: an event that came in the same instant is read first, then cut
                signalled = True
            if self.exit_status is not None:
                return
        if signalled:
            self._on_signals(now)
            if self.exit_status is not None:
                return
        self._lone = False
        if stop_wake is not None and now >= stop_wake:
            stopping.tick(now)
        if self._posts_out:
            self._posts_tick(now)
        if wake is not None and now >= wake:
            self._do(core.tick(now))

    def _update_poll(self) -> None:
        """Point self._poll at a poll object watching what must be watched now.

        What decides the set: which slots await GET /next (a socket only
        changes on a reconnect, which clears next_out first), each worker's
        descriptors (with its id: a new worker may reuse fd numbers), the
        workers being stopped.  One poll object is kept per set seen
        recently: in the steady state the set alternates between two (GET
        /next out, or the invocation with the worker), and switching costs
        no registration at all."""
        key: Any = tuple([api.fileno() if out else -1 for api, out in zip(self.apis, self.next_out)])
        for wid, session in self.sessions.items():
            key += (wid, tuple(session.poll_fds()))
        if self.stopping.items:
            key += (tuple(self.stopping.fds()),)
        if key == self._poll_key:
            return
        self._poll_key = key
        cached = self._polls.get(key)
        if cached is None:
            sig_fd = self.signals.rfd  # type: ignore[union-attr]
            p = poll()
            fdmap = {sig_fd: (_SIG, 0)}
            p.register(sig_fd, 1)  # POLLIN
            for i, out in enumerate(self.next_out):
                if out:
                    fd = self.apis[i].fileno()
                    p.register(fd, 1)
                    fdmap[fd] = (_API, i)
            for wid, session in self.sessions.items():
                for fd, ev in session.poll_fds():
                    p.register(fd, ev)
                    fdmap[fd] = (_WORKER, wid)
            for fd, stop_key in self.stopping.fds():
                p.register(fd, 1)  # the pidfd of a worker being stopped
                fdmap[fd] = (_STOPPING, stop_key)
            if len(self._polls) >= _POLLS_KEPT:
                del self._polls[next(iter(self._polls))]
            cached = self._polls[key] = (p, fdmap)
        self._poll, self._fdmap = cached

    def _steady_many_start(self) -> list[tuple[int, int]] | bool:
        """N slots' straight line: ManySlots's (steady_many.py); none here."""
        return False

    # -- events into the core ------------------------------------------------
    def _worker_events(self, wid: int, session: WorkerSession, events: list[Event], now: float) -> None:
        core = self.core
        for ev in events:
            if wid not in self.sessions:
                return  # stopped meanwhile: the rest is moot
            kind = ev.kind
            if kind == "message":
                msg: Any = ev.message
                if msg["type"] == "ready":
                    session.features = list(msg.get("features") or [])  # type: ignore[attr-defined]
                elif msg["type"] in STREAM_KINDS:
                    i = events.index(ev)
                    self._stream(wid, session, events[i:], now)
                    break  # the relay took the rest of the events
                self._do(core.worker_message(wid, msg, now))
            elif kind == "protocol_error":
                self._do(core.worker_broke(wid, ev.detail, now))
            elif kind == "exited":
                self._do(core.worker_exited(wid, ev.detail, session.log.tail(), session.frame_consumed(), now))
            else:  # undelivered: nothing of the event reached it
                self._do(core.worker_exited(wid, "closed its stdin", "", False, now))
            if self.exit_status is not None:
                return
        if session.broken is not None and wid in self.sessions and wid not in self.reported:
            self.reported.add(wid)
            self._do(core.worker_broke(wid, session.broken, now))

    def _on_signals(self, now: float) -> None:
        sigs = self.signals.drain()  # type: ignore[union-attr]
        if signal.SIGCHLD in sigs:
            reap_orphans(set(), kill=False)  # live workers are never touched
        if signal.SIGTERM in sigs:
            self._do(self.core.signal("SIGTERM", now))
        elif signal.SIGINT in sigs:
            self._do(self.core.signal("SIGINT", now))

    # -- actions ---------------------------------------------------------------
    def _do(self, actions: list[Any]) -> None:
        """Perform the core's actions in order (what they report is fed back)."""
        for a in actions:
            if self.exit_status is not None:
                return
            t = type(a)
            if t is Send:
                self._send(a)
            elif t is Post:
                self._post(a)
            elif t is GetNext:
                self._get_next(a.slot)
            elif t is Spawn:
                self._spawn(a.worker)
            elif t is Stop:
                self._stop(a.worker, a.polite)
            elif t is Log:
                say(a.text, info=a.info)
            elif t is CheckRss:
                total = pool_rss({s.pgid() for s in self.sessions.values()})
                self._do(self.core.rss_measured(a.worker, total, self.clock()))
            elif t is Serve:
                self._serve()
            elif t is Shutdown:
                self._shutdown(a.end)
            elif t is InitError:
                self._kill_everything()
                self.reporters[0].init_error(a.answer)
                self.exit_status = 1
            elif t is Fatal:
                say(f"fatal: {a.text}", level="ERROR")
                self._kill_everything()
                self.exit_status = 1
            else:  # pragma: no cover - a new action without a driver
                raise FatalError(f"the supervisor cannot perform {a!r}")

    def _serve(self) -> None:
        if self.register_extension:
            self.reporters[0].register_extension()
        # Steady state allocates only short-lived, acyclic objects that
        # reference counting frees; the cyclic GC's generation-0 passes
        # would only scan them.  Freeze what init built and make passes rare.
        import gc

        gc.freeze()
        gc.set_threshold(20_000, 20, 20)

    def _send(self, a: Send) -> None:
        session = self._note_sent(a)
        events = session.send_invoke(a.invocation)  # type: ignore[arg-type]
        if events:
            self._worker_events(a.worker, session, events, self.clock())

    def _note_sent(self, a: Send) -> WorkerSession:
        """What the driver keeps of an invoke it sends (or the straight line sent)."""
        session = self.sessions[a.worker]
        inv: Any = a.invocation
        self._sent[inv.request_id] = (a.slot, inv)
        if a.tagged:
            session.log.request_id = inv.request_id
        return session

    def _spawn(self, wid: int) -> None:
        try:
            session = self.worker_factory(self.config, self.worker_env)
        except SpawnError as exc:
            self._do(self.core.spawn_failed(wid, str(exc), self.clock()))
            return
        self.sessions[wid] = session
        if session.ready:  # a kind that needs no `ready` frame
            self._do(self.core.worker_is_ready(wid, self.clock()))

    def _stop(self, wid: int, polite: bool) -> None:
        """Begin the stop; it goes on in the background of the poll loop."""
        session = self.sessions.pop(wid, None)
        self.reported.discard(wid)
        if session is not None:
            self.stopping.begin(wid, session, polite, self.clock())

    def _shutdown(self, end: float) -> None:
        """One budget, shutdown_grace from the signal: the shutdown message and
        SIGTERM to every worker group at once, SIGKILL when the budget ends."""
        sessions, self.sessions = list(self.sessions.values()), {}
        self._exit_by = end
        self.stopping.shutdown(sessions, end, self.clock)
        say("stopped", info=True)
        self.exit_status = 0

    def _kill_everything(self) -> None:
        sessions, self.sessions = list(self.sessions.values()), {}
        self.stopping.kill_now(sessions)


def run_from_environment(config: WorkerConfig, environ: Mapping[str, str]) -> int:
    address = environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        print(
            "dispatcher run: AWS_LAMBDA_RUNTIME_API is not set. `dispatcher run` is the Lambda bootstrap; "
            "to run a function locally use `dispatcher invoke` (or `dispatcher serve`).",
            file=sys.stderr,
        )
        return 2
    configure_logs(environ)  # AWS_LAMBDA_LOG_FORMAT/LEVEL, _LAMBDA_TELEMETRY_LOG_FD
    cls = Supervisor
    if config.concurrency > 1:
        # N slots get their straight line (not imported on a one-slot cold start).
        from dispatcher.steady_many import ManySlots as cls  # type: ignore[assignment]
    return cls(config, ApiClient(address), environ, slots=config.concurrency).run()
