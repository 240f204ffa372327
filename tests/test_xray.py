"""The X-Ray error cause (issue 12): built from the worker's error, sent with
every /error as Lambda-Runtime-Function-XRay-Error-Cause, and valid against a
JSON schema of awslambdaric's cause document (tests/fixtures/xray_cause.schema.json).

The header is read off the real request by a recording Runtime API
(tests/faulty_api.py) serving the real supervisor.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from conftest import WORKERS
from dispatcher.runtime_api import ErrorRequest
from dispatcher.xray import MAX_CAUSE, error_cause, parse_frame
from faulty_api import FaultyApi
from test_api_faults import Runtime, wait_accepted

SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "xray_cause.schema.json").read_text())
HEADER = "lambda-runtime-function-xray-error-cause"


def valid(doc: object) -> None:
    jsonschema.validate(doc, SCHEMA)


def test_schema_accepts_awslambdarics_own_document() -> None:
    """The fixture describes what awslambdaric really sends (when it is installed)."""
    bootstrap = pytest.importorskip("awslambdaric.bootstrap")
    doc = bootstrap.make_xray_fault("ValueError", "boom", "/var/task", [("/var/task/app.py", 3, "handler", "raise x")])
    valid(doc)
    ours = json.loads(error_cause("/var/task", "ValueError", "boom", ['  File "/var/task/app.py", line 3, in handler\n    raise x\n']) or "")
    assert ours == doc
    assert list(ours) == list(doc) and list(ours["exceptions"][0]) == list(doc["exceptions"][0])


@pytest.mark.parametrize(
    "line, frame",
    [
        ('  File "/var/task/app.py", line 12, in handler\n    raise BadInput()\n', ("/var/task/app.py", 12, "handler")),
        ("at handler (file:///var/task/index.mjs:3:9)", ("file:///var/task/index.mjs", 3, "handler")),
        ("at async Promise.all (index 0)", None),
        ("at /var/task/index.js:7:1", ("/var/task/index.js", 7, "anonymous")),
        ("#0 /var/task/src/Handler.php(21): App\\Handler->handle()", ("/var/task/src/Handler.php", 21, "App\\Handler->handle()")),
        ("#1 {main}", None),
        ("at /var/task/src/Handler.php:30", ("/var/task/src/Handler.php", 30, "anonymous")),
        ("at src/main.rs:10:5", ("src/main.rs", 10, "anonymous")),
        ("my_fn::handler at ./src/main.rs:22:9", ("./src/main.rs", 22, "my_fn::handler")),
        ("Caused by RuntimeException: inner", None),
        ("", None),
    ],
)
def test_stack_lines_of_each_language(line: str, frame: tuple[str, int, str] | None) -> None:
    assert parse_frame(line) == frame


def test_cause_is_ascii_json_and_lists_each_path_once() -> None:
    text = error_cause("/w", "Zoë\nError", "message ✓ \"quoted\"", ["at f (/a.js:1:1)", "at g (/a.js:2:1)", "junk", "at h (/b.js:3:1)"])
    assert text is not None and text.isascii() and "\n" not in text and "\r" not in text
    doc = json.loads(text)
    valid(doc)
    assert doc["exceptions"][0]["type"] == "Zoë\nError"
    assert [f["line"] for f in doc["exceptions"][0]["stack"]] == [1, 2, 3]
    assert doc["paths"] == ["/a.js", "/b.js"]


def test_cause_of_a_megabyte_is_left_out_as_awslambdaric_does() -> None:
    assert error_cause("/w", "E", "x" * (MAX_CAUSE - 200)) is not None
    assert error_cause("/w", "E", "x" * MAX_CAUSE) is None
    req = ErrorRequest("rid", "E", "m", (), None, None, None)
    assert b"XRay" not in req.encode("h")[0]


def posted_error(tmp_path: Path, api: FaultyApi, event: bytes, **opts: object) -> tuple[dict, dict]:  # type: ignore[type-arg]
    api.events("r1", body=event)
    rt = Runtime(tmp_path, api.address, **opts)
    try:
        wait_accepted(api, "r1")
    finally:
        rt.close()
    (post,) = api.posts("r1")
    assert post.path.endswith("/r1/error"), post.path
    return post.headers, json.loads(post.body)


def test_worker_error_carries_the_header(tmp_path: Path) -> None:
    api = FaultyApi()
    try:
        headers, body = posted_error(tmp_path, api, b'{"fault": "error", "type": "my_crate::MyError"}')
    finally:
        api.close()
    doc = json.loads(headers[HEADER])
    valid(doc)
    assert doc["exceptions"][0]["type"] == "my_crate::MyError"
    assert doc["exceptions"][0]["message"] == body["errorMessage"] == "bad value"
    assert doc["working_directory"] == str(tmp_path)  # the worker's cwd: the config's folder


def test_supervisor_made_error_carries_the_header(tmp_path: Path) -> None:
    api = FaultyApi()
    try:
        headers, body = posted_error(tmp_path, api, b'{"fault": "exit", "code": 3}')
    finally:
        api.close()
    assert body["errorType"] == "Runtime.ExitError"
    doc = json.loads(headers[HEADER])
    valid(doc)
    assert doc["exceptions"][0]["type"] == "Runtime.ExitError" and doc["exceptions"][0]["stack"] == []


def test_python_adapter_traceback_becomes_frames(tmp_path: Path) -> None:
    import sys

    pyfunc = str(WORKERS / "pyfunc")
    api = FaultyApi()
    try:
        headers, body = posted_error(
            tmp_path, api, b'{"action": "error"}',
            command=[sys.executable, "-m", "dispatcher_worker", "app:handler"], cwd=pyfunc,
        )
    finally:
        api.close()
    doc = json.loads(headers[HEADER])
    valid(doc)
    exc = doc["exceptions"][0]
    assert exc["type"] == body["errorType"] == "BadInput"
    app = str(WORKERS / "pyfunc" / "app.py")
    assert {"label": "handler", "path": app, "line": 17} in exc["stack"]
    assert doc["paths"] == [app]
    assert doc["working_directory"] == pyfunc
