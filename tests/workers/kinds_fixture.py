"""Test helper for the exec and jsonl kinds: `harness.Function` on a one-worker
config given as a dict."""

from __future__ import annotations

import json
from pathlib import Path

from harness import Function, all_gone, pid_alive, read_pids  # noqa: F401 (re-exported)


class KindFunction(Function):
    """An emulator running the real supervisor on one worker; logs go to a file."""

    def __init__(self, tmp_path: Path, worker: dict[str, object], timeout: float = 10.0, env: dict[str, str] | None = None) -> None:
        config = tmp_path / "dispatcher.yaml"
        config.write_text(json.dumps({"workers": {"w": worker}}))  # JSON is YAML
        super().__init__(tmp_path, config, timeout, env)
