"""The least a Python msgpack echo worker can do per invocation: the floor
that bench/pyworker.py measures the Python adapter against
(`--adapter bench/lean-pyworker`).

One readinto() per frame, msgpack's C decoder, the reply packed and written
with one write().  Raw echo only: no validation, no context, no error
frames, no stdio protection, no partial reads; it keeps none of the adapter's
guarantees and is not a worker to deploy.
"""

import os

import msgpack

pack = msgpack.Packer(use_bin_type=True).pack
unpackb = msgpack.unpackb


def frame(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


os.write(1, frame(pack({"type": "ready", "protocol": 1, "features": []})))
buf = bytearray(1 << 18)
view = memoryview(buf)
readinto = open(0, "rb", buffering=0).readinto
while readinto(view):
    msg = unpackb(view[4 : 4 + int.from_bytes(buf[:4], "big")])
    if msg["type"] != "invoke":
        break
    os.write(1, frame(pack({"type": "result", "id": msg["id"], "payload": msg["payload"]})))
