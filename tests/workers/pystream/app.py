"""Streaming handlers on the Python adapter (tests/test_streaming.py)."""

import asyncio
import time

from dispatcher_worker import StreamingResponse, http_response


def handler(event, context):
    mode = event["mode"]
    if mode == "big":  # `size` bytes of a fixed pattern, in pieces of 100 000 bytes
        size = event["size"]
        pattern = bytes(range(256)) * 400
        progress = event.get("progress")  # a file: how many bytes were handed over so far

        def big():
            left = size
            while left:
                piece = pattern[: min(left, 100_000)]
                left -= len(piece)
                yield piece
                if progress:
                    with open(progress, "w") as f:
                        f.write(str(size - left))

        return big()
    if mode == "slow":  # a chunk, a pause, a chunk; each says when it was written
        def slow():
            yield f"first {time.time():.6f}\n"
            time.sleep(event["pause"])
            yield f"second {time.time():.6f}\n"

        return slow()
    if mode == "async":
        async def agen():
            for i in range(3):
                await asyncio.sleep(0.01)
                yield f"async-{i};"

        return StreamingResponse(agen(), content_type="text/plain")
    if mode == "http":
        def body():
            yield "<h1>hello</h1>"
            yield b" streamed"

        return http_response(
            body(), status_code=201, headers={"content-type": "text/html", "x-custom": "yes"}, cookies=["a=1; Path=/", "b=2"]
        )
    if mode == "list":  # a list is JSON, never a stream
        return [1, 2, 3]
    raise ValueError(f"unknown mode {mode}")
