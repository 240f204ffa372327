"""The benchmark suite: `python bench/run.py` (see bench/README.md).

A package only so that its modules import as `bench.<name>` from the
repository root; nothing here is part of the installed dispatcher.
"""
