"""The emulator's socket loop: one thread, one epoll, no per-connection threads.

It accepts connections, reads and parses requests (`_http.RequestParser`),
hands each complete request to the handler, and writes whatever the handler
sends back, queueing what the socket cannot take yet.  It knows nothing of
Lambda: the handler (`sandbox.Sandbox`) decides everything.

Other threads talk to the loop only through `call_soon_threadsafe`, which
queues a callable and wakes the loop through an eventfd.  Extra file
descriptors (the runtime's pidfd) are watched with `add_reader`.  The handler
owns a single timer: the loop reads `handler.wake_at` (a monotonic time, or
None) on every turn and calls `handler.on_timer()` once it has passed; one
attribute read per turn is cheaper than a timer heap on the hot path.
"""

from __future__ import annotations

import collections
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol

from ._http import HttpRequestError, Request, RequestParser, render_error
from ._render import with_connection_close

__all__ = ["Connection", "Loop", "Handler"]

log = logging.getLogger(__name__)

_RECV = 256 * 1024
_IN = select.EPOLLIN | select.EPOLLRDHUP
_OUT = select.EPOLLOUT


class Handler(Protocol):
    wake_at: float | None

    def handle(self, conn: Connection, req: Request) -> None: ...

    def on_timer(self) -> None: ...

    def on_close(self, conn: Connection) -> None: ...


class Connection:
    """One client connection.  `parked` marks a long poll the handler holds open."""

    __slots__ = ("sock", "fd", "parser", "out", "close_after", "closed", "parked", "peer_keep_alive", "draining", "paused")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.parser = RequestParser()
        self.out: collections.deque[memoryview] = collections.deque()
        self.close_after = False  # close once `out` drains
        self.closed = False
        self.parked: object = None
        self.peer_keep_alive = True
        self.draining = False  # answered and half-closed: discard input until the peer closes
        self.paused = False  # not read for now: a streamed answer waits for its caller (pause_reading)


