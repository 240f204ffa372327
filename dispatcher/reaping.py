"""Collecting what workers leave behind: re-parented orphans, group memory.

The supervisor is a child subreaper (dispatcher/process.py), so descendants
that outlive their worker become our children; these functions find, kill
and reap them.  The guardian (dispatcher/guardian.py) is our child too and is
never killed here: it has to outlive us.
"""

from __future__ import annotations

import _signal as signal  # `signal` imports enum: ~4 ms of cold start
import os

from dispatcher import guardian

__all__ = ["reap_orphans", "group_rss", "pool_rss", "LIVE"]

# Workers alive now (pid == pgid: each leads its own group), kept by
# dispatcher/process.py.  reap_orphans never touches them, so that one
# worker's orphans are collected without harming the other workers of a pool.
LIVE: set[int] = set()


def _children() -> list[int]:
    """Our direct children (including re-parented orphans)."""
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children", "rb") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        pass
    kids = []  # fallback: CONFIG_PROC_CHILDREN may be off; scan /proc
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == me:
            kids.append(int(entry))
    return kids


def reap_orphans(keep: set[int], *, kill: bool) -> int:
    """Reap (and with kill=True first SIGKILL) every child not in `keep` that is
    not a live worker (nor in a live worker's process group).

    Children that are not workers are descendants re-parented to us, the
    subreaper, after their parent died.  Killing one re-parents its own
    children to us in turn, so loop until none is left.  Returns how many.
    """
    count = 0
    if kill:  # the guardian is our child too, and must outlive us
        keep = keep | {guardian.guardian_pid()}
    for _ in range(100):  # bounded: each round removes at least one level
        kids = [k for k in _children() if k not in keep and k not in LIVE]
        if not kids:
            break
        progressed = False
        for pid in kids:
            if kill:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    pg = os.getpgid(pid)
                    if pg not in keep and pg not in LIVE and pg != os.getpgrp():
                        os.killpg(pg, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                done, _ = os.waitpid(pid, 0 if kill else os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                count += 1
                progressed = True
        if not kill or not progressed:
            break
    return count


def group_rss(pgid: int) -> int:
    """Resident memory, in bytes, of every process in process group `pgid`."""
    return pool_rss({pgid})


def pool_rss(pgids: set[int]) -> int:
    """Resident memory, in bytes, of every process in any of the groups `pgids`
    (a pool of workers), in one pass over the process table."""
    import psutil  # lazily: ~22 ms to import, only when max_rss is set

    total = 0
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) in pgids:
                total += proc.memory_info().rss
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    return total
