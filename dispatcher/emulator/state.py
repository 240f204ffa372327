"""The sandbox state machine of the emulator, as one table.

Every decision about what a Runtime API call or a lifecycle event does lives in
TRANSITIONS: (state, event) -> (next state, action name).  The controller
(`sandbox.py`) classifies what happened into an event, looks it up here and
runs the named action; it never branches on the state itself.  A pair that is
missing from the table is a call the runtime may not make now: HTTP events get
403 InvalidStateTransition (as RAPID's `disallowEveryTransitionByDefault`),
lifecycle events are ignored.

The states follow RAPID (RIE: internal/lambda/core/states.go) with the
emulator's own view added (no runtime process at all, init failed):

  NO_RUNTIME    no runtime process; the next invoke launches one (lazy start)
  INITIALIZING  launched, has not called /next yet         (RAPID: Started)
  INIT_FAILED   posted /init/error, should exit now        (RAPID: InitError)
  IDLE          waiting in /next, no invoke handed out     (RAPID: Ready)
  INVOKING      invoke handed out, no answer yet           (RAPID: Running)
  STREAMING     a streamed answer is arriving, chunk by chunk (RAPID: Running)
  RESPONDED     answer posted, the invoke completes on the next /next
                                                           (RAPID: RuntimeResponseSentState)
"""

from __future__ import annotations

__all__ = ["TRANSITIONS", "LMI_TRANSITIONS", "HTTP_EVENTS", "RAPID_NAMES", "lookup"]

NO_RUNTIME = "NO_RUNTIME"
INITIALIZING = "INITIALIZING"
INIT_FAILED = "INIT_FAILED"
IDLE = "IDLE"
INVOKING = "INVOKING"
RESPONDED = "RESPONDED"
STREAMING = "STREAMING"

# Events from the runtime over HTTP.
NEXT = "next"  # GET /invocation/next
RESPONSE = "response"  # POST /invocation/{current id}/response
ERROR = "error"  # POST /invocation/{current id}/error
TOO_LARGE = "too_large"  # POST /invocation/{current id}/response above the payload limit
STALE_POST = "stale_post"  # POST /invocation/{other id}/response|error
LATE_POST = "late_post"  # POST /invocation/{id}/response|error of an invoke that timed out (LMI mode)
INIT_ERROR = "init_error"  # POST /init/error
STREAM_OPEN = "stream_open"  # the head of a streamed POST /invocation/{current id}/response
STREAM_END = "stream_end"  # its last chunk (and trailers) arrived
# Lifecycle events.
LAUNCH = "launch"  # an invoke (or start_runtime) needs a runtime
INVOKE = "invoke"  # an invoke is queued and the runtime waits in /next
NO_SLOT = "no_slot"  # an invoke arrived and no /next is open (LMI mode, without --queue)
EXIT = "exit"  # the runtime process ended by itself
DEADLINE = "deadline"  # the running timer (init limit or invoke deadline) expired

HTTP_EVENTS = frozenset({NEXT, RESPONSE, ERROR, TOO_LARGE, STALE_POST, LATE_POST, INIT_ERROR, STREAM_OPEN, STREAM_END})

# Launch and init are the same in both modes.
_INIT_ROWS: dict[tuple[str, str], tuple[str, str]] = {
    (NO_RUNTIME, LAUNCH): (INITIALIZING, "launch"),
    # Only a runtime started by someone else (external mode) may poll before a launch.
    (NO_RUNTIME, NEXT): (IDLE, "attach"),
    # Init ends with the first /next (extensions in this emulator never hold it up).
    (INITIALIZING, NEXT): (IDLE, "init_done"),
    (INITIALIZING, INIT_ERROR): (INIT_FAILED, "record_init_error"),
    (INITIALIZING, EXIT): (NO_RUNTIME, "fail_init_exit"),
    (INITIALIZING, DEADLINE): (NO_RUNTIME, "fail_init_timeout"),
    (INIT_FAILED, EXIT): (NO_RUNTIME, "fail_init_error"),
    (INIT_FAILED, DEADLINE): (NO_RUNTIME, "fail_init_timeout"),
}

