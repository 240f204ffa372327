"""Unit tests for dispatcher/runtime_api.py: Runtime API requests as values.

No network: each request value is encoded and the bytes are read back to
check method, path and headers (docs/runtime-api.md); the invocation
context is built from /next headers; the /error body and the error-type
header follow docs/protocol.md.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.errors import ProtocolError
from dispatcher.runtime_api import (
    MAX_ERROR_TEXT,
    ErrorRequest,
    ExtensionNextRequest,
    ExtensionRegisterRequest,
    InitErrorRequest,
    Invocation,
    NextRequest,
    ResponseRequest,
    response_head,
    response_template,
    error_document,
    error_type_header,
)

HOST = "127.0.0.1:9001"
ERROR_CT = "application/vnd.aws.lambda.error+json"
HEADER_RE = re.compile(r"(Runtime|Function)\.[A-Z][a-zA-Z]+")
CUT_RE = re.compile(r"\[cut by lambda-dispatcher: (\d+) more characters\]")


class Request:
    """A request read back from the bytes a request value encodes to."""

    def __init__(self, buffers: list[Any]) -> None:
        assert isinstance(buffers, list) and buffers
        self.buffers = buffers
        raw = b"".join(bytes(b) for b in buffers)
        head, sep, self.body = raw.partition(b"\r\n\r\n")
        assert sep, "no blank line after the head"
        lines = head.decode("latin-1").split("\r\n")
        self.method, self.path, self.version = lines[0].split(" ")
        self.headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(": ")
            assert colon and name and name == name.strip(), f"bad header line {line!r}"
            self.headers.append((name, value))

    def header(self, name: str) -> str | None:
        found = [v for n, v in self.headers if n.lower() == name.lower()]
        assert len(found) <= 1, f"{name} sent {len(found)} times"
        return found[0] if found else None

    def check_framing(self) -> None:
        assert self.version == "HTTP/1.1"
        assert self.headers[0] == ("Host", HOST), "Host comes first"
        names = [n.lower() for n, _ in self.headers]
        assert len(names) == len(set(names)), f"a header is repeated: {names}"
        assert self.header("Transfer-Encoding") is None
        cl = self.header("Content-Length")
        if self.method == "GET":
            assert cl is None and self.body == b""
        else:
            assert cl is not None and int(cl) == len(self.body)


def test_next_request() -> None:
    bufs = NextRequest().encode(HOST)
    assert bufs == [b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n\r\n"]
    r = Request(bufs)
    r.check_framing()
    assert (r.method, r.path) == ("GET", "/2018-06-01/runtime/invocation/next")
    assert r.headers == [("Host", HOST)]


RESPONSE_CASES = [
    # (request, content type, invocation id header)
    (ResponseRequest("r-1", b'{"message":"Hello, Ada!"}'), "application/json", None),
    (ResponseRequest("r-1", b"", content_type="text/plain"), "text/plain", None),
    (ResponseRequest("8476a536-e9f4", b"<b>x</b>", "text/html; charset=utf-8", invocation_id="inv-9"),
     "text/html; charset=utf-8", "inv-9"),
]


@pytest.mark.parametrize("req,content_type,invocation_id", RESPONSE_CASES)
def test_response_request(req: ResponseRequest, content_type: str, invocation_id: str | None) -> None:
    r = Request(req.encode(HOST))
    r.check_framing()
    assert (r.method, r.path) == ("POST", f"/2018-06-01/runtime/invocation/{req.request_id}/response")
    assert r.header("Content-Type") == content_type
    assert r.header("Lambda-Runtime-Invocation-Id") == invocation_id
    assert r.header("Lambda-Runtime-Function-Error-Type") is None
    # Buffered responses must not name a mode: `buffered` is rejected (docs/runtime-api.md, "Status codes").
    assert r.header("Lambda-Runtime-Function-Response-Mode") is None
    assert r.body == bytes(req.body)


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 6 * 1024 * 1024])
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_response_body_buffers(size: int, kind: type) -> None:
    body = kind(b"b" * size)
    bufs = ResponseRequest("r", body).encode(HOST)
    r = Request(bufs)
    r.check_framing()
    assert r.body == bytes(body) and r.header("Content-Length") == str(size)
    if size >= 4096:
        assert len(bufs) == 2 and bufs[1] is body, "a large body is handed over, not copied"
        assert bufs[0].endswith(b"\r\n\r\n")
    else:
        assert len(bufs) == 1, "a small request goes out in one buffer"


ERROR_CASES = [
    # (request, expected header, expected invocation id, path)
    (ErrorRequest("r-1", "ValueError", "bad", ("line 1", "line 2")), "Function.ValueError", None,
     "/2018-06-01/runtime/invocation/r-1/error"),
    (ErrorRequest("r-2", "Runtime.ExitError", "exit status 3", invocation_id="inv-1"), "Runtime.ExitError", "inv-1",
     "/2018-06-01/runtime/invocation/r-2/error"),
    (ErrorRequest("r-3", "Sandbox.Timedout", "Task timed out after 3.00 seconds", header_type="Runtime.InvokeTimeout"),
     "Runtime.InvokeTimeout", None, "/2018-06-01/runtime/invocation/r-3/error"),
    (ErrorRequest("r-4", "my_crate::MyError", "m"), "Function.MyError", None, "/2018-06-01/runtime/invocation/r-4/error"),
    (InitErrorRequest("Runtime.ImportModuleError", "No module named 'app'", ("a",)), "Runtime.ImportModuleError", None,
     "/2018-06-01/runtime/init/error"),
    (InitErrorRequest("SyntaxError", "invalid syntax"), "Function.SyntaxError", None, "/2018-06-01/runtime/init/error"),
]


@pytest.mark.parametrize("req,header,invocation_id,path", ERROR_CASES)
def test_error_requests(req: ErrorRequest | InitErrorRequest, header: str, invocation_id: str | None, path: str) -> None:
    r = Request(req.encode(HOST))
    r.check_framing()
    assert (r.method, r.path) == ("POST", path)
    assert r.header("Content-Type") == ERROR_CT
    assert r.header("Lambda-Runtime-Function-Error-Type") == header
    assert r.header("Lambda-Runtime-Invocation-Id") == invocation_id
    # The body keeps the precise type; only the header is mapped.
    assert json.loads(r.body) == {
        "errorMessage": req.message, "errorType": req.error_type, "stackTrace": list(req.stack_trace),
    }
    assert r.body == error_document(req.error_type, req.message, req.stack_trace)


def test_extension_register_request() -> None:
    r = Request(ExtensionRegisterRequest("lambda-dispatcher").encode(HOST))
    r.check_framing()
    assert (r.method, r.path) == ("POST", "/2020-01-01/extension/register")
    assert r.header("Lambda-Extension-Name") == "lambda-dispatcher"
    # An internal extension may not subscribe to SHUTDOWN (docs/runtime-api.md, "Lifecycle").
    assert json.loads(r.body) == {"events": []}


def test_extension_next_request() -> None:
    r = Request(ExtensionNextRequest("0b4f-uuid").encode(HOST))
    r.check_framing()
    assert (r.method, r.path) == ("GET", "/2020-01-01/extension/event/next")
    assert r.header("Lambda-Extension-Identifier") == "0b4f-uuid"
    assert r.header("Content-Length") is None


def test_requests_are_frozen_values() -> None:
    req = ResponseRequest("r", b"x")
    with pytest.raises(AttributeError):
        req.request_id = "other"  # type: ignore[misc]
    assert ResponseRequest("r", b"x") == req
    assert "secret-body" not in repr(ResponseRequest("r", b"secret-body")), "bodies stay out of logs"


# ---------------------------------------------------------------------------
# Invocation.from_headers

FULL_HEADERS = {
    "lambda-runtime-aws-request-id": "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
    "lambda-runtime-deadline-ms": "1700000003000",
    "lambda-runtime-invoked-function-arn": "arn:aws:lambda:us-east-1:123456789012:function:hello:prod",
    "lambda-runtime-trace-id": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
    "lambda-runtime-client-context": '{"client":{"app_title":"x"}}',
    "lambda-runtime-cognito-identity": '{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}',
    "lambda-runtime-aws-tenant-id": "tenant-7",
    "lambda-runtime-invocation-id": "nonce-1",
    "content-type": "application/octet-stream",
    "content-length": "2",
}
NOW = 1_700_000_000.25


def test_invocation_from_all_headers() -> None:
    body = bytearray(b"{}")
    inv = Invocation.from_headers(FULL_HEADERS, body, NOW)
    assert inv.request_id == FULL_HEADERS["lambda-runtime-aws-request-id"]
    assert inv.deadline_ms == 1_700_000_003_000
    assert inv.function_arn == FULL_HEADERS["lambda-runtime-invoked-function-arn"]
    assert inv.trace_id == FULL_HEADERS["lambda-runtime-trace-id"]
    assert inv.client_context == FULL_HEADERS["lambda-runtime-client-context"]
    assert inv.cognito_identity == FULL_HEADERS["lambda-runtime-cognito-identity"]
    assert inv.tenant_id == "tenant-7"
    assert inv.invocation_id == "nonce-1"
    assert inv.content_type == "application/octet-stream"
    assert inv.payload is body, "the event body is kept, not copied"
    assert inv.received_at == NOW
    assert "{}" not in repr(inv), "the payload stays out of repr (logs)"


def test_invocation_from_minimal_headers() -> None:
    deadline = str(int(NOW * 1000) + 5)
    inv = Invocation.from_headers({"lambda-runtime-aws-request-id": "r1", "lambda-runtime-deadline-ms": deadline}, b"", NOW)
    assert (inv.request_id, inv.deadline_ms, inv.function_arn, inv.note) == ("r1", int(deadline), "", None)
    assert (inv.trace_id, inv.client_context, inv.cognito_identity, inv.tenant_id, inv.invocation_id) == (None,) * 5
    assert inv.content_type == "application/json"


NOW_MS = int(NOW * 1000)


@pytest.mark.parametrize(
    "deadline, note",
    [
        (None, "Lambda-Runtime-Deadline-Ms is missing"),
        ("", "'' is not a usable number"),
        ("soon", "'soon' is not a usable number"),
        ("1.5e12", "'1.5e12' is not a usable number"),
        ("0x10", "'0x10' is not a usable number"),
        ("-1", "'-1' is not a usable number"),
        ("\xb2", "is not a usable number"),  # str.isdigit() says yes, int() says no
        ("9" * 31, "is not a usable number"),
        ("0", "'0' is 1700000000.250 s in the past"),
        (str(NOW_MS), "s in the past"),
        (str(NOW_MS - 1), "'%d' is 0.001 s in the past" % (NOW_MS - 1)),
    ],
)
def test_unusable_deadline_gets_the_function_timeout(deadline: str | None, note: str) -> None:
    """docs/runtime-api.md, "Values the supervisor cannot use": served, with
    now + the function timeout (900 s when unknown), and a note for the log."""
    headers = {"lambda-runtime-aws-request-id": "r1"}
    if deadline is not None:
        headers["lambda-runtime-deadline-ms"] = deadline
    for timeout, budget in [(None, 900_000), (0.0, 900_000), (3.0, 3000), (0.25, 250), (5000.0, 900_000), (float("inf"), 900_000)]:
        inv = Invocation.from_headers(headers, b"", NOW, timeout)
        assert inv.deadline_ms == NOW_MS + budget, timeout
        assert inv.note is not None and note in inv.note, inv.note
        assert inv.note.endswith(f"a deadline of now + {budget / 1000:g} s")


@pytest.mark.parametrize("ahead_ms", [900_001, 901_000, 10**15, 3 * 10**11, 2**63])
def test_deadline_beyond_fifteen_minutes_is_clamped(ahead_ms: int) -> None:
    """RIE's Managed-Instances mode sends now + timeout x 10^9 ms."""
    inv = Invocation.from_headers(
        {"lambda-runtime-aws-request-id": "r1", "lambda-runtime-deadline-ms": str(NOW_MS + ahead_ms)}, b"", NOW, 2.0)
    assert inv.deadline_ms == NOW_MS + 900_000
    if ahead_ms <= 901_000:
        assert inv.note is None  # clock jitter, not worth a log line
    else:
        assert inv.note is not None and "beyond Lambda's longest timeout; clamped to now + 900 s" in inv.note


