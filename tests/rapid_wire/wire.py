"""Reading the recorded RAPID bytes (tests/rapid_wire/*): index.txt, requests, responses.

Independent of the emulator's own parser on purpose: these helpers are the
yardstick the emulator is measured with.  Files over 300 KB were not kept with
the recordings; `rebuild()` makes them again from exchange.md (its header
blocks are verbatim, its abbreviated bodies are one repeated byte), and the
rebuilt length is checked against index.txt.
"""

from __future__ import annotations

import gzip
import re
import socket
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Conn:
    kind: str  # "rapi" (runtime side) or "invoke" (caller side)
    number: int
    req: tuple[int, int]  # offset, length in request.bin / invoke-request.bin
    resp: tuple[int, int]


_INDEX = re.compile(r"(rapi|invoke) conn (\d+): \S+ @(\d+) len (\d+) ; \S+ @(\d+) len (\d+)")


def read_index(folder: Path) -> list[Conn]:
    out = []
    for line in (folder / "index.txt").read_text().splitlines():
        m = _INDEX.match(line)
        if m:
            kind, n, ro, rl, so, sl = m.groups()
            out.append(Conn(kind, int(n), (int(ro), int(rl)), (int(so), int(sl))))
    return out


def load(folder: Path, name: str) -> bytes | None:
    """A recorded file, or None when it was not kept (see `rebuild`)."""
    path = folder / name
    if path.exists():
        return path.read_bytes()
    if path.with_name(name + ".gz").exists():
        return gzip.decompress(path.with_name(name + ".gz").read_bytes())
    return None


def segment(data: bytes, span: tuple[int, int]) -> bytes:
    return data[span[0] : span[0] + span[1]]


# -- messages -------------------------------------------------------------------


@dataclass
class Message:
    start: bytes  # request line or status line
    headers: list[tuple[bytes, bytes]]
    body: bytes
    chunks: list[int] | None  # chunk sizes when the body was chunked
    raw: bytes

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class Incomplete(Exception):
    pass


def parse_one(data: bytes, at: int = 0, *, response: bool) -> tuple[Message, int]:
    """One message starting at `at`; (message, offset after it).  Incomplete when cut short."""
    end = data.find(b"\r\n\r\n", at)
    if end < 0:
        raise Incomplete
    start, *lines = data[at:end].split(b"\r\n")
    headers = [(k, v.strip()) for k, _, v in (line.partition(b":") for line in lines)]
    msg = Message(start, headers, b"", None, b"")
    pos = end + 4
    te = msg.header(b"Transfer-Encoding")
    cl = msg.header(b"Content-Length")
    if te is not None:
        assert te.lower() == b"chunked", te
        body, sizes = bytearray(), []
        while True:
            eol = data.find(b"\r\n", pos)
            if eol < 0:
                raise Incomplete
            size = int(data[pos:eol].split(b";")[0], 16)
            pos = eol + 2
            if size == 0:
                while True:  # trailers, up to the blank line
                    eol = data.find(b"\r\n", pos)
                    if eol < 0:
                        raise Incomplete
                    line, pos = data[pos:eol], eol + 2
                    if not line:
                        break
                break
            if len(data) < pos + size + 2:
                raise Incomplete
            body += data[pos : pos + size]
            sizes.append(size)
            pos += size + 2
        msg.body, msg.chunks = bytes(body), sizes
    elif cl is not None:
        n = int(cl)
        if len(data) < pos + n:
            raise Incomplete
        msg.body = data[pos : pos + n]
        pos += n
    msg.raw = data[at:pos]
    return msg, pos


def parse_all(data: bytes, *, response: bool) -> list[Message]:
    out, at = [], 0
    while at < len(data):
        msg, at = parse_one(data, at, response=response)
        out.append(msg)
    return out


def read_response(sock: socket.socket, buf: bytearray) -> Message:
    """Read one response from a socket; `buf` carries bytes between calls."""
    while True:
        try:
            msg, used = parse_one(bytes(buf), response=True)
        except Incomplete:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("the emulator closed the connection before a whole response") from None
            buf += chunk
            continue
        del buf[:used]
        return msg


# -- rebuilding what was not kept -------------------------------------------------------

_BODY = re.compile(r"body \((\d+) bytes\): `(.*)`$")
_ABBREVIATED = re.compile(r"(.)\{x\d+\}… \((\d+) bytes in all\)$")


def rebuild(folder: Path, name: str) -> bytes:
    """request.bin or response.bin of a rapi connection, from exchange.md; checked against index.txt."""
    want = "**runtime/extension -> RAPID**" if name == "request.bin" else "**RAPID -> runtime/extension**"
    text = (folder / "exchange.md").read_text()
    section = text.split("#### connection rapi-01", 1)[1].split("#### connection invoke", 1)[0]
    out = bytearray()
    lines = section.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() != want:
            i += 1
            continue
        assert lines[i + 1] == "```", lines[i + 1]
        j = lines.index("```", i + 2)
        head = lines[i + 2 : j]
        body = b""
        k = j + 1
        while k < len(lines) and not lines[k].startswith("**"):
            m = _BODY.match(lines[k])
            if m:
                n, shown = int(m.group(1)), m.group(2)
                ab = _ABBREVIATED.match(shown)
                body = ab.group(1).encode() * n if ab else shown.replace("\\n", "\n").encode()
                assert len(body) == n, (n, shown[:60])
            k += 1
        chunked = any(h.lower() == "transfer-encoding: chunked" for h in head)
        out += ("\r\n".join(head) + "\r\n\r\n").encode()
        out += (b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n") if chunked else body
        i = k
    (conn,) = [c for c in read_index(folder) if c.kind == "rapi"]
    span = conn.req if name == "request.bin" else conn.resp
    assert len(out) == span[1], f"rebuilt {folder.name}/{name} is {len(out)} bytes, index.txt says {span[1]}"
    return bytes(out)


def recorded(folder: Path, name: str) -> bytes:
    data = load(folder, name)
    return data if data is not None else rebuild(folder, name)
