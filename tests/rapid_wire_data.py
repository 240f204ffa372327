"""The bytes RAPID (the Runtime API server inside AWS's Runtime Interface
Emulator v1.30, the same server Lambda runs) sent on recorded connections:
tests/rapid_wire/<scenario>/{response.bin,invoke-response.bin,index.txt}.
docs/runtime-api.md ("RAPID on the wire") says what each scenario shows.

Recordings over 300 KB were not kept; `next_2kb_boundary_responses()`
rebuilds the one the parser needs (three /next answers of 2,048, 2,049 and
6,000,000 bytes with their 202s) from its transcript, byte for byte.
"""

from __future__ import annotations

import re
from pathlib import Path

WIRE = Path(__file__).parent / "rapid_wire"

_INDEX = re.compile(r"^(\w+) conn (\d+): [\w.-]+ @\d+ len \d+ ; ([\w.-]+) @(\d+) len (\d+)")


def connections() -> list[tuple[str, bytes]]:
    """(scenario/file#conn, bytes the server sent on that connection), every recorded one."""
    out = []
    for index in sorted(WIRE.rglob("index.txt")):
        folder = index.parent
        for line in index.read_text().splitlines():
            m = _INDEX.match(line)
            assert m, f"{index}: unexpected line {line!r}"
            side, conn, name, offset, length = m.group(1), m.group(2), m.group(3), int(m.group(4)), int(m.group(5))
            path = folder / name
            if not path.exists():  # over 300 KB: not kept
                continue
            data = path.read_bytes()[offset : offset + length]
            assert len(data) == length, f"{path}: short"
            if data:
                out.append((f"{folder.relative_to(WIRE)}/{side}-{conn}", data))
    return out


_HEAD = (
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Lambda-Runtime-Aws-Request-Id: {rid}\r\n"
    "Lambda-Runtime-Deadline-Ms: {deadline}\r\n"
    "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:012345678912:function:test_function\r\n"
    "Date: Tue, 01 Dec 2026 20:26:39 GMT\r\n"
)
_ACCEPTED = (
    b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nDate: Tue, 01 Dec 2026 20:26:39 GMT\r\n"
    b"Content-Length: 16\r\n\r\n" b'{"status":"OK"}\n'
)
NEXT_2KB_EVENTS = [
    ("c8706f90-c7e2-413e-b24d-a5805a7445c6", 1796157099724, 2048),
    ("13586a1c-9ea9-45a7-b1c9-0e8c727eb3fb", 1796157099764, 2049),
    ("7c7bf150-be56-480d-b01d-dbd5cd7f2ffa", 1796157099888, 6_000_000),
]
NEXT_2KB_LENGTH = 6_005_489  # the size of the recorded response.bin


def next_2kb_boundary_responses() -> bytes:
    """RAPID's side of the next-2kb-boundary connection: up to 2,048 bytes an
    event has Content-Length; above, chunked, as one single chunk."""
    out = []
    for rid, deadline, size in NEXT_2KB_EVENTS:
        head = _HEAD.format(rid=rid, deadline=deadline).encode()
        body = b"a" * size
        if size <= 2048:
            out.append(head + b"Content-Length: %d\r\n\r\n" % size + body)
        else:
            out.append(head + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % size + body + b"\r\n0\r\n\r\n")
        out.append(_ACCEPTED)
    data = b"".join(out)
    assert len(data) == NEXT_2KB_LENGTH, len(data)
    return data