@pytest.mark.parametrize("ahead_ms", [1, 2_000, 899_999, 900_000])
def test_usable_deadline_is_kept(ahead_ms: int) -> None:
    inv = Invocation.from_headers(
        {"lambda-runtime-aws-request-id": "r1", "lambda-runtime-deadline-ms": str(NOW_MS + ahead_ms)}, b"", NOW, 1.0)
    assert (inv.deadline_ms, inv.note) == (NOW_MS + ahead_ms, None)


@pytest.mark.parametrize("headers", [{}, {"lambda-runtime-aws-request-id": ""},
                                     {"Lambda-Runtime-Aws-Request-Id": "r1"}])
def test_invocation_without_request_id_is_a_protocol_error(headers: dict[str, str]) -> None:
    with pytest.raises(ProtocolError, match="Lambda-Runtime-Aws-Request-Id"):
        Invocation.from_headers(headers, b"", NOW)


def test_invocation_round_trips_through_a_response_request() -> None:
    inv = Invocation.from_headers(FULL_HEADERS, b"{}", NOW)
    r = Request(ResponseRequest(inv.request_id, b"ok", invocation_id=inv.invocation_id).encode(HOST))
    assert r.path == f"/2018-06-01/runtime/invocation/{FULL_HEADERS['lambda-runtime-aws-request-id']}/response"
    assert r.header("Lambda-Runtime-Invocation-Id") == "nonce-1"


