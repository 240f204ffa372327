"""Import hygiene: every module imports alone, and the run path stays lean.

Each dispatcher module is imported in a fresh interpreter (an import cycle
only shows when a module is the first one imported).  The cold-start budget:
`import dispatcher.supervisor, dispatcher.cli, dispatcher.config` must not
load yaml, psutil, http.client, asyncio, json, argparse, subprocess, or
msgpack (with datetime and collections), which the frame codec imports after
the first answer; the commands that need them import them lazily.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dispatcher"
RUN_PATH = ["dispatcher.supervisor", "dispatcher.cli", "dispatcher.config"]
# Top-level names; a submodule of one (json.decoder, yaml.loader) counts too.
# msgpack (and the datetime and collections it imports) loads after the first
# answer: dispatcher/frames.py reads a cold start's frames with msgpack_lite.
FORBIDDEN = ["yaml", "psutil", "http.client", "asyncio", "json", "argparse", "subprocess", "msgpack", "datetime", "collections"]
MARK = "--- run path imports start here ---"


def module_names() -> list[str]:
    """Every module of the package, found on disk so that new modules are covered."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        if not all((ROOT / Path(*rel.parts[:i]) / "__init__.py").exists() for i in range(1, len(rel.parts))):
            continue  # not inside a package
        parts = list(rel.parts)
        if parts[-1] == "__main__":
            continue  # importing it runs the CLI
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def lean_env() -> dict[str, str]:
    """Run without site (-S): the .pth files of an editable install import `re`
    and friends at startup, which a deployed function does not.  The package
    and its dependencies are put on the path by hand instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    paths = dict.fromkeys([str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def test_module_list_is_complete() -> None:
    names = module_names()
    for expected in ["dispatcher", "dispatcher.frames", "dispatcher.http_parse", "dispatcher.runtime_api",
                     "dispatcher.logs", "dispatcher.jsonconv", "dispatcher.supervisor", "dispatcher.cli"]:
        assert expected in names


@pytest.mark.parametrize("module", module_names())
def test_module_imports_alone_in_a_fresh_interpreter(module: str) -> None:
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0, f"`import {module}` failed in a fresh interpreter:\n{proc.stderr}"


def import_tree() -> list[tuple[int, str]]:
    """(depth, module) for each import the run path triggers, from -X importtime."""
    code = f"import sys; print({MARK!r}, file=sys.stderr, flush=True); import {', '.join(RUN_PATH)}"
    proc = subprocess.run([sys.executable, "-S", "-X", "importtime", "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=lean_env())
    assert proc.returncode == 0, proc.stderr
    _, mark, after = proc.stderr.partition(MARK)
    assert mark, proc.stderr
    tree = []
    for line in after.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        name_field = line.rsplit("|", 1)[1]
        name = name_field.lstrip(" ")
        tree.append(((len(name_field) - len(name) - 1) // 2, name.strip()))
    return tree


@pytest.fixture(scope="module")
def tree() -> list[tuple[int, str]]:
    return import_tree()


def test_import_tree_is_parsed(tree: list[tuple[int, str]]) -> None:
    names = {name for _, name in tree}
    assert set(RUN_PATH) <= names
    assert "dispatcher.frames" in names
    assert any(depth > 0 for depth, _ in tree)


@pytest.mark.parametrize("forbidden", FORBIDDEN)
def test_run_path_does_not_import(tree: list[tuple[int, str]], forbidden: str) -> None:
    hits = [name for _, name in tree if name == forbidden or name.startswith(forbidden + ".")]
    assert not hits, f"the run path imports {hits} (cold-start budget); import it lazily where it is used. " \
                     f"Chain: {' <- '.join(importers(tree, hits[0]))}"


def importers(tree: list[tuple[int, str]], name: str) -> list[str]:
    """name, the module that imported it, and so on up to the top level."""
    idx = next(i for i, (_, n) in enumerate(tree) if n == name)
    chain = [name]
    depth = tree[idx][0]
    # importtime prints a module after its children: the importer is the next
    # entry, further down the list, that is one level shallower.
    for d, n in tree[idx + 1 :]:
        if d < depth:
            chain.append(n)
            depth = d
    return chain


def test_re_comes_only_from_the_standard_library(tree: list[tuple[int, str]]) -> None:
    """`re` (~10 ms) is loaded by stdlib `dataclasses` (and `inspect`), which the frozen
    request/config values need, so it cannot be kept off the run path.  What can be
    checked: no dispatcher module is the one that asks for it."""
    if not any(name == "re" for _, name in tree):
        return
    chain = importers(tree, "re")
    assert not chain[1].startswith("dispatcher"), f"`re` imported by {' <- '.join(chain)}"
    loaded = [name for _, name in tree if name.startswith("dispatcher")]
    for module in loaded:
        path = PACKAGE.joinpath(*module.split(".")[1:])
        source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for node in ast.parse(source.read_text("utf-8")).body:  # module level only
            if isinstance(node, ast.Import):
                assert "re" not in [a.name for a in node.names], f"{module} imports re at module level"
            elif isinstance(node, ast.ImportFrom):
                assert node.module != "re", f"{module} imports from re at module level"
