"""protocol: exec -- one process per invocation, CGI-like (docs/exec.md).

The session is always ready.  Each `send_invoke` starts `command` (a
WorkerProcess: own session and process group, default signals, watched by
the guardian)
with the invocation in its environment, writes the event to its stdin
through the base class's non-blocking queue and closes it; stdout is
collected as the response body, stderr is the log.  While a script runs it
is `self.proc`, so the supervisor's deadline, shutdown and SIGCHLD handling
reach it unchanged; between invocations `proc` is a stand-in with no process.

The script's exit is turned into a reply (a `message` event, never
`exited`, which would make the supervisor hand the event to a fresh worker
and run the script twice): exit 0 is the result, another status an error of
the worker's `error_type`, a signal Runtime.ExitError.  When it exits,
stdout is read until EOF or for EXIT_DRAIN at most (a background job holding
stdout must not stretch the invocation), then the whole group is killed and
children that left it are collected.

Done once per session rather than per invocation: resolving argv[0] on
PATH, checking it can be executed, building the environment.
"""

from __future__ import annotations

import errno
import os
import time
from select import POLLIN, poll

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping

from dispatcher import errors as E
from dispatcher.config import WorkerConfig
from dispatcher.logs import LogForwarder, say
from dispatcher.process import SpawnError, WorkerProcess, describe_status, reap_orphans
from dispatcher.runtime_api import Invocation
from dispatcher.worker import Event, WorkerSession

__all__ = ["ExecWorker", "MAX_RESPONSE", "EXIT_DRAIN", "INVOCATION_ENV"]

MAX_RESPONSE = 6 * 1024 * 1024 + 100  # RAPID's buffered response limit, 6,291,556 bytes; = answers.MAX_RESPONSE
EXIT_DRAIN = 0.05  # seconds stdout is still read after the script exited
_READ = 1024 * 1024
_SIGKILL = 9  # Linux; `signal` would import enum for one constant
# Set per invocation; removed from the inherited environment so that an
# absent header never leaks a stale value from the supervisor's own env.
INVOCATION_ENV = (
    "LAMBDA_REQUEST_ID",
    "LAMBDA_DEADLINE_MS",
    "LAMBDA_FUNCTION_ARN",
    "_X_AMZN_TRACE_ID",
    "LAMBDA_CLIENT_CONTEXT",
    "LAMBDA_COGNITO_IDENTITY",
    "LAMBDA_TENANT_ID",
)


class _NoProcess:
    """`proc` between invocations: nothing runs, nothing to wait for or kill.

    `status` stays None so that the supervisor counts the session as alive.
    """

    pid = pgid = -1
    status = None
    stdin = stdout = stderr = pidfd = None
    alive = True

    def poll_exit(self) -> None:
        return None

    def wait_exit(self, timeout: float) -> int:
        return 0

    def kill_group(self, sig: int) -> None:
        pass

    def close_stdin(self) -> None:
        pass

    def close_fds(self) -> None:
        pass

    def stop(self, grace: float, *, polite: bytes | None = None) -> int:
        return 0


_IDLE = _NoProcess()


def resolve_command(config: WorkerConfig, path: str) -> list[str]:
    """argv with argv[0] made absolute, checked once; SpawnError when it cannot run."""
    argv = list(config.command)
    prog = argv[0]
    if not os.path.isdir(config.cwd):
        raise SpawnError(f"worker {config.name!r}: cannot change to directory {config.cwd!r}: No such file or directory", errno.ENOENT)
    if "/" in prog:
        candidates = [os.path.join(config.cwd, prog)]
    else:
        candidates = [os.path.join(config.cwd, d or ".", prog) for d in path.split(":")]
    found = None
    for cand in candidates:
        if os.path.isfile(cand):
            found = found or cand
            if os.access(cand, os.X_OK):
                found = cand
                break
    if found is None:
        where = "" if "/" in prog else " on PATH"
        raise SpawnError(f"worker {config.name!r}: cannot execute {prog!r}: not found{where}", errno.ENOENT)
    if not os.access(found, os.X_OK):
        raise SpawnError(f"worker {config.name!r}: cannot execute {prog!r}: not executable (chmod +x {found})", errno.EACCES)
    try:
        with open(found, "rb") as f:
            magic = f.read(4)
    except OSError:
        magic = b"#!"  # execute-only: let exec decide
    if magic[:2] != b"#!" and magic != b"\x7fELF":
        raise SpawnError(
            f"worker {config.name!r}: cannot execute {prog!r}: neither a binary nor a script starting with #! "
            "(add e.g. `#!/bin/sh` as its first line, or put the interpreter in `command`)",
            errno.ENOEXEC,
        )
    argv[0] = os.path.abspath(found)
    return argv