# ---------------------------------------------------------------------------
# error_type_header (docs/protocol.md "Error-type header mapping")

ERROR_TYPES = [
    ("Runtime.HandlerNotFound", "Runtime.HandlerNotFound"),
    ("Function.MyError", "Function.MyError"),
    ("Runtime.ExitError", "Runtime.ExitError"),
    ("Function.ResponseSizeTooLarge", "Function.ResponseSizeTooLarge"),
    ("my_crate::MyError", "Function.MyError"),
    ("App\\Exceptions\\Boom", "Function.Boom"),
    ("ValueError", "Function.ValueError"),
    ("Unhandled", "Function.Unhandled"),
    ("unhandled", "Function.Unhandled"),
    # Not a full match ([A-Z] after the dot), so: last identifier, first letter upper-cased.
    ("Function.myError", "Function.MyError"),
    ("Runtime.exitError", "Function.ExitError"),
    ("Sandbox.Timedout", "Function.Timedout"),
    ("Unhandled.MyError", "Function.MyError"),
    ("Runtime.Foo.Bar", "Function.Bar"),
    ("Runtime.Foo ", "Function.Foo"),
    ("Runtime.Foo\n", "Function.Foo"),
    ("Runtime.Ab_c", "Function.Abc"),
    ("java.lang.NullPointerException", "Function.NullPointerException"),
    ("System.InvalidOperationException", "Function.InvalidOperationException"),
    ("*errors.errorString", "Function.ErrorString"),
    ("TypeError: x is undefined", "Function.Undefined"),
    ("Error42", "Function.Error"),
    ("Foo::Bar123", "Function.Bar"),
    ("Foo::123", "Function.Foo"),  # 123 is not an identifier
    ("my_error", "Function.Myerror"),
    ("ÄrgerError", "Function.RgerError"),  # letters only: [a-zA-Z]
    ("", "Function.Unknown"),
    ("::", "Function.Unknown"),
    ("123", "Function.Unknown"),
    ("_", "Function.Unknown"),
    ("日本語", "Function.Unknown"),
    # A single letter cannot satisfy [A-Z][a-zA-Z]+, so it counts as nothing.
    ("E", "Function.Unknown"),
    ("Runtime.X", "Function.Unknown"),
    ("Function.", "Function.Function"),
]


