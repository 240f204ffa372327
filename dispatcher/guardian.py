"""The guardian: kills every worker and worker descendant once the supervisor is gone.

PR_SET_PDEATHSIG reaches only a direct child that set it (not an exec-kind
script started with posix_spawn, not a worker's own children), and the
supervisor's subreaper role dies with the supervisor.  So something that
outlives a SIGKILLed supervisor has to sweep up:

- the guardian is forked from the supervisor just before the first worker
  starts (`ensure`), and put in a process group of its own by the supervisor
  itself right after the fork (and by itself: whichever runs first), so that
  a kill of the supervisor's process group (what emulators' sandbox resets
  do) does not take it along, even one that comes the next instant.  So no
  worker exists, not even for a moment, without a guardian: a supervisor
  SIGKILLed right after a spawn leaves nothing behind;
- it waits on a pidfd of the supervisor, which becomes readable when the
  supervisor has ended, however it ended (no death signal, so no race between
  a signal and its handler); should the supervisor end before the guardian
  has opened it, the guardian finds itself re-parented and sweeps at once;
- the supervisor tells it `+PGID` when a worker starts and `-PGID` once it has
  reaped it, through a pipe that the guardian drains only once a second and
  at the end: a write then wakes nobody, so it costs the supervisor a few
  microseconds even on one CPU (waking the guardian per message cost ~50 us);
- every worker carries `DISPATCHER_CONTAINMENT=<id>` in its environment, which
  its descendants inherit, even those that left the group with setsid();
- at EOF the guardian SIGKILLs the groups it was told about, then freezes
  (SIGSTOP) every process whose environment holds the id, repeats until no
  new one appears (a forking process cannot outrun it), SIGKILLs them all, and
  exits.

Should the guardian itself die, the next worker start notices (a pidfd of
the guardian, polled without waiting) and forks a new one first, which is
told every group still alive.
"""

from __future__ import annotations

import _signal as signal  # `signal` imports enum: ~4 ms of cold start
import fcntl
import os
from select import POLLIN, poll

# Everything the guardian's child side needs is imported here, before any
# fork: importing in a child forked from a threaded process (a test runner)
# could wait forever on an import lock another thread held at the fork.
try:
    import _ctypes
except ImportError:  # pragma: no cover - CPython always has it
    _ctypes = None  # type: ignore[assignment]

__all__ = ["MARKER_VAR", "marker", "ensure", "watch", "unwatch", "guardian_pid", "sweep", "marked_processes"]

MARKER_VAR = "DISPATCHER_CONTAINMENT"
LATE_SWEEP_MS = 100  # the second sweep, after the supervisor ended
NAME = b"disp-guardian"  # its /proc/PID/comm (a fork shares the supervisor's command line)

_marker: str | None = None
_pid = 0  # the guardian's pid, 0 when none runs
_wfd = -1
_alive = None  # a poll() on the guardian's pidfd: readable once the guardian has ended
_pidfd = -1
_owner = 0  # the supervisor pid that started it (a forked worker child must not use it)
_groups: set[int] = set()


def marker() -> str:
    """This supervisor's containment id, put into every worker's environment."""
    global _marker
    if _marker is None:
        _marker = "%d-%s" % (os.getpid(), os.urandom(6).hex())
    return _marker


def guardian_pid() -> int:
    return _pid if _owner == os.getpid() else 0


def ensure() -> None:
    """Before a worker starts: make sure a guardian runs (in a process group
    of its own), so that nothing the worker starts can outlive us, whenever
    we die.  When one runs, a poll of its pidfd (~1 us) tells it is alive."""
    if _pid == 0 or _owner != os.getpid() or (_alive is not None and _alive.poll(0)):
        _start()


def watch(pgid: int) -> None:
    """A worker group started: tell the guardian (`ensure` made sure one runs).

    Should it have died since, a new one is started, told every group."""
    _groups.add(pgid)
    if _pid == 0 or _owner != os.getpid() or not _send(b"+%d\n" % pgid):
        _start()


def unwatch(pgid: int) -> None:
    """The worker was reaped: its group id may be reused, so the guardian forgets it."""
    _groups.discard(pgid)
    if _pid and _owner == os.getpid():
        _send(b"-%d\n" % pgid)


def _send(data: bytes) -> bool:
    global _pid
    try:
        os.write(_wfd, data)
        return True
    except BlockingIOError:
        return True  # a full pipe: the guardian is busy; the environment marker still finds the group's members
    except OSError:  # EPIPE: the guardian died
        _forget()
        return False


