"""A jsonl-kind worker (docs/jsonl.md) that misbehaves on command, for the tests.

Per-invocation faults come from the event: {"fault": NAME, ...}; anything
else is echoed back as the result.  Start-up faults come from JSONL_START.
Written with raw file objects, not a helper, so that it can break the rules.
"""

import json
import os
import signal
import subprocess
import sys
import time

IN = sys.stdin.buffer
OUT = sys.stdout.buffer
seen = 0


def send(obj, end=b"\n"):
    OUT.write(json.dumps(obj, ensure_ascii=False).encode() + end)
    OUT.flush()


def hang():
    while True:
        time.sleep(3600)


def start():
    mode = os.environ.get("JSONL_START", "")
    if mode == "init_error":
        send({"init_error": {"type": "Function.InitBoom", "message": "init went boom", "stack_trace": ["at init"]}})
        sys.exit(1)
    if mode == "garbage":
        OUT.write(b"starting up... secret-token-123\n")
        OUT.flush()
        hang()
    if mode == "exit":
        print("dying before ready", file=sys.stderr)
        sys.exit(4)
    if mode == "hang":
        hang()
    if mode != "silent":  # silent: relies on `ready: spawn`
        send({"ready": True})


def handle(line, msg):
    global seen
    rid, event = msg["id"], msg["event"]
    fault = event.get("fault") if isinstance(event, dict) else None
    if fault is None:
        return send({"id": rid, "result": event})
    if fault == "line":  # the exact line received, and the other keys
        return send({"id": rid, "result": {"line": line.decode(), "keys": list(msg), "seen": seen}})
    if fault == "seen":
        return send({"id": rid, "result": seen})
    if fault == "pid":
        return send({"id": rid, "result": os.getpid()})
    if fault == "error":
        return send({"id": rid, "error": {"type": "my_crate::BadInput", "message": "bad value", "stack_trace": ["File x, line 1"]}})
    if fault == "exit":
        print("about to exit", file=sys.stderr, flush=True)
        os._exit(event["code"])
    if fault == "signal":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "pipeline":
        pids = event["pids"]
        subprocess.Popen(["sh", "-c", f"sh -c 'echo $$ >>{pids}; exec sleep 1000' | sh -c 'echo $$ >>{pids}; exec cat' | cat"])
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open(pids, "a") as f:
            f.write(f"{os.getpid()}\n")
        hang()
    if fault == "wrong_id":
        return send({"id": "not-" + rid, "result": "secret-wrong-id"})
    if fault == "print":
        OUT.write(b"hello from print secret-print-456\n")
        return OUT.flush()
    if fault == "crlf":
        return send({"id": rid, "result": "crlf"}, end=b"\r\n")
    if fault == "pieces":
        data = json.dumps({"id": rid, "result": "x" * 100_000}).encode() + b"\n"
        for i in range(0, len(data), 30_000):
            OUT.write(data[i : i + 30_000])
            OUT.flush()
            time.sleep(0.02)
        return None
    if fault == "two_replies":
        send({"id": rid, "result": "first"})
        return send({"id": rid, "result": "second"})
    if fault == "big_result":
        return send({"id": rid, "result": "x" * (7 * 1024 * 1024)})
    if fault == "unicode":
        return send({"id": rid, "result": {"text": "h\u00e9llo \u2713 \U0001F600 \u65e5\u672c"}})
    if fault == "log":
        print("log line from the worker", file=sys.stderr, flush=True)
        return send({"id": rid, "result": "logged"})
    if fault == "no_type":
        return send({"id": rid, "error": {"message": "no type"}})
    return send({"id": rid, "error": {"type": "Unknown.Fault", "message": fault}})


def main():
    global seen
    if os.environ.get("JSONL_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    start()
    while True:
        line = IN.readline()
        if not line:
            print("stdin closed: exiting", file=sys.stderr, flush=True)
            return 0
        try:
            msg = json.loads(line)
        except ValueError:
            print(f"got a line that is not JSON: {line[:40]!r}", file=sys.stderr, flush=True)
            return 70
        seen += 1
        handle(line.rstrip(b"\n"), msg)


sys.exit(main())
