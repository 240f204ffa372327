"""A Lambda Runtime API that misbehaves on command, for tests/test_api_faults.py.

The embedded emulator plays by the rules; this server exists to break them.
It hands out the events a test queues, answers posts with 202 unless told
otherwise, and records every request it receives.  Each GET /next and each
post takes the next scripted action from its own queue:

    api.next_actions.put(Event(rid, body))            # a normal /next answer
    api.next_actions.put(Event(rid, body, framing="chunked", chunk=32768))  # or chunked, or "close"-delimited
    api.next_actions.put(Raw(b"HTTP/1.1 500 ..."))    # any bytes, then keep the connection
    api.next_actions.put(Reset())                     # TCP RST instead of an answer
    api.next_actions.put(CutBody(rid, body, keep=5))  # headers, 5 body bytes, then close
    api.post_actions.put(Status(413, b"..."))         # answer the next post with 413
    api.post_actions.put(Reset())                     # read the post, then RST
    api.stream_actions.put(MidStream(413, after=65536))  # a streamed post: answer 413 after 64 KiB of body
    api.stream_actions.put(MidStream(None, after=1))     # ... or reset the connection after its first byte

A streamed (chunked) post is read chunk by chunk; its trailers are recorded.

GET /next with nothing queued is held open (as Lambda does) until the test
queues something or the server closes.  The extension register is answered
200 with an identifier (or `register_status`), and the extension's
event/next is held forever.

Threads, blocking sockets, one thread per connection: simple beats fast here.
"""

from __future__ import annotations

import queue
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

__all__ = ["FaultyApi", "Event", "Raw", "Reset", "CutBody", "Status", "MidStream", "Received", "refused_address"]

ACCEPTED = b'HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"status":"OK"}'


@dataclass
class Event:
    request_id: str  # "": no Lambda-Runtime-Aws-Request-Id header at all
    body: bytes = b"{}"
    deadline_ms: int | str | None = None  # default: now + 10 s; a str is sent verbatim
    extra_headers: bytes = b""
    framing: str = "length"  # "length", "chunked", or "close" (the body ends when the connection closes)
    chunk: int = 0  # chunked: at most this many bytes per chunk (0: one single chunk, as RAPID classic)
    chunk_tail: bytes = b"0\r\n\r\n"  # chunked: the last chunk and trailer section
    close: bool = False  # say `Connection: close`, and close after the answer
    send_deadline: bool = True  # False: no Lambda-Runtime-Deadline-Ms header at all
    drop: bool = False  # close the connection after the answer without saying so (an idle timeout)

    def render(self) -> bytes:
        deadline = self.deadline_ms if self.deadline_ms is not None else int((time.time() + 10) * 1000)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        if self.request_id:
            head += b"Lambda-Runtime-Aws-Request-Id: " + self.request_id.encode() + b"\r\n"
        if self.send_deadline:
            head += b"Lambda-Runtime-Deadline-Ms: %s\r\n" % str(deadline).encode()
        head += (
            b"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:012345678912:function:f\r\n"
            + self.extra_headers
        )
        if self.close:
            head += b"Connection: close\r\n"
        if self.framing == "length":
            return head + b"Content-Length: %d\r\n\r\n" % len(self.body) + self.body
        if self.framing == "close":
            return head + b"\r\n" + self.body
        step = self.chunk or len(self.body) or 1
        chunks = [self.body[i : i + step] for i in range(0, len(self.body), step)]
        return (
            head + b"Transfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
            + self.chunk_tail
        )

    @property
    def keeps_connection(self) -> bool:
        return not self.close and not self.drop and self.framing != "close"


@dataclass
class Raw:
    data: bytes
    close: bool = False  # close (FIN) after sending


@dataclass
class Reset:
    """Answer with a TCP reset (SO_LINGER 0 then close)."""


@dataclass
class CutBody:
    """A /next answer whose body stops short: headers, `keep` bytes, close."""

    request_id: str
    body: bytes
    keep: int = 0


