"""A raw HTTP/1.1 client for the streaming tests: reads a chunked response as
it arrives, recording when each piece came, and its trailers (http.client
hides both)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field


@dataclass
class StreamedReply:
    status: int
    headers: list[tuple[str, str]]
    pieces: list[tuple[float, bytes]] = field(default_factory=list)  # (time.monotonic() on arrival, bytes)
    trailers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False

    @property
    def body(self) -> bytes:
        return b"".join(p for _, p in self.pieces)

    def header(self, name: str) -> str | None:
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def fill(self) -> None:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("connection closed mid-response")
        self.buf += data

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def take(self, n: int, on_piece) -> None:  # type: ignore[no-untyped-def]
        while n:
            if not self.buf:
                self.fill()
            piece, self.buf = self.buf[:n], self.buf[n:]
            on_piece(piece)
            n -= len(piece)


def post(url_host: str, port: int, body: bytes, *, collect: bool = True, timeout: float = 60.0) -> StreamedReply:
    """POST an event to the front door; the whole reply, each piece timed as it came."""
    sock = socket.create_connection((url_host, port), timeout=timeout)
    try:
        sock.sendall(
            b"POST /2015-03-31/functions/function/invocations HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
        )
        r = _Reader(sock)
        status = int(r.line().split()[1])
        headers = []
        while line := r.line():
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        reply = StreamedReply(status, headers)
        total = [0]

        def on_piece(piece: bytes) -> None:
            total[0] += len(piece)
            reply.pieces.append((time.monotonic(), piece if collect else b""))

        if (reply.header("transfer-encoding") or "").lower() == "chunked":
            reply.chunked = True
            while True:
                size = int(r.line().split(b";")[0], 16)
                if size == 0:
                    break
                r.take(size, on_piece)
                assert r.line() == b""
            while line := r.line():
                name, _, value = line.decode("latin-1").partition(":")
                reply.trailers[name.strip().lower()] = value.strip()
        else:
            r.take(int(reply.header("content-length") or 0), on_piece)
        reply.size = total[0]  # type: ignore[attr-defined]
        return reply
    finally:
        sock.close()
