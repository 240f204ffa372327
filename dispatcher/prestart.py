"""The first worker starts before the supervisor's own modules are loaded.

`dispatcher run` knows the worker to start as soon as the config is read
(from its cache: a few modules, no yaml).  The supervisor's modules (msgpack,
the core, the Runtime API client, the stream relay...) are needed only to
talk to the worker and to the Runtime API, and loading them is most of a cold
start.  So the run path spawns the first long-lived worker first
(`start`), then imports the supervisor, whose first spawn of exactly that
command, working directory and environment adopts the running process
instead of starting another (dispatcher/process.py, `prestart`).

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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from dispatcher.config import WorkerConfig

__all__ = ["worker_environment", "start", "discard", "LONG_LIVED"]

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


def start(config: WorkerConfig, environ: Mapping[str, str]) -> bool:
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


def discard() -> None:
    """Stop the early worker if the supervisor never adopted it (it ended first)."""
    from dispatcher import process

    process.discard_prestarted()
