"""How the emulated sandbox fails an invoke or an init, as RAPID does: the
runtime exited, the deadline passed, init posted an error, exited or ran out
of time.  Actions of state.TRANSITIONS, as a mixin of `Sandbox` (same loop
thread, same state).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .model import RUNTIME_EXIT_ERROR, SANDBOX_TIMEDOUT, body_error_type, error_document, sanitize_error_type
from ._render import accepted
from .runtime import describe_exit

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._http import Request
    from .invoke import Invoke
    from .server import Connection

__all__ = ["Failures"]


class Failures:
    """Sandbox's failure actions (mixed into Sandbox; uses its attributes and
    its _reset, _deliver, _deliver_answer and _pump)."""

    loop: Any
    config: Any
    queue: Any
    current: Invoke | None
    exit_code: int | None
    timeouts: int
    init_errors: int
    init_error: Any
    pending_failure: Any

    def _init_failure_target(self) -> Invoke | None:
        """The invoke that waits for this init, or None (an eager start nobody waits for yet)."""
        return self.queue.popleft() if self.queue else None

    def _fail_init(self, make: Callable[[Invoke], None]) -> None:
        target = self._init_failure_target()
        if target is None:
            self.pending_failure = make
        else:
            make(target)

    def _a_fail_exit(self, conn: Connection | None, req: Request | None) -> None:
        inv = self.current
        assert inv is not None
        self._reset(kill=False)
        message = f"RequestId: {inv.request_id} Error: {describe_exit(self.exit_code or 0)}"
        self._deliver(inv, "exit", error_document(RUNTIME_EXIT_ERROR, message), error_type=RUNTIME_EXIT_ERROR)
        self._pump()

    def _a_fail_exit_after_answer(self, conn: Connection | None, req: Request | None) -> None:
        # The RIE answers 502 with the posted body: the invoke only completes on /next.
        inv = self.current
        assert inv is not None
        self._reset(kill=False)
        self._deliver_answer(inv, "exit", inv.answer, error_type=RUNTIME_EXIT_ERROR)
        self._pump()

    def _a_fail_timeout(self, conn: Connection | None, req: Request | None) -> None:
        inv = self.current
        assert inv is not None
        self.timeouts += 1
        self._reset(kill=True)
        message = f"RequestId: {inv.request_id} Error: Task timed out after {inv.timeout:.2f} seconds"
        self._deliver(inv, "timeout", error_document(SANDBOX_TIMEDOUT, message), error_type=SANDBOX_TIMEDOUT)
        self._pump()

    def _a_record_init_error(self, conn: Connection | None, req: Request | None) -> None:
        assert conn is not None and req is not None
        raw = req.header(b"lambda-runtime-function-error-type")
        ctype = req.header(b"content-type")
        self.init_error = (
            req.body,
            sanitize_error_type(None if raw is None else raw.decode("latin-1")),
            None if ctype is None else ctype.decode("latin-1"),
        )
        self.init_errors += 1
        self.loop.send(conn, accepted())

    def _a_fail_init_exit(self, conn: Connection | None, req: Request | None) -> None:
        code = self.exit_code or 0
        self._reset(kill=False)

        def make(inv: Invoke) -> None:
            message = f"RequestId: {inv.request_id} Error: {describe_exit(code)}"
            self._deliver(inv, "init_error", error_document(RUNTIME_EXIT_ERROR, message), error_type=RUNTIME_EXIT_ERROR)

        self._fail_init(make)
        self._pump()

    def _a_fail_init_error(self, conn: Connection | None, req: Request | None) -> None:
        assert self.init_error is not None
        body, header, ctype = self.init_error
        self._reset(kill=False)

        def make(inv: Invoke) -> None:
            self._deliver(
                inv, "init_error", body, error_type=body_error_type(body), content_type=ctype, error_header=header
            )

        self._fail_init(make)
        self._pump()

    def _a_fail_init_timeout(self, conn: Connection | None, req: Request | None) -> None:
        self.timeouts += 1
        self._reset(kill=True)
        limit = self.config.init_timeout

        def make(inv: Invoke) -> None:
            message = f"RequestId: {inv.request_id} Error: Task timed out after {limit:.2f} seconds (init did not finish)"
            self._deliver(inv, "timeout", error_document(SANDBOX_TIMEDOUT, message), error_type=SANDBOX_TIMEDOUT)

        self._fail_init(make)
        self._pump()