class ExecWorker(WorkerSession):
    shutdown_message = b""

    def __init__(self, config: WorkerConfig, env: Mapping[str, str], log_fd: int = 2) -> None:
        base = {k: v for k, v in env.items() if k not in INVOCATION_ENV}
        base["DISPATCHER_PROTOCOL"] = "exec"
        self._env = base
        self._argv = resolve_command(config, base.get("PATH", os.defpath))
        self._log_fd = log_fd
        super().__init__(config, env, log_fd)
        self.ready = True
        self._stdout = bytearray()
        self._rid = ""

    def start_process(self, env: Mapping[str, str]) -> Any:
        return _IDLE

    # -- one invocation -------------------------------------------------------
    def send_invoke(self, inv: Invocation) -> list[Event]:
        env = self._env.copy()
        env["LAMBDA_REQUEST_ID"] = inv.request_id
        env["LAMBDA_DEADLINE_MS"] = str(inv.deadline_ms)
        env["LAMBDA_FUNCTION_ARN"] = inv.function_arn
        if inv.trace_id is not None:
            env["_X_AMZN_TRACE_ID"] = inv.trace_id
        if inv.client_context is not None:
            env["LAMBDA_CLIENT_CONTEXT"] = inv.client_context
        if inv.cognito_identity is not None:
            env["LAMBDA_COGNITO_IDENTITY"] = inv.cognito_identity
        if inv.tenant_id is not None:
            env["LAMBDA_TENANT_ID"] = inv.tenant_id
        # A fresh log per invocation, so that an error's "last stderr lines"
        # are this invocation's.  The supervisor set the request id already.
        log = LogForwarder(self._log_fd)
        log.request_id = self.log.request_id
        self.log = log
        self._rid = inv.request_id
        self._stdout = bytearray()
        try:
            self.proc = WorkerProcess(self._argv, cwd=self.config.cwd, env=env, name=self.name, pdeathsig=False)
        except SpawnError as exc:
            return [self._reply_error(E.INVALID_ENTRYPOINT, str(exc))]
        self.queue([inv.payload])
        return self.write_pending()

    def write_pending(self) -> list[Event]:
        events = super().write_pending()
        if not self._out:
            self.proc.close_stdin()  # the whole event is in: EOF for the script
        return events

    def _stdin_closed(self) -> list[Event]:
        # A script that never reads its stdin is not an error.
        self._out.clear()
        self.proc.close_stdin()
        return []

    def _on_stdout(self) -> list[Event]:
        fd = self.proc.stdout
        out = self._stdout
        while fd is not None:
            try:
                data = os.read(fd, _READ)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                # Closing stdout early is allowed; the exit ends the invocation.
                os.close(fd)
                self.proc.stdout = None
                break
            out += data
            if len(out) > MAX_RESPONSE:
                self.proc.kill_group(_SIGKILL)
                self.proc.wait_exit(5.0)
                return [self._finish(too_large=True)]
        return []

    def exited(self) -> list[Event]:
        """The script exited (pidfd readable, not reaped yet: its group id is still ours)."""
        end = time.monotonic() + EXIT_DRAIN
        p = None
        while self.proc.stdout is not None:
            events = self._on_stdout()
            if events:
                return events  # over the size limit
            if self.proc.stdout is None:
                break
            left = end - time.monotonic()
            if left <= 0:
                break
            if p is None:
                p = poll()
                p.register(self.proc.stdout, POLLIN)
            p.poll(left * 1000)
        return [self._finish(too_large=False)]

    def _finish(self, too_large: bool) -> Event:
        proc = self.proc
        status = proc.poll_exit()  # SIGKILLs the group, then reaps the script
        self.drain_stderr()
        self.log.flush()
        proc.close_fds()
        self.proc = _IDLE  # type: ignore[assignment]
        # Whatever left the group (setsid) was re-parented to us, the subreaper.
        reap_orphans(set(), kill=True)
        body, self._stdout = self._stdout, bytearray()
        if too_large:
            return self._reply_error(
                E.RESPONSE_SIZE_TOO_LARGE,
                f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE} bytes): "
                f"the script wrote more than {len(body)} bytes to stdout and was stopped.",
            )
        status = status or 0
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            return Event("message", message={"type": "result", "id": self._rid, "payload": body})
        what = describe_status(status).replace("exit status", "exited with status").replace("killed by", "was killed by")
        if os.WIFEXITED(status):
            self._say(f"worker {self.name!r} {what}: its stdout ({len(body)} bytes) is discarded")
            error_type = self.config.error_type or "Function.ExitError"
        else:
            error_type = E.EXIT_ERROR
        msg = f"worker {self.name!r} {what} during the invocation"
        tail = self.log.tail()
        if tail:
            msg += f"; last stderr lines:\n{tail}"
        return self._reply_error(error_type, msg)

    def _reply_error(self, error_type: str, message: str) -> Event:
        msg: dict[str, Any] = {"type": "error", "id": self._rid, "error_type": error_type, "error_message": message, "stack_trace": []}
        return Event("message", message=msg)

    def _say(self, text: str) -> None:
        say(text, request_id=self.log.request_id)
