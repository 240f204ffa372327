"""Which files of a function's folder go into function.zip, and why the others do not.

The default is the whole folder (the one holding dispatcher.yaml) less
version-control and cache folders, build outputs and anything that looks like
a secret.  `package: {include: [...], exclude: [...]}` narrows it: with
`include`, only matching files ship (dispatcher.yaml always does); `exclude`
drops matches.  A pattern is matched like a .gitignore line: against the path
relative to the folder, a pattern without `/` also against each name on the
way, a trailing `/` matches folders only, `*` `?` `[...]` are globs.

Secrets are never shipped, even when included: configuration belongs in the
function's environment or a secrets store.  A symlink whose target leaves the
folder, a dangling one, and a special file are refused.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass, field

from dispatcher.package._common import PackageError

__all__ = ["Selection", "select_files", "matches", "SECRET_PATTERNS", "SKIPPED_BY_DEFAULT"]

SECRET_PATTERNS = (
    ".env", ".env.*", "*.env", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", ".ssh/", ".aws/", ".netrc", ".npmrc",
    ".pypirc", ".git-credentials", ".dockerconfigjson", "*.tfstate", "*.tfvars",
)  # fmt: skip
SKIPPED_BY_DEFAULT = (
    (".git/", "version control"), (".hg/", "version control"), (".svn/", "version control"),
    ("__pycache__/", "bytecode cache"), ("*.pyc", "bytecode cache"), (".venv/", "virtualenv"),
    (".pytest_cache/", "test cache"), (".mypy_cache/", "type-check cache"), (".DS_Store", "desktop metadata"),
    ("target/", "build folder"), (".aws-sam/", "build folder"), ("node_modules/.cache/", "build cache"),
    ("*.zip", "build output"), ("Dockerfile", "deployment file"), ("template.yaml", "deployment file"),
    ("samconfig.toml", "deployment file"), (".dockerignore", "deployment file"),
)  # fmt: skip


def matches(relpath: str, pattern: str, is_dir: bool = False) -> bool:
    """Does the posix path `relpath` (a file, or a folder when is_dir) fall under `pattern`?"""
    dir_only = pattern.endswith("/")
    pattern = pattern.strip("/")
    if pattern.startswith("./"):
        pattern = pattern[2:]
    anchored = "/" in pattern
    parts = relpath.split("/")
    for i in range(1, len(parts) + 1):
        if dir_only and i == len(parts) and not is_dir:
            break  # the path itself is a file
        prefix = "/".join(parts[:i])
        if fnmatch.fnmatchcase(prefix, pattern) or (not anchored and fnmatch.fnmatchcase(parts[i - 1], pattern)):
            return True
    return False


@dataclass
class Selection:
    files: list[tuple[str, str, bool]] = field(default_factory=list)  # (name in zip, path on disk, executable)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relpath, why)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def select_files(folder: str, include: tuple[str, ...] | None, exclude: tuple[str, ...], leave_out: tuple[str, ...] = ()) -> Selection:
    """The files to ship from `folder` (sorted), and what was skipped; `leave_out` are real paths never shipped."""
    root = os.path.realpath(folder)
    sel = Selection()
    always = {"dispatcher.yaml"}

    def why_skip(rel: str, is_dir: bool) -> str | None:
        for pattern in SECRET_PATTERNS:
            if matches(rel, pattern, is_dir):
                return f"looks like a secret ({pattern}): pass it in the function's environment or a secrets store"
        if rel in always:
            return None
        explicit = include is not None and any(matches(rel, p, is_dir) for p in include if not any(c in p for c in "*?["))
        for pattern, reason in SKIPPED_BY_DEFAULT:
            if matches(rel, pattern, is_dir) and not explicit:
                return f"{reason} ({pattern}); list it in package.include to ship it"
        for pattern in exclude:
            if matches(rel, pattern, is_dir):
                return f"package.exclude: {pattern}"
        return None

    def walk(disk_dir: str, rel_dir: str, ancestors: tuple[str, ...]) -> None:
        try:
            names = sorted(os.listdir(disk_dir))
        except OSError as exc:
            raise PackageError(f"cannot read {disk_dir}: {exc.strerror or exc}", "check its permissions") from None
        for name in names:
            disk = os.path.join(disk_dir, name)
            rel = f"{rel_dir}/{name}" if rel_dir else name
            st = os.lstat(disk)
            if stat.S_ISLNK(st.st_mode):
                target = os.path.realpath(disk)
                try:
                    st = os.stat(disk)
                except OSError:
                    if why_skip(rel, False) is None:
                        raise PackageError(f"{rel} is a symlink to {os.readlink(disk)}, which does not exist", "fix or remove the link, or exclude it in package.exclude") from None
                    sel.skipped.append((rel, why_skip(rel, False) or ""))
                    continue
                is_dir = stat.S_ISDIR(st.st_mode)
                reason = why_skip(rel, is_dir)
                if reason is not None:
                    sel.skipped.append((rel + ("/" if is_dir else ""), reason))
                    continue
                if not _inside(target, root):
                    raise PackageError(
                        f"{rel} is a symlink to {target}, outside the function's folder {root}",
                        "the zip holds only that folder: copy the file in, or list the link in package.exclude",
                    )
                if is_dir and target in ancestors:
                    raise PackageError(f"{rel} is a symlink to its own parent folder {target}: a loop", "remove the link or exclude it")
            else:
                target = disk
                is_dir = stat.S_ISDIR(st.st_mode)
                reason = why_skip(rel, is_dir)
                if reason is not None:
                    sel.skipped.append((rel + ("/" if is_dir else ""), reason))
                    continue
            if is_dir:
                walk(target, rel, ancestors + (target,))
                continue
            if not stat.S_ISREG(st.st_mode):
                raise PackageError(f"{rel} is not a regular file (a socket, fifo or device)", "remove it or list it in package.exclude")
            if target in leave_out:
                continue
            if include is not None and rel not in always and not any(matches(rel, p) for p in include):
                continue  # not asked for: not named, the include list says what ships
            sel.files.append((rel, target, bool(st.st_mode & 0o111)))

    walk(root, "", (root,))
    return sel
