"""Choosing the worker session class for a worker's `protocol:`.

`make_worker(config, env)` is the supervisor's worker factory: msgpack
workers get `MsgpackWorker` (wire protocol v1), `jsonl` workers a
`JsonlWorker` (docs/jsonl.md), `exec` workers an `ExecWorker` that starts one
process per invocation (docs/exec.md).  The jsonl and exec modules are
imported only when such a worker is configured, so that a msgpack worker's
cold start does not pay for `json`.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping

    from dispatcher.config import WorkerConfig
    from dispatcher.worker import WorkerSession

__all__ = ["make_worker"]


def make_worker(config: WorkerConfig, env: Mapping[str, str]) -> WorkerSession:
    """A started session of the kind `config.protocol` names.

    Raises SpawnError, like the sessions themselves, when the command cannot run.
    """
    protocol = config.protocol
    if protocol == "msgpack":
        from dispatcher.worker import MsgpackWorker

        return MsgpackWorker(config, env)
    if protocol == "jsonl":
        from dispatcher.worker_jsonl import JsonlWorker

        return JsonlWorker(config, env)
    if protocol == "exec":
        from dispatcher.worker_exec import ExecWorker

        return ExecWorker(config, env)
    # The config loader only lets PROTOCOLS through; reaching this is a bug.
    raise ValueError(f"worker {config.name!r}: unknown protocol {protocol!r} (expected msgpack, jsonl or exec)")
