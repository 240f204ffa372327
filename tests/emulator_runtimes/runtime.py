"""A scriptable Lambda runtime for the emulator tests, speaking raw HTTP over a socket.

argv[1] picks what happens during init; each event's JSON {"do": ...} picks what
the invoke does.  Observations the test cannot see in the invoke result (status
codes of extra posts) are appended to the file named by EMU_TEST_LOG.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

HOST, PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
LOG = os.environ.get("EMU_TEST_LOG")


def note(text: str) -> None:
    if LOG:
        with open(LOG, "a") as f:
            f.write(text + "\n")


class Conn:
    def __init__(self) -> None:
        self.sock = socket.create_connection((HOST, int(PORT)))
        self.buf = b""

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        lines = [f"{method} {path} HTTP/1.1", "Host: runtime"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("emulator closed the connection")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        hdrs = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            hdrs[name.strip().lower()] = value.strip()
        length = int(hdrs.get("content-length", "0"))
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("emulator closed the connection mid-body")
            rest += chunk
        self.buf = rest[length:]
        return int(status_line.split()[1]), hdrs, rest[:length]


def post(conn: Conn, rid: str, kind: str, body: bytes, inv: str | None, extra: dict[str, str] | None = None) -> int:
    headers = {"Content-Type": "application/json"}
    if inv is not None:
        headers["Lambda-Runtime-Invocation-Id"] = inv
    headers.update(extra or {})
    return conn.request("POST", f"/2018-06-01/runtime/invocation/{rid}/{kind}", body, headers)[0]


def hang() -> None:
    while True:
        time.sleep(60)


def extension(name: str, events: list[str]) -> None:
    """Register an internal extension and keep its event/next poll open, as Go's SIGTERM helper does."""
    conn = Conn()
    status, hdrs, body = conn.request("POST", "/2020-01-01/extension/register", json.dumps({"events": events}).encode(), {"Lambda-Extension-Name": name})
    note(f"register {status} {body.decode()}")
    if status != 200:
        return
    ext_id = hdrs["lambda-extension-identifier"]

    def poll() -> None:
        try:
            status, _, event = conn.request("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": ext_id})
            note(f"extension-event {status} {event.decode()}")
        except OSError:
            pass

    threading.Thread(target=poll, daemon=True).start()


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "normal"
    print(f"runtime starting: mode={mode} pid={os.getpid()}", file=sys.stderr, flush=True)
    if mode == "init_error":
        conn = Conn()
        status = conn.request("POST", "/2018-06-01/runtime/init/error", b'{"errorType":"Runtime.ImportModuleError","errorMessage":"no module named handler"}',
                              {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"})[0]
        note(f"init_error {status}")
        status = conn.request("GET", "/2018-06-01/runtime/invocation/next")[0]
        note(f"next_after_init_error {status}")
        sys.exit(1)
    if mode == "init_exit":
        sys.exit(3)
    if mode == "slow_init":
        hang()
    if mode == "sigterm":
        def on_term(signum: int, frame: object) -> None:
            note("sigterm")
            time.sleep(0.2)  # a graceful shutdown hook; lets the extension thread record SHUTDOWN
            os._exit(0)

        signal.signal(signal.SIGTERM, on_term)
        extension("test-sigterm-helper", [])
    if mode == "ext_shutdown":
        extension("wants-shutdown", ["SHUTDOWN"])
    holding: list[tuple[str, str | None]] = []
    if mode == "sigterm_answers":
        # As the dispatcher does: SIGTERM with an invoke in hand answers it
        # ("shutting down") before exiting; the status it got is noted.
        def answer_and_exit(signum: int, frame: object) -> None:
            for rid, inv in holding:
                body = b'{"errorType":"Runtime.ExitError","errorMessage":"runtime shutting down"}'
                note(f"sigterm post {post(Conn(), rid, 'error', body, inv)}")
            os._exit(0)

        signal.signal(signal.SIGTERM, answer_and_exit)
        extension("test-sigterm-helper", [])
    conn = Conn()
    while True:
        status, hdrs, event = conn.request("GET", "/2018-06-01/runtime/invocation/next")
        if status != 200:
            note(f"next {status}")
            sys.exit(2)
        rid = hdrs["lambda-runtime-aws-request-id"]
        inv = hdrs.get("lambda-runtime-invocation-id")
        holding[:] = [(rid, inv)]
        try:
            cmd = json.loads(event)
        except ValueError:
            cmd = {}
        if not isinstance(cmd, dict):
            cmd = {}
        do = cmd.get("do", "echo")
        echo_inv = None if cmd.get("no_echo") else inv
        if do == "echo":
            post(conn, rid, "response", event, echo_inv)
        elif do == "headers":
            post(conn, rid, "response", json.dumps(hdrs).encode(), echo_inv)
        elif do == "env":
            keys = [k for k in os.environ if k.startswith(("AWS_", "LAMBDA_", "_HANDLER", "TZ", "EMU_"))]
            post(conn, rid, "response", json.dumps({k: os.environ[k] for k in keys} | {"cwd": os.getcwd()}).encode(), echo_inv)
        elif do == "error":
            extra = {} if cmd.get("type") is None else {"Lambda-Runtime-Function-Error-Type": cmd["type"]}
            body = json.dumps({"errorType": "MyError", "errorMessage": "boom", "stackTrace": []}).encode()
            note(f"error {post(conn, rid, 'error', body, echo_inv, extra)}")
        elif do == "exit":
            sys.exit(cmd.get("code", 0))
        elif do == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif do == "respond_exit":
            post(conn, rid, "response", b'{"said":"bye"}', echo_inv)
            sys.exit(0)
        elif do == "hang":
            if mode == "sigterm_answers":
                note("holding")
            hang()
        elif do == "spawn_hang":
            # A grandchild that leaves the process group, as a daemonising worker would.
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
            with open(cmd["pidfile"], "w") as f:
                f.write(str(child.pid))
            hang()
        elif do == "twice":
            first = post(conn, rid, "response", b'"first"', echo_inv)
            second = post(conn, rid, "response", b'"second"', echo_inv)
            err = post(conn, rid, "error", b'{"errorType":"X","errorMessage":"late"}', echo_inv)
            note(f"twice {first} {second} {err}")
        elif do == "wrong_id":
            status = post(conn, rid[::-1], "response", b'"wrong"', echo_inv)
            note(f"wrong_id {status}")
            post(conn, rid, "response", b'"right"', echo_inv)
        elif do == "wrong_invocation_id":
            status = post(conn, rid, "response", b'"stale"', "not-" + (inv or ""))
            note(f"wrong_invocation_id {status}")
            post(conn, rid, "response", b'"fresh"', echo_inv)
        elif do == "big":
            status = post(conn, rid, "response", b"x" * cmd["size"], echo_inv)
            err = post(conn, rid, "error", b'{"errorType":"X","errorMessage":"after 413"}', echo_inv)
            note(f"big {status} {err}")
        else:
            post(conn, rid, "error", json.dumps({"errorType": "Test.UnknownCommand", "errorMessage": do}).encode(), echo_inv)


if __name__ == "__main__":
    main()
