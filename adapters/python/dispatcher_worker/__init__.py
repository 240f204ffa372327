"""lambda-dispatcher's Python worker adapter: serves an AWS Lambda-style
handler, `handler(event, context)`, to the dispatcher supervisor over wire
protocol v1 (length-prefixed msgpack frames on stdin/stdout).

    python -m dispatcher_worker app:handler [--raw]

or, for a program that runs itself:

    from dispatcher_worker import serve
    if __name__ == "__main__":
        raise SystemExit(serve(handler))
"""

from dispatcher_worker._serve import serve
from dispatcher_worker._stream import StreamingResponse, http_response

__all__ = ["serve", "StreamingResponse", "http_response", "__version__"]
__version__ = "0.1.0"
