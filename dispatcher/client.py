"""A small HTTP/1.1 keep-alive client for the Runtime API, on a raw socket.

Why not http.client: it costs ~30 ms to import and ~100 us per request pair
(docs/runtime-api.md, "Cost reference points"); this client sends pre-built request buffers with
one sendmsg and parses with the sans-IO ResponseParser, reading with recv_into.

Responses may be framed by Content-Length, chunked, or by the connection
close (docs/runtime-api.md "RAPID on the wire"); a response that says
`Connection: close` closes the socket, and the next request reconnects.

GET /next is split in two (`send_next` then `read_available` when the socket
polls readable) so that the supervisor can wait on the API socket, the worker
pipes and the signal fd at once.  Posts are synchronous.  The connection is
re-opened when it turns out dead (after a freeze/thaw, a reset).
"""

from __future__ import annotations

import _socket as socket  # the `socket` module imports enum & selectors: ~4 ms
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

from dispatcher.errors import HttpError, RuntimeApiError
from dispatcher.http_parse import MAX_BODY, Response, ResponseParser
from dispatcher.runtime_api import NextRequest

__all__ = ["ApiClient", "ConnectionLost", "parse_address"]

POST_TIMEOUT = 30.0  # a post is answered at once by Lambda; 30 s means "dead"
CONNECT_TIMEOUT = 1.0  # as aws-lambda-cpp


class ConnectionLost(RuntimeApiError):
    """The connection closed or reset before a complete response."""


def parse_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise RuntimeApiError(
            f"AWS_LAMBDA_RUNTIME_API={value!r} is not host:port "
            "(Lambda sets it; locally use `dispatcher invoke`)"
        )
    return host.strip("[]"), int(port)


def _connect(host: str, port: int) -> socket.socket:
    # An IPv4 literal connects directly: the first getaddrinfo() with a name
    # imports encodings.idna and costs ~4 ms (docs/runtime-api.md, "Cost reference points").
    if host.replace(".", "").isdigit():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
    else:
        import socket as _full  # a host name: resolve it (rare on Lambda)

        sock = _full.create_connection((host, port), timeout=CONNECT_TIMEOUT)  # type: ignore[assignment]
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # Posts read their answer with a plain blocking recv (no poll() per post);
    # the kernel bounds that wait.  GET /next is only read once poll() says
    # data is there, so this timeout never cuts a long poll short.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, int(POST_TIMEOUT).to_bytes(8, "little") + bytes(8))
    return sock


class ApiClient:
    def __init__(
        self,
        address: str,
        *,
        connect: Callable[[str, int], socket.socket] = _connect,
        max_body: int = MAX_BODY,
    ) -> None:
        self.address = address
        self.host, self.port = parse_address(address)
        self._connect = connect
        self.max_body = max_body
        self._sock: socket.socket | None = None
        self._parser = ResponseParser(max_body=max_body)
        self.next_request = NextRequest().encode(address)[0]

    # -- connection ---------------------------------------------------------
    def connect(self) -> socket.socket:
        if self._sock is None:
            try:
                self._sock = self._connect(self.host, self.port)
            except OSError as exc:
                raise ConnectionLost(f"cannot connect to the Runtime API at {self.address}: {exc}") from exc
            self._parser = ResponseParser(max_body=self.max_body)
        return self._sock

    @property
    def sock(self) -> socket.socket | None:
        """The connected socket, or None."""
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def fileno(self) -> int:
        return self.connect().fileno()

    def _send(self, buffers: list) -> None:  # type: ignore[type-arg]
        sock = self.connect()
        try:
            if len(buffers) == 1:
                sock.sendall(buffers[0])
                return
            total = 0
            for b in buffers:
                total += len(b)
            sent = sock.sendmsg(buffers)
            if sent < total:  # finish a partial vectored send piece by piece
                for b in buffers:
                    n = len(b)
                    if sent >= n:
                        sent -= n
                        continue
                    sock.sendall(memoryview(b)[sent:])
                    sent = 0
        except OSError as exc:
            self.close()
            raise ConnectionLost(f"sending to the Runtime API failed: {exc}") from exc

    # -- GET /next, split for the event loop -------------------------------
    def send_next(self) -> None:
        self._send([self.next_request])

    def read_available(self) -> Response | None:
        """Read what the socket holds; a complete response, or None for more."""
        sock = self._sock
        if sock is None:
            raise ConnectionLost("not connected")
        parser = self._parser
        try:
            n = sock.recv_into(parser.writable())
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            self.close()
            raise ConnectionLost(f"reading from the Runtime API failed: {exc}") from exc
        if n == 0:
            try:
                resp = parser.eof()  # a body delimited by the close ends here
            except HttpError:
                self.close()
                raise
            self.close()
            if resp is not None:
                return resp
            head = parser.head
            raise ConnectionLost(
                "the Runtime API closed the connection"
                + (f" after the headers of a {head[0]} response" if head else "")
            )
        parser.advance(n)
        try:
            resp = parser.next()
        except HttpError:
            self.close()
            raise
        if resp is not None and not resp.keep_alive:
            self.close()
        return resp

    def buffered_response(self) -> Response | None:
        """A complete response already read off the socket, if any (no IO)."""
        if self._sock is None or not self._parser.in_progress:
            return None
        resp = self._parser.next()
        if resp is not None and not resp.keep_alive:
            self.close()
        return resp

    @property
    def partial_head(self) -> tuple[int, str, dict[str, str]] | None:
        """Status and headers of a response cut short, for error reporting."""
        return self._parser.head

    # -- synchronous requests ----------------------------------------------
    def request(self, buffers: list, timeout: float = POST_TIMEOUT) -> Response:  # type: ignore[type-arg]
        """Send one request and wait for its response (bounded by SO_RCVTIMEO)."""
        self._send(buffers)
        return self.await_response(timeout)

    def await_response(self, timeout: float = POST_TIMEOUT) -> Response:
        """Wait for the response to a request already sent (a streamed post)."""
        end = time.monotonic() + timeout
        while True:
            resp = self.read_available()
            if resp is not None:
                return resp
            if time.monotonic() > end:
                self.close()
                raise ConnectionLost(f"the Runtime API did not answer within {timeout:.0f} s")
