"""Loading dispatcher.yaml: find it, read it, check it, resolve it.

    path = find_config(args.config, os.environ)
    config = load_fast(path, os.environ)        # at start-up
    worker = config.select(os.environ.get("_HANDLER"))

`load` always parses the YAML.  `load_fast` uses the cache written at build
time by `write_cache` (`dispatcher check --write-cache`) when it matches the
file byte for byte, and otherwise does exactly what `load` does; it never
writes.  Importing this package, and `load_fast` with a fresh cache, import
neither yaml nor shlex, difflib, json or hashlib.  Every problem is a
ConfigError naming the file, line and key; see `_schema` for the rules.
"""

from __future__ import annotations

import os

from dispatcher.config import _cache
from dispatcher.config._resolve import resolve
from dispatcher.config.model import PROTOCOLS, READY_MODES, Config, HandlerNotFound, WorkerConfig
from dispatcher.errors import ConfigError

TYPE_CHECKING = False  # mypy reads this name as true; `import typing` costs ~2 ms at start-up
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "Config",
    "WorkerConfig",
    "ConfigError",
    "HandlerNotFound",
    "PROTOCOLS",
    "READY_MODES",
    "CONFIG_NAME",
    "MAX_FILE_BYTES",
    "find_config",
    "load",
    "load_fast",
    "write_cache",
    "compile_file",
    "describe",
]

CONFIG_NAME = "dispatcher.yaml"
MAX_FILE_BYTES = 1 << 20  # a real one is under 2 KB; refuse anything that could hurt before parsing


def find_config(explicit: str | None, environ: Mapping[str, str]) -> str:
    """`--config PATH`, else $DISPATCHER_CONFIG, else $LAMBDA_TASK_ROOT/dispatcher.yaml, else ./dispatcher.yaml."""
    for given, origin in ((explicit, "--config"), (environ.get("DISPATCHER_CONFIG"), "DISPATCHER_CONFIG")):
        if given:
            path = os.path.join(given, CONFIG_NAME) if os.path.isdir(given) else given
            if not os.path.isfile(path):
                raise ConfigError(f"no such file (given by {origin})", path=path, hint="check the path")
            return path
    looked = []
    task_root = environ.get("LAMBDA_TASK_ROOT")
    for path in ((os.path.join(task_root, CONFIG_NAME),) if task_root else ()) + (CONFIG_NAME,):
        if os.path.isfile(path):
            return path
        looked.append(os.path.abspath(path))
    raise ConfigError(
        "not found",
        path=CONFIG_NAME,
        hint=f"looked for {' and '.join(looked)}; pass --config PATH or set DISPATCHER_CONFIG",
    )


def _read_source(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            source = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror or exc}", path=path, hint="check the path and its permissions") from None
    if len(source) > MAX_FILE_BYTES:
        raise ConfigError(
            "the file is larger than 1 MiB", path=path, hint="a dispatcher.yaml is a few hundred bytes; is this the right file?"
        )
    return source


def _compile(source: bytes, path: str) -> dict[str, object]:
    from dispatcher.config._parse import parse  # imports yaml: only here
    from dispatcher.config._schema import compile_tree

    return compile_tree(parse(source, path), path)


def load(path: str, environ: Mapping[str, str]) -> Config:
    """Parse and check the YAML at `path`, then resolve it in `environ`."""
    return resolve(_compile(_read_source(path), path), path, environ)


def load_fast(path: str, environ: Mapping[str, str]) -> Config:
    """`load`, from the build-time cache when it was written for this exact file."""
    source = _read_source(path)
    compiled = _cache.read(path, source)
    if compiled is not None:
        try:
            return resolve(compiled, path, environ)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            pass  # a well-formed cache with a damaged body: parse the YAML instead
    return resolve(_compile(source, path), path, environ)


def write_cache(path: str) -> str:
    """Check the YAML at `path` and store its compiled form next to it; return the cache's path.

    Independent of the environment: `${VAR}` stays unexpanded until start-up.
    """
    source = _read_source(path)
    return _cache.write(path, source, _compile(source, path))


def compile_file(path: str) -> tuple[bytes, dict[str, object]]:
    """The YAML's bytes and its checked, compiled form (build time: `dispatcher package`)."""
    source = _read_source(path)
    return source, _compile(source, path)


def describe(config: Config) -> str:
    """The resolved configuration as YAML-like text, every key with its value."""
    from dispatcher.config._describe import describe as _describe

    return _describe(config)
