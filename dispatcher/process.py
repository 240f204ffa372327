"""Every worker process is started, watched, stopped and reaped here.

Vocabulary (honcho/circus): each child runs in its own session and process
group; stop is an escalation (polite signal, a grace period, SIGKILL) and is
idempotent; the group is killed before its leader is reaped, so that the
process group id cannot be reused under us.

Containment, in four layers:
- the supervisor is a child subreaper, so descendants that a worker leaves
  behind (even after `setsid`) are re-parented to us and can be killed;
- each long-lived worker gets PR_SET_PDEATHSIG=SIGKILL, so it dies with the
  supervisor even when the supervisor is SIGKILLed (as Lambda and the
  emulators do);
- the guardian (dispatcher/guardian.py) outlives a SIGKILLed supervisor and
  kills what PDEATHSIG cannot reach: exec-kind scripts (posix_spawn cannot set
  it) and every worker's own descendants, by process group and by the
  DISPATCHER_CONTAINMENT mark in their environment;
- workers start with default signal dispositions and an empty signal mask:
  Python ignores SIGPIPE, which would otherwise leak into every worker and
  break `cmd | head`.

Workers are started with fork+exec rather than posix_spawn because
PR_SET_PDEATHSIG must be set in the child; the child runs a few system calls
only, and exec failures come back through a close-on-exec pipe.  Exec-kind
scripts (one process per invocation, `pdeathsig=False`) are started with
posix_spawn instead, by dispatcher/spawn_light.py, which only that kind loads.
"""

from __future__ import annotations

import errno
import fcntl
import _signal as signal  # `signal` imports enum: ~4 ms of cold start
import os

from dispatcher import guardian
from dispatcher.reaping import LIVE, group_rss, pool_rss, reap_orphans

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Sequence

__all__ = [
    "WorkerProcess",
    "SpawnError",
    "become_subreaper",
    "reap_orphans",
    "describe_status",
    "group_rss",
    "pool_rss",
    "make_nonblocking",
    "prestart",
    "discard_prestarted",
]

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_F_SETPIPE_SZ = 1031
_PIPE_SIZE = 1024 * 1024  # 1 MiB: a 6 MB payload in ~6 hand-offs, not ~90
_libc = None


def _prctl(option: int, arg: int) -> bool:
    # The stdlib has no prctl.  `_ctypes` (the C core of ctypes, ~0.5 ms to
    # import) calls it directly; the `ctypes` package around it would cost
    # another ~1.5 ms of every cold start and adds nothing needed here.
    global _libc
    try:
        import _ctypes

        if _libc is None:
            _libc = _ctypes.dlsym(_ctypes.dlopen(None, 0x102), "prctl")  # RTLD_GLOBAL|RTLD_NOW
        return bool(_ctypes.call_function(_libc, (option, arg, 0, 0, 0)) == 0)
    except (ImportError, OSError, AttributeError, TypeError):
        return False


def become_subreaper() -> bool:
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


class SpawnError(Exception):
    """The command could not be executed (not found, not executable, bad cwd)."""

    def __init__(self, message: str, err: int) -> None:
        self.errno = err
        super().__init__(message)


def make_nonblocking(fd: int) -> None:
    os.set_blocking(fd, False)


_pipe_size: int | None = None


def _grow_pipe(fd: int) -> None:
    global _pipe_size
    if _pipe_size is None:
        try:
            with open("/proc/sys/fs/pipe-max-size", "rb") as f:
                _pipe_size = min(_PIPE_SIZE, int(f.read()))
        except (OSError, ValueError):
            _pipe_size = _PIPE_SIZE
    try:
        fcntl.fcntl(fd, _F_SETPIPE_SZ, _pipe_size)
    except OSError as exc:  # EPERM (over a user limit), EBUSY: never needed
        if exc.errno not in (errno.EPERM, errno.EBUSY):
            raise


