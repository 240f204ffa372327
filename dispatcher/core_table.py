"""The supervisor's states, the events that move them and the actions it asks
for: named values and two transition tables (the house pattern of
dispatcher/emulator/state.py, after h11's state.py).

A *slot* is one Runtime API connection with its own GET /next: at most one
invocation at a time.  A *worker* is one worker session; it serves one
invocation at a time, or up to `capacity` interleaved when it announced the
`multiplex` feature.  `dispatcher/core.py` classifies what happened into an
event, looks the pair (state, event) up here, moves to the next state and
runs the named action; a pair missing from a table is a bug in the core
(CoreBug), never a silent fall-through.

Slot states:
  WAITING   GET /next is out (or about to go out); no invocation
  BACKOFF   GET /next failed; it is retried at the slot's wake-up time
  HELD      an invocation arrived and waits for a worker (one is starting,
            or the start policy answers it at once)
  INVOKING  the invocation was sent to a worker; reply, crash or deadline
  CLOSED    shutting down: no more GET /next on this slot

Worker states:
  STARTING  spawned, no `ready` yet (its startup_timeout runs)
  IDLE      ready, nothing in flight
  BUSY      ready, invocations in flight (up to its capacity)
  DRAINING  takes no more invocations; stopped once its last one is answered
            (a multiplexed worker that missed one deadline)
  GONE      stopped, exited or failed; the driver forgets it
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Named", "CoreBug", "SLOT_TABLE", "WORKER_TABLE"]


class Named:
    """A state or event: compared by identity, printed by name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


class CoreBug(Exception):
    """A (state, event) pair the tables do not allow: a bug in the core."""


# -- slot states and events ---------------------------------------------------
WAITING, BACKOFF, HELD, INVOKING, CLOSED = (Named(n) for n in ("Waiting", "Backoff", "Held", "Invoking", "Closed"))
GOT_EVENT = Named("got_event")  # GET /next answered 200
NEXT_FAILED = Named("next_failed")  # connection lost / refused / non-200 below 500
CUT_SHORT = Named("cut_short")  # a 200 whose body never fully arrived
RETRY_DUE = Named("retry_due")  # the backoff ended
DISPATCH = Named("dispatch")  # a worker takes the held invocation
HELD_ANSWER = Named("held_answer")  # answered without a worker (start failed, backing off)
REPLIED = Named("replied")  # the worker answered (result or error)
FAILED = Named("failed")  # the worker crashed or broke protocol mid-invocation
HAND_OVER = Named("hand_over")  # the worker died before reading any of the event
DEADLINE = Named("deadline")  # the invocation's deadline (less timeout_margin)
SHUT_CUT = Named("shut_cut")  # the shutdown budget ran out before the deadline
CLOSE = Named("close")  # shutting down, nothing in flight on this slot
TAKEN = Named("taken")  # the driver's straight line serves the invocation in flight (steady_many.py)

SLOT_TABLE: dict[tuple[Named, Named], tuple[Named, str]] = {
    (WAITING, GOT_EVENT): (HELD, "hold"),
    (WAITING, NEXT_FAILED): (BACKOFF, "back_off"),
    (WAITING, CUT_SHORT): (WAITING, "answer"),
    (WAITING, CLOSE): (CLOSED, "close"),
    (BACKOFF, RETRY_DUE): (WAITING, "get_next"),
    (BACKOFF, CLOSE): (CLOSED, "close"),
    (HELD, DISPATCH): (INVOKING, "send"),
    (HELD, HELD_ANSWER): (WAITING, "answer"),
    (HELD, DEADLINE): (WAITING, "answer"),
    (HELD, SHUT_CUT): (WAITING, "answer"),
    (INVOKING, REPLIED): (WAITING, "answer"),
    (INVOKING, FAILED): (WAITING, "answer"),
    (INVOKING, HAND_OVER): (HELD, "hold"),
    (INVOKING, DEADLINE): (WAITING, "answer"),
    (INVOKING, SHUT_CUT): (WAITING, "answer"),
    (INVOKING, TAKEN): (WAITING, "steady"),
    (CLOSED, CLOSE): (CLOSED, "close"),
    # A GET /next that was already out when SIGTERM came: its event is answered at once.
    (CLOSED, GOT_EVENT): (HELD, "hold"),
}

# -- worker states and events -------------------------------------------------
STARTING, IDLE, BUSY, DRAINING, GONE = (Named(n) for n in ("Starting", "Idle", "Busy", "Draining", "Gone"))
READY = Named("ready")  # the `ready` frame (or a kind that is ready at spawn)
START_FAILED = Named("start_failed")  # init_error, exit, bad frame or timeout before ready
ASSIGN = Named("assign")  # an invocation was sent to it
ANSWERED = Named("answered")  # one of several in flight answered (or timed out)
ANSWERED_LAST = Named("answered_last")  # the last one in flight answered
LATE = Named("late")  # a reply for an invocation already answered by its deadline
TIMED_OUT = Named("timed_out")  # one invocation missed its deadline, others remain
TIMED_OUT_LAST = Named("timed_out_last")  # the only invocation in flight missed its deadline
EXITED = Named("exited")  # the process ended
BROKE = Named("broke")  # bad frame, stray or wrong-id message
RETIRE = Named("retire")  # recycling (max_invocations, max_rss) or undelivered event
STOP = Named("stop")  # shutdown

