"""Log formats (issue 12): Text and JSON records, AWS_LAMBDA_LOG_LEVEL, and the
telemetry fd, for the supervisor's own lines and for lines it forwards.

The pure functions of dispatcher/logformat.py are checked with tables; the
rest runs the real supervisor (through the emulator, or started by the test
when it must hold a pipe for _LAMBDA_TELEMETRY_LOG_FD) with the hand-written
test worker writing exactly the stderr lines an event asks for.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dispatcher import logformat as lf
from dispatcher.emulator import Emulator
from harness import Function, write_config

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NOW = 1767225600.25  # 2026-01-01T00:00:00.250Z


# -- sans-IO ------------------------------------------------------------------
def test_timestamp_is_rfc3339_with_milliseconds() -> None:
    assert lf.timestamp(NOW) == "2026-01-01T00:00:00.250Z"
    assert lf.timestamp(NOW + 1.999) == "2026-01-01T00:00:02.249Z"


def test_plain_line_is_wrapped_in_node_field_order() -> None:
    rec, rank = lf.json_forward(b"hello \"world\"", "rid-1", NOW)
    assert rank == lf.INFO
    assert rec == b'{"timestamp":"2026-01-01T00:00:00.250Z","level":"INFO","requestId":"rid-1","message":"hello \\"world\\""}'
    assert list(json.loads(rec)) == ["timestamp", "level", "requestId", "message"]


def test_multi_line_record_marked_with_cr_becomes_one_message() -> None:
    rec, _ = lf.json_forward(b"Traceback:\r  File x\r    boom", "r", NOW)
    assert json.loads(rec)["message"] == "Traceback:\n  File x\n    boom"


@pytest.mark.parametrize(
    "line, rid, expected, rank",
    [
        # already a JSON object: passed through, requestId appended when missing
        (b'{"level":"warn","msg":"x"}', "r1", {"level": "warn", "msg": "x", "requestId": "r1"}, 4),
        (b'{"requestId":"mine","level":"ERROR"}', "r1", {"requestId": "mine", "level": "ERROR"}, 5),
        (b"{}", "r1", {"requestId": "r1"}, 3),
        (b'{"level":"debug"}', None, {"level": "debug"}, 2),
        (b'{"level":"verbose"}', "r", {"level": "verbose", "requestId": "r"}, 3),  # unknown level: INFO
        (b'{"level":"CRITICAL"}', "r", {"level": "CRITICAL", "requestId": "r"}, 6),
        (b'{"level":"WARNING"}  ', "r", {"level": "WARNING", "requestId": "r"}, 4),
    ],
)
def test_json_object_passes_through(line: bytes, rid: str | None, expected: dict, rank: int) -> None:  # type: ignore[type-arg]
    rec, got_rank = lf.json_forward(line, rid, NOW)
    assert json.loads(rec) == expected
    assert got_rank == rank
    assert rec.count(b'"requestId"') == 1 or rid is None


@pytest.mark.parametrize("line", [b"{not json}", b"[1, 2]", b'"a string"', b"{\"a\": 1} trailing", b"{\xff}"])
def test_anything_else_is_wrapped_never_passed_through(line: bytes) -> None:
    rec, rank = lf.json_forward(line, "r", NOW)
    doc = json.loads(rec)
    assert doc["level"] == "INFO" and rank == lf.INFO
    assert doc["message"] == line.decode("utf-8", "replace")


def test_frames_carry_type_length_timestamp() -> None:
    data = lf.frame(True, 5, b"payload", NOW)
    kind, length, ts = struct.unpack(">IIQ", data[:16])
    assert (kind, length, ts, data[16:]) == (0xA55A0016, 7, int(NOW * 1_000_000), b"payload")
    # awslambdaric's constants: Text INFO 0xA55A000F, JSON WARN 0xA55A0012, Text unknown level 0xA55A0003
    assert struct.unpack(">I", lf.frame(False, 3, b"", NOW)[:4])[0] == 0xA55A000F
    assert struct.unpack(">I", lf.frame(True, 4, b"", NOW)[:4])[0] == 0xA55A0012
    assert struct.unpack(">I", lf.frame(False, 0, b"", NOW)[:4])[0] == 0xA55A0003


def test_text_record_naming_the_request_id_is_not_prefixed_twice() -> None:
    assert lf.text_line(b"plain", "r-1") == b"r-1\tplain"
    assert lf.text_line(b"[INFO]\t2026-01-01T00:00:00.000Z\tr-1\tmsg", "r-1") == b"[INFO]\t2026-01-01T00:00:00.000Z\tr-1\tmsg"
    assert lf.text_line(b"plain", None) == b"plain"


@pytest.mark.parametrize(
    "env, is_json, min_rank",
    [
        ({}, False, 0),
        ({"AWS_LAMBDA_LOG_FORMAT": "json"}, True, 0),
        ({"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "warn"}, True, 4),
        ({"AWS_LAMBDA_LOG_FORMAT": "Text", "AWS_LAMBDA_LOG_LEVEL": "ERROR"}, False, 0),  # JSON only
        ({"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "bogus"}, True, 0),
    ],
)
def test_format_from_environment(env: dict[str, str], is_json: bool, min_rank: int) -> None:
    fmt = lf.LogFormat.from_env(env)
    assert (fmt.json, fmt.min_rank) == (is_json, min_rank)


# -- the real supervisor ---------------------------------------------------------
LINES = [
    "plain text line",
    '{"level":"DEBUG","message":"debug detail"}',
    '{"level":"WARN","message":"a warning"}',
    '{"level":"ERROR","message":"it failed","requestId":"set-by-the-function"}',
    "Traceback (most recent call last):\r  File \"x.py\", line 1\rValueError: boom",
]


def run_lines(tmp_path: Path, env: dict[str, str], lines: list[str] = LINES) -> tuple[str, str]:
    fn = Function(tmp_path, write_config(tmp_path), env=env)
    try:
        res = fn.invoke({"fault": "lines", "lines": lines})
        assert res.ok, res.body
        # a worker that breaks the protocol is replaced: the supervisor says so (WARN)
        rid = res.request_id
        fn.invoke({"fault": "print"})
    finally:
        fn.close()
    return rid, fn.log_path.read_bytes().decode()


def test_text_format_is_unchanged(tmp_path: Path) -> None:
    rid, log = run_lines(tmp_path, {"AWS_LAMBDA_LOG_LEVEL": "ERROR"})  # the level applies to JSON only
    for line in LINES:
        assert f"{rid}\t{line}\n" in log


def test_json_format_every_line_is_a_record(tmp_path: Path) -> None:
    rid, log = run_lines(tmp_path, {"AWS_LAMBDA_LOG_FORMAT": "JSON", "DISPATCHER_LOG_LEVEL": "info"})
    records = [json.loads(line) for line in log.split("\n") if line]  # every line parses
    mine = [r for r in records if r.get("requestId") == rid]
    assert [r.get("message") for r in mine] == [
        "plain text line", "debug detail", "a warning",
        "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom",
    ]
    assert list(mine[0]) == ["timestamp", "level", "requestId", "message"]
    assert STAMP.match(mine[0]["timestamp"])
    assert {"level": "ERROR", "message": "it failed", "requestId": "set-by-the-function"} in records
    own = [r for r in records if r.get("logger") == "dispatcher"]
    assert own and all(STAMP.match(r["timestamp"]) and r["level"] in ("INFO", "WARN", "ERROR") for r in own)
    assert any("replacing" in r["message"] and r["level"] == "WARN" for r in own), own
    assert any(r["message"] == "stopped" and r["level"] == "INFO" for r in own)


def test_json_level_filters_worker_and_supervisor_lines(tmp_path: Path) -> None:
    rid, log = run_lines(
        tmp_path, {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN", "DISPATCHER_LOG_LEVEL": "info"}
    )
    records = [json.loads(line) for line in log.split("\n") if line]
    levels = {r.get("level") for r in records}
    assert levels <= {"WARN", "ERROR"}, levels
    assert [r["message"] for r in records if r.get("requestId") == rid] == ["a warning"]
    assert any(r.get("logger") == "dispatcher" and r["message"].startswith("replacing worker") for r in records)
    assert not any(r.get("message") == "stopped" for r in records)  # INFO: below WARN


# -- the telemetry fd -------------------------------------------------------------
def read_frames(data: bytes) -> list[tuple[int, int, bytes]]:
    frames = []
    while data:
        assert len(data) >= 16, f"truncated frame header: {data!r}"
        kind, length, ts = struct.unpack(">IIQ", data[:16])
        assert len(data) >= 16 + length, "truncated frame payload"
        frames.append((kind, ts, data[16 : 16 + length]))
        data = data[16 + length :]
    return frames


@pytest.mark.parametrize("fmt", ["Text", "JSON"])
def test_telemetry_fd_one_frame_per_record(tmp_path: Path, fmt: str) -> None:
    r, w = os.pipe()
    collected = bytearray()

    def drain() -> None:
        while chunk := os.read(r, 65536):
            collected.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    config = write_config(tmp_path)
    stderr_path = tmp_path / "stderr.log"
    with Emulator(runtime_argv=[], task_root=str(tmp_path)) as emu:
        env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
        env.update({
            "AWS_LAMBDA_RUNTIME_API": emu.address, "_LAMBDA_TELEMETRY_LOG_FD": str(w),
            "AWS_LAMBDA_LOG_FORMAT": fmt, "DISPATCHER_LOG_LEVEL": "info",
        })
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dispatcher", "run", "--config", str(config)],
                env=env, pass_fds=(w,), stdout=err, stderr=err, stdin=subprocess.DEVNULL,
            )
        os.close(w)
        try:
            before = time.time()
            res = emu.invoke(json.dumps({"fault": "lines", "lines": LINES}).encode())
            assert res.ok, res.body
        finally:
            proc.terminate()
            proc.wait(10)
    reader.join(10)
    os.close(r)
    frames = read_frames(bytes(collected))
    assert stderr_path.read_bytes() == b""  # everything went to the fd
    payloads = [p for _, _, p in frames]
    base = 0xA55A0002 if fmt == "JSON" else 0xA55A0003
    assert all(kind & 0xFFFFFFE3 == base for kind, _, _ in frames), [hex(k) for k, _, _ in frames]
    assert all(before - 1 < ts / 1e6 < time.time() + 1 for _, ts, _ in frames)
    if fmt == "Text":
        rid = res.request_id
        for line in LINES:
            assert f"{rid}\t{line}".replace("\r", "\n").encode() in payloads  # the traceback: one frame
        assert b"[dispatcher] stopped" in payloads
        assert [k for k, _, p in frames if p == b"[dispatcher] stopped"] == [0xA55A000F]  # INFO
    else:
        records = [json.loads(p) for p in payloads]
        assert {"level": "WARN", "message": "a warning", "requestId": res.request_id} in records
        tb = [r for r in records if r.get("message", "").startswith("Traceback")]
        assert len(tb) == 1 and tb[0]["message"].count("\n") == 2
        kinds = {json.dumps(json.loads(p), sort_keys=True): k for k, _, p in frames}
        assert kinds[json.dumps({"level": "WARN", "message": "a warning", "requestId": res.request_id}, sort_keys=True)] == 0xA55A0012


def test_text_records_keep_their_newlines_on_a_terminal(tmp_path: Path) -> None:
    import pty

    master, slave = pty.openpty()
    got = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            got.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
    try:
        with Emulator(runtime_argv=[sys.executable, "-m", "dispatcher", "run", "--config", str(write_config(tmp_path))],
                      env=env, task_root=str(tmp_path), runtime_stdout=slave, runtime_stderr=slave) as emu:
            res = emu.invoke(json.dumps({"fault": "lines", "lines": ["first\rsecond"]}).encode())
            assert res.ok
    finally:
        os.close(slave)
        reader.join(10)
        os.close(master)
    text = bytes(got).replace(b"\r\n", b"\n")  # the terminal's own line discipline
    assert f"{res.request_id}\tfirst\nsecond\n".encode() in text


def test_python_traceback_is_one_telemetry_frame(tmp_path: Path) -> None:
    """The Python adapter's error record ([ERROR] and the traceback, lines joined
    with \\r) is one frame, with real newlines, through the real supervisor."""
    from conftest import WORKERS

    r, w = os.pipe()
    collected = bytearray()

    def drain() -> None:
        while chunk := os.read(r, 65536):
            collected.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    with Emulator(runtime_argv=[], task_root=str(tmp_path)) as emu:
        env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
        env.update({"AWS_LAMBDA_RUNTIME_API": emu.address, "_LAMBDA_TELEMETRY_LOG_FD": str(w)})
        proc = subprocess.Popen(
            [sys.executable, "-m", "dispatcher", "run", "--config", str(WORKERS / "pyfunc" / "dispatcher.yaml")],
            env=env, pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )
        os.close(w)
        try:
            res = emu.invoke(b'{"action": "error"}')
            assert res.error_type == "BadInput"
        finally:
            proc.terminate()
            proc.wait(10)
    reader.join(10)
    os.close(r)
    frames = [p for _, _, p in read_frames(bytes(collected))]
    (error,) = [p.decode() for p in frames if b"[ERROR] BadInput" in p]
    lines = error.split("\n")
    assert lines[0] == f"{res.request_id}\t[ERROR] BadInput: the input was bad"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[2].lstrip("\u00a0").startswith('File "') and lines[3].lstrip("\u00a0") == 'raise BadInput("the input was bad")'
    assert "\r" not in error


@pytest.mark.parametrize(
    "env, said",
    [
        ({"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "verbose"}, "AWS_LAMBDA_LOG_LEVEL='verbose' is not a level"),
        ({"_LAMBDA_TELEMETRY_LOG_FD": "99999"}, "_LAMBDA_TELEMETRY_LOG_FD='99999' is not an open file descriptor"),
        ({"_LAMBDA_TELEMETRY_LOG_FD": "three"}, "_LAMBDA_TELEMETRY_LOG_FD='three' is not an open file descriptor"),
    ],
)
def test_unusable_configuration_is_said_and_the_runtime_goes_on(tmp_path: Path, env: dict[str, str], said: str) -> None:
    fn = Function(tmp_path, write_config(tmp_path), env=env)
    try:
        assert fn.invoke({"fault": "lines", "lines": ["still logged"]}).ok
    finally:
        fn.close()
    log = fn.log_path.read_text()
    assert said in log and "still logged" in log
