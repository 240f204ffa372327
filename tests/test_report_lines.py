"""START/END/REPORT lines under `dispatcher invoke` (issue 12), with a Max
Memory Used measured from the runtime's process tree."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import run_cli
from dispatcher.emulator.report import billed_ms, report_line
from harness import write_config

REPORT = re.compile(
    r"^REPORT RequestId: (?P<rid>\S+)\tDuration: (?P<d>\d+\.\d\d) ms\tBilled Duration: (?P<b>\d+) ms\t"
    r"Memory Size: 3008 MB\tMax Memory Used: (?P<mem>\d+) MB\t(?:Init Duration: (?P<init>\d+\.\d\d) ms\t)?"
    r"(?:Status: (?P<status>\w+)\t(?:Error Type: (?P<etype>\S+)\t)?)?$"
)


def invoke(tmp_path: Path, event: dict, *args: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:  # type: ignore[type-arg]
    res = run_cli("invoke", "--config", str(write_config(tmp_path)), *args, json.dumps(event), env=env)
    return res.returncode, res.stderr.decode().splitlines()


def reports(lines: list[str]) -> list[re.Match[str]]:
    found = [REPORT.match(line) for line in lines if line.startswith("REPORT")]
    assert found and all(found), lines
    return found  # type: ignore[return-value]


def test_start_end_report_around_the_invocation(tmp_path: Path) -> None:
    code, lines = invoke(tmp_path, {"fault": "lines", "lines": ["inside"]}, "--repeat", "2")
    assert code == 0, lines
    first, second = reports(lines)
    rid = first["rid"]
    at = lines.index(f"START RequestId: {rid} Version: $LATEST")
    assert lines[at + 1] == f"{rid}\tinside"
    assert lines[at + 2] == f"END RequestId: {rid}"
    assert lines[at + 3].startswith(f"REPORT RequestId: {rid}\t")
    assert first["init"] is not None and second["init"] is None  # Init Duration on the first only
    assert int(first["b"]) == billed_ms(float(first["d"]), float(first["init"])) or int(first["b"]) >= float(first["d"])
    assert int(second["b"]) >= float(second["d"])
    assert any(line.startswith("dispatcher: 2 invocations, 0 failed; latency p50") for line in lines)  # --repeat's summary


def test_max_memory_used_moves_with_a_100_mb_allocation(tmp_path: Path) -> None:
    _, lines = invoke(tmp_path, {"fault": "echo"})
    (base,) = reports(lines)
    _, lines = invoke(tmp_path, {"fault": "grow", "mb": 100})
    (grown,) = reports(lines)
    assert int(base["mem"]) > 5  # a Python supervisor and worker: tens of MB, not 0 and not the memory size
    assert int(grown["mem"]) - int(base["mem"]) >= 95, (base["mem"], grown["mem"])


def test_function_error_report_has_no_status(tmp_path: Path) -> None:
    # The supervisor answers a hang itself (Sandbox.Timedout posted to /error
    # before the deadline): for Lambda that is a function error, and its REPORT
    # carries no Status (that is for the platform's own timeouts and resets).
    code, lines = invoke(tmp_path, {"fault": "hang"}, "--timeout", "1s")
    assert code == 1
    (rep,) = reports(lines)
    assert rep["status"] is None
    assert 900 <= float(rep["d"]) <= 1100


def test_json_format_gives_platform_records(tmp_path: Path) -> None:
    code, lines = invoke(tmp_path, {"fault": "lines", "lines": ["inside"]}, env={"AWS_LAMBDA_LOG_FORMAT": "JSON"})
    assert code == 0
    records = [json.loads(line) for line in lines]
    start = next(r for r in records if r.get("type") == "platform.start")
    report = next(r for r in records if r.get("type") == "platform.report")
    rid = start["record"]["requestId"]
    assert start["record"] == {"requestId": rid, "version": "$LATEST"}
    assert report["record"]["requestId"] == rid and report["record"]["status"] == "success"
    assert set(report["record"]["metrics"]) == {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB", "initDurationMs"}
    assert not any(line.startswith("END") for line in lines)


def test_report_line_format() -> None:
    assert report_line("r", 2.004, 128, 31) == (
        "REPORT RequestId: r\tDuration: 2.00 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 31 MB\t"
    )
    assert report_line("r", 1.0, 128, 31, 10.5, "exit", "Runtime.ExitError").endswith(
        "Init Duration: 10.50 ms\tStatus: error\tError Type: Runtime.ExitError\t"
    )
    assert billed_ms(1.0, None) == 1 and billed_ms(1.2, 2.0) == 4
