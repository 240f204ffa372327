"""dispatcher/pipe_splice.py and the worker session's use of it: large event
payloads go into the worker's stdin pipe by vmsplice(2), uncopied.

On real pipes: the bytes arrive whole and in order, a full non-blocking pipe
says BlockingIOError as os.write does, a closed reader BrokenPipeError; the
pages themselves go into the pipe (a change made after the splice shows, which
is why the supervisor never changes a payload its worker may still read);
and a session whose vmsplice is refused (fault injection) writes by copy and
still delivers every byte.
"""

from __future__ import annotations

import fcntl
import os
import random
import sys
from pathlib import Path

import pytest

from dispatcher import pipe_splice
from dispatcher.config import WorkerConfig
from dispatcher.frames import FrameDecoder, encode_invoke
from dispatcher.runtime_api import Invocation
from dispatcher.worker import MsgpackWorker

KiB = 1024
MiB = 1024 * 1024


@pytest.fixture
def pipe() -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(w, False)
    fcntl.fcntl(w, 1031, 64 * KiB)  # F_SETPIPE_SZ: a small pipe fills fast
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def drain(r: int, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        out += os.read(r, n - len(out))
    return bytes(out)


def test_a_splice_delivers_the_bytes_and_stops_where_the_pipe_is_full(pipe: tuple[int, int]) -> None:
    r, w = pipe
    data = bytearray(random.Random(1).randbytes(200 * KiB))
    view = memoryview(data)
    sent = pipe_splice.vmsplice(w, view)
    assert 0 < sent <= 64 * KiB  # partial: the pipe holds 64 KiB
    with pytest.raises(BlockingIOError):
        pipe_splice.vmsplice(w, view[sent:])
    got = drain(r, sent)
    while sent < len(data):
        n = pipe_splice.vmsplice(w, view[sent:])
        got += drain(r, n)
        sent += n
    assert got == data


def test_the_pages_themselves_go_into_the_pipe(pipe: tuple[int, int]) -> None:
    """Not a copy: what the buffer holds when the reader reads is what it gets."""
    r, w = pipe
    data = bytearray(b"a" * 8 * KiB)
    assert pipe_splice.vmsplice(w, memoryview(data)) == len(data)
    data[:4] = b"ZZZZ"
    assert drain(r, len(data))[:8] == b"ZZZZaaaa"


def test_a_closed_reader_is_a_broken_pipe(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.close(r)
    with pytest.raises(BrokenPipeError):
        pipe_splice.vmsplice(w, memoryview(bytearray(300 * KiB)))
    assert pipe_splice.available


ECHO = r"""
import os, sys
fd_in, fd_out = 0, 1
def read(n):
    out = bytearray()
    while len(out) < n:
        chunk = os.read(fd_in, n - len(out))
        if not chunk:
            sys.exit(0)
        out += chunk
    return bytes(out)
import msgpack
os.write(fd_out, (lambda b: len(b).to_bytes(4, "big") + b)(msgpack.packb({"type": "ready", "protocol": 1, "features": []})))
while True:
    msg = msgpack.unpackb(read(int.from_bytes(read(4), "big")))
    reply = msgpack.packb({"type": "result", "id": msg["id"], "payload": msg["payload"]}, use_bin_type=True)
    os.write(fd_out, len(reply).to_bytes(4, "big") + reply)
"""


def run_echo(tmp_path: Path, events: list[bytearray]) -> list[bytes]:
    """Each event through a real MsgpackWorker (a Python echo worker), as the supervisor drives it."""
    import select

    script = tmp_path / "echo.py"
    script.write_text(ECHO)
    config = WorkerConfig(
        name="echo", command=(sys.executable, str(script)), cwd=str(tmp_path), env={}, startup_timeout=10.0,
        timeout_margin=0.1, shutdown_grace=2.0, max_invocations=0, max_rss=0, max_frame=16 << 20,
        protocol="msgpack", ready="frame", error_type=None,
    )
    w = MsgpackWorker(config, dict(os.environ))
    replies: list[bytes] = []
    try:
        for i, event in enumerate(events):
            inv = Invocation(f"r{i}", 2**41, "arn", None, None, None, None, None, "application/json", event)
            pending = w.send_invoke(inv)
            assert pending == []
            got = None
            while got is None:
                fds = dict(w.poll_fds())
                ready = select.poll()
                for fd, ev in fds.items():
                    ready.register(fd, ev)
                for fd, rev in ready.poll(10_000):
                    for e in w.handle(fd, rev):
                        assert e.kind == "message", e
                        if e.message["type"] == "result":
                            got = bytes(e.message["payload"])
            replies.append(got)
    finally:
        w.stop(2.0)
    return replies


def test_large_events_reach_a_real_worker_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spliced: list[int] = []
    real = pipe_splice.vmsplice

    def counting(fd: int, view: memoryview) -> int:
        n = real(fd, view)
        spliced.append(n)
        return n

    monkeypatch.setattr(pipe_splice, "vmsplice", counting)
    rng = random.Random(7)
    sizes = (300 * KiB, 6 * MiB, 1 * MiB + 3, 6 * MiB - 1, 100)
    events = [bytearray(rng.randbytes(n)) for n in sizes]
    assert run_echo(tmp_path, events) == events
    assert sum(spliced) == sum(n for n in sizes if n >= pipe_splice.MIN_SIZE)  # every large payload, none of the rest


def test_a_refused_vmsplice_falls_back_to_copying(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(fd: int, view: memoryview) -> int:
        raise OSError(22, "Invalid argument (injected)")

    monkeypatch.setattr(pipe_splice, "_call", refuse)
    monkeypatch.setattr(pipe_splice, "available", True)
    rng = random.Random(8)
    events = [bytearray(rng.randbytes(n)) for n in (2 * MiB, 3 * MiB)]
    assert run_echo(tmp_path, events) == events
    assert pipe_splice.available is False  # later events are written as before


def test_an_invoke_frame_spliced_in_pieces_decodes_as_written(pipe: tuple[int, int]) -> None:
    """The header goes by writev, the payload by vmsplice: one frame on the wire."""
    r, w = pipe
    payload = bytearray(random.Random(9).randbytes(700 * KiB))
    head, body = encode_invoke("id-1", payload, 123, "arn", None, None, None, None)
    assert body is payload
    dec = FrameDecoder()
    sent = os.write(w, head)
    assert sent == len(head)
    view, got = memoryview(payload), None
    done = 0
    while got is None:
        if done < len(payload):
            try:
                done += pipe_splice.vmsplice(w, view[done:])
            except BlockingIOError:
                pass
        with dec.writable() as room:
            n = os.readv(r, [room])
        dec.advance(n)
        got = dec.next()
    assert got["id"] == "id-1" and got["payload"] == payload


SLOW_READER = r"""
import os, sys, time
import msgpack
trigger = sys.argv[1]
def read(n):
    out = bytearray()
    while len(out) < n:
        chunk = os.read(0, n - len(out))
        if not chunk:
            sys.exit(0)
        out += chunk
    return bytes(out)
os.write(1, (lambda b: len(b).to_bytes(4, "big") + b)(msgpack.packb({"type": "ready", "protocol": 1, "features": []})))
deadline = time.monotonic() + 30
while not os.path.exists(trigger) and time.monotonic() < deadline:
    time.sleep(0.01)
msg = msgpack.unpackb(read(int.from_bytes(read(4), "big")))
reply = msgpack.packb({"type": "result", "id": msg["id"], "payload": msg["payload"]}, use_bin_type=True)
os.write(1, len(reply).to_bytes(4, "big") + reply)
"""


def test_a_spliced_payload_stays_pinned_until_the_worker_has_read_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The event buffer is not reused (dispatcher/bigbuf.py) while its pages
    sit unread in the worker's pipe, even once the invocation is gone."""
    import select

    from dispatcher import bigbuf

    monkeypatch.setattr(bigbuf, "_kept", [])
    script, trigger = tmp_path / "slow.py", tmp_path / "go"
    script.write_text(SLOW_READER)
    config = WorkerConfig(
        name="slow", command=(sys.executable, str(script), str(trigger)), cwd=str(tmp_path), env={},
        startup_timeout=10.0, timeout_margin=0.1, shutdown_grace=2.0, max_invocations=0, max_rss=0,
        max_frame=16 << 20, protocol="msgpack", ready="frame", error_type=None,
    )
    w = MsgpackWorker(config, dict(os.environ))
    try:
        size = 512 * KiB  # fits the 1 MiB pipe whole: written while the worker reads nothing
        payload = bigbuf.take(size)
        pattern = random.Random(3).randbytes(size)
        payload[:] = pattern
        ident = id(payload)
        inv = Invocation("r1", 2**41, "arn", None, None, None, None, None, "application/json", payload)
        assert w.send_invoke(inv) == [] and not w.writing
        del inv, payload  # the invocation is gone; the pipe still holds the pages
        assert len(w._pinned) == 1  # noqa: SLF001
        other = bigbuf.take(size)
        assert id(other) != ident, "the buffer whose pages the pipe holds was handed out again"
        other[:] = b"\xee" * size  # what a new event read into the same memory would do
        other_id = id(other)
        del other
        trigger.touch()
        got = None
        end_events = []
        while got is None:
            p = select.poll()
            for fd, ev in w.poll_fds():
                p.register(fd, ev)
            ready = p.poll(10_000)
            assert ready, "no reply within 10 s"
            for fd, rev in ready:
                for e in w.handle(fd, rev):
                    end_events.append(e)
                    if e.kind == "message" and e.message["type"] == "result":
                        got = bytes(e.message["payload"])
        assert got == pattern  # the worker read the event as it was
        assert w._pinned == []  # noqa: SLF001 - read: let go
        a, b = bigbuf.take(size), bigbuf.take(size)
        assert {id(a), id(b)} == {ident, other_id}  # and free for reuse now
    finally:
        w.stop(2.0)
