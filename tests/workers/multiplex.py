"""A protocol-v1 worker for the concurrency tests: each invoke runs on its own
thread, so that it can take several at once.

It announces `multiplex` in `ready` when the supervisor offers it
(DISPATCHER_FEATURES) and MULTIPLEX is not "off"; otherwise it is a plain
worker, one invocation at a time (the supervisor then runs a pool of them).
The event says what to do: {"sleep": S} answers after S seconds with
{"pid", "start", "end"} (time.time()), {"hang": true} never answers,
{"crash": true} exits with status 3; {"mark": PATH} also writes PATH when it starts;
{"log": TEXT} writes TEXT to stderr before the reply.
"""

import json
import os
import struct
import sys
import threading
import time

import msgpack

IN = sys.stdin.buffer
OUT = sys.stdout.buffer
_lock = threading.Lock()


def send(msg):
    body = msgpack.packb(msg, use_bin_type=True)
    with _lock:
        OUT.write(struct.pack(">I", len(body)) + body)
        OUT.flush()


def read_msg():
    head = IN.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack(">I", head)
    return msgpack.unpackb(IN.read(n), raw=False)


def handle(rid, event):
    start = time.time()
    if event.get("mark"):  # tells a test that this invocation is running
        with open(event["mark"], "w") as f:
            f.write(str(os.getpid()))
    if event.get("crash"):
        os._exit(3)
    if event.get("hang"):
        while True:
            time.sleep(3600)
    time.sleep(float(event.get("sleep", 0)))
    if event.get("log"):  # a log line, written before the reply
        sys.stderr.write(event["log"] + "\n")
        sys.stderr.flush()
    body = {"pid": os.getpid(), "start": start, "end": time.time(), "tag": event.get("tag")}
    send({"type": "result", "id": rid, "payload": json.dumps(body).encode()})


def main():
    offered = os.environ.get("DISPATCHER_FEATURES", "").split(",")
    multiplex = "multiplex" in offered and os.environ.get("MULTIPLEX") != "off"
    send({"type": "ready", "protocol": 1, "features": ["multiplex"] if multiplex else []})
    while True:
        msg = read_msg()
        if msg is None or msg.get("type") == "shutdown":
            return 0
        if msg.get("type") == "invoke":
            event = json.loads(msg["payload"] or b"{}")
            t = threading.Thread(target=handle, args=(msg["id"], event), daemon=True)
            t.start()
            if not multiplex:
                t.join()  # one at a time, as a plain worker


if __name__ == "__main__":
    sys.exit(main())
