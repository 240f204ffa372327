"""Unit tests for dispatcher/logs.py: worker log lines, long-line cuts, the tail.

LineSplitter is sans-IO and tested with (chunks, expected lines) tables;
LogForwarder writes to a real pipe that the test reads back.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.logs import CONTINUED, CUT, MAX_LINE, TAIL_BYTES, TAIL_LINES, LineSplitter, LogForwarder

KiB = 1024


def split_all(chunks: list[bytes], max_line: int = MAX_LINE) -> tuple[list[bytes], list[bytes]]:
    s = LineSplitter(max_line)
    lines: list[bytes] = []
    for chunk in chunks:
        lines += s.feed(chunk)
    return lines, s.flush()


def unmark(pieces: list[bytes]) -> bytes:
    """Join cut pieces back into the original line, dropping the marks."""
    out = []
    for i, piece in enumerate(pieces):
        if i > 0:
            assert piece.startswith(CONTINUED), piece[:20]
            piece = piece[len(CONTINUED):]
        if i < len(pieces) - 1:
            assert piece.endswith(CUT), piece[-20:]
            piece = piece[: -len(CUT)]
        out.append(piece)
    return b"".join(out)


# (name, max_line, chunks, lines from feed, lines from flush)
SPLITS: list[tuple[str, int, list[bytes], list[bytes], list[bytes]]] = [
    ("nothing", 8, [], [], []),
    ("empty_feed", 8, [b""], [], []),
    ("one_line", 8, [b"hello\n"], [b"hello"], []),
    ("two_lines_one_chunk", 8, [b"a\nb\n"], [b"a", b"b"], []),
    ("line_across_feeds", 8, [b"he", b"ll", b"o\nwor", b"ld\n"], [b"hello", b"world"], []),
    ("newline_alone", 8, [b"abc", b"\n"], [b"abc"], []),
    ("empty_lines_kept", 8, [b"\n\n", b"\n"], [b"", b"", b""], []),
    ("unterminated_is_flushed", 8, [b"a\nrest"], [b"a"], [b"rest"]),
    ("cr_is_data", 8, [b"dos\r\n"], [b"dos\r"], []),
    ("binary_untouched", 8, [b"\xff\x00\xfe\n"], [b"\xff\x00\xfe"], []),
    ("exactly_max_line", 4, [b"abcd\n"], [b"abcd"], []),
    ("exactly_max_line_unterminated", 4, [b"abcd"], [], [b"abcd"]),
    ("cut_without_newline", 4, [b"abcdefghij"], [b"abcd" + CUT, CONTINUED + b"efgh" + CUT], [CONTINUED + b"ij"]),
    ("cut_across_feeds", 4, [b"abc", b"de", b"fghi", b"j\nk"],
     [b"abcd" + CUT, CONTINUED + b"efgh" + CUT, CONTINUED + b"ij"], [b"k"]),
    ("cut_then_newline_next_feed", 4, [b"abcdefgh", b"\n"], [b"abcd" + CUT, CONTINUED + b"efgh"], []),
    ("cut_then_next_line_plain", 4, [b"abcde", b"\nxy\n"], [b"abcd" + CUT, CONTINUED + b"e", b"xy"], []),
]


@pytest.mark.parametrize("name,max_line,chunks,lines,flushed", SPLITS, ids=[s[0] for s in SPLITS])
def test_line_splitter(name: str, max_line: int, chunks: list[bytes], lines: list[bytes], flushed: list[bytes]) -> None:
    assert split_all(chunks, max_line) == (lines, flushed)


def test_flush_twice_gives_the_rest_once() -> None:
    s = LineSplitter(8)
    assert s.feed(b"abc") == []
    assert s.flush() == [b"abc"]
    assert s.flush() == []
    assert s.feed(b"d\n") == [b"d"], "flush starts a fresh line"


# The output must not depend on how the input is split into reads.
STREAMS = [b"a\nbb\n\nccc\nd", b"\n" * 5 + b"x", b"one line\n", b"12345678\n12345678",
           b"abcdefghijklmnopqrstuvwxyz\nshort\n0123456789abcdefg", b"123456789\n" * 3]


@pytest.mark.parametrize("stream", STREAMS)
def test_output_does_not_depend_on_the_split(stream: bytes) -> None:
    whole = split_all([stream], 8)
    for cut in range(len(stream) + 1):
        assert split_all([stream[:cut], stream[cut:]], 8) == whole, f"cut {cut}"
    assert split_all([stream[i : i + 1] for i in range(len(stream))], 8) == whole


@pytest.mark.parametrize("chunks,lines", [
    ([b"abcdefghij\n"], [b"abcd" + CUT, CONTINUED + b"efgh" + CUT, CONTINUED + b"ij"]),
    ([b"abc", b"defghij\n"], [b"abcd" + CUT, CONTINUED + b"efgh" + CUT, CONTINUED + b"ij"]),
    ([b"abcd", b"e\n"], [b"abcd" + CUT, CONTINUED + b"e"]),
    ([b"abc", b"de", b"fgh", b"ij\nk"], [b"abcd" + CUT, CONTINUED + b"efgh" + CUT, CONTINUED + b"ij"]),
], ids=["one_feed", "two_feeds", "one_byte_over", "after_a_cut"])
def test_long_line_ending_in_the_same_feed_is_cut(chunks: list[bytes], lines: list[bytes]) -> None:
    got, _ = split_all(chunks, 4)
    assert got == lines


def test_long_line_with_newline_in_one_read_is_cut_at_max_line() -> None:
    line = b"x" * (100 * KiB)
    lines, _ = split_all([line + b"\n"])
    assert [len(p) for p in lines] == [MAX_LINE + len(CUT), 100 * KiB - MAX_LINE + len(CONTINUED)]


def ten_megabyte_line() -> bytes:
    rng = random.Random(10)
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 []."
    return bytes(rng.choice(alphabet) for _ in range(1000)) * 10_000


@pytest.mark.parametrize("chunk", [10_000_000, 1 << 20, 65_537, 4096])
def test_ten_megabyte_line_without_newline_is_cut_into_max_line_pieces(chunk: int) -> None:
    data = ten_megabyte_line()
    assert len(data) == 10_000_000
    lines, flushed = split_all([data[i : i + chunk] for i in range(0, len(data), chunk)])
    pieces = lines + flushed
    assert len(flushed) == 1
    assert pieces[0].endswith(CUT) and not pieces[0].startswith(CONTINUED)
    assert len(pieces[0]) == MAX_LINE + len(CUT)
    for piece in pieces[1:-1]:
        assert piece.startswith(CONTINUED) and piece.endswith(CUT)
        assert len(piece) == len(CONTINUED) + MAX_LINE + len(CUT)
    assert pieces[-1].startswith(CONTINUED) and not pieces[-1].endswith(CUT)
    assert 0 < len(pieces[-1]) - len(CONTINUED) <= MAX_LINE
    assert len(pieces) == -(-len(data) // MAX_LINE)
    assert unmark(pieces) == data, "nothing lost"


@settings(deadline=None, max_examples=200)
@given(lines=st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"").replace(b"[", b"(")), max_size=8),
       terminated=st.booleans(), data=st.data())
def test_every_line_comes_back_whole_or_as_marked_pieces(lines: list[bytes], terminated: bool,
                                                         data: st.DataObject) -> None:
    stream = b"\n".join(lines) + (b"\n" if terminated and lines else b"")
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    cuts = sorted({0, len(stream), *points})
    out, flushed = split_all([stream[a:b] for a, b in zip(cuts, cuts[1:])], 4)
    got = out + flushed
    # Regroup marked pieces into original lines.
    regrouped: list[list[bytes]] = []
    for piece in got:
        if piece.startswith(CONTINUED) and regrouped and regrouped[-1][-1].endswith(CUT):
            regrouped[-1].append(piece)
        else:
            regrouped.append([piece])
    expected = lines if stream else []
    if stream and not terminated and lines and lines[-1] == b"":
        expected = lines[:-1]  # a trailing empty unterminated line is nothing to flush
    assert [unmark(g) for g in regrouped] == expected


# ---------------------------------------------------------------------------
# LogForwarder, writing into a real pipe


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def read_available(fd: int) -> bytes:
    os.set_blocking(fd, False)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return out
        if not chunk:
            return out
        out += chunk


def test_forwarder_prefixes_the_request_id_while_set(pipe: tuple[int, int]) -> None:
    r, w = pipe
    fwd = LogForwarder(out_fd=w)
    fwd.feed(b"starting\nhalf")
    assert read_available(r) == b"starting\n"
    fwd.request_id = "8476a536-e9f4"
    fwd.feed(b" a line\nin flight\n")
    assert read_available(r) == b"8476a536-e9f4\thalf a line\n8476a536-e9f4\tin flight\n"
    fwd.feed(b"no newline yet")
    assert read_available(r) == b""
    fwd.flush()
    assert read_available(r) == b"8476a536-e9f4\tno newline yet\n"
    fwd.request_id = None
    fwd.feed(b"idle\n")
    fwd.flush()
    assert read_available(r) == b"idle\n"


def test_forwarder_large_output_through_a_slow_nonblocking_pipe(pipe: tuple[int, int]) -> None:
    """More than a pipe holds, to a non-blocking fd: waits for room, loses nothing."""
    r, w = pipe
    os.set_blocking(w, False)
    got = bytearray()

    def reader() -> None:
        with os.fdopen(os.dup(r), "rb", buffering=0) as f:
            while chunk := f.read(4096):
                got.extend(chunk)

    t = threading.Thread(target=reader)
    t.start()
    fwd = LogForwarder(out_fd=w)
    fwd.request_id = "r-1"
    line = b"y" * (300 * KiB)
    fwd.feed(line)
    fwd.flush()
    fwd.feed(b"after\n")
    os.close(w)
    t.join(timeout=30)
    assert not t.is_alive()
    lines = bytes(got).split(b"\n")
    assert lines[-1] == b"" and lines[-2] == b"r-1\tafter"
    pieces = lines[:-2]
    assert all(p.startswith(b"r-1\t") for p in pieces)
    assert unmark([p[len(b"r-1\t"):] for p in pieces]) == line


def test_forwarder_survives_a_closed_reader(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.close(r)
    fwd = LogForwarder(out_fd=w)
    fwd.feed(b"nobody listens\n")  # EPIPE: dropped, not raised
    fwd.flush()
    assert "nobody listens" in fwd.tail()


def devnull_forwarder() -> LogForwarder:
    fd = os.open(os.devnull, os.O_WRONLY)
    return LogForwarder(out_fd=fd)


def test_tail_keeps_the_last_lines() -> None:
    fwd = devnull_forwarder()
    assert fwd.tail() == ""
    fwd.feed(b"".join(b"line %d\n" % i for i in range(30)))
    assert fwd.tail() == "\n".join(f"line {i}" for i in range(30 - TAIL_LINES, 30))
    os.close(fwd.out_fd)


def test_tail_includes_the_flushed_rest_without_request_id() -> None:
    fwd = devnull_forwarder()
    fwd.request_id = "r-1"
    fwd.feed(b"a\nb")
    fwd.flush()
    assert fwd.tail() == "a\nb"
    os.close(fwd.out_fd)


def test_tail_keeps_at_most_4_kib() -> None:
    fwd = devnull_forwarder()
    fwd.feed(b"".join(bytes([0x61 + i]) * 999 + b"\n" for i in range(10)))
    tail = fwd.tail()
    # 1000 bytes per line with its separator: four fit in 4096, five do not.
    assert tail == "\n".join(chr(0x61 + i) * 999 for i in range(6, 10))
    assert len(tail.encode()) <= TAIL_BYTES
    os.close(fwd.out_fd)


def test_tail_of_one_huge_line_is_its_end() -> None:
    fwd = devnull_forwarder()
    fwd.feed(b"s" * 10_000 + b"E" * 10 + b"\n")
    tail = fwd.tail()
    assert len(tail) == TAIL_BYTES and tail.endswith("E" * 10)
    os.close(fwd.out_fd)


def test_tail_replaces_bad_utf8() -> None:
    fwd = devnull_forwarder()
    fwd.feed("caf\u00e9 ".encode() + b"\xff\n")
    assert fwd.tail() == "caf\u00e9 \ufffd"
    os.close(fwd.out_fd)


@settings(deadline=None, max_examples=100)
@given(st.lists(st.binary(max_size=3000), max_size=40))
def test_tail_is_bounded(chunks: list[bytes]) -> None:
    fwd = devnull_forwarder()
    try:
        for c in chunks:
            fwd.feed(c)
        fwd.flush()
        tail = fwd.tail()
        assert tail.count("\n") + 1 <= TAIL_LINES
        assert len(tail.encode("utf-8", "surrogatepass")) <= TAIL_BYTES * 3  # U+FFFD is 3 bytes
        assert len(tail) <= TAIL_BYTES
    finally:
        os.close(fwd.out_fd)
