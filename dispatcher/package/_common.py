"""What every builder shares: the error, the summary, Lambda's size limits, sizes as text."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["PackageError", "Summary", "Progress", "FUNCTION_ZIP_LIMIT", "UNZIPPED_LIMIT", "human", "default_python"]

# Lambda's deployment-package quotas (docs/deploy.md, "Limits"): a zip uploaded
# directly is at most 50 MB; the function and all its layers, unzipped, 250 MB.
FUNCTION_ZIP_LIMIT = 50 * 1024 * 1024
UNZIPPED_LIMIT = 250 * 1024 * 1024

Progress = Callable[[str], None]


class PackageError(Exception):
    """The artifact cannot be built as asked: what went wrong, and what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


@dataclass
class Summary:
    """One written artifact: its path, entry count and sizes in bytes."""

    path: str
    files: int
    zipped: int
    unzipped: int
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"{self.path}: {self.files} files, {human(self.zipped)} zipped, {human(self.unzipped)} unzipped"


def human(size: int) -> str:
    """12.3 MB, 456.0 KB or 789 B (powers of 1024, as Lambda's quotas are)."""
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MB"
    if size >= 1 << 10:
        return f"{size / (1 << 10):.1f} KB"
    return f"{size} B"


def default_python() -> str:
    """The running interpreter's version, e.g. "3.11": the one whose bytecode and cache we can write."""
    return "%d.%d" % sys.version_info[:2]
