"""Signals as readable events: a wake-up pipe the event loop polls.

Handlers do nothing; CPython writes each signal number to the wake-up fd,
so SIGTERM arriving while the loop waits on GET /next wakes the same poll()
that watches the API socket and the worker pipes (no threads, no races).
"""

from __future__ import annotations

import _signal as signal  # `signal` imports enum: ~4 ms of cold start
import os

__all__ = ["SignalWatcher"]

WATCHED = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)


def _noop(signum: int, frame: object) -> None:
    pass


class SignalWatcher:
    def __init__(self, signals: tuple[int, ...] = WATCHED) -> None:
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self.wfd, False)
        self._old_fd = signal.set_wakeup_fd(self.wfd, warn_on_full_buffer=False)
        self._old = {s: signal.signal(s, _noop) for s in signals}

    def drain(self) -> set[int]:
        got: set[int] = set()
        while True:
            try:
                data = os.read(self.rfd, 512)
            except BlockingIOError:
                return got
            if not data:
                return got
            got.update(data)

    def close(self) -> None:
        signal.set_wakeup_fd(self._old_fd)
        for s, h in self._old.items():
            signal.signal(s, h)
        os.close(self.rfd)
        os.close(self.wfd)
