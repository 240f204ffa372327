"""A runtime that replays a recorded RAPID conversation against the emulator.

Started by the emulator as its runtime (argv: plan.json, output folder; the
plan points into the recorded request.bin).  Each launch plays the next
"process" of the plan.  Its connections are played each in a thread, started
in recorded order: the next one starts when the previous one has finished or
is waiting in an extension's event/next long poll (which an invoke on a later
connection will answer).  Requests are sent as recorded, except that recorded
request ids and extension ids are replaced by the live ones (learnt from the
live answers).  Every response is appended, raw, to <output>/conn-<n>.bin.
A request the recording shows unanswered is sent and left open; then the
process waits to be killed (or exits 1, when the recorded runtime did).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire import read_response  # noqa: E402

LONG_POLL = b"GET /2020-01-01/extension/event/next "
LEARNT = (b"Lambda-Runtime-Aws-Request-Id", b"Lambda-Extension-Identifier")


def play(conn: dict, recorded: bytes, address: tuple[str, int], out: str, ids: dict[bytes, bytes], turn: threading.Event) -> None:
    sock = socket.create_connection(address)
    buf = bytearray()
    try:
        with open(os.path.join(out, "conn-%d.bin" % conn["number"]), "ab") as log:
            for i, (at, length) in enumerate(conn["requests"]):
                raw = recorded[at : at + length]
                for old, new in list(ids.items()):
                    raw = raw.replace(old, new)
                sock.sendall(raw)
                if raw.startswith(LONG_POLL):
                    turn.set()  # the next connection may start: an invoke there answers this poll
                if i >= conn["answered"]:
                    break  # RAPID never answered this one: leave it open
                msg = read_response(sock, buf)
                log.write(msg.raw)
                log.flush()
                recorded_id = conn["learn"][i]
                live_id = next((v for v in (msg.header(h) for h in LEARNT) if v), None)
                if recorded_id and live_id:
                    ids[recorded_id.encode()] = live_id
    finally:
        turn.set()
    threading.Event().wait()  # keep the socket open, as the recorded runtime did


def main() -> None:
    plan = json.loads(open(sys.argv[1]).read())
    out = sys.argv[2]
    with open(plan["request_file"], "rb") as f:
        recorded = f.read()
    counter = os.path.join(out, "launches")
    launch = int(open(counter).read()) if os.path.exists(counter) else 0
    with open(counter, "w") as f:
        f.write(str(launch + 1))
    process = plan["processes"][launch]
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
    ids: dict[bytes, bytes] = {}
    threads = []
    for conn in process["connections"]:
        turn = threading.Event()
        t = threading.Thread(target=play, args=(conn, recorded, (host, int(port)), out, ids, turn), daemon=True)
        t.start()
        threads.append(t)
        turn.wait()
    if process["then"] == "exit":
        os._exit(1)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
