"""Issue #5: event payloads never reach the supervisor's log.

A recognizable secret rides in every event, through every path an event can
take (success, worker error, marshal error, oversized result, crash, crash
with a stderr tail, timeout, each kind of protocol error, a crash loop), and
the secret must never appear in what the runtime writes to its stdout and
stderr.  The worker itself never logs the event, so any occurrence is the
supervisor's doing.  Error documents posted to /error may carry what the
*worker* put in its error message (the caller sees it; the log does not).
"""

from __future__ import annotations

import time
from pathlib import Path

from test_faults import error_doc, run  # noqa: F401 - `run` is the fixture

SECRET = "s3cr3t-Payload-7f1c2e"


def test_secret_never_in_supervisor_log(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    control = tmp_path / "start"
    control.write_text("")
    fn = run(env={"FAULTY_START_FILE": str(control)}, timeout_margin="100ms", shutdown_grace="200ms")

    def invoke(fault: str | None = None, timeout: float | None = None, **extra: object):  # type: ignore[no-untyped-def]
        event: dict[str, object] = {"secret": SECRET, **extra}
        if fault:
            event["fault"] = fault
        return fn.invoke(event, timeout=timeout)

    outcomes = {}
    res = invoke()
    assert res.outcome == "success" and SECRET.encode() in res.body  # the caller gets it back
    outcomes["echo"] = "success"
    res = invoke("error_echo")
    doc = error_doc(res)
    assert SECRET in doc["errorMessage"]  # the worker put the event in its message; the caller sees it
    outcomes["error_echo"] = doc["errorType"]
    for fault in ("error", "result_nan", "big_result", "slow_frame", "two_replies", "print_after_reply"):
        outcomes[fault] = invoke(fault).outcome
    for fault in ("zero_length", "huge_length", "not_map", "no_type", "unknown_type", "wrong_id", "print", "close_stdout"):
        outcomes[fault] = error_doc(invoke(fault))["errorType"]
    outcomes["exit"] = error_doc(invoke("exit", code=3))["errorType"]
    outcomes["signal"] = error_doc(invoke("signal", sig="SIGSEGV"))["errorType"]
    outcomes["hang"] = error_doc(invoke("hang", timeout=0.4))["errorType"]
    outcomes["half_frame"] = error_doc(invoke("half_frame", timeout=0.4))["errorType"]
    # A crash loop: start errors are logged; the events answered with them are not.
    control.write_text("exit_before_ready")
    for _ in range(3):
        outcomes.setdefault("crash_loop", []).append(error_doc(invoke("exit", code=1))["errorType"])  # type: ignore[union-attr]
    control.write_text("")
    end = time.monotonic() + 10
    res = invoke()
    while res.outcome != "success" and time.monotonic() < end:  # still backing off
        res = invoke()
    assert res.outcome == "success"
    assert outcomes["zero_length"] == outcomes["wrong_id"] == "Runtime.ProtocolError", outcomes
    assert outcomes["hang"] == "Sandbox.Timedout", outcomes
    logs = fn.logs()
    assert "[dispatcher]" in logs  # the supervisor did log (worker replacements, start failures)
    assert SECRET not in logs, "an event payload reached the log:\n" + "\n".join(
        line for line in logs.splitlines() if SECRET in line
    )
    st = fn.emu.stats
    assert st.handed_out == st.answered