def describe_status(status: int) -> str:
    """'exit status 3' / 'killed by signal 9 (SIGKILL)' from a wait status."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        import signal as _sig  # error path only

        try:
            name = _sig.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"killed by signal {sig} ({name})"
    if os.WIFEXITED(status):
        return f"exit status {os.WEXITSTATUS(status)}"
    return f"wait status {status}"


class WorkerProcess:
    """One child process with three pipes and a pidfd.

    fds (all non-blocking on our side): `stdin` (we write), `stdout` and
    `stderr` (we read), `pidfd` (readable once the process has exited).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        name: str = "worker",
        stdin: bool = True,
        pdeathsig: bool = True,
    ) -> None:
        early = _adopt(argv, cwd, env, name, stdin, pdeathsig)
        if early is not None:  # started by `prestart` with these very arguments
            self.__dict__.update(early.__dict__)
            return
        self.name = name
        self.argv = list(argv)
        self.status: int | None = None  # wait status once reaped
        if not pdeathsig:  # exec kind: its spawn path is loaded only when used
            from dispatcher.spawn_light import spawn_light

            spawn_light(self, cwd, env, stdin)
            return
        guardian.ensure()  # armed before the worker exists: nothing it starts can escape
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        err_pipe_r, err_pipe_w = os.pipe()  # exec failure reports
        for fd in (in_w, out_r):
            _grow_pipe(fd)
        env_b = dict(env)
        env_b[guardian.MARKER_VAR] = guardian.marker()
        path = env.get("PATH", os.defpath)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # child: only system calls from here to exec
            stage = "setup"
            try:
                signal.set_wakeup_fd(-1)
                for sig in range(1, 32):  # every standard signal, not only ours
                    if sig not in (signal.SIGKILL, signal.SIGSTOP):
                        signal.signal(sig, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, ())
                _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
                if os.getppid() != parent:  # the supervisor died before prctl
                    os._exit(1)
                os.setsid()
                os.dup2(in_r if stdin else os.open(os.devnull, os.O_RDONLY), 0)
                os.dup2(out_w, 1)
                os.dup2(err_w, 2)
                stage = "cwd"
                os.chdir(cwd)
                stage = "exec"
                _execvpe(self.argv, env_b, path)
            except OSError as exc:
                try:
                    os.write(err_pipe_w, f"{stage}:{exc.errno}".encode())
                finally:
                    os._exit(127)
            except BaseException:
                os._exit(127)
            os._exit(127)
        # parent
        for fd in (in_r, out_w, err_w, err_pipe_w):
            os.close(fd)
        self.pid = pid
        self.pgid = pid  # setsid() made it the leader of its own group
        report = b""
        while True:
            try:
                chunk = os.read(err_pipe_r, 256)
            except InterruptedError:
                continue
            if not chunk:
                break
            report += chunk
        os.close(err_pipe_r)
        if report:
            os.close(in_w)
            os.close(out_r)
            os.close(err_r)
            os.waitpid(pid, 0)
            stage, _, num = report.decode().partition(":")
            err = int(num) if num.isdigit() else 0
            what = f"cannot change to directory {cwd!r}" if stage == "cwd" else f"cannot execute {self.argv[0]!r}"
            raise SpawnError(f"worker {name!r}: {what}: {os.strerror(err)}", err)
        self.stdin: int | None = in_w
        self.stdout: int | None = out_r
        self.stderr: int | None = err_r
        for fd in (in_w, out_r, err_r):
            make_nonblocking(fd)
        self.pidfd = os.pidfd_open(pid)
        LIVE.add(pid)
        guardian.watch(pid)

    # -- state ----------------------------------------------------------------
    def poll_exit(self) -> int | None:
        """Wait status if the process has exited (it is reaped then), else None."""
        if self.status is not None:
            return self.status
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return self.status
        if info is None:
            return None
        self._reap()
        return self.status

    def _reap(self) -> None:
        # The group is killed before the leader is reaped: while the leader is
        # a zombie its pgid cannot be reused, so killpg cannot hit a stranger.
        self.kill_group(signal.SIGKILL)
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            status = 0
        self.status = status
        LIVE.discard(self.pid)
        guardian.unwatch(self.pgid)
        # stdout/stderr stay open: what the process wrote before it died is
        # still in the pipes, and its owner reads it before close_fds().
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None  # type: ignore[assignment]

    @property
    def alive(self) -> bool:
        return self.poll_exit() is None

    def kill_group(self, sig: int) -> None:
        if self.status is not None:
            return
        try:
            os.killpg(self.pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def close_stdin(self) -> None:
        if self.stdin is not None:
            os.close(self.stdin)
            self.stdin = None

    def close_fds(self) -> None:
        self.close_stdin()
        for attr in ("stdout", "stderr"):
            fd = getattr(self, attr)
            if fd is not None:
                os.close(fd)
                setattr(self, attr, None)
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None  # type: ignore[assignment]

    def wait_exit(self, timeout: float) -> int | None:
        """Block up to `timeout` seconds for the process to exit."""
        if self.status is not None:
            return self.status
        from select import POLLIN, poll

        p = poll()
        p.register(self.pidfd, POLLIN)
        p.poll(max(0.0, timeout) * 1000)
        return self.poll_exit()

    def stop(self, grace: float, *, polite: bytes | None = None) -> int:
        """Escalate: (polite bytes on stdin, close stdin), SIGTERM, SIGKILL at `grace`.

        Idempotent; returns the wait status.  Orphans are collected by the caller.
        """
        if self.status is not None:
            return self.status
        if polite and self.stdin is not None:
            try:
                os.write(self.stdin, polite)
            except OSError:
                pass
        self.close_stdin()
        if polite:
            if self.wait_exit(grace / 3) is not None:
                assert self.status is not None
                return self.status
            grace -= grace / 3
        self.kill_group(signal.SIGTERM)
        if self.wait_exit(grace) is None:
            self.kill_group(signal.SIGKILL)
            self.wait_exit(5.0)
            if self.status is None:  # pragma: no cover - uninterruptible sleep
                self._reap()
        assert self.status is not None
        return self.status


# -- a worker started before the supervisor (dispatcher/boot.py) -----------------
_early: WorkerProcess | None = None
_early_key: tuple[object, ...] = ()


def prestart(argv: Sequence[str], *, cwd: str, env: Mapping[str, str], name: str = "worker") -> None:
    """Start a worker now; the next WorkerProcess made with exactly these
    arguments (and stdin, PR_SET_PDEATHSIG) takes it over instead of spawning.
    Raises SpawnError as WorkerProcess does."""
    global _early, _early_key
    discard_prestarted()
    proc = WorkerProcess(argv, cwd=cwd, env=env, name=name)
    _early, _early_key = proc, (list(argv), cwd, dict(env), name, True, True)


def _adopt(argv: Sequence[str], cwd: str, env: Mapping[str, str], name: str, stdin: bool, pdeathsig: bool) -> WorkerProcess | None:
    global _early
    if _early is None:
        return None
    if _early_key != (list(argv), cwd, dict(env), name, stdin, pdeathsig):
        discard_prestarted()  # not the worker asked for: it must not linger
        return None
    proc, _early = _early, None
    return proc  # running or already exited: its owner finds out as with any spawn


def discard_prestarted() -> None:
    """Stop and reap a prestarted worker that was not taken over."""
    global _early
    proc, _early = _early, None
    if proc is not None:
        proc.kill_group(signal.SIGKILL)
        proc.wait_exit(5.0)
        proc.close_fds()


def _execvpe(argv: Sequence[str], env_b: Mapping[str, str], path: str) -> None:
    file = argv[0]
    if "/" in file:
        os.execve(file, argv, env_b)
    last: OSError | None = None
    for d in path.split(":"):
        try:
            os.execve(os.path.join(d or ".", file), argv, env_b)
        except OSError as exc:
            if last is None or exc.errno != errno.ENOENT:
                last = exc
    raise last or FileNotFoundError(errno.ENOENT, "not found")
