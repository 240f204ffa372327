"""The worker's life: take the stream off stdio, load user code, say `ready`
(or `init_error`), then answer one `invoke` after another until `shutdown` or
EOF.  A handler exception answers that invoke with an `error` frame and the
loop goes on; a malformed frame from the supervisor ends the worker with 70.
"""

from __future__ import annotations

import os
import sys

# typing is only for annotations (strings here): importing it costs ~2 ms a start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Mapping

from dispatcher_worker import _stream, _wire
from dispatcher_worker._channel import Channel
from dispatcher_worker._context import ContextError, FunctionInfo, LambdaContext
from dispatcher_worker._logging import Logs
from dispatcher_worker._trace_env import TraceEnv
from dispatcher_worker._errors import (
    MARSHAL_ERROR,
    RESPONSE_SIZE_TOO_LARGE,
    UNMARSHAL_ERROR,
    Failure,
    describe,
)

__all__ = ["serve", "serve_spec", "report_usage_error", "EX_SOFTWARE"]

EX_SOFTWARE = 70  # malformed frame from the supervisor (sysexits.h)
EX_INIT = 1  # after init_error: the protocol allows any status


def serve(
    handler: Callable[[Any, LambdaContext], Any], *, raw: bool = False, init: Callable[[], Any] | None = None
) -> int:
    """Serve `handler(event, context)` until the supervisor shuts the worker down.

    For programs that run themselves (`if __name__ == "__main__": serve(handler)`).
    `init`, when given, runs after the stream is protected and before `ready`;
    an exception from it is reported as init_error.  Returns the exit status
    (0 after shutdown or EOF): pass it to sys.exit().
    """
    channel = _open_channel()
    if channel is None:
        return EX_SOFTWARE
    logs = Logs(os.environ)
    logs.watch_imports()
    if init is not None:
        try:
            init()
        except Exception as exc:
            return _init_failed(channel, exc)
    return _Server(channel, handler, raw, os.environ, logs).run()


def serve_spec(spec: str, *, raw: bool = False) -> int:
    """`python -m dispatcher_worker SPEC`: import the handler named by SPEC, then serve it."""
    from dispatcher_worker._loader import load_handler

    channel = _open_channel()
    if channel is None:
        return EX_SOFTWARE
    logs = Logs(os.environ)
    logs.watch_imports()  # before user code: its logging setup sees the Lambda handler
    try:
        handler = load_handler(spec)
    except Exception as exc:
        return _init_failed(channel, exc)
    return _Server(channel, handler, raw, os.environ, logs).run()


def report_usage_error(error_type: str, message: str) -> None:
    """An init_error for a bad command line, so `dispatcher invoke` shows it too."""
    channel = _open_channel()
    if channel is not None:
        _send_init_error(channel, error_type, message, [])


def _open_channel() -> Channel | None:
    text = os.environ.get("DISPATCHER_MAX_FRAME", "")
    max_frame = _wire.DEFAULT_MAX_FRAME
    if text:
        try:
            max_frame = int(text)
            if max_frame <= 0:
                raise ValueError
        except ValueError:
            _diagnose(f"DISPATCHER_MAX_FRAME={text!r} is not a positive number of bytes; "
                      "the supervisor sets it from max_frame in dispatcher.yaml")
            return None
    return Channel.take_stdio(max_frame)


def _init_failed(channel: Channel, exc: Exception) -> int:
    error = describe(exc)
    Logs(os.environ).log_error(*error)  # as awslambdaric logs an init failure
    _send_init_error(channel, *error)
    return EX_INIT


def _send_init_error(channel: Channel, error_type: str, message: str, stack: list[str]) -> None:
    _flush_stdio()
    try:
        channel.write_bytes(_wire.error("init_error", None, error_type, message, stack))
    except BrokenPipeError:
        _diagnose(f"init failed ({error_type}: {message}) and the supervisor is gone")


def _diagnose(text: str) -> None:
    try:
        sys.stderr.write(f"dispatcher_worker: {text}\n")
        sys.stderr.flush()
    except Exception:
        os.write(2, f"dispatcher_worker: {text}\n".encode("utf-8", "replace"))


def _flush_stdio() -> None:
    # User code may have replaced sys.stdout with anything; a failing flush
    # must not cost the reply.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


