"""The resolved configuration as typed, frozen values, and the choice of worker.

Everything here is final: durations are float seconds, sizes int bytes,
`${VAR}` already expanded and `cwd` absolute.  `Config.select` applies the
_HANDLER rules; a miss that cannot be resolved raises HandlerNotFound, which
the supervisor reports as `Runtime.HandlerNotFound`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # `import typing` and `dataclasses` cost ~18 ms of cold start
if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    from dispatcher._record import record as dataclass
if TYPE_CHECKING:
    from collections.abc import Mapping

from dispatcher.errors import HANDLER_NOT_FOUND, ConfigError

__all__ = ["WorkerConfig", "Config", "HandlerNotFound", "PROTOCOLS", "READY_MODES"]

PROTOCOLS = ("msgpack", "jsonl", "exec")
READY_MODES = ("frame", "spawn")


class HandlerNotFound(ConfigError):
    """_HANDLER names no worker and nothing else decides; carries the known names."""

    error_type = HANDLER_NOT_FOUND

    def __init__(self, handler: str | None, known: tuple[str, ...], *, path: str) -> None:
        self.handler = handler
        self.known = known
        what = f"_HANDLER={handler!r} names no worker" if handler else "_HANDLER is not set"
        super().__init__(
            f"{what}, there are {len(known)} workers and no `default`",
            path=path,
            hint=f"known workers: {', '.join(known)}; set _HANDLER to one of them or add `default: NAME`",
        )


@dataclass(frozen=True)
class WorkerConfig:
    """One worker, fully resolved: what to run, where, and its limits."""

    name: str
    command: tuple[str, ...]  # argv, expanded; argv[0] is never empty
    cwd: str  # absolute
    env: Mapping[str, str]  # read-only; added to the environment the worker inherits
    startup_timeout: float  # seconds until `ready` must have arrived
    timeout_margin: float  # answer this long before Lambda's deadline
    shutdown_grace: float  # the whole stop sequence, polite signal to SIGKILL
    max_invocations: int  # recycle after N invocations; 0 = never
    max_rss: int  # recycle when the process group's RSS exceeds this; 0 = never
    max_frame: int  # bytes, either direction; given as DISPATCHER_MAX_FRAME
    protocol: str  # one of PROTOCOLS
    ready: str | None  # "frame" | "spawn"; "frame" for msgpack, None for exec
    error_type: str | None  # exec only: errorType for a non-zero exit
    concurrency: int = 1  # slots: invocations at once (`auto`: AWS_LAMBDA_MAX_CONCURRENCY, else 1)


@dataclass(frozen=True)
class Config:
    """A whole dispatcher.yaml: its workers and the name of the default one."""

    path: str  # absolute path of the YAML file
    workers: Mapping[str, WorkerConfig]  # read-only, in file order
    default: str | None

    def select(self, handler: str | None) -> WorkerConfig:
        """The worker _HANDLER names; else `default`; else the only one.

        A _HANDLER naming no worker is not an error while something else
        decides: for container images AWS fills _HANDLER from the function
        configuration, which may hold anything.
        """
        if handler and handler in self.workers:
            return self.workers[handler]
        if self.default is not None:
            return self.workers[self.default]
        if len(self.workers) == 1:
            return next(iter(self.workers.values()))
        raise HandlerNotFound(handler or None, tuple(self.workers), path=self.path)
