"""The exec kind's spawn path: posix_spawn, for one short-lived process per invocation.

`WorkerProcess(..., pdeathsig=False)` lands here (dispatcher/worker_exec.py is
the only caller); the long-lived kinds never import this module, so it adds
nothing to their start.  The rest of the process's life (its state, stop and
reaping) is WorkerProcess's, in dispatcher/process.py.
"""

from __future__ import annotations

import _signal as signal  # `signal` imports enum: ~4 ms of cold start
import os

from dispatcher import guardian
from dispatcher.process import SpawnError, WorkerProcess, _grow_pipe, make_nonblocking
from dispatcher.reaping import LIVE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping

__all__ = ["spawn_light"]

_DEFAULT_SIGNALS = tuple(s for s in range(1, 32) if s not in (signal.SIGKILL, signal.SIGSTOP))


def spawn_light(proc: WorkerProcess, cwd: str, env: Mapping[str, str], stdin: bool) -> None:
    """posix_spawn (vfork, no copy-on-write storm): ~0.8 ms instead of ~4 ms
    for fork+exec from a Python process, at the price of PR_SET_PDEATHSIG,
    which only a forked child can set.  For short-lived per-invocation
    processes (exec workers), whose group is killed when the invocation
    ends; should the supervisor itself be SIGKILLed mid-invocation, the
    guardian kills the script and its descendants.

    Fills in `proc` (a WorkerProcess whose name and argv are set) as
    WorkerProcess does after its own fork+exec."""
    guardian.ensure()  # armed before the script exists: nothing it starts can escape
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    _grow_pipe(out_r)
    actions = [
        (os.POSIX_SPAWN_DUP2, in_r, 0) if stdin else (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, out_w, 1),
        (os.POSIX_SPAWN_DUP2, err_w, 2),
    ]
    path = _resolve(proc.argv[0], env.get("PATH", os.defpath))
    env_b = dict(env)
    env_b[guardian.MARKER_VAR] = guardian.marker()
    here = os.getcwd()
    try:
        try:
            os.chdir(cwd)  # posix_spawn has no chdir action here; we are single-threaded
        except OSError as exc:
            raise SpawnError(f"worker {proc.name!r}: cannot change to directory {cwd!r}: {exc.strerror}", exc.errno or 0) from None
        try:
            pid = os.posix_spawn(
                path, proc.argv, env_b, file_actions=actions, setsid=True,
                setsigdef=_DEFAULT_SIGNALS, setsigmask=(),
            )
        except OSError as exc:
            raise SpawnError(f"worker {proc.name!r}: cannot execute {proc.argv[0]!r}: {exc.strerror}", exc.errno or 0) from None
    except SpawnError:
        for fd in (in_r, in_w, out_r, out_w, err_r, err_w):
            os.close(fd)
        raise
    finally:
        os.chdir(here)
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    proc.pid = proc.pgid = pid
    proc.stdin = in_w
    proc.stdout = out_r
    proc.stderr = err_r
    for fd in (in_w, out_r, err_r):
        make_nonblocking(fd)
    proc.pidfd = os.pidfd_open(pid)
    LIVE.add(pid)
    guardian.watch(pid)


def _resolve(file: str, path: str) -> str:
    """argv[0] as execvp would find it (the PATH given to the worker)."""
    if "/" in file:
        return file
    for d in path.split(":"):
        candidate = os.path.join(d or ".", file)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return file  # posix_spawn then fails with ENOENT, reported as SpawnError
