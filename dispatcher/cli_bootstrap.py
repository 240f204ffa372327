"""`--bootstrap PATH [-- ARGS]` of `dispatcher invoke` and `dispatcher serve`: any executable as the runtime.

Argument handling only (the CLI stays thin); the emulator runs the command as
the RIE runs its argument (docs/emulator.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = ["BOOTSTRAP_HELP", "split_bootstrap_args", "bootstrap_or_none"]

BOOTSTRAP_HELP = (
    "run this executable as the runtime instead of `dispatcher run` (as the RIE runs its argument): "
    "any Lambda runtime, e.g. a custom-runtime bootstrap or `python -m awslambdaric`; its arguments "
    "follow a `--` at the end; it runs in the current directory and no dispatcher.yaml is read"
)


def split_bootstrap_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(our arguments, the bootstrap's arguments after the first `--`)."""
    args = list(argv)
    if "--" in args:
        i = args.index("--")
        return args[:i], args[i + 1 :]
    return args, []


def _bootstrap_argv(ap, path: str, extra: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    """The runtime's argv; an unusable PATH is a usage error that says why."""
    import shutil

    if os.sep in path:
        resolved = os.path.abspath(path)
        if not os.path.isfile(resolved):
            ap.error(f"--bootstrap {path}: no such file (give the path of the runtime's executable)")
        if not os.access(resolved, os.X_OK):
            ap.error(f"--bootstrap {path}: not executable (chmod +x it, or give its interpreter: --bootstrap /bin/sh -- {path})")
    else:
        found = shutil.which(path)
        if found is None:
            ap.error(f"--bootstrap {path}: not found on PATH (give a path, e.g. ./{path})")
        resolved = found
    return [resolved, *extra]


def bootstrap_or_none(ap, args, extra: list[str]) -> list[str] | None:  # type: ignore[no-untyped-def]
    if args.bootstrap is None:
        if extra:
            ap.error(f"arguments after `--` ({' '.join(extra)}) are for --bootstrap, which was not given")
        return None
    if args.config:
        ap.error("--bootstrap runs its own runtime: it does not read a dispatcher.yaml, drop --config")
    return _bootstrap_argv(ap, args.bootstrap, extra)