TRANSITIONS: dict[tuple[str, str], tuple[str, str]] = {
    **_INIT_ROWS,
    # A runtime that reconnects and polls again replaces its earlier poll.
    (IDLE, NEXT): (IDLE, "park"),
    (IDLE, INVOKE): (INVOKING, "hand_out"),
    (IDLE, EXIT): (NO_RUNTIME, "reset_idle"),
    # RAPID's RuntimeRunningState.Ready() is a no-op: /next again gets the same invoke.
    (INVOKING, NEXT): (INVOKING, "redeliver"),
    (INVOKING, RESPONSE): (RESPONDED, "accept_response"),
    (INVOKING, ERROR): (RESPONDED, "accept_error"),
    (INVOKING, TOO_LARGE): (RESPONDED, "reject_too_large"),
    # The id check comes after the state check in RAPID, so only here is it a 400.
    (INVOKING, STALE_POST): (INVOKING, "reject_stale"),
    (INVOKING, EXIT): (NO_RUNTIME, "fail_exit"),
    (INVOKING, DEADLINE): (NO_RUNTIME, "fail_timeout"),
    # A streamed answer: its chunks reach the caller as they come (RIE buffers them).
    (INVOKING, STREAM_OPEN): (STREAMING, "open_stream"),
    (STREAMING, STREAM_END): (RESPONDED, "end_stream"),
    (STREAMING, TOO_LARGE): (RESPONDED, "reject_stream_too_large"),
    (STREAMING, EXIT): (NO_RUNTIME, "fail_exit"),
    (STREAMING, DEADLINE): (NO_RUNTIME, "fail_timeout"),
    # The caller gets its answer only when the runtime asks for more (or dies: 502).
    (RESPONDED, NEXT): (IDLE, "complete"),
    (RESPONDED, EXIT): (NO_RUNTIME, "fail_exit_after_answer"),
    (RESPONDED, DEADLINE): (NO_RUNTIME, "fail_timeout"),
}

# Managed-Instances (LMI) mode: the runtime keeps any number of /next open, one
# per slot, and answers invokes by id in any order.  The sandbox state is only
# about init; IDLE here means "initialised and serving" (RAPID: Ready), and the
# invokes in flight are tracked by id beside the state (one deadline each).
# DEADLINE in IDLE is one invoke's deadline: its caller is answered, the
# runtime is not told (as on LMI), and its late answer gets 410.
LMI_TRANSITIONS: dict[tuple[str, str], tuple[str, str]] = {
    **_INIT_ROWS,
    # Open /next requests are not capped at the concurrency: each one is a slot.
    (IDLE, NEXT): (IDLE, "open_slot"),
    (IDLE, INVOKE): (IDLE, "hand_out"),
    (IDLE, NO_SLOT): (IDLE, "refuse_unavailable"),
    # Answers are delivered to the caller at once (classic mode waits for the next /next).
    (IDLE, RESPONSE): (IDLE, "accept_response"),
    (IDLE, ERROR): (IDLE, "accept_error"),
    (IDLE, TOO_LARGE): (IDLE, "reject_too_large"),
    (IDLE, STALE_POST): (IDLE, "reject_stale"),
    (IDLE, LATE_POST): (IDLE, "reject_late"),
    (IDLE, DEADLINE): (IDLE, "time_out"),
    (IDLE, EXIT): (NO_RUNTIME, "fail_exit"),
}

# Names used in 403 messages, so they read like RAPID's.
RAPID_NAMES = {
    NO_RUNTIME: "Started",
    INITIALIZING: "Started",
    INIT_FAILED: "InitError",
    IDLE: "Ready",
    INVOKING: "Running",
    RESPONDED: "RuntimeResponseSentState",  # sic: RAPID names this one state differently
    STREAMING: "Running",
    NEXT: "Ready",
    RESPONSE: "InvocationResponse",
    ERROR: "InvocationErrorResponse",
    TOO_LARGE: "InvocationResponse",
    STALE_POST: "InvocationResponse",
    LATE_POST: "InvocationResponse",
    INIT_ERROR: "InitError",
    STREAM_OPEN: "InvocationResponse",
    STREAM_END: "InvocationResponse",
}


def lookup(state: str, event: str) -> tuple[str, str] | None:
    """(next state, action) or None when the event is not allowed in `state`."""
    return TRANSITIONS.get((state, event))
