"""The build-time cache of a compiled dispatcher.yaml: `<config path>.cache`.

`import yaml` alone costs ~24 ms, more than the rest of a cold start, so
`dispatcher check --write-cache` stores the compiled form with `marshal`
(built in, no import cost) together with the exact YAML bytes it came from.
A cache is used only when those bytes equal the file's bytes now: an exact
comparison needs no hash import and cannot collide.  The stamp also names the
package version, so a new release never trusts an old release's rules.

Reading never fails: a missing, unreadable, truncated, foreign or stale cache
reads as None and the caller loads the YAML.  Writing happens only at build
time (LAMBDA_TASK_ROOT is read-only on Lambda).  marshal is not meant for
untrusted input, but the cache ships in the same package as the code that
reads it; whoever can replace it can replace the bootstrap.
"""

from __future__ import annotations

import marshal
import os
import sys

from dispatcher import __version__

__all__ = ["cache_path", "read", "write", "dumps", "FORMAT"]

FORMAT = 3  # bump when the compiled form changes shape (3: workers' `concurrency`)
# marshal's format belongs to one Python version: a cache names the interpreter
# that wrote it and any other reads it as stale.
_MAGIC = "lambda-dispatcher-config-cache/py%d.%d" % sys.version_info[:2]
_MAX_CACHE_BYTES = 4 << 20  # the YAML is at most 1 MiB; its compiled form is smaller


def cache_path(config_path: str) -> str:
    return config_path + ".cache"


def read(config_path: str, source: bytes) -> dict[str, object] | None:
    """The compiled form cached for exactly `source`, else None."""
    try:
        with open(cache_path(config_path), "rb") as f:
            data = f.read(_MAX_CACHE_BYTES + 1)
        if len(data) > _MAX_CACHE_BYTES:
            return None
        stored = marshal.loads(data)
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if (
        type(stored) is tuple
        and len(stored) == 5
        and stored[:3] == (_MAGIC, FORMAT, __version__)
        and stored[3] == source
        and type(stored[4]) is dict
        and type(stored[4].get("workers")) is tuple
        and stored[4]["workers"]
    ):
        return stored[4]
    return None


def dumps(source: bytes, compiled: dict[str, object]) -> bytes:
    """The cache's bytes for `compiled` from `source`, valid for this interpreter's Python version."""
    return marshal.dumps((_MAGIC, FORMAT, __version__, source, compiled))


def write(config_path: str, source: bytes, compiled: dict[str, object]) -> str:
    """Store `compiled` for `source` next to the YAML, atomically; return the cache's path."""
    import tempfile  # build time only

    target = cache_path(config_path)
    data = dumps(source, compiled)
    fd, tmp = tempfile.mkstemp(prefix=".dispatcher-cache-", dir=os.path.dirname(os.path.abspath(target)))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; Lambda runs the code as another user
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    return target
