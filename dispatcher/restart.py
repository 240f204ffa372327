"""The restart policy for workers that fail to start (circus vocabulary).

It counts *consecutive* starts that never reached `ready` (`attempts`), not
failures in a time window: a frozen Lambda sandbox sees invocations minutes
apart, so windows mislead.  After a failed start the next one waits
`retry_in` (0.1 s, doubling up to 2 s); an event that arrives meanwhile is
answered at once with the last start error instead of being held while its
deadline burns.  After `max_retry` failures in a row the supervisor exits
non-zero, so that Lambda re-runs init.

No I/O and no clock: `now` (monotonic seconds) comes with every call.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dispatcher.answers import Failure

__all__ = ["RestartPolicy"]


class RestartPolicy:
    def __init__(self, name: str, *, max_retry: int = 5, first_retry: float = 0.1, longest_retry: float = 2.0) -> None:
        self.name = name
        self.max_retry = max_retry
        self.first_retry = first_retry
        self.longest_retry = longest_retry
        self.attempts = 0  # consecutive failed starts
        self.last: Failure | None = None
        self.retry_at = 0.0

    def started(self) -> None:
        """A worker reached `ready`: the streak is over."""
        self.attempts = 0

    def failed(self, failure: Failure, now: float) -> str:
        """Count a failed start; returns the line to log."""
        self.attempts += 1
        self.last = failure
        retry_in = min(self.first_retry * 2 ** (self.attempts - 1), self.longest_retry)
        self.retry_at = now + retry_in
        return f"worker {self.name!r} failed to start ({self.attempts} in a row): {failure.error_type}: {failure.message}"

    def backing_off(self, now: float) -> Failure | None:
        """The last start error while a retry must wait, else None."""
        if self.attempts and self.last is not None and now < self.retry_at:
            return self.last
        return None

    @property
    def exhausted(self) -> bool:
        return self.attempts >= self.max_retry
