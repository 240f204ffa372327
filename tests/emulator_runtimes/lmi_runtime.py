"""A multi-slot Lambda runtime for the emulator's LMI-mode tests, speaking raw HTTP.

Opens LMI_SLOTS keep-alive connections (default: AWS_LAMBDA_MAX_CONCURRENCY),
each looping GET /next -> act -> POST, like AWS's runtimes on Managed Instances.
Each event is JSON: {"sleep": seconds, "do": "echo" | "error" | "exit"}.  The
answer tells the test what the runtime saw: slot, pid, the /next headers, how
the body was framed (chunk sizes) and the event.  The status of every post is
appended to EMU_TEST_LOG as "<request id> <status> <body>".
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time

HOST, PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
LOG = os.environ.get("EMU_TEST_LOG")
SLOTS = int(os.environ.get("LMI_SLOTS") or os.environ["AWS_LAMBDA_MAX_CONCURRENCY"])
NEXT = "/2018-06-01/runtime/invocation/next"
_log_lock = threading.Lock()


def note(text: str) -> None:
    if LOG:
        with _log_lock, open(LOG, "a") as f:
            f.write(text + "\n")


class Conn:
    def __init__(self) -> None:
        self.sock = socket.create_connection((HOST, int(PORT)))
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("emulator closed the connection")
        self.buf += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
        lines = [f"{method} {path} HTTP/1.1", "Host: runtime"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status = int(self._line().split()[1])
        raw: list[tuple[str, str]] = []
        while True:
            line = self._line()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            raw.append((name, value.strip()))
        hdrs = {k.lower(): v for k, v in raw}
        chunks: list[int] = []
        if hdrs.get("transfer-encoding") == "chunked":
            parts = []
            while True:
                size = int(self._line(), 16)
                if size == 0:
                    self._line()
                    break
                parts.append(self._take(size))
                chunks.append(size)
                self._take(2)
            data = b"".join(parts)
        else:
            data = self._take(int(hdrs.get("content-length", "0")))
        return status, raw, data, chunks


def slot_loop(slot: int) -> None:
    conn = Conn()
    while True:
        status, raw, event, chunks = conn.request("GET", NEXT)
        if status != 200:
            note(f"next {status} {event.decode(errors='replace')}")
            time.sleep(0.05)
            continue
        hdrs = {k.lower(): v for k, v in raw}
        rid = hdrs["lambda-runtime-aws-request-id"]
        try:
            doc = json.loads(event)
        except ValueError:
            doc = {"raw": len(event)}
        if not isinstance(doc, dict):
            doc = {}
        if doc.get("sleep"):
            time.sleep(float(doc["sleep"]))
        what = doc.get("do", "echo")
        if what == "exit":
            os._exit(int(doc.get("code", 3)))
        seen = {
            "slot": slot,
            "pid": os.getpid(),
            "header_names": [k for k, _ in raw],
            "headers": hdrs,
            "chunks": chunks,
            "len": len(event),
            "event": doc if "raw" not in doc else None,
            "echo": event.decode("latin-1") if doc.get("echo_raw") else None,
        }
        body = json.dumps(seen).encode()
        if what == "error":
            path = f"/2018-06-01/runtime/invocation/{rid}/error"
            st, _, answer, _ = conn.request("POST", path, body, {"Lambda-Runtime-Function-Error-Type": "Function.Boom", "Content-Type": "application/json"})
        else:
            path = f"/2018-06-01/runtime/invocation/{rid}/response"
            st, _, answer, _ = conn.request("POST", path, body, {"Content-Type": "application/json"})
        note(f"{rid} {st} {answer.decode(errors='replace').strip()}")


def main() -> None:
    for i in range(SLOTS):
        threading.Thread(target=slot_loop, args=(i,), daemon=True).start()
    note(f"started pid={os.getpid()} slots={SLOTS} max={os.environ.get('AWS_LAMBDA_MAX_CONCURRENCY')}")
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