class Loop:
    """A single-threaded epoll server loop around one listening socket."""

    def __init__(self, host: str, port: int) -> None:
        self.listener = socket.create_server((host, port), backlog=128)
        self.listener.setblocking(False)
        self.address: tuple[str, int] = self.listener.getsockname()[:2]
        self._ep = select.epoll()
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._calls: collections.deque[Callable[[], None]] = collections.deque()
        self._conns: dict[int, Connection] = {}
        self._readers: dict[int, Callable[[], None]] = {}
        self._running = False
        self._thread: threading.Thread | None = None
        # One reusable receive buffer: recv(256 KiB) would mmap and munmap a fresh
        # buffer on every call, which costs more than everything else per request.
        self._rbuf = bytearray(_RECV)
        self._rview = memoryview(self._rbuf)
        self.handler: Handler | None = None
        self._ep.register(self.listener.fileno(), select.EPOLLIN)
        self._ep.register(self._wake_fd, select.EPOLLIN)

    # -- API for other threads ----------------------------------------------

    def call_soon_threadsafe(self, fn: Callable[[], None]) -> None:
        self._calls.append(fn)
        try:
            os.eventfd_write(self._wake_fd, 1)
        except OSError:  # loop already torn down; the caller's waiter handles that
            pass

    def start(self, handler: Handler, name: str = "lambda-emulator") -> None:
        self.handler = handler
        self._running = True
        self._thread = threading.Thread(target=self._run_guarded, name=name, daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- API for the handler (loop thread only) --------------------------------

    def stop(self) -> None:
        self._running = False

    def add_reader(self, fd: int, fn: Callable[[], None]) -> None:
        self._readers[fd] = fn
        self._ep.register(fd, select.EPOLLIN)

    def remove_reader(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            try:
                self._ep.unregister(fd)
            except (OSError, ValueError):
                pass

    def read_pending(self) -> None:
        """Process every request already received, before acting on a process exit.

        A runtime that posts and exits at once makes both the socket and the
        pidfd readable in the same turn; RAPID sees the post first, so must we.
        """
        for conn in list(self._conns.values()):
            while not conn.closed and self._read(conn):
                pass

    def pause_reading(self, conn: Connection) -> None:
        """Stop reading `conn` (back-pressure: its data waits in the kernel)."""
        if not conn.paused and not conn.closed:
            conn.paused = True
            self._ep.modify(conn.fd, _OUT if conn.out else 0)

    def resume_reading(self, conn: Connection) -> None:
        if conn.paused and not conn.closed:
            conn.paused = False
            self._ep.modify(conn.fd, _IN | (_OUT if conn.out else 0))

    def connections(self) -> list[Connection]:
        return list(self._conns.values())

    def send(self, conn: Connection, data: bytes, *, close: bool = False) -> None:
        """Write `data` (now if the socket takes it, later otherwise)."""
        if conn.closed:
            return
        if close or not conn.peer_keep_alive:
            if not close:  # the peer asked to close: Go says so in the answer
                data = with_connection_close(data)
            conn.close_after = True
        if not conn.out:
            try:
                sent = conn.sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.close(conn)
                return
            if sent == len(data):
                if conn.close_after:
                    self._linger(conn)
                return
            conn.out.append(memoryview(data)[sent:])
            self._ep.modify(conn.fd, _IN | _OUT)
        else:
            conn.out.append(memoryview(data))

    def close(self, conn: Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        self._conns.pop(conn.fd, None)
        try:
            self._ep.unregister(conn.fd)
        except (OSError, ValueError):
            pass
        conn.sock.close()
        if self.handler is not None:
            self.handler.on_close(conn)

    # -- the loop ----------------------------------------------------------------

    def _run_guarded(self) -> None:
        try:
            self._run()
        except BaseException:  # the loop boundary: report, then let the owner fail waiters
            log.exception("emulator loop crashed")
            crash = getattr(self.handler, "on_crash", None)
            if crash is not None:
                crash()
        finally:
            self._teardown()

    def _run(self) -> None:
        ep_poll = self._ep.poll
        conns = self._conns
        listen_fd = self.listener.fileno()
        wake_fd = self._wake_fd
        handler = self.handler
        assert handler is not None
        monotonic = time.monotonic
        while self._running:
            wake_at = handler.wake_at
            if wake_at is None:
                timeout = -1.0
            else:
                timeout = wake_at - monotonic()
                if timeout < 0:
                    timeout = 0
            for fd, ev in ep_poll(timeout):
                conn = conns.get(fd)
                if conn is not None:
                    if ev & _OUT:
                        self._flush(conn)
                    if ev & (_IN | select.EPOLLHUP | select.EPOLLERR) and not conn.closed:
                        self._read(conn)
                elif fd == wake_fd:
                    try:
                        os.eventfd_read(wake_fd)
                    except BlockingIOError:
                        pass
                    calls = self._calls
                    while calls:
                        calls.popleft()()
                elif fd == listen_fd:
                    self._accept()
                else:
                    reader = self._readers.get(fd)
                    if reader is not None:
                        reader()
            wake_at = handler.wake_at
            if wake_at is not None and monotonic() >= wake_at:
                handler.on_timer()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # EMFILE and friends: keep serving the others
                log.warning("accept failed: %s", exc)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(sock)
            self._conns[conn.fd] = conn
            self._ep.register(conn.fd, _IN)

    def _read(self, conn: Connection) -> bool:
        """One recv and the requests it completes; False when nothing more is to be read."""
        try:
            n = conn.sock.recv_into(self._rbuf)
        except BlockingIOError:
            return False
        except OSError:
            n = 0
        if not n:
            self.close(conn)
            return False
        if conn.draining:
            return True
        data = self._rview[:n].tobytes()
        parser = conn.parser
        parser.feed(data)
        handle = self.handler.handle  # type: ignore[union-attr]
        while not conn.closed:
            try:
                req = parser.next_request()
            except HttpRequestError as exc:
                error_type = "RequestEntityTooLarge" if exc.status == 413 else "InvalidRequest"
                self.send(conn, render_error(exc.status, error_type, exc.message, close=True), close=True)
                return False
            if req is None:
                return True
            conn.peer_keep_alive = req.keep_alive
            try:
                handle(conn, req)
            except Exception:  # a bug in one route must not take the whole server down
                log.exception("emulator failed on %s %s", req.method.decode(), req.target.decode("latin-1")[:200])
                self.send(conn, render_error(500, "InternalServerError", "the emulator failed on this request (see its log)", close=True), close=True)
                return False
        return False

    def _flush(self, conn: Connection) -> None:
        out = conn.out
        while out:
            view = out[0]
            try:
                sent = conn.sock.send(view)
            except BlockingIOError:
                return
            except OSError:
                self.close(conn)
                return
            if sent < len(view):
                out[0] = view[sent:]
                return
            out.popleft()
        if conn.close_after:
            self._linger(conn)
        elif not conn.closed:
            self._ep.modify(conn.fd, 0 if conn.paused else _IN)

    def _linger(self, conn: Connection) -> None:
        """Half-close after the last answer and read until the peer closes.

        Closing with unread input makes the kernel send RST, and a client that
        is still writing (an oversized head, say) would then lose our answer.
        """
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close(conn)
            return
        conn.draining = True
        if not conn.closed:
            self._ep.modify(conn.fd, _IN)

    def _teardown(self) -> None:
        for conn in list(self._conns.values()):
            conn.closed = True
            conn.sock.close()
        self._conns.clear()
        for fd in list(self._readers):
            self.remove_reader(fd)
        self._ep.close()
        self.listener.close()
        fd, self._wake_fd = self._wake_fd, -1
        os.close(fd)
