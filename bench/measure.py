"""One measured run: a fresh Runtime API server, one contender against it.

`run_once` is the only place that starts contenders.  Each contender gets its
own session (so the supervisor and its worker are stopped together with one
killpg), its output goes to a log file (a full pipe would stall it), and any
way it can fail (exits, stalls, posts /init/error, answers wrongly) comes back
as a RunResult with the reason and the tail of its log, never as an exception.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.contenders import Launch
from bench.events import same_json
from bench.server import PIN, ApiServer, ServerError

STARTUP_TIMEOUT = 20.0  # generous: a first start may compile or warm caches


@dataclass
class RunResult:
    ok: bool
    stats: dict[str, Any] | None = None
    error: str | None = None
    cold_ms: float | None = None  # spawn -> first /response received
    rss_kb: int | None = None  # the contender's top process
    tree_rss_kb: int | None = None  # top process + descendants (supervisor + worker)
    cpu_s: dict[str, float] | None = None  # read_cpu: user/system seconds of the top process and of its children
    sched_ms: dict[str, float] | None = None  # read_sched: on-CPU and run-queue ms, minor faults, summed over the live process tree
    sched_tree: list[tuple[str, float, int]] | None = None  # read_sched: (comm, on-CPU ms, minor faults) of each process


@dataclass(frozen=True)
class Spec:
    """What to run: an event and when the server stops."""
    event: Path
    count: int = 0
    seconds: float = 0.0
    warmup: int = 0
    read_rss: bool = False
    check_answer: bool = True
    exact: bool = False  # the answer must equal the event byte for byte
    read_cpu: bool = False  # read /proc/<pid>/stat CPU times before stopping the contender
    read_sched: bool = False  # read /proc/<pid>/schedstat (ns) of the process tree before stopping it


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_bytes()[-8192:].decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _vm_rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cpu_s(pid: int) -> tuple[float, float] | None:
    """(user, system) seconds a live process has used, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick  # utime, stime (fields 14 and 15)


def _schedstat_ns(pid: int) -> tuple[int, int, int] | None:
    """(on-CPU ns, waiting on a run queue ns, minor page faults) of a live process, all its threads."""
    cpu = wait = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            fields = (task / "schedstat").read_text().split()
            cpu, wait = cpu + int(fields[0]), wait + int(fields[1])
        faults = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])  # minflt (field 10)
    except (OSError, IndexError, ValueError):
        return None
    return cpu, wait, faults


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        for k in kids:
            out.append(int(k))
            todo.append(int(k))
    return out


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the contender's whole session (supervisor and worker alike)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def run_once(launch: Launch, server_bin: Path, spec: Spec, *, pinned: bool, workdir: Path) -> RunResult:
    fd, log_name = tempfile.mkstemp(prefix="contender-", suffix=".log", dir=workdir)
    log_path = Path(log_name)
    last_body = workdir / "last-body"
    last_body.unlink(missing_ok=True)
    budget = STARTUP_TIMEOUT + (spec.seconds or 0) + 30 + spec.warmup * 0.01
    if spec.count and not spec.seconds:
        budget += spec.count * 0.1  # slow contenders (bash) run by count
    try:
        with ApiServer(server_bin, spec.event, pinned=pinned, count=spec.count, seconds=spec.seconds,
                       warmup=spec.warmup, dump_last=last_body if spec.check_answer else None) as server:
            env = dict(os.environ)
            for key in ("DISPATCHER_CONFIG", "AWS_LAMBDA_RUNTIME_API", "_HANDLER", "PYTHONSTARTUP"):
                env.pop(key, None)
            env.update(launch.env)
            env["AWS_LAMBDA_RUNTIME_API"] = server.address
            argv = (PIN if pinned else []) + launch.argv
            t0 = time.time_ns()
            try:
                proc = subprocess.Popen(argv, cwd=launch.cwd, env=env, stdin=subprocess.DEVNULL,
                                        stdout=fd, stderr=fd, start_new_session=True)
            except OSError as exc:
                return RunResult(False, error=f"cannot start {argv[0]}: {exc}")
            try:
                stats = server.wait_stats(budget, alive=lambda: proc.poll() is None)
                result = _judge(stats, proc, spec, last_body, log_path, t0)
                if result.ok and spec.read_rss:
                    result.rss_kb = _vm_rss_kb(proc.pid)
                    tree = [proc.pid] + _descendants(proc.pid)
                    sizes = [_vm_rss_kb(p) for p in tree]
                    result.tree_rss_kb = sum(s for s in sizes if s)
                if result.ok and spec.read_cpu:
                    top = _cpu_s(proc.pid)
                    kids = [c for c in map(_cpu_s, _descendants(proc.pid)) if c]
                    if top:
                        result.cpu_s = {"user": top[0], "system": top[1],
                                        "children_user": sum(c[0] for c in kids),
                                        "children_system": sum(c[1] for c in kids)}
                if result.ok and spec.read_sched:
                    tree = [proc.pid] + _descendants(proc.pid)
                    got = [s for s in map(_schedstat_ns, tree) if s]
                    result.sched_tree = [(_comm(p), s[0] / 1e6, s[2]) for p in tree if (s := _schedstat_ns(p))]
                    result.sched_ms = {"cpu": sum(s[0] for s in got) / 1e6, "wait": sum(s[1] for s in got) / 1e6,
                                       "faults": sum(s[2] for s in got)}
                return result
            finally:
                _stop(proc)
    except ServerError as exc:
        return RunResult(False, error=f"Runtime API server: {exc}")
    finally:
        os.close(fd)
        log_path.unlink(missing_ok=True)


def _judge(stats: dict[str, Any] | None, proc: subprocess.Popen[bytes], spec: Spec,
           last_body: Path, log_path: Path, t0: int) -> RunResult:
    def failed(why: str) -> RunResult:
        tail = _log_tail(log_path)
        return RunResult(False, stats, error=why + (f"\n--- output tail ---\n{tail}" if tail else ""))

    if stats is None:
        code = proc.poll()
        if code is not None:
            return failed(f"exited with status {code} before finishing the run")
        return failed("no result before the timeout (never called /next, or stopped answering)")
    if stats.get("init_error") is not None:
        return failed(f"posted /init/error: {stats['init_error']}")
    if stats.get("stalled"):
        return failed(f"stalled after {stats.get('count')} invocations (an invocation got no answer for 15 s)")
    if stats.get("errors"):
        return failed(f"{stats['errors']} of {stats['count']} invocations posted /error")
    if stats.get("count", 0) == 0:
        return failed("no invocation completed")
    if spec.check_answer:
        event = spec.event.read_bytes()
        answer = last_body.read_bytes() if last_body.exists() else b""
        if spec.exact and answer != event:
            return failed(f"answer is not the event byte for byte ({len(answer)} vs {len(event)} bytes)")
        if not same_json(event, answer):
            return failed(f"answer is not the event's JSON value: {answer[:200]!r}")
    cold = None
    if stats.get("first_response_unix_ns"):
        cold = (stats["first_response_unix_ns"] - t0) / 1e6
    return RunResult(True, stats, cold_ms=cold)
