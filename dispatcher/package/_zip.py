"""A deterministic zip writer: same entries in, same bytes out.

Entries are sorted by name; every timestamp is 1980-01-01 00:00 (the zip
epoch); modes are 0755 for anything executable and 0644 otherwise (the owner,
group and umask of the machine that built it do not leak in); directories
get their own entries so that unzip creates them 0755.  The output is written
to a temporary file and renamed into place, so a failed build leaves nothing.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass

__all__ = ["Entry", "write_zip", "EPOCH"]

EPOCH = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One file in the archive: its name (posix, relative) and either bytes or a source path."""

    name: str
    executable: bool
    data: bytes | None = None
    source: str | None = None

    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.source is not None
        return os.stat(self.source).st_size


def _info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=EPOCH)
    info.create_system = 3  # Unix: the mode in external_attr is honoured
    info.external_attr = mode << 16
    if not name.endswith("/"):
        info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _directories(names: list[str]) -> list[str]:
    dirs = set()
    for name in names:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]) + "/")
    return sorted(dirs)


def write_zip(path: str, entries: list[Entry]) -> tuple[int, int]:
    """Write `entries` to `path` deterministically; return (zipped size, unzipped size)."""
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"duplicate entries: {', '.join(dupes)}")
    by_name = {e.name: e for e in entries}
    order = sorted(set(names) | set(_directories(names)))
    unzipped = 0
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".dispatcher-package-", suffix=".zip", dir=folder)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as zf:
            for name in order:
                if name.endswith("/"):
                    zf.writestr(_info(name, stat.S_IFDIR | 0o755), b"")
                    continue
                entry = by_name[name]
                info = _info(name, stat.S_IFREG | (0o755 if entry.executable else 0o644))
                if entry.data is not None:
                    zf.writestr(info, entry.data)
                    unzipped += len(entry.data)
                    continue
                assert entry.source is not None
                with open(entry.source, "rb") as src, zf.open(info, "w", force_zip64=os.stat(entry.source).st_size > 0x7FFF0000) as dst:
                    while chunk := src.read(_CHUNK):
                        dst.write(chunk)
                        unzipped += len(chunk)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return os.stat(path).st_size, unzipped
