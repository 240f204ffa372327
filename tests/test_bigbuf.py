"""Unit tests for dispatcher/bigbuf.py: large receive buffers reused only once nothing refers to them.

The property that matters: a buffer anybody still holds (directly, through a
memoryview, inside another object) is never handed out again, so no body is
ever overwritten under its reader.  Then: a free one of a fitting size is
reused (same object, no new allocation), sizes are exact, at most KEEP are
kept, and threads never share one.
"""

from __future__ import annotations

import random
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher import bigbuf
from dispatcher.bigbuf import KEEP, MIN_SIZE, take

KiB = 1024
MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def empty_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no kept buffers (and leaves the process's own alone)."""
    monkeypatch.setattr(bigbuf, "_kept", [])


def test_small_sizes_are_plain_new_zeroed_bytearrays() -> None:
    a = take(MIN_SIZE - 1)
    assert type(a) is bytearray and len(a) == MIN_SIZE - 1 and not any(a)
    a[:5] = b"hello"
    b = take(MIN_SIZE - 1)
    assert b is not a and not any(b)
    assert bigbuf._kept == []


def test_a_free_buffer_is_reused_and_a_held_one_never_is() -> None:
    a = take(1 * MiB)
    a[:] = b"A" * len(a)
    ident = id(a)
    b = take(1 * MiB)  # `a` is held: a different buffer
    assert b is not a and a == b"A" * MiB
    del a
    c = take(1 * MiB)  # `a` is free now: the same object again (still alive in the pool, so id() is stable)
    assert id(c) == ident and len(c) == MiB


def test_a_memoryview_or_a_container_keeps_it_held() -> None:
    a = take(MIN_SIZE)
    a[:] = bytes(range(256)) * (MIN_SIZE // 256)
    view = memoryview(a)[10:20]
    holder = {"payload": a}
    del a
    others = [take(MIN_SIZE) for _ in range(KEEP + 1)]
    assert all(o is not holder["payload"] for o in others)
    assert bytes(view) == bytes(range(10, 20))
    assert holder["payload"] == bytes(range(256)) * (MIN_SIZE // 256)


def test_reuse_resizes_in_place_within_its_allocation() -> None:
    a = take(2 * MiB)
    ident = id(a)
    del a
    smaller = take(2 * MiB - 100 * KiB)
    assert id(smaller) == ident and len(smaller) == 2 * MiB - 100 * KiB
    del smaller
    again = take(2 * MiB)  # back up to the size it was made for
    assert id(again) == ident and len(again) == 2 * MiB
    del again
    larger = take(2 * MiB + 1)  # beyond its allocation: a new one (allocations never exceed a body)
    assert id(larger) != ident and len(larger) == 2 * MiB + 1


def test_a_free_buffer_of_the_wrong_size_stays_until_room_is_needed() -> None:
    a = take(4 * MiB)
    ident = id(a)
    del a
    b = take(MIN_SIZE)  # far smaller: a new one, the 4 MiB one stays (there is room)
    assert len(b) == MIN_SIZE and id(b) != ident
    assert sorted(len(k) for k in bigbuf._kept) == [MIN_SIZE, 4 * MiB]
    del b
    c = take(4 * MiB)  # the 4 MiB one again
    assert id(c) == ident
    full = [c] + [take(8 * MiB) for _ in range(KEEP - 1)]  # every kept buffer held
    assert len(bigbuf._kept) == KEEP and all(any(f is k for k in bigbuf._kept) for f in full)
    del full, c
    d = take(MIN_SIZE)  # the pool is full of free misfits: one is let go for the new one
    assert len(d) == MIN_SIZE and len(bigbuf._kept) == KEEP and any(d is k for k in bigbuf._kept)


def test_at_most_keep_buffers_are_kept() -> None:
    held = [take(MIN_SIZE) for _ in range(KEEP + 2)]
    assert len(bigbuf._kept) == KEEP
    assert len({id(h) for h in held}) == KEEP + 2
    del held
    again = [take(MIN_SIZE) for _ in range(KEEP)]
    assert len(bigbuf._kept) == KEEP and len({id(h) for h in again}) == KEEP


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["take", "drop"]), st.integers(MIN_SIZE, MIN_SIZE * 3)), max_size=40),
       st.randoms(use_true_random=False))
def test_random_takes_and_drops_never_hand_out_a_held_buffer(ops: list[tuple[str, int]], rng: random.Random) -> None:
    bigbuf._kept = []
    live: list[tuple[bytearray, bytes]] = []  # (buffer, the stamp written into it)
    for op, n in ops:
        if op == "drop" and live:
            live.pop(rng.randrange(len(live)))
            continue
        buf = take(n)
        assert len(buf) == n
        assert all(buf is not other for other, _ in live)
        stamp = rng.randbytes(16)
        buf[:16] = stamp
        buf[-16:] = stamp
        live.append((buf, stamp))
        for other, s in live:  # nothing held was overwritten
            assert other[:16] == s and other[-16:] == s
    assert len(bigbuf._kept) <= KEEP


def test_threads_never_share_a_buffer() -> None:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    errors: list[str] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(200):
            buf = take(MIN_SIZE + rng.randrange(64 * KiB))
            stamp = seed.to_bytes(4, "big") * 4
            buf[:16] = stamp
            buf[-16:] = stamp
            for _ in range(3):
                time.sleep(0)  # let the other threads run (and take) while this one holds its buffer
                if buf[:16] != stamp or buf[-16:] != stamp:
                    errors.append(f"thread {seed}: its buffer was handed to another thread")
                    return
            del buf

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    assert len(bigbuf._kept) <= KEEP
