"""The floor of a Python worker, for bench/pyworker.py: see __main__.py."""
