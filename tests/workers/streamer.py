"""A protocol-v1 worker that streams by hand, for the streaming tests.

It writes the `stream` frames itself (not through an adapter) so that it can
also break them.  Each event says what to do: {"steps": [STEP, ...]}, where a
STEP is one of
  ["open", content_type or null]     stream_open
  ["chunk", text]                    stream_chunk with the text's UTF-8 bytes
  ["bulk", total_bytes, chunk_size]  that many bytes of a fixed pattern, in chunks
  ["sleep", seconds]
  ["end"]                            stream_end
  ["error", type, message]           error (ends the stream)
  ["result", text]                   result (a protocol error after stream_open)
  ["frame", {map}]                   any frame, as given (id filled in when absent; a str data becomes bin)
  ["garbage"]                        bytes that are not a frame
  ["exit", status]                   os._exit(status)
  ["hang"]                           sleep forever
The worker announces feature `stream` unless STREAMER_NO_FEATURE is set.
"""

import json
import os
import struct
import sys
import time

import msgpack

IN = sys.stdin.buffer
OUT = sys.stdout.buffer


def send_raw(data):
    OUT.write(data)
    OUT.flush()


def send(msg):
    body = msgpack.packb(msg, use_bin_type=True)
    send_raw(struct.pack(">I", len(body)) + body)


def read_msg():
    head = IN.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack(">I", head)
    body = b""
    while len(body) < n:
        more = IN.read(n - len(body))
        if not more:
            return None
        body += more
    return msgpack.unpackb(body, raw=False)


def bulk(rid, total, size):
    pattern = bytes(range(256)) * (size // 256 + 1)
    body = msgpack.packb({"type": "stream_chunk", "id": rid, "data": pattern[:size]}, use_bin_type=True)
    whole = struct.pack(">I", len(body)) + body
    sent = 0
    while sent + size <= total:
        OUT.write(whole)
        sent += size
    if total > sent:
        send({"type": "stream_chunk", "id": rid, "data": pattern[: total - sent]})
    OUT.flush()


def main():
    features = [] if os.environ.get("STREAMER_NO_FEATURE") else ["stream"]
    send({"type": "ready", "protocol": 1, "features": features})
    while True:
        msg = read_msg()
        if msg is None or msg["type"] == "shutdown":
            return
        rid = msg["id"]
        event = json.loads(msg["payload"])
        for step in event.get("steps", [["open", None], ["end"]]):
            kind, args = step[0], step[1:]
            if kind == "open":
                send({"type": "stream_open", "id": rid, "content_type": args[0]})
            elif kind == "chunk":
                send({"type": "stream_chunk", "id": rid, "data": args[0].encode()})
            elif kind == "bulk":
                bulk(rid, args[0], args[1])
            elif kind == "sleep":
                time.sleep(args[0])
            elif kind == "end":
                send({"type": "stream_end", "id": rid})
            elif kind == "error":
                send({"type": "error", "id": rid, "error_type": args[0], "error_message": args[1], "stack_trace": []})
            elif kind == "result":
                send({"type": "result", "id": rid, "payload": args[0].encode()})
            elif kind == "frame":
                frame = {"id": rid, **args[0]}
                if isinstance(frame.get("data"), str):
                    frame["data"] = frame["data"].encode()  # JSON has no bytes
                send(frame)
            elif kind == "garbage":
                send_raw(b"Hello\n")
            elif kind == "exit":
                os._exit(args[0])
            elif kind == "hang":
                while True:
                    time.sleep(3600)


if __name__ == "__main__":
    main()
