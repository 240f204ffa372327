"""Process containment: nothing a worker started outlives a SIGKILLed supervisor.

For each kind (msgpack, jsonl, exec) the worker, mid-invocation, has a child
in its own group and a setsid()ed grandchild that left the group; the test
SIGKILLs `dispatcher run` (started by the test itself, so no emulator clean-up
can help) and polls until every one of those processes is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, WORKERS, require_tool
from dispatcher import guardian
from dispatcher.emulator import Emulator, EmulatorClosedError
from harness import all_gone, pid_alive, read_pids

CONTAINMENT = WORKERS / "containment"
CONFIG = CONTAINMENT / "dispatcher.yaml"

pytestmark = pytest.mark.timeout(60)


def run_supervisor(tmp_path: Path, kind: str, address: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_LAMBDA_RUNTIME_API", "_HANDLER")}
    env.update(AWS_LAMBDA_RUNTIME_API=address, _HANDLER=kind, PIDS=str(tmp_path / "pids"), DISPATCHER_PYTHON=sys.executable)
    log = open(tmp_path / "supervisor.log", "wb")
    try:
        return subprocess.Popen([sys.executable, "-m", "dispatcher", "run", "--config", str(CONFIG)], env=env, stdout=log, stderr=log)
    finally:
        log.close()


def invoke_in_background(emu: Emulator) -> list[object]:
    """An invoke whose answer (or EmulatorClosedError, once the test closes the emulator) lands in the list."""
    out: list[object] = []

    def call() -> None:
        try:
            out.append(emu.invoke(b"{}"))
        except EmulatorClosedError as exc:
            out.append(exc)

    threading.Thread(target=call, daemon=True).start()
    return out


@pytest.mark.parametrize("kind", ["msgpack", "jsonl", "exec"])
def test_sigkilled_supervisor_leaves_no_worker_or_descendant(tmp_path: Path, kind: str) -> None:
    require_tool("setsid", "apt-get install util-linux")
    with Emulator(runtime_argv=[], function_timeout=30) as emu:
        sup = run_supervisor(tmp_path, kind, emu.address)
        outcome = invoke_in_background(emu)
        try:
            pids = read_pids(tmp_path / "pids", 3, timeout=20)
            assert all(pid_alive(p) for p in pids), pids
            sup.kill()  # SIGKILL mid-invocation
            sup.wait(5)
            left = all_gone(pids, timeout=5)
            assert not left, f"{kind}: still alive after the supervisor was SIGKILLed: {left}"
        finally:
            if sup.poll() is None:
                sup.kill()
                sup.wait(5)
    deadline = time.monotonic() + 10
    while not outcome and time.monotonic() < deadline:
        time.sleep(0.01)
    assert outcome, "the invoke should have ended with the emulator"


def test_guardian_forgets_reaped_groups_and_exits_with_the_supervisor(tmp_path: Path) -> None:
    """Normal runs: the guardian is one long-lived child, it is not killed by the
    supervisor's own orphan reaping, and it is gone once the supervisor is."""
    with Emulator(runtime_argv=[], function_timeout=30) as emu:
        sup = run_supervisor(tmp_path, "exec", emu.address)
        try:
            invoke_in_background(emu)
            read_pids(tmp_path / "pids", 3, timeout=20)  # the script runs: the guardian is being started
            guard = _one_guardian(sup.pid)
            assert os.getpgid(guard) == guard != os.getpgid(sup.pid)  # a kill of the supervisor's group spares it
        finally:
            sup.send_signal(signal.SIGTERM)
            sup.wait(10)
        assert not all_gone([guard], timeout=5)


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def _comm(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read().strip()
    except OSError:  # gone meanwhile
        return b""


def test_sweep_kills_marked_processes_and_groups(tmp_path: Path) -> None:
    """The guardian's sweep on its own: a process found only by its mark, one
    found only by its group; a stranger with neither survives."""
    mark = "test-" + os.urandom(4).hex()
    marked = subprocess.Popen(["sleep", "300"], env=dict(os.environ, **{guardian.MARKER_VAR: mark}), start_new_session=True)
    grouped = subprocess.Popen(["sleep", "300"], start_new_session=True)
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        found = guardian.sweep({grouped.pid}, mark)
        assert found == {marked.pid}
        assert marked.wait(5) == -signal.SIGKILL
        assert grouped.wait(5) == -signal.SIGKILL
        assert stranger.poll() is None
    finally:
        for p in (marked, grouped, stranger):
            p.kill()
            p.wait()


def test_a_killed_guardian_is_replaced_at_the_next_spawn(tmp_path: Path) -> None:
    """Someone kills the guardian: the next worker start forks a new one, which
    still sweeps everything when the supervisor is SIGKILLed."""
    require_tool("setsid", "apt-get install util-linux")
    pids_file = tmp_path / "pids"
    with Emulator(runtime_argv=[], function_timeout=2) as emu:
        sup = run_supervisor(tmp_path, "exec", emu.address)
        try:
            first = emu.invoke(b"{}")  # the script hangs: the supervisor answers at the deadline, kills its group
            assert first.error_type == "Sandbox.Timedout", first
            old = [_one_guardian(sup.pid)]
            os.kill(old[0], signal.SIGKILL)
            assert not all_gone(old, timeout=5)
            pids_file.write_text("")
            invoke_in_background(emu)
            pids = read_pids(pids_file, 3, timeout=20)
            new = [_one_guardian(sup.pid)]
            assert new != old
            sup.kill()
            sup.wait(5)
            assert not all_gone(pids + new, timeout=5), "a process outlived the supervisor"
        finally:
            if sup.poll() is None:
                sup.kill()
                sup.wait(5)


def _one_guardian(pid: int, timeout: float = 10.0) -> int:
    """The supervisor's guardian, polled for: it is forked just after the first
    worker spawn, and names itself a moment later."""
    end = time.monotonic() + timeout
    while True:
        kids = _children(pid)
        found = [p for p in kids if _comm(p) == guardian.NAME and pid_alive(p)]
        if len(found) == 1:
            return found[0]
        assert time.monotonic() < end, f"no single guardian among the supervisor's children {kids}: {[_comm(p) for p in kids]}"
        time.sleep(0.01)


@pytest.mark.parametrize(
    "kind,how,extra",
    [
        ("exec", "pid", []),
        ("exec", "group", []),
        ("fork", "pid", []),
        ("fork", "group", []),
        ("exec", "pid", ["guardian-killed"]),
        ("exec", "group", ["guardian-unscheduled"]),
    ],
    ids=["exec-pid", "exec-group", "fork-pid", "fork-group", "exec-pid-guardian-killed", "exec-group-guardian-unscheduled"],
)
def test_supervisor_killed_right_after_a_spawn_leaves_nothing(tmp_path: Path, kind: str, how: str, extra: list[str]) -> None:
    """The guardian is in place (its own process group, watching us) before any worker
    exists: a supervisor SIGKILLed the moment a worker has started, before it
    told the guardian anything (fault injection in die_after_spawn.py), by pid
    or with its whole process group, leaves no worker and no descendant; also
    when the guardian of an earlier spawn had been killed (a new one is
    started before the worker, not after it), and when the guardian had not
    been scheduled yet at all when the group was killed (it is out of the
    group from the moment its fork returns)."""
    require_tool("setsid", "apt-get install util-linux")
    pids_file = tmp_path / "pids"
    env = dict(os.environ, PIDS=str(pids_file), PYTHONPATH=str(ROOT))
    driver = subprocess.Popen(
        [sys.executable, str(CONTAINMENT / "die_after_spawn.py"), kind, how, str(CONTAINMENT / "exec.sh"), *extra],
        env=env, start_new_session=True, stderr=subprocess.PIPE,
    )
    _, err = driver.communicate(timeout=30)
    assert driver.returncode == -signal.SIGKILL, f"the driver should have been SIGKILLed: {driver.returncode} {err!r}"
    pids = read_pids(pids_file, 3, timeout=5)
    left = all_gone(pids, timeout=5)
    for p in left:  # clean up before failing
        os.kill(p, signal.SIGKILL)
    assert not left, f"{kind}, killed by {how}: still alive after the supervisor was SIGKILLed: {left}"