@pytest.mark.parametrize("error_type,expected", ERROR_TYPES)
def test_error_type_header(error_type: str, expected: str) -> None:
    got = error_type_header(error_type)
    assert got == expected
    assert HEADER_RE.fullmatch(got), got


@settings(deadline=None, max_examples=500)
@given(st.text(max_size=40) | st.from_regex(r"(Runtime|Function)\.[A-Z][a-zA-Z]{1,10}", fullmatch=True))
def test_error_type_header_always_matches_rapids_regex(error_type: str) -> None:
    got = error_type_header(error_type)
    assert HEADER_RE.fullmatch(got), f"{error_type!r} -> {got!r}"
    if HEADER_RE.fullmatch(error_type):
        assert got == error_type
    assert error_type_header(got) == got


# ---------------------------------------------------------------------------
# error_document


@pytest.mark.parametrize("error_type,message,stack", [
    ("ValueError", "bad name", ["Traceback (most recent call last):", '  File "h.py", line 3']),
    ("E", "", []),
    ("Runtime.X", 'quotes " and \\ backslash', ["\ttab"]),
    ("Ünïcode", "日本語 💥 é", ["ß"]),
    ("Ctl", "\x00\x01\x1f\x7f\n\r\t\u2028", ["\x08\x0c"]),
])
def test_error_document_is_json(error_type: str, message: str, stack: list[str]) -> None:
    body = error_document(error_type, message, stack)
    assert json.loads(body) == {"errorMessage": message, "errorType": error_type, "stackTrace": stack}
    assert list(json.loads(body)) == ["errorMessage", "errorType", "stackTrace"]


