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

from .model import EmulatorClosedError, EmulatorError, EmulatorStats, InvokeResult, StreamStart
from .report import Lifecycle
from .runtime import OutputSink
from .invoke import Invoke, render_optional_headers
from .sandbox import Sandbox, SandboxConfig
from .server import Loop

__all__ = ["Emulator"]

_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_TIMEOUT = 900.0  # Lambda's maximum function timeout


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
        self._config = SandboxConfig(
            runtime_argv=tuple(runtime_argv),
            env=dict(os.environ if env is None else env),
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
        """Bind the Runtime API and start serving (the runtime starts on the first invoke)."""
        with self._lock:
            if self._closed:
                raise EmulatorClosedError("this emulator was closed; create a new one")
            if self._loop is not None:
                return self
            loop = Loop(self._host, self._port)
            sandbox = Sandbox(loop, self._config)
            sandbox.on_closed = self._stopped.set
            loop.start(sandbox)
            self._loop, self._sandbox = loop, sandbox
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
    ) -> InvokeResult:
        """Run one invoke and wait for its result.

        Thread-safe: concurrent calls are queued and served one at a time, in order.
        `timeout` overrides the function timeout for this invoke only.
        """
        inv = self._submit(event, timeout, client_context, trace_id, tenant_id, cognito_identity, None)
        loop, _ = self._running()
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
        body).  For any other answer: only the InvokeResult.
        """
        sink: queue.SimpleQueue[object] = queue.SimpleQueue()
        inv = self._submit(event, timeout, client_context, trace_id, tenant_id, cognito_identity, sink)
        loop, sandbox = self._running()
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
                loop.call_soon_threadsafe(lambda n=n: sandbox.stream_taken(inv, n))
            yield item  # type: ignore[misc]
            if isinstance(item, InvokeResult):
                return

    def _submit(
        self, event: bytes, timeout: float | None, client_context: str | None, trace_id: str | None,
        tenant_id: str | None, cognito_identity: str | None, sink: queue.SimpleQueue[object] | None,
    ) -> Invoke:
        if not isinstance(event, (bytes, bytearray, memoryview)):
            raise TypeError(f"event must be bytes (the raw payload), got {type(event).__name__}")
        limit = self._config.function_timeout if timeout is None else _check_timeout(timeout, "timeout")
        headers = render_optional_headers(client_context, trace_id, tenant_id, cognito_identity)
        inv = Invoke(bytes(event), limit, headers, threading.Event())
        inv.sink = sink
        with self._lock:
            if self._closed:
                raise EmulatorClosedError("this emulator was closed; create a new one")
        if self._loop is None:
            self.start()
        loop, sandbox = self._running()
        loop.call_soon_threadsafe(lambda: sandbox.enqueue(inv))
        return inv

    def _running(self) -> tuple[Loop, Sandbox]:
        loop, sandbox = self._loop, self._sandbox
        if loop is None or sandbox is None:
            raise EmulatorError("the emulator is not started: call start() or use it as a context manager")
        return loop, sandbox
