"""The platform's lines around each invoke: START, END and REPORT, as Lambda logs them.

    START RequestId: 5d6f... Version: $LATEST
    END RequestId: 5d6f...
    REPORT RequestId: 5d6f...\tDuration: 2.31 ms\tBilled Duration: 3 ms\tMemory Size: 3008 MB\tMax Memory Used: 31 MB\tInit Duration: 41.20 ms\t

Under `AWS_LAMBDA_LOG_FORMAT=JSON` they are Lambda's JSON platform records
(`platform.start`, `platform.report`; there is no END record in JSON).

Max Memory Used is measured, unlike the RIE (which repeats the memory size):
the sum of the peak resident set (VmHWM) of every live process of the
runtime's tree, kept as a running maximum over the runtime's life, as Lambda's
figure is the sandbox's peak so far.  Billed Duration is the duration plus the
init duration, rounded up to the millisecond (custom runtimes are billed for
init).  The formatting functions are pure; `Lifecycle` adds /proc and the write.
"""

from __future__ import annotations

import math
import os
import time

from .runtime import MEMORY_SIZE_MB, descendants

__all__ = ["Lifecycle", "start_line", "end_line", "report_line", "tree_peak_rss"]

_STATUS = {"timeout": "timeout", "exit": "error", "init_error": "error"}


def _now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def start_line(request_id: str, json: bool = False) -> str:
    if json:
        return '{"time":"%s","type":"platform.start","record":{"requestId":"%s","version":"$LATEST"}}' % (
            _now_iso(), request_id)
    return f"START RequestId: {request_id} Version: $LATEST"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def billed_ms(duration_ms: float, init_ms: float | None) -> int:
    return math.ceil(round(duration_ms + (init_ms or 0.0), 6))


def report_line(
    request_id: str,
    duration_ms: float,
    memory_mb: int,
    max_used_mb: int,
    init_ms: float | None = None,
    outcome: str = "success",
    error_type: str | None = None,
    json: bool = False,
) -> str:
    billed = billed_ms(duration_ms, init_ms)
    status = _STATUS.get(outcome)
    if json:
        metrics = '"durationMs":%.3f,"billedDurationMs":%d,"memorySizeMB":%d,"maxMemoryUsedMB":%d' % (
            duration_ms, billed, memory_mb, max_used_mb)
        if init_ms is not None:
            metrics += ',"initDurationMs":%.3f' % init_ms
        tail = '"status":"%s"' % (status or "success")
        if error_type and status:
            tail += ',"errorType":"%s"' % error_type.replace('"', "'")
        return '{"time":"%s","type":"platform.report","record":{"requestId":"%s","metrics":{%s},%s}}' % (
            _now_iso(), request_id, metrics, tail)
    parts = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {billed} ms",
        f"Memory Size: {memory_mb} MB",
        f"Max Memory Used: {max_used_mb} MB",
    ]
    if init_ms is not None:
        parts.append(f"Init Duration: {init_ms:.2f} ms")
    if status:
        parts.append(f"Status: {status}")
        if error_type and status == "error":
            parts.append(f"Error Type: {error_type}")
    return "\t".join(parts) + "\t"


def _children(pid: int) -> list[int] | None:
    """Children of `pid` from /proc/PID/task/*/children (None when the kernel has no such file)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    kids: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                kids.extend(int(x) for x in f.read().split())
        except FileNotFoundError:
            return None
        except OSError:
            continue
    return kids


def _tree(pid: int) -> set[int]:
    found = {pid}
    stack = [pid]
    while stack:
        kids = _children(stack.pop())
        if kids is None:
            return {pid} | descendants(pid)  # no children files: walk all of /proc
        for k in kids:
            if k not in found:
                found.add(k)
                stack.append(k)
    return found


def tree_peak_rss(pid: int) -> int:
    """Sum of VmHWM (peak RSS) over `pid` and its live descendants, in bytes."""
    total = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmHWM:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError):
            continue
    return total


class Lifecycle:
    """Writes START/END/REPORT to an fd and keeps the runtime's peak memory."""

    def __init__(self, fd: int, json: bool = False, memory_mb: int = MEMORY_SIZE_MB) -> None:
        self.fd = fd
        self.json = json
        self.memory_mb = memory_mb
        self._pid: int | None = None
        self._peak = 0

    def _write(self, text: str) -> None:
        try:
            os.write(self.fd, (text + "\n").encode("utf-8", "replace"))
        except OSError:
            pass

    def measure(self, runtime_pid: int | None) -> int:
        """The peak so far, in MB; a new runtime (a reset sandbox) starts again from 0."""
        if runtime_pid is not None:
            if runtime_pid != self._pid:
                self._pid, self._peak = runtime_pid, 0
            self._peak = max(self._peak, tree_peak_rss(runtime_pid))
        return math.ceil(self._peak / (1024 * 1024))

    def start(self, request_id: str) -> None:
        self._write(start_line(request_id, self.json))

    def end(self, request_id: str, duration_ms: float, init_ms: float | None, outcome: str,
            error_type: str | None, runtime_pid: int | None) -> None:
        used = self.measure(runtime_pid)
        if not self.json:
            self._write(end_line(request_id))
        self._write(report_line(request_id, duration_ms, self.memory_mb, used, init_ms, outcome, error_type, self.json))
