"""A runtime that replays a recorded RAPID conversation against the emulator.

Started by the emulator as its runtime (argv: plan.json, output folder; the plan points into the recorded request.bin).  Each
launch plays the next "process" of the plan: its connections in order, each
request as recorded except that the recorded request ids are replaced by the
live ones (learnt from the live /next answers).  Every response is appended,
raw, to <output>/conn-<n>.bin.  A request the recording shows unanswered is
sent and left open; then the process waits to be killed (or exits 1, when the
recorded runtime did).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire import read_response  # noqa: E402


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
    kept = []
    for conn in process["connections"]:
        sock = socket.create_connection((host, int(port)))
        kept.append(sock)
        buf = bytearray()
        with open(os.path.join(out, "conn-%d.bin" % conn["number"]), "ab") as log:
            for i, (at, length) in enumerate(conn["requests"]):
                raw = recorded[at : at + length]
                for old, new in ids.items():
                    raw = raw.replace(old, new)
                sock.sendall(raw)
                if i >= conn["answered"]:
                    break  # RAPID never answered this one: leave it open
                msg = read_response(sock, buf)
                log.write(msg.raw)
                log.flush()
                recorded_id = conn["next_ids"][i]
                live_id = msg.header(b"Lambda-Runtime-Aws-Request-Id")
                if recorded_id and live_id:
                    ids[recorded_id.encode()] = live_id
    if process["then"] == "exit":
        sys.exit(1)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
