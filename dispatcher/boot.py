"""The start of `dispatcher run`: the config, the first worker, then the supervisor.

    run(explicit_config_path, os.environ) -> exit status

The cyclic GC is off while the start allocates (modules, config): its passes
would find nothing to free.  The config comes from its cache (a few modules,
no yaml); a config error is posted to /init/error and ends the run.

The first worker starts before the supervisor's own modules are loaded.
`dispatcher run` knows the worker to start as soon as the config is read.
The supervisor's modules (the core, the Runtime API client, the stream
relay...) are needed only to talk to the worker and to the Runtime API, and
loading them is most of a cold start.  So the first long-lived worker is
spawned first (`start_worker`), then the supervisor is imported, and its
first spawn of exactly that command, working directory and environment
adopts the running process instead of starting another
(dispatcher/process.py, `prestart`).

What this buys (README, "Cold start"): the worker's own start runs alongside
the imports on a second CPU, and the two forks (the worker's and the
guardian's) are made from a small process instead of one with every module
loaded, which is cheaper even on one CPU (fewer pages to map and to copy on
write afterwards).

Nothing else changes: the worker gets the environment `worker_environment`
gives it, the subreaper, PR_SET_PDEATHSIG, its own session and the guardian
exactly as a worker the supervisor starts; a spawn that fails here is left to
the supervisor, which fails the same way and reports it as before; exec-kind
workers (one process per invocation) are not started early.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Callable

    from dispatcher.config import WorkerConfig

__all__ = ["run", "worker_environment", "start_worker", "discard_worker", "LONG_LIVED"]

# Never passed on to a worker: the Runtime API is the supervisor's alone.
_DROP_FROM_WORKER_ENV = ("AWS_LAMBDA_RUNTIME_API", "_LAMBDA_TELEMETRY_LOG_FD", "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET")
LONG_LIVED = ("msgpack", "jsonl")  # the kinds whose session starts one process and keeps it


def worker_environment(config: WorkerConfig, environ: Mapping[str, str], slots: int = 1) -> dict[str, str]:
    """The environment every worker of `config` starts with (docs/protocol.md)."""
    env = {k: v for k, v in environ.items() if k not in _DROP_FROM_WORKER_ENV}
    env.update(config.env)
    env["DISPATCHER_PROTOCOL"] = "1"
    # `multiplex` is offered when there is more than one slot, `stream` with one
    # (the relay holds the loop while it forwards a stream; docs/protocol.md).
    env["DISPATCHER_FEATURES"] = "multiplex" if slots > 1 else "stream"
    env["DISPATCHER_CONCURRENCY"] = str(slots)
    env["DISPATCHER_MAX_FRAME"] = str(config.max_frame)
    env["DISPATCHER_WORKER"] = config.name
    return env


def start_worker(config: WorkerConfig, environ: Mapping[str, str]) -> bool:
    """Spawn the first worker of `config` now, as the supervisor would; True when one runs."""
    if config.protocol not in LONG_LIVED:
        return False
    from dispatcher import process

    process.become_subreaper()  # before the spawn: the worker's orphans come to us
    try:
        process.prestart(config.command, cwd=config.cwd, env=worker_environment(config, environ, config.concurrency),
                         name=config.name)
    except process.SpawnError:
        return False  # the supervisor's own spawn fails the same way and reports it
    return True


def discard_worker() -> None:
    """Stop the early worker if the supervisor never adopted it (it ended first)."""
    from dispatcher import process

    process.discard_prestarted()


def run(explicit: str | None, environ: Mapping[str, str]) -> int:
    """`dispatcher run [--config explicit]`: the exit status."""
    import gc

    collecting = gc.isenabled()
    gc.disable()
    try:
        prepared = _prepare(explicit, environ)
    finally:
        if collecting:
            gc.enable()
    if isinstance(prepared, int):
        return prepared
    worker, started, serve = prepared
    try:
        return serve(worker, environ)
    finally:
        if started:
            discard_worker()


def _prepare(explicit: str | None, environ: Mapping[str, str]) -> int | tuple[WorkerConfig, bool, Callable[..., int]]:
    """(the worker's config, whether it is starting already, the supervisor's entry point), or an exit status."""
    from dispatcher.config import HandlerNotFound, find_config, load_fast
    from dispatcher.errors import CONFIG_ERROR, HANDLER_NOT_FOUND, ConfigError

    try:
        config = load_fast(find_config(explicit, environ), environ)
        worker = config.select(environ.get("_HANDLER") or None)
    except ConfigError as exc:
        _err(str(exc))
        _post_init_error(HANDLER_NOT_FOUND if isinstance(exc, HandlerNotFound) else CONFIG_ERROR, str(exc))
        return 1
    # Without a Runtime API the supervisor only says what is missing (exit 2).
    started = bool(environ.get("AWS_LAMBDA_RUNTIME_API")) and start_worker(worker, environ)
    try:
        from dispatcher.supervisor import run_from_environment
    except BaseException:
        if started:
            discard_worker()
        raise
    return worker, started, run_from_environment


def _err(msg: str) -> None:
    sys.stderr.write(f"dispatcher: {msg}\n")
    sys.stderr.flush()


def _post_init_error(error_type: str, message: str) -> None:
    """Tell Lambda why init failed (it returns this to the first invoke), then exit."""
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        return
    from dispatcher.client import ApiClient
    from dispatcher.errors import DispatcherError
    from dispatcher.runtime_api import InitErrorRequest

    try:
        client = ApiClient(address)
        client.request(InitErrorRequest(error_type, message).encode(address), timeout=5.0)
        client.close()
    except DispatcherError as exc:
        _err(f"could not post /init/error: {exc}")
