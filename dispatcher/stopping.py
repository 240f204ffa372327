"""Workers being stopped, without holding up the loop.

A stop is an escalation over one budget, `shutdown_grace` (circus
vocabulary): a polite stop writes the kind's shutdown message, closes stdin
and gives the worker a third of the budget to exit, then SIGTERM; a hard
stop (a hung or broken worker) starts at SIGTERM; SIGKILL to the group when
the budget ends.  While that runs the other slots go on: the driver polls
each stopping worker's pidfd (`fds`) and calls `tick` at `wake_at`.  When
the process is gone, its group is killed and it is reaped (process.py), its
last stderr is forwarded and the orphans it left are collected.
"""

from __future__ import annotations

import _signal as signal  # `signal` imports enum: ~4 ms of cold start
import os

from dispatcher.process import reap_orphans

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterator

    from dispatcher.worker import WorkerSession

__all__ = ["Stopping"]

_POLITE, _TERM, _KILL = 0, 1, 2
KILL_WAIT = 5.0  # after SIGKILL: only an uninterruptible sleep takes longer


class Stopping:
    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.items: dict[int, list] = {}  # key -> [session, phase, deadline, end]  # type: ignore[type-arg]

    def begin(self, key: int, session: WorkerSession, polite: bool, now: float) -> None:
        proc = session.proc
        if proc.pidfd is None:  # nothing runs (an exec session between scripts) or already reaped
            self._finish(session)
            return
        end = now + self.grace
        if polite:
            _say_shutdown(session)
            self.items[key] = [session, _POLITE, now + self.grace / 3, end]
        else:
            proc.close_stdin()
            proc.kill_group(signal.SIGTERM)
            self.items[key] = [session, _TERM, end, end]

    def fds(self) -> Iterator[tuple[int, int]]:
        for key, item in self.items.items():
            fd = item[0].proc.pidfd
            if fd is not None:
                yield fd, key

    def wake_at(self) -> float | None:
        return min((item[2] for item in self.items.values()), default=None)

    def exited(self, key: int) -> None:
        """Its pidfd is readable: the process is gone."""
        item = self.items.pop(key, None)
        if item is not None:
            self._finish(item[0])

    def tick(self, now: float) -> None:
        for key, item in list(self.items.items()):
            if now < item[2]:
                continue
            session, phase = item[0], item[1]
            if phase == _POLITE:
                session.proc.kill_group(signal.SIGTERM)
                item[1], item[2] = _TERM, item[3]
            elif phase == _TERM:
                session.proc.kill_group(signal.SIGKILL)
                item[1], item[2] = _KILL, now + KILL_WAIT
            else:  # pragma: no cover - a process stuck in the kernel
                del self.items[key]
                self._finish(session)

    def shutdown(self, sessions: list[WorkerSession], end: float, clock: Callable[[], float]) -> None:
        """Every worker, live or stopping, is gone by `end`: the shutdown message
        and SIGTERM to each live one at once, SIGKILL to what is left at `end`."""
        for session in sessions:
            _say_shutdown(session)
            session.proc.kill_group(signal.SIGTERM)
        stopping, self.items = [item[0] for item in self.items.values()], {}
        for session in sessions + stopping:
            session.terminate(end, clock, polite=False)
        reap_orphans(set(), kill=True)

    def kill_now(self, sessions: list[WorkerSession]) -> None:
        """SIGKILL to every worker group, live or stopping; reap them all."""
        every = sessions + [item[0] for item in self.items.values()]
        self.items = {}
        for session in every:
            session.proc.kill_group(signal.SIGKILL)
        for session in every:
            session.proc.wait_exit(KILL_WAIT)
            session.drain_stderr()
            session.proc.close_fds()
        reap_orphans(set(), kill=True)

    @staticmethod
    def _finish(session: WorkerSession) -> None:
        proc = session.proc
        proc.poll_exit()  # kills what is left of its group, then reaps it
        session.drain_stderr()
        session.log.flush()
        proc.close_fds()
        reap_orphans(set(), kill=True)


def _say_shutdown(session: WorkerSession) -> None:
    """The polite part of a stop: the kind's shutdown message, then EOF on stdin."""
    proc = session.proc
    if session.shutdown_message and proc.stdin is not None and not session.writing:
        try:
            os.write(proc.stdin, session.shutdown_message)
        except OSError:
            pass
    proc.close_stdin()
