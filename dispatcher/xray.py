"""The X-Ray error cause sent with each /error (`Lambda-Runtime-Function-XRay-Error-Cause`).

The document is awslambdaric's `make_xray_fault`:

    {"working_directory": str,
     "exceptions": [{"message": str, "type": str, "stack": [{"label", "path", "line"}]}],
     "paths": [str, ...]}

built here from the worker's error: its type, message and stack-trace lines.
Each adapter writes stack lines its language's way; the frames recognised
are Python's `File "p", line n, in f`, Node's `at f (p:n:c)`, PHP's
`#0 p(n): f()` and `at p:n`, and Rust's `f at p:n:c`.  Other lines (a
`Caused by`, a source line under a Python frame) are not frames and are left
out of `stack`; they stay in the /error body's stackTrace.

Like awslambdaric, the header is left out when the document would be 1 MiB or
more (RAPID itself then compacts what it keeps to 64 KiB).  The text is
ASCII-only JSON, so that it is a valid HTTP header value.  Sans-IO.
"""

from __future__ import annotations

from _json import encode_basestring_ascii as _str

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Sequence

__all__ = ["error_cause", "parse_frame", "MAX_CAUSE"]

MAX_CAUSE = 1024 * 1024  # awslambdaric: skip the header from this size on

_PATTERNS = None


def _patterns():  # type: ignore[no-untyped-def]
    global _PATTERNS
    if _PATTERNS is None:
        import re  # only on the error path

        _PATTERNS = (
            re.compile(r'File "(?P<path>.+)", line (?P<line>\d+), in (?P<label>.+)'),  # Python
            re.compile(r"#\d+ (?P<path>[^(]+)\((?P<line>\d+)\): (?P<label>.+)"),  # PHP getTraceAsString
        )
    return _PATTERNS


def _location(loc: str) -> tuple[str, int] | None:
    """`path:line` or `path:line:column` (the path may hold colons: file:///x)."""
    parts = loc.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return parts[0], int(parts[1])
    if len(parts) >= 2 and parts[-1].isdigit():
        return loc.rsplit(":", 1)[0], int(parts[-1])
    return None


def parse_frame(text: str) -> tuple[str, int, str] | None:
    """(path, line, label) of one stack line, or None when it is not a frame."""
    s = text.strip().split("\n", 1)[0].strip()
    for pattern in _patterns():
        m = pattern.match(s)
        if m:
            return m["path"], int(m["line"]), m["label"].strip()
    if s.startswith("at "):  # Node, PHP's first line, Rust's panic location
        rest = s[3:]
        if rest.endswith(")") and " (" in rest:
            label, loc = rest[:-1].rsplit(" (", 1)
        else:
            label, loc = "anonymous", rest
    elif " at " in s:  # Rust: `symbol at file:line:col`
        label, loc = s.rsplit(" at ", 1)
    else:
        return None
    place = _location(loc)
    if place is None:
        return None
    return place[0], place[1], label or "anonymous"


def error_cause(working_directory: str, error_type: str, message: str, stack_trace: Sequence[str] = ()) -> str | None:
    """The header value, or None when it would reach MAX_CAUSE (awslambdaric's rule)."""
    frames = []
    paths: dict[str, None] = {}
    for line in stack_trace:
        got = parse_frame(line) if isinstance(line, str) else None
        if got is None:
            continue
        path, lineno, label = got
        frames.append('{"label":' + _str(label) + ',"path":' + _str(path) + ',"line":' + str(lineno) + "}")
        paths[path] = None
    text = (
        '{"working_directory":' + _str(working_directory)
        + ',"exceptions":[{"message":' + _str(message) + ',"type":' + _str(error_type)
        + ',"stack":[' + ",".join(frames) + "]}]"
        + ',"paths":[' + ",".join(_str(p) for p in paths) + "]}"
    )
    return text if len(text) < MAX_CAUSE else None
