"""The `lean-loop` contender: the ceiling of any Python supervisor on this machine.

A deliberately minimal supervisor: blocking GET /next on one raw keep-alive
socket, one msgpack invoke frame to the bench's std-only Rust echo worker
(bench/echo-worker, protocol v1) over pipes, a blocking read of its reply
frame, POST /response.  No deadlines, no poll, no logs, no fault handling:
it carries none of the supervisor's guarantees, so it only says how fast the
Python side of such a loop can go.  Usage: lean_loop.py WORKER (the Runtime
API address comes from AWS_LAMBDA_RUNTIME_API).
"""

import os
import socket
import subprocess
import sys

import msgpack


def main() -> None:
    host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
    worker = subprocess.Popen([sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    to_worker = worker.stdin
    from_worker = os.fdopen(os.dup(worker.stdout.fileno()), "rb", buffering=256 * 1024)
    ready = from_worker.read(int.from_bytes(from_worker.read(4), "big"))
    assert msgpack.unpackb(ready)["type"] == "ready", ready
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    api = sock.makefile("rb", buffering=256 * 1024)
    base = b"/2018-06-01/runtime/invocation/"
    get_next = b"GET " + base + b"next HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n"
    post_head = b"POST " + base + b"%s/response HTTP/1.1\r\nHost: " + host.encode() + b"\r\nContent-Length: %d\r\n\r\n"
    while True:
        sock.sendall(get_next)
        request_id, length = b"", 0
        api.readline()  # status line
        while (line := api.readline()) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"lambda-runtime-aws-request-id":
                request_id = value.strip()
        event = api.read(length)
        frame = msgpack.packb({"type": "invoke", "id": request_id.decode(), "payload": event})
        to_worker.write(len(frame).to_bytes(4, "big") + frame)
        reply = msgpack.unpackb(from_worker.read(int.from_bytes(from_worker.read(4), "big")))
        payload = reply["payload"]
        sock.sendall(post_head % (request_id, len(payload)) + payload)
        api.readline()  # 202
        length = 0
        while (line := api.readline()) != b"\r\n":
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        api.read(length)


if __name__ == "__main__":
    main()