def _forget() -> None:
    global _pid, _wfd, _pidfd, _alive
    if _owner == os.getpid():  # a forked worker child's copies are not its own to close
        for fd in (_wfd, _pidfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
    _pid, _wfd, _pidfd, _alive = 0, -1, -1, None


def _start() -> None:
    global _pid, _wfd, _owner, _pidfd, _alive
    _forget()
    mark = marker()
    rfd, wfd = os.pipe()  # both close-on-exec: no worker inherits either end
    try:
        fcntl.fcntl(wfd, 1031, 1 << 20)  # F_SETPIPE_SZ: room for a second of notes at any rate
    except OSError:
        pass
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            try:
                os.setpgid(0, 0)
            except OSError:  # the supervisor did it first
                pass
            os.close(wfd)
            _guard(rfd, mark, parent)
        finally:
            os._exit(0)
    # Out of our process group before we go on (both sides do it: whichever
    # runs first): a kill of our group from now on spares it.  Waiting for the
    # child to do it (or setsid) would put its first scheduling, ~1.3 ms on
    # one CPU, before every first worker start.
    try:
        os.setpgid(pid, pid)
    except OSError:  # it did it itself already (or has exited: noticed at the next spawn)
        pass
    os.close(rfd)
    os.set_blocking(wfd, False)
    _pid, _wfd, _owner = pid, wfd, parent
    try:
        _pidfd = os.pidfd_open(pid)
        _alive = poll()
        _alive.register(_pidfd, POLLIN)
    except OSError:  # no pidfd: a dead guardian is noticed by a failed note (EPIPE), after the spawn
        _alive = None
    if _groups:
        _send(b"".join(b"+%d\n" % g for g in _groups))


# -- in the guardian process ----------------------------------------------------


def _guard(rfd: int, mark: str, parent: int) -> None:
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        pidfd = os.pidfd_open(parent)
    except OSError:
        pidfd = -1
    if os.getppid() != parent:  # the supervisor died before the pidfd was open
        pidfd = -1
    try:
        _ctypes.call_function(_ctypes.dlsym(_ctypes.dlopen(None, 0x102), "prctl"), (15, NAME + b"\0", 0, 0, 0))  # PR_SET_NAME
    except (OSError, AttributeError, TypeError):
        pass
    _hide_environment()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        if fd not in (rfd, pidfd):  # a supervisor started with stdin closed gave one of them number 0
            os.dup2(null, fd)
    keep = sorted({rfd, pidfd} - {-1})
    low = 3
    for fd in keep:
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, max(os.sysconf("SC_OPEN_MAX"), 1 << 16))

    os.set_blocking(rfd, False)
    waiter = poll()
    if pidfd >= 0:
        waiter.register(pidfd, POLLIN)
    groups: set[int] = set()
    pending = b""
    ended = pidfd < 0
    while True:
        while True:  # drain the notes
            try:
                data = os.read(rfd, 65536)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            if not data:
                ended = True  # no writer left: the supervisor is gone
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line[:1] == b"+":
                    groups.add(int(line[1:]))
                elif line[:1] == b"-":
                    groups.discard(int(line[1:]))
        if ended:
            break
        ended = bool(waiter.poll(1000))  # then drain once more: notes written before the end
    sweep(groups, mark)
    # Once more a moment later: a script the supervisor was starting with
    # posix_spawn when it died runs on, unmarked, until its exec (it shares
    # the supervisor's memory until then, environment included).
    poll().poll(LATE_SWEEP_MS)
    sweep(groups, mark)


def _hide_environment() -> None:
    """Blank what /proc/PID/environ shows of the guardian (the supervisor's
    environment, inherited through the fork): anything that finds processes by
    an environment value (the emulator's sandbox reset looks for
    AWS_LAMBDA_RUNTIME_API; tests look for their own marks) should not take
    the guardian for a worker.  os.environ, a copy, is untouched."""
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        fields = stat[stat.rfind(b")") + 2 :].split()
        start, end = int(fields[47]), int(fields[48])  # env_start, env_end (stat fields 50, 51)
        fd = os.open("/proc/self/mem", os.O_RDWR)
        try:
            os.pwrite(fd, bytes(end - start), start)
        finally:
            os.close(fd)
    except (OSError, ValueError, IndexError):
        pass


def marked_processes(mark: str) -> set[int]:
    """Live processes whose environment holds DISPATCHER_CONTAINMENT=`mark`."""
    needle = ("%s=%s\0" % (MARKER_VAR, mark)).encode()
    me = os.getpid()
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                if needle in f.read():
                    found.add(int(name))
        except OSError:
            continue
    return found


def _kill(pid: int, sig: int, group: bool = False) -> None:
    try:
        (os.killpg if group else os.kill)(pid, sig)
    except OSError:
        pass


def sweep(groups: set[int], mark: str) -> set[int]:
    """SIGKILL `groups` and every process marked with `mark`; the marked pids found."""
    for g in groups:
        _kill(g, signal.SIGKILL, group=True)
    frozen: set[int] = set()
    for _ in range(20):  # bounded: each round freezes everything found so far
        new = marked_processes(mark) - frozen
        if not new:
            break
        for p in new:
            _kill(p, signal.SIGSTOP)
        frozen |= new
    for p in frozen:
        _kill(p, signal.SIGKILL)
    for g in groups:
        _kill(g, signal.SIGKILL, group=True)
    return frozen