def test_error_document_keeps_non_ascii_and_escapes_controls() -> None:
    body = error_document("É", "é💥\x00\x1f\n\"", ["日\t"])
    assert "é💥".encode() in body and "日".encode() in body and "É".encode() in body
    assert b"\\u00e9" not in body and b"\\ud83d" not in body
    assert b"\\u0000" in body and b"\\u001f" in body and b"\\n" in body and b'\\"' in body and b"\\t" in body
    assert not any(c < 0x20 for c in body), "a raw control byte in the JSON text"


@settings(deadline=None, max_examples=300)
@given(st.text(st.characters(blacklist_categories=["Cs"])), st.text(st.characters(blacklist_categories=["Cs"])),
       st.lists(st.text(st.characters(blacklist_categories=["Cs"]), max_size=30), max_size=5))
def test_error_document_round_trips_any_text(error_type: str, message: str, stack: list[str]) -> None:
    body = error_document(error_type, message, stack)
    assert json.loads(body.decode("utf-8")) == {"errorMessage": message, "errorType": error_type, "stackTrace": stack}


def test_message_at_the_cap_is_not_cut() -> None:
    message = "m" * MAX_ERROR_TEXT
    doc = json.loads(error_document("E", message, []))
    assert doc["errorMessage"] == message


def test_one_megabyte_message_is_cut_with_a_mark() -> None:
    message = "".join(chr(0x41 + i % 26) for i in range(1_000_000))
    doc = json.loads(error_document("E", message, ["a", "b", "c"]))
    kept, mark = doc["errorMessage"][:MAX_ERROR_TEXT], doc["errorMessage"][MAX_ERROR_TEXT:]
    assert kept == message[:MAX_ERROR_TEXT]
    m = CUT_RE.search(mark)
    assert m and mark == " " + m.group(0), mark
    assert int(m.group(1)) == 1_000_000 - MAX_ERROR_TEXT, "the mark counts what was cut"
    assert doc["stackTrace"] == ["[3 stack lines cut]"]
    assert doc["errorType"] == "E"


@pytest.mark.parametrize("message_len,line_lens", [
    (1000, [100_000, 100_000, 100_000, 100_000]),
    (0, [MAX_ERROR_TEXT, 1]),
    (MAX_ERROR_TEXT - 10, [10, 5, 5]),
    (MAX_ERROR_TEXT, [1]),
    (10, [MAX_ERROR_TEXT * 4]),
])
def test_stack_trace_is_cut_with_a_mark(message_len: int, line_lens: list[int]) -> None:
    message = "m" * message_len
    stack = [chr(0x61 + i) * n for i, n in enumerate(line_lens)]
    doc = json.loads(error_document("E", message, stack))
    assert doc["errorMessage"] == message
    *kept, mark = doc["stackTrace"]
    m = CUT_RE.fullmatch(mark)
    assert m, mark
    total = sum(line_lens)
    budget = MAX_ERROR_TEXT - message_len
    # Each kept line costs its text plus 3 bytes (quotes, comma) of posted JSON.
    used = sum(len(s) + 3 for s in kept)
    assert budget - 3 <= used <= budget or (not kept and budget < 3), "the cap is used fully, not more"
    kept_len = sum(len(s) for s in kept)
    assert int(m.group(1)) == total - kept_len, "the mark counts what was cut"
    # What is kept is a prefix of the joined stack, line boundaries intact.
    assert "".join(kept) == "".join(stack)[:kept_len]
    for got, orig in zip(kept, stack):
        assert orig.startswith(got)