WORKER_TABLE: dict[tuple[Named, Named], tuple[Named, str]] = {
    (STARTING, READY): (IDLE, "started"),
    (STARTING, START_FAILED): (GONE, "start_failed"),
    (STARTING, EXITED): (GONE, "start_failed"),
    (STARTING, BROKE): (GONE, "start_failed"),
    (STARTING, STOP): (GONE, "stop"),
    (IDLE, ASSIGN): (BUSY, "assign"),
    (IDLE, EXITED): (GONE, "died_idle"),
    (IDLE, BROKE): (GONE, "broke_idle"),
    (IDLE, RETIRE): (GONE, "retire"),
    (IDLE, STOP): (GONE, "stop"),
    (IDLE, LATE): (IDLE, "late"),
    (BUSY, ASSIGN): (BUSY, "assign"),
    (BUSY, ANSWERED): (BUSY, "answered"),
    (BUSY, ANSWERED_LAST): (IDLE, "answered"),
    (BUSY, TIMED_OUT): (DRAINING, "drain"),
    (BUSY, TIMED_OUT_LAST): (GONE, "kill"),
    (BUSY, EXITED): (GONE, "crashed"),
    (BUSY, BROKE): (GONE, "broke_busy"),
    (BUSY, RETIRE): (GONE, "retire"),
    (BUSY, STOP): (GONE, "stop"),
    (BUSY, LATE): (BUSY, "late"),
    (BUSY, TAKEN): (IDLE, "steady"),
    (DRAINING, ANSWERED): (DRAINING, "answered"),
    (DRAINING, ANSWERED_LAST): (GONE, "kill"),
    (DRAINING, LATE): (DRAINING, "late"),
    (DRAINING, TIMED_OUT): (DRAINING, "answered"),
    (DRAINING, TIMED_OUT_LAST): (GONE, "kill"),
    (DRAINING, EXITED): (GONE, "crashed"),
    (DRAINING, BROKE): (GONE, "broke_busy"),
    (DRAINING, STOP): (GONE, "stop"),
}


# -- actions (what the driver performs) ----------------------------------------
# Plain classes with __slots__: built on every invocation, and defined at every
# cold start (a generated record class costs ~60 us to define, these ~5 us).
class _Action:
    __slots__: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __hash__(self) -> int:
        return hash((type(self).__name__,) + tuple(getattr(self, n) for n in self.__slots__))

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Spawn(_Action):
    __slots__ = ("worker",)

    def __init__(self, worker: int) -> None:
        self.worker = worker


class Send(_Action):
    """Write the invoke frame; `tagged`: the worker runs one invocation at a
    time, so its stderr lines carry this request id."""

    __slots__ = ("worker", "slot", "invocation", "tagged")

    def __init__(self, worker: int, slot: int, invocation: Any, tagged: bool = True) -> None:
        self.worker = worker
        self.slot = slot
        self.invocation = invocation  # runtime_api.Invocation
        self.tagged = tagged


class Post(_Action):
    """The one answer for the slot's invocation; `then_next`: GET /next follows
    on the same connection (the driver pipelines the two); `worker`: whose
    stderr is forwarded first."""

    __slots__ = ("slot", "invocation", "answer", "worker", "then_next")

    def __init__(self, slot: int, invocation: Any, answer: Any, worker: int | None, then_next: bool) -> None:
        self.slot = slot
        self.invocation = invocation
        self.answer = answer  # answers.Success | answers.Failure
        self.worker = worker
        self.then_next = then_next


class GetNext(_Action):
    __slots__ = ("slot",)

    def __init__(self, slot: int) -> None:
        self.slot = slot


class Stop(_Action):
    """Stop a worker: `polite` (shutdown message, a third of the grace to exit)
    or at once (SIGTERM); SIGKILL when the grace ends."""

    __slots__ = ("worker", "polite")

    def __init__(self, worker: int, polite: bool) -> None:
        self.worker = worker
        self.polite = polite


class CheckRss(_Action):
    """Measure the pool's resident memory and report it (Core.rss_measured)."""

    __slots__ = ("worker",)

    def __init__(self, worker: int) -> None:
        self.worker = worker


class Serve(_Action):
    """Init is over: register the extension, then serve."""

    __slots__ = ()


class InitError(_Action):
    """Post /init/error, kill every worker, exit 1."""

    __slots__ = ("answer",)

    def __init__(self, answer: Any) -> None:
        self.answer = answer  # answers.Failure


class Log(_Action):
    __slots__ = ("text", "info")

    def __init__(self, text: str, info: bool = False) -> None:
        self.text = text
        self.info = info


class Shutdown(_Action):
    """Stop every worker politely by `end` (monotonic seconds), then exit 0."""

    __slots__ = ("end",)

    def __init__(self, end: float) -> None:
        self.end = end


class Fatal(_Action):
    """Kill every worker and exit 1."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text
