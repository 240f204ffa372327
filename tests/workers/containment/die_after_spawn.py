"""Fault-injection driver for tests/test_containment.py: a stand-in supervisor
that is SIGKILLed at the worst moment of a worker start.

    die_after_spawn.py KIND HOW SCRIPT [guardian-killed | guardian-unscheduled]

It starts SCRIPT (exec.sh: a child and a setsid()ed grandchild, pids to
$PIDS) through the supervisor's own spawn path, `WorkerProcess` (KIND `exec`:
posix_spawn as the exec kind does, `fork`: fork+exec with PR_SET_PDEATHSIG as
the long-lived kinds do).  The fault: the moment the worker exists and the
spawn path tells the guardian about its group (`guardian.watch`), this process
waits for the script's descendants to exist, then SIGKILLs itself (HOW `pid`)
or its whole process group (HOW `group`, what an emulator's sandbox reset does).
Nothing the worker started may survive it.  With `guardian-killed`, the
guardian of an earlier spawn is SIGKILLed first (someone killed it): the
spawn must notice and start a new one before the worker exists.  With
`guardian-unscheduled`, the guardian's first instruction after its fork
waits until this process has died (as if the CPU had not run it yet): a
kill of our process group must not take it along.
"""

import os
import sys
import time

from dispatcher import guardian
from dispatcher.process import WorkerProcess

kind, how, script = sys.argv[1], sys.argv[2], sys.argv[3]
pids = os.environ["PIDS"]


def die(pgid: int) -> None:
    end = time.monotonic() + 20
    while time.monotonic() < end:  # the worker's descendants exist: the worst case
        if os.path.exists(pids) and len(open(pids).read().split()) >= 3:
            break
        time.sleep(0.01)
    if how == "group":
        os.killpg(os.getpgrp(), 9)
    os.kill(os.getpid(), 9)


if sys.argv[4:] == ["guardian-killed"]:
    guardian.ensure()
    old = guardian.guardian_pid()
    os.kill(old, 9)
    os.waitpid(old, 0)
if sys.argv[4:] == ["guardian-unscheduled"]:
    real_fork = os.fork

    def fork_and_hold() -> int:
        os.fork = real_fork
        held, holder = os.pipe()  # only we hold the write end: EOF once we are dead
        pid = real_fork()
        if pid == 0:
            os.close(holder)
            os.read(held, 1)
            os.close(held)
        else:
            os.close(held)
        return pid

    os.fork = fork_and_hold
guardian.watch = die
WorkerProcess([script], cwd=os.path.dirname(script), env=dict(os.environ), name="w", pdeathsig=(kind == "fork"))
sys.exit("the fault injection did not run")
