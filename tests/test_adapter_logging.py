"""Each adapter's usual logging under Text and JSON format and AWS_LAMBDA_LOG_LEVEL
(issue 12), read back from the real supervisor's output.  This file: Python."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from conftest import WORKERS
from harness import Function, write_config
from test_rust_adapter import rust_build  # noqa: F401 (the session fixture: one build for both files)

PYFUNC = WORKERS / "pyfunc"
NBSP = "\u00a0"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def run_python(tmp_path: Path, env: dict[str, str], event: dict) -> tuple[str, str]:  # type: ignore[type-arg]
    cfg = write_config(tmp_path, [sys.executable, "-m", "dispatcher_worker", "logging_app:handler"], cwd=str(PYFUNC))
    fn = Function(tmp_path, cfg, env=env)
    try:
        res = fn.invoke(event)
    finally:
        fn.close()
    return res.request_id, fn.log_path.read_bytes().decode()


def line_of(text: str) -> int:
    """The line number of `text` in logging_app.py."""
    lines = (PYFUNC / "logging_app.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def text_lines(log: str, rid: str) -> list[str]:
    """This invocation's lines in Text format: the supervisor's `<rid>\t` prefix
    taken off; an adapter record names the request id itself and has none."""
    out = []
    for line in log.split("\n"):
        if line.startswith(rid + "\t"):
            out.append(line[len(rid) + 1 :])
        elif rid in line:
            out.append(line)
    return out


def records(log: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in log.split("\n") if line]


def test_python_text_format(tmp_path: Path) -> None:
    rid, log = run_python(tmp_path, {}, {"fail": True})
    lines = text_lines(log, rid)
    text = re.compile(r"^\[(\w+)\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t" + rid + r"\t(.*)$", re.S)
    logged = [(m[1], m[2]) for m in map(text.match, lines) if m]
    # the root logger stays at WARNING without AWS_LAMBDA_LOG_LEVEL, as on Lambda
    # (the module's logging.basicConfig() is a no-op: no second handler, no bare lines)
    assert logged[0] == ("WARNING", "warning from the root logger")
    assert "warning from the root logger" not in lines
    assert logged[1] == ("ERROR", "two\rlines")  # one record: \r marks the newline
    assert logged[2][0] == "ERROR" and logged[2][1].startswith("caught\rTraceback (most recent call last):\r")
    assert "printed to stdout" in lines and "printed to stderr" in lines
    error = [line for line in lines if line.startswith("[ERROR] ValueError")]
    assert len(error) == 1
    parts = error[0].split("\r")
    assert parts[0] == "[ERROR] ValueError: handler failed"
    assert parts[1] == "Traceback (most recent call last):"
    assert parts[2].startswith(NBSP * 2 + 'File "') and parts[2].endswith(", in handler")


def test_python_json_format(tmp_path: Path) -> None:
    rid, log = run_python(tmp_path, {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "DEBUG"}, {"fail": True})
    recs = [r for r in records(log) if r.get("requestId") == rid]
    by_msg = {r.get("message"): r for r in recs}
    assert list(by_msg["debug line"]) == ["timestamp", "level", "message", "logger", "requestId"]  # awslambdaric's order
    assert by_msg["debug line"]["level"] == "DEBUG" and by_msg["debug line"]["logger"] == "app"
    assert STAMP.match(by_msg["debug line"]["timestamp"])
    assert by_msg["info line"]["level"] == "INFO"
    assert by_msg["warning from the root logger"]["level"] == "WARNING"
    assert by_msg["with extra"]["order"] == 42
    assert by_msg["two\nlines"]["level"] == "ERROR"
    caught = by_msg["caught"]
    assert caught["errorType"] == "ZeroDivisionError" and caught["stackTrace"] and caught["location"].endswith(f"logging_app.py:handler:{line_of('logger.exception')}")
    assert by_msg["printed to stdout"]["level"] == "INFO"  # wrapped by the supervisor
    (error,) = [r for r in recs if r.get("errorType") == "ValueError"]
    assert list(error) == ["timestamp", "level", "errorMessage", "errorType", "requestId", "stackTrace"]
    assert error["level"] == "ERROR" and error["errorMessage"] == "handler failed"
    assert any("raise ValueError" in frame for frame in error["stackTrace"])  # the traceback: one record


@pytest.mark.parametrize("level, expected", [("WARN", {"WARNING", "ERROR"}), ("ERROR", {"ERROR"}), ("TRACE", {"DEBUG", "INFO", "WARNING", "ERROR"})])
def test_python_json_levels(tmp_path: Path, level: str, expected: set[str]) -> None:
    rid, log = run_python(tmp_path, {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": level}, {})
    recs = [r for r in records(log) if r.get("requestId") == rid]
    assert {r["level"] for r in recs if "logger" in r} == expected
    # print() lines are INFO records: dropped below INFO, as Lambda drops them
    assert any(r.get("message") == "printed to stdout" for r in recs) == ("INFO" in expected)


# -- Node -----------------------------------------------------------------------
NODE_LEVELS = ["TRACE", "DEBUG", "INFO", "INFO", "WARN", "ERROR", "INFO", "ERROR"]


def run_node(tmp_path: Path, env: dict[str, str], event: dict) -> tuple[str, str]:  # type: ignore[type-arg]
    from test_node_adapter import BIN, FIXTURES, NODE_HINT

    from conftest import require_tool

    node = require_tool("node", NODE_HINT)
    cfg = write_config(tmp_path, [node, str(BIN), "./logging.mjs#handler"], cwd=str(FIXTURES))
    fn = Function(tmp_path, cfg, env=env)
    try:
        res = fn.invoke(event)
    finally:
        fn.close()
    return res.request_id, fn.log_path.read_bytes().decode()


def test_node_text_format(tmp_path: Path) -> None:
    rid, log = run_node(tmp_path, {}, {"fail": True})
    lines = text_lines(log, rid)
    rec = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t" + rid + r"\t([A-Z]+)\t(.*)$", re.S)
    got = [(m[1], m[2]) for m in map(rec.match, lines) if m]
    assert [lvl for lvl, _ in got[:8]] == NODE_LEVELS
    assert got[3][1] == "log line 7"
    assert got[6][1] == "two\rlines"  # one record, \r marks the newline
    assert got[7][1].startswith("with an error TypeError: inner\r    at ")
    level, text = got[8]
    assert level == "ERROR" and text.startswith("Invoke Error \t")
    err = json.loads(text.split("\t", 1)[1].replace("\r", "\n"))
    assert (err["errorType"], err["errorMessage"], err["code"]) == ("RangeError", "handler failed", "E_RANGE")
    assert err["stack"][0] == "RangeError: handler failed"


def test_node_json_format(tmp_path: Path) -> None:
    rid, log = run_node(tmp_path, {"AWS_LAMBDA_LOG_FORMAT": "JSON"}, {"fail": True})
    recs = [r for r in records(log) if r.get("requestId") == rid]
    assert [r["level"] for r in recs[:8]] == NODE_LEVELS
    assert list(recs[0]) == ["timestamp", "level", "requestId", "message"]
    assert STAMP.match(recs[0]["timestamp"])
    assert recs[6]["message"] == "two\nlines"
    assert recs[7]["errorType"] == "TypeError" and recs[7]["errorMessage"] == "inner" and recs[7]["stackTrace"]
    error = recs[8]
    assert error["level"] == "ERROR"
    assert error["message"]["errorType"] == "RangeError" and error["message"]["errorMessage"] == "handler failed"
    assert error["message"]["stackTrace"][0] == "RangeError: handler failed"


@pytest.mark.parametrize("level, expected", [("WARN", ["WARN", "ERROR", "ERROR"]), ("ERROR", ["ERROR", "ERROR"])])
def test_node_json_levels(tmp_path: Path, level: str, expected: list[str]) -> None:
    rid, log = run_node(tmp_path, {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": level}, {})
    assert [r["level"] for r in records(log) if r.get("requestId") == rid] == expected


# -- Rust -------------------------------------------------------------------------
RUST_LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]


def run_rust(tmp_path: Path, behaviours: Path, env: dict[str, str], event: dict) -> tuple[str, str]:  # type: ignore[type-arg]
    cfg = write_config(tmp_path, [str(behaviours)])
    fn = Function(tmp_path, cfg, env=env)
    try:
        res = fn.invoke(event)
    finally:
        fn.close()
    return res.request_id, fn.log_path.read_bytes().decode()


def test_rust_text_format(tmp_path: Path, rust_build) -> None:  # type: ignore[no-untyped-def]
    rid, log = run_rust(tmp_path, rust_build.behaviours, {}, {"do": "log"})
    lines = text_lines(log, rid)
    rec = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t" + rid + r"\t([A-Z]+)\t(.*)$", re.S)
    got = [(m[1], m[2]) for m in map(rec.match, lines) if m]
    assert [lvl for lvl, _ in got] == RUST_LEVELS
    assert got[2][1] == "info line 7" and got[4][1] == "two\rlines"
    assert "eprintln line" in lines
    rid, log = run_rust(tmp_path, rust_build.behaviours, {}, {"do": "handler_error"})
    (error,) = [line for line in text_lines(log, rid) if "\tERROR\tInvoke Error \t" in line]
    doc = json.loads(error.split("Invoke Error \t", 1)[1])
    assert (doc["errorType"], doc["errorMessage"]) == ("InvalidOrder", "order has no items")


def test_rust_json_format(tmp_path: Path, rust_build) -> None:  # type: ignore[no-untyped-def]
    rid, log = run_rust(tmp_path, rust_build.behaviours, {"AWS_LAMBDA_LOG_FORMAT": "JSON"}, {"do": "log"})
    recs = [r for r in records(log) if r.get("requestId") == rid]
    assert [r["level"] for r in recs if "target" in r] == RUST_LEVELS
    assert list(recs[0]) == ["timestamp", "level", "requestId", "message", "target"]
    assert STAMP.match(recs[0]["timestamp"]) and recs[0]["target"] == "behaviours"
    assert recs[4]["message"] == "two\nlines"
    assert {"level": "INFO", "message": "eprintln line"}.items() <= recs[5].items()  # wrapped by the supervisor
    rid, log = run_rust(tmp_path, rust_build.behaviours, {"AWS_LAMBDA_LOG_FORMAT": "JSON"}, {"do": "panic"})
    (error,) = [r for r in records(log) if r.get("requestId") == rid and isinstance(r.get("message"), dict)]
    assert error["level"] == "ERROR" and error["message"]["errorType"] == "Panic"
    assert error["message"]["errorMessage"] == "deliberate panic" and error["message"]["stackTrace"]


def test_rust_json_level(tmp_path: Path, rust_build) -> None:  # type: ignore[no-untyped-def]
    env = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"}
    rid, log = run_rust(tmp_path, rust_build.behaviours, env, {"do": "log"})
    assert [r["level"] for r in records(log) if r.get("requestId") == rid] == ["WARN", "ERROR"]  # eprintln's INFO dropped too


# -- PHP ---------------------------------------------------------------------------
def run_php(tmp_path: Path, env: dict[str, str], event: dict) -> tuple[str, str]:  # type: ignore[type-arg]
    from test_php_adapter import FIXTURES as PHP_FIXTURES
    from test_php_adapter import PHP_HINT, WORKER

    from conftest import require_tool

    php = require_tool("php", PHP_HINT)
    cfg = write_config(tmp_path, [php, str(WORKER), str(PHP_FIXTURES / "logging.php")])
    fn = Function(tmp_path, cfg, env=env)
    try:
        res = fn.invoke(event)
    finally:
        fn.close()
    return res.request_id, fn.log_path.read_bytes().decode()


def test_php_text_format(tmp_path: Path) -> None:
    rid, log = run_php(tmp_path, {}, {"fail": True})
    lines = text_lines(log, rid)
    assert lines[:3] == ["error_log line", "fwrite line", "two"]  # error_log and fwrite: as written
    assert any(line.startswith("PHP Warning:  a user warning in ") for line in lines)  # PHP's own line in Text
    (error,) = [line for line in lines if "\tERROR\tInvoke Error \t" in line]
    doc = json.loads(error.split("Invoke Error \t", 1)[1].replace("\r", "\n"))
    assert (doc["errorType"], doc["errorMessage"]) == ("DomainException", "handler failed")
    assert doc["stackTrace"][0].startswith("at ") and doc["stackTrace"][0].endswith("logging.php:19")


def test_php_json_format(tmp_path: Path) -> None:
    rid, log = run_php(tmp_path, {"AWS_LAMBDA_LOG_FORMAT": "JSON"}, {"fail": True})
    recs = [r for r in records(log) if r.get("requestId") == rid]
    assert [(r["level"], r["message"]) for r in recs[:5]] == [
        ("INFO", "error_log line"), ("INFO", "fwrite line"), ("INFO", "two"), ("INFO", "lines"),
        ("WARN", recs[4]["message"]),
    ]
    assert recs[4]["message"].startswith("a user warning in ") and recs[4]["message"].endswith("logging.php on line 16")
    assert recs[5]["level"] == "INFO" and recs[5]["message"].startswith("a user notice in ")
    assert list(recs[4]) == ["timestamp", "level", "requestId", "message"] and STAMP.match(recs[4]["timestamp"])
    error = recs[6]
    assert error["level"] == "ERROR" and error["message"]["errorType"] == "DomainException"
    assert error["message"]["errorMessage"] == "handler failed" and error["message"]["stackTrace"]


def test_php_json_level(tmp_path: Path) -> None:
    rid, log = run_php(tmp_path, {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"}, {"fail": True})
    assert [r["level"] for r in records(log) if r.get("requestId") == rid] == ["WARN", "ERROR"]
