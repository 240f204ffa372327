"""`dispatcher serve` as a real subprocess, for the tests that talk to its invoke endpoint.

It is started on port 0; the port is read back from the line the command
prints on stderr.  `invoke()` posts with http.client, as any HTTP caller would.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

_SERVING = re.compile(rb"serving on http://([0-9.]+):(\d+)/")


class Served:
    """A running `dispatcher serve ARGS...`; stop() ends it with SIGINT and returns its exit status."""

    def __init__(self, *args: str, cwd: str | os.PathLike[str], env: dict[str, str] | None = None, log: Path) -> None:
        full_env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
        full_env.update(env or {})
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dispatcher", "serve", "--port", "0", *args],
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,  # the runtime's output too: a file never fills up like a pipe
        )
        deadline = time.monotonic() + 30
        while (m := _SERVING.search(log.read_bytes())) is None:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.proc.kill()
                raise RuntimeError(f"dispatcher serve did not start: {log.read_bytes().decode(errors='replace')[-2000:]}")
            time.sleep(0.02)  # polling the log for the line that says it is up
        self.host, self.port = m.group(1).decode(), int(m.group(2))
        self.url = f"http://{self.host}:{self.port}/2015-03-31/functions/function/invocations"

    def invoke(self, event: bytes, headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request("POST", "/2015-03-31/functions/function/invocations", body=event, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode
