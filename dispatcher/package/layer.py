"""layer.zip: lambda-dispatcher, its dependencies' wheels and the exec wrapper.

Layout (unzipped under /opt by Lambda):

    dispatcher-wrapper          AWS_LAMBDA_EXEC_WRAPPER=/opt/dispatcher-wrapper
    python/dispatcher/...       this package, with __pycache__/*.pyc
    python/dispatcher_worker/   the Python worker adapter (when installed)
    python/msgpack, yaml, psutil, their .dist-info: manylinux wheels for the target

Dependencies come from PyPI as binary wheels for the target Python and
architecture (`pip download --platform ... --only-binary :all:`), pinned to
the versions installed here when there are any, so that the layer holds what
was tested.  Bytecode is compiled as unchecked-hash .pyc (deterministic, and
never re-checked on a read-only /opt) by an interpreter of the target
version: the running one, or `pythonX.Y` on PATH; without one the build is
refused unless `bytecode=False`, which ships sources only (each cold start
then compiles what it imports, several ms).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata

from dispatcher.package._common import FUNCTION_ZIP_LIMIT, UNZIPPED_LIMIT, PackageError, Progress, Summary, default_python, human
from dispatcher.package._zip import Entry, write_zip

__all__ = ["build_layer", "wrapper_script", "PYTHON_VERSIONS", "ARCHITECTURES", "WRAPPER_NAME", "DEPENDENCIES", "RUN_CODE"]

PYTHON_VERSIONS = ("3.11", "3.12", "3.13")  # Lambda's managed Python runtimes that support exec wrappers and this package
ARCHITECTURES = ("x86_64", "arm64")
WRAPPER_NAME = "dispatcher-wrapper"
DEPENDENCIES = ("msgpack", "pyyaml", "psutil")
# What the bootstraps run with `python3 -S -c RUN_CODE run`: the CLI's main()
# without `-m`, whose runpy imports (importlib.util, importlib.machinery & co.)
# cost ~1.7 ms of every cold start (README, "Cold start").
RUN_CODE = "import sys; from dispatcher.cli import main; sys.exit(main())"
# Highest glibc of each runtime's OS: python3.11 runs on Amazon Linux 2 (2.26), later ones on AL2023 (2.34).
_GLIBC_MINOR = {"3.11": 26, "3.12": 34, "3.13": 34}
_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}


def wrapper_script() -> str:
    return (
        "#!/bin/sh\n"
        "# The exec wrapper of lambda-dispatcher's layer (dispatcher package --layer).\n"
        "# Set AWS_LAMBDA_EXEC_WRAPPER=/opt/dispatcher-wrapper on a managed Python\n"
        '# runtime: Lambda then runs this with the managed bootstrap as "$@", which\n'
        "# is ignored; the runtime's own interpreter runs the dispatcher supervisor\n"
        "# (the Runtime API loop) instead.  -S: nothing here needs site-packages;\n"
        "# -c instead of -m: runpy's imports would cost every cold start ~1.7 ms.\n"
        'export PYTHONPATH="/opt/python${PYTHONPATH:+:$PYTHONPATH}"\n'
        f"exec /var/lang/bin/python3 -S -c '{RUN_CODE}' run\n"
    )


def _quiet(_line: str) -> None:
    pass


def _platforms(python: str, arch: str) -> list[str]:
    machine = _MACHINE[arch]
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(_GLIBC_MINOR[python], 16, -1)]
    return tags + [f"manylinux2014_{machine}"]


def _pins() -> list[str]:
    pins = []
    for name in DEPENDENCIES:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def _download(python: str, arch: str, into: str, progress: Progress) -> list[str]:
    nodot = python.replace(".", "")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps", "--only-binary", ":all:"]
    cmd += ["--implementation", "cp", "--python-version", python, "--abi", f"cp{nodot}", "--abi", "abi3", "--abi", "none"]
    for tag in _platforms(python, arch):
        cmd += ["--platform", tag]
    cmd += ["--dest", into, *_pins()]
    progress(f"downloading wheels for Python {python} on {arch}: {' '.join(_pins())}")
    done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise PackageError(
            f"pip could not download the wheels for Python {python} on {arch}:\n{done.stderr.strip()[-2000:]}",
            "check the network (PyPI must be reachable), or the versions: the pins are the versions installed here",
        )
    wheels = sorted(os.path.join(into, name) for name in os.listdir(into) if name.endswith(".whl"))
    if len(wheels) != len(DEPENDENCIES):
        raise PackageError(f"expected {len(DEPENDENCIES)} wheels, pip left {len(wheels)} in {into}", "re-run; report it if it repeats")
    return wheels


def _copy_package(module: str, python_dir: str) -> bool:
    """Copy the sources (.py) of an installed package into python_dir; False when it is not installed."""
    from importlib.util import find_spec  # locates without running the package's code

    spec = find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith("__init__.py"):
        return False
    source = os.path.dirname(os.path.abspath(spec.origin))
    shutil.copytree(source, os.path.join(python_dir, module), ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.egg-info"))
    return True


def _compiler(python: str, bytecode: bool) -> str | None:
    if not bytecode:
        return None
    if python == default_python():
        return sys.executable
    found = shutil.which(f"python{python}")
    if found is None:
        raise PackageError(
            f"cannot compile bytecode for Python {python}: this is Python {default_python()} and there is no python{python} on PATH",
            f"run the build with Python {python} (python{python} -m dispatcher package --layer ...), install python{python}, "
            "or pass --no-bytecode to ship sources only (every cold start then compiles what it imports)",
        )
    return found


def _compile(compiler: str, python_dir: str, progress: Progress) -> None:
    progress(f"compiling bytecode with {compiler} (unchecked-hash .pyc, paths as /opt/python)")
    cmd = [compiler, "-m", "compileall", "-q", "-s", python_dir, "-p", "/opt/python", "--invalidation-mode", "unchecked-hash", python_dir]
    done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise PackageError(f"compileall failed:\n{(done.stdout + done.stderr).strip()[-2000:]}", "a file in the layer does not compile for this Python")


def build_layer(
    output: str,
    *,
    python: str | None = None,
    arch: str = "x86_64",
    bytecode: bool = True,
    progress: Progress = _quiet,
) -> Summary:
    """Build layer.zip for a managed Python `python` runtime on `arch`; see the module docstring."""
    python = python or default_python()
    if python not in PYTHON_VERSIONS:
        raise PackageError(f"Python {python} is not a target: use one of {', '.join(PYTHON_VERSIONS)}", "Lambda's python3.11 and newer runtimes")
    if arch not in ARCHITECTURES:
        raise PackageError(f"architecture {arch!r} is not a Lambda architecture", f"use one of {', '.join(ARCHITECTURES)}")
    compiler = _compiler(python, bytecode)  # refuse before downloading anything
    notes = []
    with tempfile.TemporaryDirectory(prefix="dispatcher-layer-") as tmp:
        python_dir = os.path.join(tmp, "python")
        os.mkdir(python_dir)
        for wheel in _download(python, arch, os.path.join(tmp, "wheels"), progress):
            with zipfile.ZipFile(wheel) as zf:
                zf.extractall(python_dir)
        progress("adding lambda-dispatcher" + (" and the Python worker adapter" if _copy_package("dispatcher_worker", python_dir) else ""))
        _copy_package("dispatcher", python_dir)
        if compiler is not None:
            _compile(compiler, python_dir, progress)
        else:
            notes.append("no bytecode: sources only (--no-bytecode); each cold start compiles what it imports")
        entries = [Entry(WRAPPER_NAME, True, data=wrapper_script().encode())]
        for dirpath, dirnames, filenames in os.walk(python_dir):
            dirnames.sort()
            for name in sorted(filenames):
                disk = os.path.join(dirpath, name)
                rel = os.path.relpath(disk, tmp).replace(os.sep, "/")
                entries.append(Entry(rel, name.endswith(".so"), source=disk))
        unzipped = sum(entry.size() for entry in entries)
        if unzipped > UNZIPPED_LIMIT:
            raise PackageError(f"the layer would be {human(unzipped)} unzipped, over Lambda's {human(UNZIPPED_LIMIT)}", "report this: it should be a few MB")
        progress(f"writing {output} ({len(entries)} files)")
        zipped, unzipped = write_zip(output, entries)
    if zipped > FUNCTION_ZIP_LIMIT:
        os.unlink(output)
        raise PackageError(f"{output} would be {human(zipped)} zipped, over Lambda's 50 MB limit for a direct upload", "report this: it should be a few MB")
    notes.append(f"for the python{python} runtime on {arch}: set AWS_LAMBDA_EXEC_WRAPPER=/opt/{WRAPPER_NAME}")
    return Summary(output, len(entries), zipped, unzipped, notes)
