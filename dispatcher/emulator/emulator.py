"""The public face of the emulator: `Emulator`, safe to call from any thread.

It owns the server loop thread and the sandbox that runs on it, checks its
arguments once (failing loudly), and turns each `invoke()` into a queued item
that the loop serves in order while the calling thread waits.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

from .model import EmulatorClosedError, EmulatorError, EmulatorStats, InvokeResult, StreamStart
from .report import Lifecycle
from .runtime import OutputSink
from .invoke import Invoke, render_optional_headers
from .lmi import LmiSandbox
from .sandbox import Sandbox, SandboxConfig
from .server import Loop

__all__ = ["Emulator"]

_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_TIMEOUT = 900.0  # Lambda's maximum function timeout
MAX_CONCURRENCY = 10_000  # RIE-LMI's cap on waiting /next requests


def check_concurrency(value: object, what: str = "concurrency") -> int:
    """A valid LMI concurrency (1..10000), or ValueError saying what to give instead."""
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit():
            raise ValueError(f"{what} must be a whole number of slots from 1 to {MAX_CONCURRENCY}, got {value!r}")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise ValueError(f"{what} must be a whole number of slots from 1 to {MAX_CONCURRENCY}, got {value!r}")
    return value


def _check_timeout(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_TIMEOUT:
        raise ValueError(f"{what} must be a number of seconds in (0, {MAX_TIMEOUT:g}], got {value!r}")
    return float(value)


class Emulator:
    """A local Lambda Runtime API with an embedded sandbox for one function.

    >>> with Emulator(runtime_argv=[sys.executable, "-m", "dispatcher", "run"]) as emu:
    ...     result = emu.invoke(b'{"name": "Ada"}')

    `runtime_argv=[]` means the runtime is started by someone else against
    `address` (the emulator then never launches or kills anything).
    `lifecycle_log=FD` writes Lambda's START/END/REPORT lines for each invoke
    to FD (JSON platform records when the env says AWS_LAMBDA_LOG_FORMAT=JSON).

    `concurrency=N` emulates Lambda Managed Instances (RIE's LMI mode): the
    runtime starts with the emulator, gets AWS_LAMBDA_MAX_CONCURRENCY=N, and
    every /next it keeps open takes one invoke; an invoke that finds none open
    gets outcome "unavailable" (400 Runtime.Unavailable) at once, unless
    `queue=True`, which holds it until a /next opens.  Deadlines answer the
    caller but leave the runtime alone (see docs/emulator.md).
    """

    def __init__(
        self,
        *,
        runtime_argv: list[str],
        env: Mapping[str, str] | None = None,
        function_name: str = "test_function",
        function_timeout: float = 3.0,
        handler: str | None = None,
        task_root: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        runtime_stdout: OutputSink = None,
        runtime_stderr: OutputSink = None,
        init_timeout: float = 10.0,
        shutdown_grace: float = 0.5,
        lifecycle_log: int | None = None,
        concurrency: int | None = None,
        queue: bool = False,
        _autoinvoke: bytes | None = None,
    ) -> None:
        if isinstance(runtime_argv, (str, bytes)) or not all(isinstance(a, str) for a in runtime_argv):
            raise TypeError(f"runtime_argv must be a list of strings (argv), got {runtime_argv!r}")
        if not _FUNCTION_NAME.fullmatch(function_name):
            raise ValueError(f"function_name {function_name!r} is not a Lambda function name: use 1-64 of A-Z a-z 0-9 _ -")
        root = os.path.abspath(task_root if task_root is not None else os.getcwd())
        if not os.path.isdir(root):
            raise ValueError(f"task_root {root!r} is not a directory")
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535 (0 picks a free one), got {port!r}")
        base_env = dict(os.environ if env is None else env)
        self.concurrency = None if concurrency is None else check_concurrency(concurrency)
        if queue and self.concurrency is None:
            raise ValueError("queue=True holds invokes until a slot frees: it needs concurrency=N (LMI mode)")
        self._queue = bool(queue)
        if self.concurrency is not None:
            base_env["AWS_LAMBDA_MAX_CONCURRENCY"] = str(self.concurrency)
        else:
            base_env.pop("AWS_LAMBDA_MAX_CONCURRENCY", None)
        self._config = SandboxConfig(
            runtime_argv=tuple(runtime_argv),
            env=base_env,
            function_name=function_name,
            function_timeout=_check_timeout(function_timeout, "function_timeout"),
            handler=handler,
            task_root=root,
            runtime_stdout=runtime_stdout,
            runtime_stderr=runtime_stderr,
            init_timeout=_check_timeout(init_timeout, "init_timeout"),
            shutdown_grace=_check_timeout(shutdown_grace, "shutdown_grace"),
            autoinvoke=_autoinvoke,
            lifecycle=None if lifecycle_log is None else Lifecycle(
                lifecycle_log, json=(dict(os.environ if env is None else env).get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON"
            ),
        )
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._loop: Loop | None = None
        self._sandbox: Sandbox | None = None
        self._closed = False
        self._stopped = threading.Event()

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind the Runtime API and start serving.

        The runtime starts on the first invoke, or now in LMI mode (`concurrency`).
        """
        with self._lock:
            if self._closed:
                raise EmulatorClosedError("this emulator was closed; create a new one")
            if self._loop is not None:
                return self
            loop = Loop(self._host, self._port)
            if self.concurrency is None:
                sandbox = Sandbox(loop, self._config)
            else:
                sandbox = LmiSandbox(loop, self._config, queue=self._queue)
            sandbox.on_closed = self._stopped.set
            loop.start(sandbox)
            self._loop, self._sandbox = loop, sandbox
        if self.concurrency is not None:
            self.start_runtime()  # RIE-LMI starts the runtime eagerly
        return self

    def start_runtime(self) -> None:
        """Launch the runtime now instead of at the first invoke.

        Returns at once; an init failure is reported to the next invoke.
        """
        loop, sandbox = self._running()
        loop.call_soon_threadsafe(sandbox.start_runtime)

    def close(self) -> None:
        """Stop the runtime as Lambda does and release everything; idempotent.

        With an extension registered the runtime's process group gets SIGTERM and,
        after `shutdown_grace`, SIGKILL; without one it is SIGKILLed at once.
        Waiting invokes raise EmulatorClosedError.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, sandbox = self._loop, self._sandbox
        if loop is None or sandbox is None:
            return
        loop.call_soon_threadsafe(sandbox.close)
        # Bounded: grace plus the kill; a wedged loop must not hang the caller forever.
        self._stopped.wait(self._config.shutdown_grace + 10)
        loop.join(5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- properties ------------------------------------------------------------------

    @property
    def address(self) -> str:
        """host:port of the Runtime API (what AWS_LAMBDA_RUNTIME_API holds)."""
        _, sandbox = self._running()
        return sandbox.address

    @property
    def runtime_pid(self) -> int | None:
        sandbox = self._sandbox
        rt = None if sandbox is None else sandbox.runtime
        return None if rt is None else rt.pid

    @property
    def open_slots(self) -> int:
        """LMI mode: how many /next requests are waiting for an invoke now (0 in classic mode)."""
        sandbox = self._sandbox
        idle = getattr(sandbox, "idle", None)
        return 0 if idle is None else len(idle)

    @property
    def in_flight(self) -> int:
        """LMI mode: invokes handed out and not yet answered or timed out."""
        sandbox = self._sandbox
        running = getattr(sandbox, "running", None)
        return 0 if running is None else len(running)

    @property
    def stats(self) -> EmulatorStats:
        s = self._sandbox
        if s is None:
            return EmulatorStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        return EmulatorStats(
            handed_out=s.handed_out,
            answered=s.answered,
            errors=s.errors,
            posts_without_invocation_id_echo=s.no_echo,
            rejected=s.rejected + s.extensions.rejected,
            init_errors=s.init_errors,
            launches=s.launches,
            timeouts=s.timeouts,
            exits=s.exits,
            invokes=s.invokes,
            next_chunked=s.next_chunked,
        )

    # -- invoking --------------------------------------------------------------------

    def invoke(
        self,
        event: bytes,
        *,
        timeout: float | None = None,
        client_context: str | None = None,
        trace_id: str | None = None,
        tenant_id: str | None = None,
        cognito_identity: str | None = None,
        request_id: str | None = None,
        content_type: str | None = None,
    ) -> InvokeResult:
        """Run one invoke and wait for its result.

        Thread-safe: concurrent calls are queued and served one at a time, in order
        (classic mode).
        `timeout` overrides the function timeout for this invoke only.
        In LMI mode concurrent calls run at once, one per open /next, and
        `request_id` (the invoker's X-Amzn-RequestId) and `content_type` are
        passed to the runtime; `client_context` is passed as given (RIE-LMI does
        not decode the base64), `tenant_id` and `cognito_identity` are not.
        A streamed answer is collected into the result's body (invoke_stream
        hands it out as it arrives).
        """
        inv = self._make_invoke(event, timeout, client_context, trace_id, tenant_id, cognito_identity, request_id, content_type)
        loop, sandbox = self._enqueue(inv)
        done = inv.done
        # The loop always finishes an invoke (its timers bound every phase); the
        # periodic wake-up only guards against a loop thread that died.
        while not done.wait(1.0):
            if not loop.alive:
                raise EmulatorError("the emulator's server loop is gone; this invoke cannot complete")
        if inv.exc is not None:
            raise inv.exc
        assert inv.result is not None
        return inv.result

    def invoke_stream(
        self,
        event: bytes,
        *,
        timeout: float | None = None,
        client_context: str | None = None,
        trace_id: str | None = None,
        tenant_id: str | None = None,
        cognito_identity: str | None = None,
    ) -> Iterator[StreamStart | bytes | InvokeResult]:
        """Run one invoke, yielding a streamed answer as it arrives.

        For a streamed answer: a StreamStart, then each piece of the body (bytes)
        as the runtime sends it, then the InvokeResult (its `body` empty; an
        error after the first byte in `stream_error_type`/`stream_error_body`,
        or, if the runtime died or timed out mid-stream, in its outcome and
        body).  For any other answer, and in LMI mode (where the supervisor
        does not stream), only the InvokeResult.
        """
        if self.concurrency is not None:
            yield self.invoke(event, timeout=timeout, client_context=client_context, trace_id=trace_id)
            return
        sink: queue.SimpleQueue[object] = queue.SimpleQueue()
        inv = self._make_invoke(event, timeout, client_context, trace_id, tenant_id, cognito_identity, None, None)
        inv.sink = sink
        loop, sandbox = self._enqueue(inv)
        while True:
            try:
                item = sink.get(timeout=1.0)
            except queue.Empty:
                if not loop.alive:
                    raise EmulatorError("the emulator's server loop is gone; this invoke cannot complete") from None
                continue
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, bytes):
                # Taken: the loop may read the runtime again (back-pressure, streamed.STREAM_HIGH).
                n = len(item)
                loop.call_soon_threadsafe(lambda n=n: sandbox.stream_taken(inv, n))  # type: ignore[attr-defined]
            yield item  # type: ignore[misc]
            if isinstance(item, InvokeResult):
                return

    def _make_invoke(
        self, event: bytes, timeout: float | None, client_context: str | None, trace_id: str | None,
        tenant_id: str | None, cognito_identity: str | None, request_id: str | None, content_type: str | None,
    ) -> Invoke:
        if not isinstance(event, (bytes, bytearray, memoryview)):
            raise TypeError(f"event must be bytes (the raw payload), got {type(event).__name__}")
        limit = self._config.function_timeout if timeout is None else _check_timeout(timeout, "timeout")
        done = threading.Event()
        if self.concurrency is None:
            if request_id is not None or content_type is not None:
                raise ValueError("request_id and content_type reach the runtime only in LMI mode (concurrency=N)")
            return Invoke(bytes(event), limit, render_optional_headers(client_context, trace_id, tenant_id, cognito_identity), done)
        for name, value in (("request_id", request_id), ("content_type", content_type), ("client_context", client_context), ("trace_id", trace_id)):
            if value is not None and any(c in value for c in "\r\n\0"):
                raise ValueError(f"{name} must not contain CR, LF or NUL: {value[:60]!r}")
        if request_id is not None and (not request_id or "/" in request_id or " " in request_id):
            raise ValueError(f"request_id {request_id[:60]!r} must be non-empty with no '/' or space (it is part of a URL path)")
        inv = Invoke(bytes(event), limit, (b"", b""), done, request_id=request_id)
        inv.lmi_headers = (
            (content_type or "application/json").encode("latin-1", "replace"),
            (client_context or "").encode("utf-8"),
            (trace_id or "").encode("utf-8"),
        )
        return inv

    def _enqueue(self, inv: Invoke) -> tuple[Loop, Any]:
        with self._lock:
            if self._closed:
                raise EmulatorClosedError("this emulator was closed; create a new one")
        if self._loop is None:
            self.start()
        loop, sandbox = self._running()
        loop.call_soon_threadsafe(lambda: sandbox.enqueue(inv))
        return loop, sandbox

    def _running(self) -> tuple[Loop, Sandbox]:
        loop, sandbox = self._loop, self._sandbox
        if loop is None or sandbox is None:
            raise EmulatorError("the emulator is not started: call start() or use it as a context manager")
        return loop, sandbox
