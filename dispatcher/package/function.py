"""function.zip: dispatcher.yaml, its config cache and the files the worker needs.

The cache is written for the YAML bytes being shipped and stamped with the
Python version that wrote it (marshal is version specific): it is packaged
only when the target Python is the one running this build, else left out
with a note (the cold start then parses the YAML instead).  The compiled
form holds no absolute path, so a cache made here is valid under /var/task.
"""

from __future__ import annotations

import os
import zipfile

from dispatcher.config import CONFIG_NAME, compile_file
from dispatcher.config import _cache
from dispatcher.package._common import FUNCTION_ZIP_LIMIT, UNZIPPED_LIMIT, PackageError, Progress, Summary, default_python, human
from dispatcher.package._select import select_files
from dispatcher.package._zip import Entry, write_zip
from dispatcher.package.layer import PYTHON_VERSIONS

__all__ = ["build_function", "layer_unzipped_size"]


def _quiet(_line: str) -> None:
    pass


def layer_unzipped_size(path: str) -> int:
    try:
        with zipfile.ZipFile(path) as zf:
            return sum(info.file_size for info in zf.infolist())
    except (OSError, zipfile.BadZipFile) as exc:
        raise PackageError(f"cannot read the layer {path}: {exc}", "give the layer.zip built by `dispatcher package --layer`") from None


def _check_worker_paths(compiled: dict[str, object], folder: str, shipped: dict[str, bool]) -> None:
    """Every relative path a worker's command names must be inside the folder and in the zip."""
    for worker in compiled["workers"]:  # type: ignore[attr-defined]
        where = f"workers.{worker['name']}"
        cwd = os.path.normpath(worker["cwd"])
        if cwd == ".." or cwd.startswith("../") or os.path.isabs(cwd):
            raise PackageError(
                f"{where}.cwd {worker['cwd']!r} is outside the function's folder {folder}",
                "on Lambda only the folder's files exist (under /var/task): keep the worker inside it",
            )
        for i, (word, _line) in enumerate(worker["command"]):
            if type(word) is not str or "/" not in word or os.path.isabs(word):
                continue  # a ${VAR}, a bare program name found on PATH, or an absolute path of the runtime
            rel = os.path.normpath(os.path.join(cwd, word))
            key = f"{where}.command[{i}]"
            if rel == ".." or rel.startswith("../"):
                raise PackageError(
                    f"{key} {word!r} is outside the function's folder {folder}",
                    "the zip holds only that folder: copy the file in (`dispatcher init` vendors the adapters it uses)",
                )
            if rel in shipped:
                if i == 0 and not shipped[rel]:
                    raise PackageError(f"{key} {word!r} is not executable", f"chmod +x {os.path.join(folder, rel)}")
                continue
            if os.path.isfile(os.path.join(folder, rel)):
                raise PackageError(f"{key} {word!r} is left out of the package", "remove it from package.exclude, or add it to package.include")
            if i == 0:
                raise PackageError(f"{key} {word!r} does not exist in {folder}", "build or copy the worker there first")


def build_function(
    config_path: str,
    output: str,
    *,
    python: str | None = None,
    layer: str | None = None,
    progress: Progress = _quiet,
    zip_limit: int = FUNCTION_ZIP_LIMIT,
    unzipped_limit: int = UNZIPPED_LIMIT,
) -> Summary:
    """Build function.zip from the folder of `config_path`; see the module docstring."""
    python = python or default_python()
    if python not in PYTHON_VERSIONS:
        raise PackageError(f"Python {python} is not a target: use one of {', '.join(PYTHON_VERSIONS)}", "Lambda's python3.11 and newer runtimes")
    folder = os.path.dirname(os.path.abspath(config_path))
    progress(f"checking {config_path}")
    source, compiled = compile_file(config_path)
    package = compiled.get("package") or {"include": None, "exclude": ()}
    progress(f"selecting files under {folder}")
    leave_out = tuple(os.path.realpath(p) for p in (output, config_path, _cache.cache_path(config_path)) if os.path.exists(p))
    selection = select_files(folder, package["include"], package["exclude"], leave_out)  # type: ignore[index]
    notes = []
    for rel, why in selection.skipped:
        progress(f"  skipped {rel}: {why}")
    _check_worker_paths(compiled, folder, {rel: executable for rel, _, executable in selection.files})
    entries = [Entry(rel, executable, source=disk) for rel, disk, executable in selection.files]
    entries.append(Entry(CONFIG_NAME, False, data=source))
    if python == default_python():
        entries.append(Entry(CONFIG_NAME + ".cache", False, data=_cache.dumps(source, compiled)))
        progress(f"config cache: written for Python {python} (cold starts skip importing yaml)")
    else:
        note = (
            f"config cache left out: it can only be written by Python {python}, and this is Python {default_python()} "
            f"(cold starts parse the YAML, ~24 ms); run `python{python} -m dispatcher package --function` to include it"
        )
        notes.append(note)
    unzipped = sum(entry.size() for entry in entries)
    layer_size = layer_unzipped_size(layer) if layer else 0
    if unzipped + layer_size > unzipped_limit:
        with_layer = f" plus the layer's {human(layer_size)}" if layer else ""
        raise PackageError(
            f"the function would be {human(unzipped)} unzipped{with_layer}, over Lambda's {human(unzipped_limit)} limit for a function and its layers",
            "leave large files out with package.exclude, or deploy a container image (dispatcher package --image; up to 10 GB)",
        )
    progress(f"writing {output} ({len(entries)} files)")
    zipped, unzipped = write_zip(output, entries)
    if zipped > zip_limit:
        os.unlink(output)
        raise PackageError(
            f"{output} would be {human(zipped)} zipped, over Lambda's {human(zip_limit)} limit for a direct upload (nothing written)",
            "leave large files out with package.exclude, or deploy a container image (dispatcher package --image)",
        )
    if layer:
        notes.append(f"with the layer: {human(unzipped + layer_size)} unzipped of Lambda's {human(unzipped_limit)}")
    return Summary(output, len(entries), zipped, unzipped, notes)
