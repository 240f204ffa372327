"""Deployment artifacts: `dispatcher package --layer | --function | --image`.

    from dispatcher.package import build_function, build_layer, render_dockerfile
    summary = build_function("dispatcher.yaml", "function.zip", progress=print)

Each builder takes a `progress` callable that receives one line per step, and
returns a Summary (what it wrote and how big).  Refusals (a path that leaves
the folder, a size over Lambda's limits, a tool that failed) are PackageError
with a message and what to do.  Every zip is deterministic: sorted entries,
fixed timestamps, normalised modes with the exec bit kept; two runs over the
same inputs give the same bytes.  docs/deploy.md describes the layouts.
"""

from __future__ import annotations

from dispatcher.package._common import (
    FUNCTION_ZIP_LIMIT,
    UNZIPPED_LIMIT,
    PackageError,
    Summary,
    default_python,
)
from dispatcher.package.function import build_function
from dispatcher.package.image import render_dockerfile
from dispatcher.package.layer import ARCHITECTURES, PYTHON_VERSIONS, WRAPPER_NAME, build_layer

__all__ = [
    "ARCHITECTURES",
    "FUNCTION_ZIP_LIMIT",
    "PYTHON_VERSIONS",
    "UNZIPPED_LIMIT",
    "WRAPPER_NAME",
    "PackageError",
    "Summary",
    "build_function",
    "build_layer",
    "default_python",
    "render_dockerfile",
]