@dataclass
class Status:
    status: int
    body: bytes = b""
    error_type: str = ""
    close: bool = False  # say `Connection: close`, and close after the answer

    def render(self) -> bytes:
        if self.status == 202 and not self.body:
            body = b'{"status":"OK"}'
        else:
            body = self.body or (b'{"errorMessage":"scripted","errorType":"%s"}' % self.error_type.encode())
        reason = {202: b"Accepted", 400: b"Bad Request", 403: b"Forbidden", 410: b"Gone", 413: b"Request Entity Too Large", 500: b"Internal Server Error"}.get(self.status, b"X")
        close = b"Connection: close\r\n" if self.close else b""
        return b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s" % (self.status, reason, close, len(body), body)


@dataclass
class MidStream:
    """For the next streamed (chunked) post: once `after` body bytes arrived,
    answer `status` and close (None: reset the connection instead)."""

    status: int | None
    after: int = 1


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | None = None  # status sent back, None for a reset or held request
    at: float = field(default_factory=time.monotonic)
    trailers: dict[str, str] = field(default_factory=dict)  # a chunked post's trailers


def refused_address() -> tuple[socket.socket, str]:
    """A port with nothing listening (connect gets ECONNREFUSED); call
    sock.listen() later to make it live, or close it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, "127.0.0.1:%d" % sock.getsockname()[1]


def _reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _lingering_close(conn: socket.socket) -> None:
    """Send FIN, then read (and drop) what the client still sends until it
    closes too: closing with unread bytes would reset the connection and
    could destroy the answer before the client reads it."""
    conn.shutdown(socket.SHUT_WR)
    conn.settimeout(5)
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass


class FaultyApi:
    def __init__(self, sock: socket.socket | None = None, register_status: int = 200) -> None:
        if sock is None:
            sock, _ = refused_address()
        self.sock = sock
        self.sock.listen(16)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.register_status = register_status
        self.next_actions: queue.Queue[object] = queue.Queue()
        self.post_actions: queue.Queue[object] = queue.Queue()
        self.stream_actions: queue.Queue[MidStream] = queue.Queue()
        self.received: list[Received] = []
        self.accepted: list[Received] = []  # posts answered 202 (what "answered" means)
        self.handed_out: list[str] = []
        self._lock = threading.RLock()  # predicates of wait_for() call posts() under it
        self._changed = threading.Condition(self._lock)
        self._closed = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    # -- test side -------------------------------------------------------------

    def events(self, *ids: str, body: bytes = b"{}") -> None:
        for rid in ids:
            self.next_actions.put(Event(rid, body))

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
        """Wait until predicate(self) holds (checked whenever a request arrives)."""
        end = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.1))
        return True

    def posts(self, rid: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == "POST" and "/invocation/" in r.path and (rid is None or f"/{rid}/" in r.path)]

    def next_calls(self) -> int:
        with self._lock:
            return sum(1 for r in self.received if r.path.endswith("/invocation/next"))

    def close(self) -> None:
        self._closed.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.close()
            except OSError:
                pass

    # -- server side -------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket, buf: bytearray) -> Received | None:
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf += chunk
        end = buf.index(b"\r\n\r\n")
        head = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[: end + 4]
        method, path, _ = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return self._read_chunked(conn, buf, Received(method, path, headers, b""))
        n = int(headers.get("content-length", "0"))
        while len(buf) < n:
            chunk = conn.recv(max(65536, n - len(buf)))
            if not chunk:
                return None
            buf += chunk
        body = bytes(buf[:n])
        del buf[:n]
        return Received(method, path, headers, body)

    def _read_chunked(self, conn: socket.socket, buf: bytearray, req: Received) -> Received | None:
        """A chunked body, chunk by chunk (a streamed response); a MidStream
        action cuts in once its byte count is reached."""
        try:
            cut = self.stream_actions.get_nowait()
        except queue.Empty:
            cut = None
        body = bytearray()

        def line() -> bytes | None:
            while b"\r\n" not in buf:
                more = conn.recv(65536)
                if not more:
                    return None
                buf.extend(more)
            i = buf.index(b"\r\n")
            out = bytes(buf[:i])
            del buf[: i + 2]
            return out

        while True:
            size_line = line()
            if size_line is None:
                return None
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while (t := line()):
                    name, _, value = t.decode("latin-1").partition(":")
                    req.trailers[name.strip().lower()] = value.strip()
                req.body = bytes(body)
                return req
            while len(buf) < size + 2:
                more = conn.recv(65536)
                if not more:
                    return None
                buf.extend(more)
            body += buf[:size]
            del buf[: size + 2]
            if cut is not None and len(body) >= cut.after:
                req.body = bytes(body)
                req.answered = cut.status
                self._record(req)
                if cut.status is None:
                    _reset(conn)
                else:
                    conn.sendall(Status(cut.status, error_type="Scripted").render())
                    _lingering_close(conn)
                return None

    def _record(self, req: Received) -> None:
        with self._changed:
            self.received.append(req)
            if req.answered == 202 and req.method == "POST" and "/invocation/" in req.path:
                self.accepted.append(req)
            self._changed.notify_all()

    def _serve(self, conn: socket.socket) -> None:
        buf = bytearray()
        try:
            while not self._closed.is_set():
                req = self._read_request(conn, buf)
                if req is None:
                    return
                if not self._answer(conn, req):
                    return
        except OSError:
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _take(self, q: queue.Queue[object], block: bool) -> object | None:
        while not self._closed.is_set():
            try:
                return q.get(timeout=0.05) if block else q.get_nowait()
            except queue.Empty:
                if not block:
                    return None
        return None

    def _answer(self, conn: socket.socket, req: Received) -> bool:
        """Send the scripted answer; False when the connection is finished."""
        path = req.path
        if path.endswith("/extension/register"):
            if self.register_status == 200:
                req.answered = 200
                self._record(req)
                body = b'{"functionName":"f","functionVersion":"$LATEST","handler":"h"}'
                conn.sendall(b"HTTP/1.1 200 OK\r\nLambda-Extension-Identifier: ext-1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            else:
                req.answered = self.register_status
                self._record(req)
                conn.sendall(Status(self.register_status, error_type="Extension.Scripted").render())
            return True
        if path.endswith("/extension/event/next"):
            self._record(req)
            self._closed.wait()  # never answered: no events were subscribed
            return False
        if path.endswith("/init/error"):
            req.answered = 202
            self._record(req)
            conn.sendall(ACCEPTED)
            return True
        if path.endswith("/invocation/next"):
            self._record(req)
            action = self._take(self.next_actions, block=True)
            return self._do(conn, req, action)
        if req.method == "POST" and "/invocation/" in path:
            action = self._take(self.post_actions, block=False) or Status(202)
            if isinstance(action, Status):
                req.answered = action.status
            self._record(req)
            if isinstance(action, Status) and action.status == 202 and not action.close:
                conn.sendall(ACCEPTED)
                return True
            return self._do(conn, req, action)
        req.answered = 404
        self._record(req)
        conn.sendall(Status(404, error_type="NotFound").render())
        return True

    def _do(self, conn: socket.socket, req: Received, action: object) -> bool:
        if action is None:  # closing
            return False
        if isinstance(action, Event):
            with self._lock:
                self.handed_out.append(action.request_id)
            conn.sendall(action.render())
            if not action.keeps_connection:
                _lingering_close(conn)  # the FIN ends a close-delimited body
            return action.keeps_connection
        if isinstance(action, Status):
            conn.sendall(action.render())
            if action.close:
                _lingering_close(conn)
            return not action.close
        if isinstance(action, Raw):
            conn.sendall(action.data)
            return not action.close
        if isinstance(action, Reset):
            _reset(conn)
            return False
        if isinstance(action, CutBody):
            with self._lock:
                self.handed_out.append(action.request_id)
            full = Event(action.request_id, action.body).render()
            conn.sendall(full[: len(full) - len(action.body) + action.keep])
            time.sleep(0.05)
            conn.shutdown(socket.SHUT_WR)
            return False
        raise TypeError(f"unknown action {action!r}")