def test_stack_within_the_cap_is_not_cut() -> None:
    stack = ["x" * 1000] * 200
    doc = json.loads(error_document("E", "m" * (MAX_ERROR_TEXT - 200 * 1003), stack))
    assert doc["stackTrace"] == stack


# The cap is on bytes as posted (UTF-8, escapes included): docs/protocol.md's
# 256 KiB, well under the 1 MiB /error limit of Lambda Managed Instances
# (docs/runtime-api.md, "Limits").  Allowance: keys, type, cut marks.
OVERHEAD = 256


@pytest.mark.parametrize("char", ["a", "\u00e9", "\u65e5", "\U0001F4A5", "\x01", "\n", '"'])
@pytest.mark.parametrize("layout", ["long_message", "long_stack_lines"])
def test_posted_error_text_is_capped_in_bytes(char: str, layout: str) -> None:
    if layout == "long_message":
        message, stack = char * 300_000, [char * 1000] * 10
    else:
        message, stack = char * 1000, [char * 100_000] * 10
    body = error_document("E", message, stack)
    assert len(body) <= MAX_ERROR_TEXT + OVERHEAD, len(body) - MAX_ERROR_TEXT
    assert len(body) >= MAX_ERROR_TEXT - 8, "the cap is used, not undershot"
    doc = json.loads(body)
    if layout == "long_message":
        m = CUT_RE.search(doc["errorMessage"])
        assert m, "the cut is marked"
        kept = doc["errorMessage"][: m.start()].removesuffix(" ")
        assert int(m.group(1)) == len(message) - len(kept), "the mark counts the characters cut"
    else:
        assert CUT_RE.fullmatch(doc["stackTrace"][-1]), "the cut is marked"
        kept = "".join(doc["stackTrace"][:-1])
    assert kept and set(kept) == {char}, "cut on a character boundary, nothing mangled"


@pytest.mark.parametrize("stack", [[""] * 1_000_000, ["a"] * 300_000], ids=["empty_lines", "one_letter_lines"])
def test_many_short_stack_lines_are_capped(stack: list[str]) -> None:
    body = error_document("E", "m", stack)
    assert len(body) <= MAX_ERROR_TEXT + OVERHEAD, len(body)
    doc = json.loads(body)
    assert CUT_RE.fullmatch(doc["stackTrace"][-1]), "the cut is marked"


@pytest.mark.parametrize("rid", ["r-1", "8476a536-e9f4-4c29-ae53-5c3e01b1e4d6"])
@pytest.mark.parametrize("size", [0, 17, 4095, 4096, 70_000])
@pytest.mark.parametrize("host", ["127.0.0.1:9001", "localhost:8080", "[::1]:9001"])
def test_response_template_is_the_encoded_request(rid: str, size: int, host: str) -> None:
    """The steady state posts from a template; it must be the very bytes of
    ResponseRequest.encode, whatever the id, body size or host."""
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    encoded = b"".join(ResponseRequest(rid, body).encode(host))
    assert response_template(host) % (rid.encode("latin-1"), len(body)) + body == encoded
    # Lambda sends Lambda-Runtime-Invocation-Id on /next (2026); the answer echoes it.
    templates = (response_template(host), response_template(host, invocation_id=True))
    assert response_head(templates, rid, None, len(body)) + body == encoded
    for iid in ("0a4f4c9e-4a4b-4b6b-9b1b-2b3b4b5b6b7b", "100%-odd %s %d"):
        with_id = b"".join(ResponseRequest(rid, body, invocation_id=iid).encode(host))
        assert response_head(templates, rid, iid, len(body)) + body == with_id
