"""A protocol-v1 worker that misbehaves on command, for the supervisor's tests.

It speaks the frames by hand (not through the Python adapter) so that it can
break them.  Per-invocation faults come from the event: {"fault": NAME, ...}.
Start-up faults come from the environment: FAULTY_START=NAME, or from the
file named by FAULTY_START_FILE (read at each start, so a test can change the
behaviour of the next replacement worker).
"""

import json
import os
import signal
import struct
import subprocess
import sys
import time

import msgpack

IN = sys.stdin.buffer
OUT = sys.stdout.buffer


def frame(msg):
    body = msgpack.packb(msg, use_bin_type=True)
    return struct.pack(">I", len(body)) + body


def send(msg):
    OUT.write(frame(msg))
    OUT.flush()


def read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = IN.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_msg():
    head = read_exact(4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    return msgpack.unpackb(read_exact(n), raw=False)


def hang():
    while True:
        time.sleep(3600)


def start_fault():
    name = os.environ.get("FAULTY_START", "")
    path = os.environ.get("FAULTY_START_FILE")
    if path and os.path.exists(path):
        with open(path) as f:
            name = f.read().strip()
    return name


def startup():
    fault = start_fault()
    if fault == "exit_before_ready":
        sys.stderr.write("faulty: exiting before ready\n")
        sys.exit(4)
    if fault == "init_error":
        send({"type": "init_error", "error_type": "Function.InitBoom", "error_message": "init went boom", "stack_trace": ["line 1", "line 2"]})
        sys.exit(1)
    if fault == "garbage_before_ready":
        OUT.write(b"hello from a print statement\n")
        OUT.flush()
        hang()
    if fault == "hang_before_ready":
        hang()
    if fault == "slow_ready":
        time.sleep(float(os.environ.get("FAULTY_READY_DELAY", "0.5")))
    send({"type": "ready", "protocol": 1, "features": []})
    if fault == "exit_after_ready":
        sys.exit(0)
    if fault == "reply_before_invoke":
        # A reply while no invocation is in flight, a moment after `ready`.
        time.sleep(0.05)
        send({"type": "result", "id": "nobody-asked", "payload": b'"unsolicited"'})


def handle(msg):
    rid = msg["id"]
    payload = msg["payload"]
    try:
        event = json.loads(payload)
    except ValueError:
        event = {}
    if not isinstance(event, dict):
        event = {}
    fault = event.get("fault", "echo")
    if fault == "echo":
        send({"type": "result", "id": rid, "payload": payload})
    elif fault == "context":
        ctx = {k: msg.get(k) for k in ("id", "deadline_ms", "function_arn", "trace_id", "client_context", "cognito_identity", "tenant_id")}
        ctx["env_runtime_api"] = os.environ.get("AWS_LAMBDA_RUNTIME_API")
        ctx["env_protocol"] = os.environ.get("DISPATCHER_PROTOCOL")
        ctx["env_max_frame"] = os.environ.get("DISPATCHER_MAX_FRAME")
        ctx["sigpipe_default"] = signal.getsignal(signal.SIGPIPE) == signal.SIG_DFL
        ctx["pgid_is_pid"] = os.getpgid(0) == os.getpid()
        send({"type": "result", "id": rid, "payload": json.dumps(ctx).encode()})
    elif fault == "error":
        send({"type": "error", "id": rid, "error_type": event.get("type", "ValueError"), "error_message": "bad value", "stack_trace": ["File x, line 1"]})
    elif fault == "error_bad_utf8":
        body = msgpack.packb({"type": "error", "id": rid, "error_type": "Oops"}, use_bin_type=True)
        # Hand-patch: a map with 5 entries incl. raw invalid UTF-8 str values.
        m = {"type": "error", "id": rid, "error_type": "Oops", "error_message": "X", "stack_trace": ["Y"]}
        body = msgpack.packb(m, use_bin_type=True).replace(b"\xa1X", b"\xa3\xff\xfeZ").replace(b"\xa1Y", b"\xa2\xc3\x28")
        OUT.write(struct.pack(">I", len(body)) + body)
        OUT.flush()
    elif fault == "log":
        for i in range(int(event.get("lines", 3))):
            sys.stderr.write(f"log line {i}\n")
        sys.stderr.write("no newline at the end")
        sys.stderr.flush()
        send({"type": "result", "id": rid, "payload": b'"logged"'})
    elif fault == "lines":
        # Exactly these lines on stderr (no newline added inside a line: a
        # `\r` in one stands for a newline of a multi-line record).
        sys.stderr.write("".join(line + "\n" for line in event["lines"]))
        sys.stderr.flush()
        send({"type": "result", "id": rid, "payload": b'"logged"'})
    elif fault == "stderr_flood":
        chunk = b"x" * 1023 + b"\n"
        for _ in range(int(event.get("mb", 10)) * 1024):
            sys.stderr.buffer.write(chunk)
        sys.stderr.flush()
        send({"type": "result", "id": rid, "payload": b'"flooded"'})
    elif fault == "long_line":
        sys.stderr.buffer.write(b"y" * int(event.get("bytes", 10 * 1024 * 1024)))
        sys.stderr.flush()
        send({"type": "result", "id": rid, "payload": b'"long"'})
    elif fault == "exit":
        sys.stderr.write("about to exit\n")
        sys.stderr.flush()
        os._exit(int(event.get("code", 3)))
    elif fault == "signal":
        os.kill(os.getpid(), getattr(signal, event.get("sig", "SIGKILL")))
        hang()
    elif fault == "hang":
        hang()
    elif fault == "hang_ignore_term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        hang()
    elif fault == "half_frame":
        data = frame({"type": "result", "id": rid, "payload": b"x" * 100})
        OUT.write(data[: len(data) // 2])
        OUT.flush()
        hang()
    elif fault == "slow_frame":
        for b in frame({"type": "result", "id": rid, "payload": payload}):
            OUT.write(bytes([b]))
            OUT.flush()
            time.sleep(0.002)
    elif fault == "zero_length":
        OUT.write(b"\0\0\0\0")
        OUT.flush()
        hang()
    elif fault == "huge_length":
        OUT.write(b"\xff\xff\xff\xff")
        OUT.flush()
        hang()
    elif fault == "not_map":
        body = msgpack.packb([1, 2, 3])
        OUT.write(struct.pack(">I", len(body)) + body)
        OUT.flush()
        hang()
    elif fault == "no_type":
        body = msgpack.packb({"id": rid})
        OUT.write(struct.pack(">I", len(body)) + body)
        OUT.flush()
        hang()
    elif fault == "unknown_type":
        send({"type": "bogus", "id": rid})
        hang()
    elif fault == "print":
        OUT.write(b"hello, I printed to stdout\n")
        OUT.flush()
        hang()
    elif fault == "print_after_reply":
        send({"type": "result", "id": rid, "payload": b'"first"'})
        OUT.write(b"stray output after the reply\n")
        OUT.flush()
    elif fault in ("two_replies_at_once", "print_with_reply"):
        # One write: the extra bytes arrive with the reply, never during the
        # next invocation (separate writes race it: two_replies, print_after_reply).
        extra = frame({"type": "result", "id": rid, "payload": b'"two"'}) if fault == "two_replies_at_once" else b"stray output after the reply\n"
        OUT.write(frame({"type": "result", "id": rid, "payload": b'"one"'}) + extra)
        OUT.flush()
    elif fault == "wrong_id":
        send({"type": "result", "id": "not-" + rid, "payload": b"{}"})
        hang()
    elif fault == "two_replies":
        send({"type": "result", "id": rid, "payload": b'"one"'})
        send({"type": "result", "id": rid, "payload": b'"two"'})
    elif fault == "close_stdout":
        os.close(1)
        sys.stdout = None
        hang()
    elif fault == "close_stdin":
        os.close(0)
        send({"type": "result", "id": rid, "payload": b'"closed stdin"'})
    elif fault == "close_stdin_stay":
        # Close stdin but stay alive: the next invoke cannot be written.
        os.close(0)
        send({"type": "result", "id": rid, "payload": b'"closed stdin"'})
        hang()
    elif fault == "error_echo":
        # An error whose message is the event: what the caller may see, never the logs.
        send({"type": "error", "id": rid, "error_type": "EchoError", "error_message": payload.decode("utf-8", "replace"), "stack_trace": []})
    elif fault == "result_map":
        send({"type": "result", "id": rid, "payload": {"ok": True, "text": "h\u00e9llo", "n": [1, 2.5, None]}})
    elif fault == "result_nan":
        send({"type": "result", "id": rid, "payload": {"x": float("nan")}})
    elif fault == "result_bin_inside":
        send({"type": "result", "id": rid, "payload": {"x": b"\x00"}})
    elif fault == "big_result":
        send({"type": "result", "id": rid, "payload": b'"' + b"a" * int(event.get("bytes", 7 * 1024 * 1024)) + b'"'})
    elif fault == "setsid_grandchild":
        # A grandchild in its own session that would outlive a naive killpg.
        # The mark appears whole (renamed into place): a reader never sees it empty.
        subprocess.Popen([sys.executable, "-c", "import os,time; os.setsid(); m = os.environ['MARK']; open(m + '.tmp','w').write(str(os.getpid())); "
                          "os.rename(m + '.tmp', m); time.sleep(300)"],
                               env=dict(os.environ, MARK=event["mark"]), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        while not os.path.exists(event["mark"]):
            time.sleep(0.01)
        if event.get("then") == "exit":
            os._exit(2)
        hang()
    elif fault == "grandchild_holds_pipes":
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])  # inherits stdout/stderr
        os._exit(5)
    elif fault == "children_ignore_term":
        for _ in range(int(event.get("n", 50))):
            subprocess.Popen([sys.executable, "-c", "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        hang()
    elif fault == "yes_head":
        out = subprocess.run(["sh", "-c", "yes | head -1"], capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
        send({"type": "result", "id": rid, "payload": json.dumps(out.stdout.decode()).encode()})
    elif fault == "grow":
        global _ballast
        _ballast = bytearray(int(event.get("mb", 64)) * 1024 * 1024)
        for i in range(0, len(_ballast), 4096):
            _ballast[i] = 1
        send({"type": "result", "id": rid, "payload": b'"grown"'})
    elif fault == "exit_after_reply":
        send({"type": "result", "id": rid, "payload": str(os.getpid()).encode()})
        time.sleep(float(event.get("delay", 0.05)))  # the next invoke may arrive meanwhile, unread
        os._exit(0)
    elif fault == "pid":
        send({"type": "result", "id": rid, "payload": str(os.getpid()).encode()})
    else:
        send({"type": "error", "id": rid, "error_type": "Function.UnknownFault", "error_message": f"unknown fault {fault!r}", "stack_trace": []})


_ballast = None


def main():
    startup()
    while True:
        msg = read_msg()
        if msg is None or msg.get("type") == "shutdown":
            return 0
        if msg.get("type") == "invoke":
            handle(msg)


if __name__ == "__main__":
    sys.exit(main())
