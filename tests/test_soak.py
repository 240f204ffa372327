"""Issue #5, the short soak: 5,000 invocations after a 2,000 warm-up over one
supervisor (tests/soak.py runs the full 100,000).  The supervisor's RSS may
grow by less than 2 MB and its fd count must not change."""

from __future__ import annotations

import pytest

from soak import RSS_BAR, soak


@pytest.mark.slow
def test_short_soak_rss_and_fds_flat() -> None:
    rep = soak(count=5_000, warmup=2_000, every=1_000, worker="python")
    table = "\n".join(f"{s.done:>6}: rss {s.rss // 1024} KB, fds {s.fds}" for s in rep.samples)
    assert rep.wrong == 0 and rep.handed_out == rep.answered == 7_000, table
    assert rep.launches == 1, "the supervisor was restarted"
    assert rep.fds_constant, f"fd count changed:\n{table}"
    assert rep.rss_growth < RSS_BAR, f"RSS grew by {rep.rss_growth // 1024} KB:\n{table}"
