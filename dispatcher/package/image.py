"""The container-image Dockerfile: a public Lambda Python base image, the layer and the function.

It unpacks layer.zip under /opt and function.zip under /var/task (keeping the
exec bits, which `python -m zipfile` would drop), writes the config cache with
the image's own interpreter at build time, and makes the supervisor the
ENTRYPOINT.  Setting ENTRYPOINT clears the base image's CMD, so `dispatcher
run` gets no arguments; the worker is chosen by `default:` in dispatcher.yaml
(or the function's _HANDLER).
"""

from __future__ import annotations

import json

from dispatcher.package.layer import ARCHITECTURES, PYTHON_VERSIONS, RUN_CODE

__all__ = ["render_dockerfile", "BASE_IMAGE"]

BASE_IMAGE = "public.ecr.aws/lambda/python"
_PLATFORM = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}

_UNZIP = (
    "import os, sys, zipfile\\n"
    "for archive, into in (('/tmp/layer.zip', '/opt'), ('/tmp/function.zip', os.environ['LAMBDA_TASK_ROOT'])):\\n"
    "    with zipfile.ZipFile(archive) as zf:\\n"
    "        for info in zf.infolist():\\n"
    "            path = zf.extract(info, into)\\n"
    "            os.chmod(path, (info.external_attr >> 16) & 0o777 or 0o644)\\n"
)


def render_dockerfile(python: str, arch: str, *, layer: str = "layer.zip", function: str = "function.zip") -> str:
    """Dockerfile text for `python` (e.g. "3.12") on `arch` (x86_64 | arm64)."""
    if python not in PYTHON_VERSIONS:
        raise ValueError(f"Python {python} is not one of {', '.join(PYTHON_VERSIONS)}")
    if arch not in ARCHITECTURES:
        raise ValueError(f"architecture {arch!r} is not one of {', '.join(ARCHITECTURES)}")
    return (
        f"# Container image for lambda-dispatcher (written by `dispatcher package --image`).\n"
        f"# Build the two zips first, for the same Python and architecture:\n"
        f"#   dispatcher package --layer --python {python} --arch {arch} -o {layer}\n"
        f"#   dispatcher package --function --python {python} -o {function}\n"
        f"#   docker build --platform {_PLATFORM[arch]} -t my-function .\n"
        f"# Deploy with PackageType: Image and Architectures: [{arch}]; no handler or runtime setting is needed.\n"
        f"FROM --platform={_PLATFORM[arch]} {BASE_IMAGE}:{python}\n"
        f"COPY {layer} /tmp/layer.zip\n"
        f"COPY {function} /tmp/function.zip\n"
        f"# Unpack keeping exec bits (the worker binary, scripts), then drop the zips.\n"
        f'RUN printf "{_UNZIP}" | python3 - && rm /tmp/layer.zip /tmp/function.zip\n'
        f"ENV PYTHONPATH=/opt/python\n"
        f"# The config cache, written by this image's interpreter for these exact bytes.\n"
        f"RUN cd ${{LAMBDA_TASK_ROOT}} && python3 -m dispatcher check --write-cache > /dev/null\n"
        f"ENTRYPOINT {json.dumps(['/var/lang/bin/python3', '-S', '-c', RUN_CODE, 'run'])}\n"
    )
