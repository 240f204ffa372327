"""Launching the runtime process the way Lambda does, and killing its whole tree.

The runtime runs in its own session (so its process group is its sandbox), with
the Lambda environment variables, and its output goes straight to file
descriptors (never through Python buffers).  Its exit is observed through a
pidfd that the server's epoll loop watches, so no thread waits on it.

Killing follows Lambda's sandbox reset: everything the runtime started dies,
including descendants that left the process group with setsid().  Those are
found by walking /proc children recursively *before* anything is killed (after
the runtime dies they are reparented and the link is lost), freezing each with
SIGSTOP so it cannot fork more while the walk finishes, and by their inherited
AWS_LAMBDA_RUNTIME_API value, which catches orphans of a runtime that already
exited on its own.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping
from typing import IO, Union

from .model import ARN_PREFIX

__all__ = ["RuntimeProcess", "build_env", "OutputSink", "descendants", "kill_tree"]

OutputSink = Union[int, IO[bytes], IO[str], None]

MEMORY_SIZE_MB = 3008  # what the RIE configures

# Only these may be overridden by the caller's env (RIE-LMI rapidcore/env, cloneAndFilterCustomerEnvVars).
_OVERRIDABLE_DEFAULTS = {"TZ": ":UTC"}


def build_env(
    base: Mapping[str, str],
    *,
    api_address: str,
    function_name: str,
    function_timeout: float,
    handler: str | None,
    task_root: str,
) -> dict[str, str]:
    """The runtime's environment: `base` plus the variables Lambda sets."""
    env = dict(base)
    for key, value in _OVERRIDABLE_DEFAULTS.items():
        env.setdefault(key, value)
    stream = time.strftime("%Y/%m/%d/", time.gmtime()) + "[$LATEST]" + uuid.uuid4().hex
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": api_address,
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(MEMORY_SIZE_MB),
            # Lambda configures whole seconds; round a fractional test timeout up.
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(max(1, math.ceil(function_timeout))),
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/" + function_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "LAMBDA_TASK_ROOT": task_root,
            # There is no /var/runtime locally; the task root is the closest honest answer.
            "LAMBDA_RUNTIME_DIR": task_root,
        }
    )
    if handler is not None:
        env["_HANDLER"] = handler
    else:
        env.pop("_HANDLER", None)
    return env


def function_arn(function_name: str) -> str:
    return ARN_PREFIX + function_name


def _as_fd(sink: OutputSink, default: int) -> int:
    if sink is None:
        return default
    if isinstance(sink, int):
        if sink == subprocess.PIPE:
            raise ValueError("runtime output cannot be subprocess.PIPE: nobody would read it; pass a file or fd")
        return sink
    fileno = getattr(sink, "fileno", None)
    if fileno is None:
        raise TypeError(f"runtime output sink {sink!r} has no fileno(): pass an int fd or a real file")
    flush = getattr(sink, "flush", None)
    if flush is not None:
        flush()  # keep our own buffered lines ahead of the runtime's
    fd: int = fileno()
    return fd


class RuntimeProcess:
    """One launched runtime: its Popen, session id and the pidfd to watch."""

    def __init__(self, popen: subprocess.Popen[bytes], marker: bytes) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.pgid = popen.pid  # start_new_session: leader of its own group
        self.pidfd = os.pidfd_open(popen.pid)
        self.marker = marker
        self.started = time.monotonic()
        self.returncode: int | None = None

    @classmethod
    def launch(
        cls,
        argv: list[str],
        env: Mapping[str, str],
        *,
        cwd: str,
        stdout: OutputSink,
        stderr: OutputSink,
    ) -> RuntimeProcess:
        """Start the runtime.  OSError (missing or non-executable argv[0]) propagates."""
        popen = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=_as_fd(stdout, 2),
            stderr=_as_fd(stderr, 2),
            start_new_session=True,
            close_fds=True,
        )
        marker = ("AWS_LAMBDA_RUNTIME_API=" + env["AWS_LAMBDA_RUNTIME_API"]).encode() + b"\0"
        return cls(popen, marker)

    def reap(self) -> int:
        """Collect the exit status of a runtime that has ended; killing its leftovers first.

        Called when the pidfd reports the exit.  The zombie still holds the
        process group id, so group members that stayed behind are killed
        before the id can be reused.
        """
        _killpg(self.pgid, signal.SIGKILL)
        for pid in _marked_processes(self.marker):
            _kill(pid, signal.SIGKILL)
        code = self.popen.wait()
        self.returncode = code
        self._close_pidfd()
        return code

    def terminate(self) -> None:
        """Polite stop: SIGTERM to the whole process group."""
        _killpg(self.pgid, signal.SIGTERM)

    def kill(self) -> int:
        """Kill the runtime and every descendant; wait for the runtime; its exit status."""
        if self.returncode is None:
            kill_tree(self.pid, self.pgid, self.marker)
            try:
                self.returncode = self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:  # unkillable (D state): do not hang the emulator
                self.returncode = -signal.SIGKILL
        self._close_pidfd()
        return self.returncode

    def _close_pidfd(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


def describe_exit(code: int) -> str:
    """The RIE's wording for how the runtime ended."""
    if code == 0:
        return "Runtime exited without providing a reason"
    if code < 0:
        try:
            name = signal.Signals(-code).name[3:].lower()
        except ValueError:
            name = str(-code)
        if name == "kill":
            name = "killed"
        elif name == "term":
            name = "terminated"
        return f"Runtime exited with error: signal: {name}"
    return f"Runtime exited with error: exit status {code}"


# -- process tree ----------------------------------------------------------


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _proc_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for pid in _proc_pids():
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(pid)
    return children


def descendants(pid: int) -> set[int]:
    """Every live descendant of `pid` (children, grandchildren, ...), by /proc."""
    children = _parent_map()
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _marked_processes(marker: bytes) -> list[int]:
    """Processes whose environment holds this sandbox's AWS_LAMBDA_RUNTIME_API value."""
    me = os.getpid()
    found = []
    for pid in _proc_pids():
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker in f.read():
                    found.append(pid)
        except OSError:
            continue
    return found


def kill_tree(pid: int, pgid: int, marker: bytes | None = None) -> set[int]:
    """SIGKILL `pid`, its process group and all its descendants; the pids signalled."""
    frozen: set[int] = set()
    _killpg(pgid, signal.SIGSTOP)
    for _ in range(10):  # bounded: a fork bomb must not keep us here
        found = {pid} | descendants(pid)
        if marker is not None:
            found.update(_marked_processes(marker))
        new = found - frozen
        if not new:
            break
        for p in new:
            _kill(p, signal.SIGSTOP)
        frozen |= new
    _killpg(pgid, signal.SIGKILL)
    for p in frozen:
        _kill(p, signal.SIGKILL)
    return frozen
