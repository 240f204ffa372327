"""The compiled configuration plus this process's environment: the final Config.

Runs on every cold start, from the cache or right after a YAML load, so it
only joins strings and builds the frozen values; every rule that does not
depend on the environment was checked when the configuration was compiled.
"""

from __future__ import annotations

import os
import sys
from types import MappingProxyType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

from dispatcher.config.model import Config, WorkerConfig
from dispatcher.errors import ConfigError

TYPE_CHECKING = False  # mypy reads this name as true; `import typing` costs ~2 ms at start-up
if TYPE_CHECKING:
    from typing import Any

__all__ = ["resolve", "startup_timeout_default", "max_concurrency"]

# Lambda's init limit is 10 s on demand and 130 s for provisioned concurrency
# and SnapStart (docs/runtime-api.md, "Limits"); each default leaves room for the
# supervisor's own start and the report of a failed init.
STARTUP_TIMEOUT = 9.0
STARTUP_TIMEOUT_LONG_INIT = 120.0
LONG_INIT_TYPES = ("provisioned-concurrency", "snap-start")


def startup_timeout_default(environ: Mapping[str, str]) -> float:
    if environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") in LONG_INIT_TYPES:
        return STARTUP_TIMEOUT_LONG_INIT
    return STARTUP_TIMEOUT


def max_concurrency(environ: Mapping[str, str]) -> int | None:
    """AWS_LAMBDA_MAX_CONCURRENCY (set by Lambda Managed Instances), or None."""
    value = environ.get("AWS_LAMBDA_MAX_CONCURRENCY", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def _concurrency(w: dict[str, Any], path: str, environ: Mapping[str, str]) -> int:
    limit = max_concurrency(environ)
    wanted = w.get("concurrency")
    if wanted is None:  # auto
        return limit or 1
    if wanted > (limit or 1):
        given = f"{limit}" if limit else "not set, so 1: this is not a Lambda Managed Instances environment"
        raise ConfigError(
            f"{wanted} is more than AWS_LAMBDA_MAX_CONCURRENCY ({given})",
            path=path,
            line=w.get("concurrency_line", w["line"]),
            key=f"workers.{w['name']}.concurrency",
            hint="Lambda sends at most AWS_LAMBDA_MAX_CONCURRENCY invocations at once; use `concurrency: auto` "
            "or a number up to it (locally: `dispatcher invoke --concurrency N` sets it)",
        )
    return wanted


class _Expander:
    def __init__(self, path: str, environ: Mapping[str, str]) -> None:
        self.path = path
        self.environ = environ
        # Always defined, so a Python worker can run on the supervisor's interpreter.
        self.python = environ.get("DISPATCHER_PYTHON") or sys.executable

    def __call__(self, template: Any, line: int, key: str) -> str:
        if type(template) is str:
            return template
        out = []
        for part in template:
            if type(part) is str:
                out.append(part)
                continue
            name, default = part
            value = self.environ.get(name)
            if value is None and name == "DISPATCHER_PYTHON":
                value = self.python
            if not value and default is not None:  # `:-` as in sh: unset or empty
                value = default
            elif value is None:
                raise ConfigError(
                    f"${{{name}}} is used but {name} is not set",
                    path=self.path,
                    line=line,
                    key=key,
                    hint=f"set {name} in the environment, or give a default: ${{{name}:-value}}",
                )
            out.append(value)
        return "".join(out)


def resolve(compiled: dict[str, Any], path: str, environ: Mapping[str, str]) -> Config:
    """Config for `compiled` (from the YAML at `path`) in the environment `environ`."""
    expand = _Expander(path, environ)
    base = os.path.dirname(os.path.abspath(path))
    startup = startup_timeout_default(environ)
    workers = {}
    for w in compiled["workers"]:
        where = "workers." + w["name"]
        argv = tuple(expand(template, line, f"{where}.command[{i}]") for i, (template, line) in enumerate(w["command"]))
        if not argv[0]:
            raise ConfigError(
                "the program (first argument) expands to an empty string",
                path=path,
                line=w["command"][0][1],
                key=f"{where}.command",
                hint="check the variables it uses",
            )
        cwd = os.path.normpath(os.path.join(base, w["cwd"]))
        if not os.path.isdir(cwd):
            raise ConfigError(
                f"{cwd} is not a directory", path=path, line=w["cwd_line"], key=f"{where}.cwd", hint="cwd is relative to this file's folder"
            )
        env = {name: expand(template, line, f"{where}.env.{name}") for name, template, line in w["env"]}
        workers[w["name"]] = WorkerConfig(
            name=w["name"],
            command=argv,
            cwd=cwd,
            env=MappingProxyType(env),
            startup_timeout=w["startup_timeout"] or startup,
            timeout_margin=w["timeout_margin"],
            shutdown_grace=w["shutdown_grace"],
            max_invocations=w["max_invocations"],
            max_rss=w["max_rss"],
            max_frame=w["max_frame"],
            protocol=w["protocol"],
            ready=w["ready"],
            error_type=w["error_type"],
            concurrency=_concurrency(w, path, environ),
        )
    return Config(path=os.path.abspath(path), workers=MappingProxyType(workers), default=compiled["default"])
