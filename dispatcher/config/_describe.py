"""The resolved configuration as text, for `dispatcher check`.

YAML-shaped (strings JSON-quoted, which YAML reads too) with every key, the
defaults filled in, `${VAR}` expanded and durations and sizes in units.  It
prints env values as resolved: run `check` where secrets are not in the
environment, or do not print its output to a shared log.
"""

from __future__ import annotations

import json

from dispatcher.config.model import Config, WorkerConfig
from dispatcher.units import format_duration, format_size

__all__ = ["describe"]


def _q(text: str | None) -> str:
    return "null" if text is None else json.dumps(text, ensure_ascii=False)


def _worker(worker: WorkerConfig) -> list[str]:
    env = ", ".join(f"{name}: {_q(value)}" for name, value in worker.env.items())
    return [
        f"  {worker.name}:",
        f"    command: [{', '.join(_q(arg) for arg in worker.command)}]",
        f"    cwd: {_q(worker.cwd)}",
        f"    env: {{{env}}}",
        f"    startup_timeout: {format_duration(worker.startup_timeout)}",
        f"    timeout_margin: {format_duration(worker.timeout_margin)}",
        f"    shutdown_grace: {format_duration(worker.shutdown_grace)}",
        f"    max_invocations: {worker.max_invocations}" + ("  # never recycle" if not worker.max_invocations else ""),
        f"    max_rss: {format_size(worker.max_rss)}" + ("  # no limit" if not worker.max_rss else ""),
        f"    max_frame: {format_size(worker.max_frame)}",
        f"    protocol: {worker.protocol}",
        f"    ready: {worker.ready or 'null'}",
        f"    error_type: {_q(worker.error_type)}",
        f"    concurrency: {worker.concurrency}  # invocations at once (auto: AWS_LAMBDA_MAX_CONCURRENCY, else 1)",
    ]


def describe(config: Config) -> str:
    lines = [f"# {config.path}", "workers:"]
    for worker in config.workers.values():
        lines += _worker(worker)
    note = "  # the only worker" if config.default is None and len(config.workers) == 1 else ""
    lines.append(f"default: {config.default or 'null'}{note}")
    return "\n".join(lines) + "\n"