class _Server:
    __slots__ = ("channel", "handler", "raw", "function", "max_frame", "logs", "_loads", "_dumps", "_can_stream", "_trace", "_set_trace")

    def __init__(
        self, channel: Channel, handler: Callable[[Any, LambdaContext], Any], raw: bool, env: Mapping[str, str],
        logs: Logs | None = None,
    ) -> None:
        self.channel = channel
        self.handler = handler
        self.raw = raw
        self.function = FunctionInfo(env)
        self.max_frame = channel.max_frame
        self.logs = Logs(env) if logs is None else logs
        self._trace = TraceEnv()  # _X_AMZN_TRACE_ID, without setenv's leak
        self._set_trace = self._trace.set
        self.logs.maybe_install()
        self._can_stream = "stream" in env.get("DISPATCHER_FEATURES", "").split(",")
        self._loads: Callable[[Any], Any] = _lazy_loads
        self._dumps: Callable[[Any], bytes] = bytes
        if not raw:  # raw workers import no JSON code until a client context comes
            from dispatcher_worker import _codec

            self._loads = _codec.loads
            self._dumps = _codec.dumps

    def run(self) -> int:
        _flush_stdio()
        try:
            self.channel.write_bytes(_wire.ready())
            while True:
                try:
                    msg = self.channel.read()
                except _wire.FrameError as exc:
                    _diagnose(
                        f"malformed frame from the supervisor ({exc.code}: {exc.detail}); exiting with "
                        f"status {EX_SOFTWARE}. Only the supervisor may write to this worker's stdin."
                    )
                    return EX_SOFTWARE
                if msg is None or msg["type"] == "shutdown":
                    return 0
                parts = self.answer(msg)
                if parts:
                    self.channel.write(parts)
                if self._trace.wanted:  # the first trace id came: its putenv loads now, between invocations
                    self._trace.load()
        except BrokenPipeError:
            _diagnose("the supervisor closed the frame stream; exiting")
            return 1

    def answer(self, msg: dict[str, Any]) -> list[Any]:
        """The reply frame to one invoke, as buffers."""
        request_id = msg["id"]
        logs = self.logs
        logs.request_id = request_id
        logs.tenant_id = msg["tenant_id"]
        logs.maybe_install()
        self._set_trace(msg["trace_id"])
        try:
            body = self.call(msg)
            if isinstance(body, _Streamed):
                return self.stream(request_id, body.value)
            parts = _wire.encode_result(request_id, body)
            size = int.from_bytes(parts[0][: _wire.HEADER_SIZE], "big")
            if size > self.max_frame:
                raise Failure(
                    RESPONSE_SIZE_TOO_LARGE,
                    f"Response payload size ({len(body)} bytes) exceeded the worker's max_frame "
                    f"({self.max_frame} bytes); raise max_frame in dispatcher.yaml or return less",
                )
        except Exception as exc:
            error = describe(exc)
            logs.log_error(*error)
            parts = [_wire.error("error", request_id, *error)]
        _flush_stdio()
        return parts

    def stream(self, request_id: str, value: Any) -> list[Any]:
        """Send a streamed response frame by frame as the handler produces it;
        what is left to write: the closing `error` frame, or nothing."""
        write = self.channel.write
        try:
            pieces, content_type = _stream.pieces(value)
            write([_wire.stream_open(request_id, content_type)])
            for piece in pieces:
                data = _stream.as_bytes(piece)
                _flush_stdio()
                for at in range(0, len(data), _stream.CHUNK):
                    write(_wire.stream_chunk(request_id, data[at : at + _stream.CHUNK]))
        except BrokenPipeError:
            raise
        except Exception as exc:
            _flush_stdio()
            error = describe(exc)
            self.logs.log_error(*error)
            return [_wire.error("error", request_id, *error)]
        _flush_stdio()
        write([_wire.stream_end(request_id)])
        return []

    def _check_stream(self, value: Any) -> _Streamed:
        if not self._can_stream:
            raise Failure(
                MARSHAL_ERROR,
                "the handler returned a stream (an iterator or StreamingResponse), but the supervisor did not "
                "announce feature `stream` in DISPATCHER_FEATURES; return a value, or run a supervisor that streams",
            )
        return _Streamed(value)

    def call(self, msg: dict[str, Any]) -> Any:
        """Run the handler on one invoke; the response body (bytes-like)."""
        try:
            context = LambdaContext(msg, self.function, self._loads)
        except ContextError as exc:
            raise Failure(UNMARSHAL_ERROR, f"Unable to unmarshal input: {exc}") from None
        if self.raw:
            value = self.handler(msg["payload"], context)
            if type(value) is bytes:
                return value
            if _stream.is_stream(value):
                return self._check_stream(value)
            return _raw_body(value)
        try:
            event = self._loads(msg["payload"])
        except ValueError as exc:
            raise Failure(UNMARSHAL_ERROR, f"Unable to unmarshal input: {exc}") from None
        value = self.handler(event, context)
        if type(value) not in _PLAIN_JSON and _stream.is_stream(value):
            return self._check_stream(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return _raw_body(value)  # as awslambdaric: bytes are the body as is
        try:
            return self._dumps(value)
        except (TypeError, ValueError, RecursionError, OverflowError) as exc:
            raise Failure(MARSHAL_ERROR, f"Unable to marshal response: {exc}") from None


# Return types that are never a stream: no isinstance() against the iterator ABCs.
_PLAIN_JSON = frozenset((dict, list, str, int, float, bool, type(None)))


class _Streamed:
    """call()'s answer when the handler returned a stream."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _lazy_loads(text: Any) -> Any:
    """JSON for raw mode, where only a client context or identity header needs it."""
    from dispatcher_worker import _codec

    return _codec.loads(text)


def _raw_body(value: Any) -> bytes | bytearray | memoryview:
    if isinstance(value, (bytes, bytearray)):
        return value
    if isinstance(value, memoryview):
        return value.cast("B") if value.c_contiguous else value.tobytes()
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise Failure(MARSHAL_ERROR, f"Unable to marshal response: {exc}") from None
    raise Failure(
        MARSHAL_ERROR,
        "Unable to marshal response: a raw handler must return bytes, bytearray, memoryview "
        f"or str, not {type(value).__name__}",
    )
