"""`--concurrency N` of `dispatcher invoke` and `dispatcher serve`: the emulator's
Lambda Managed Instances mode (docs/emulator-lmi.md).

Argument handling only (the CLI stays thin).
"""

from __future__ import annotations

import os

__all__ = ["add_concurrency", "concurrency_from"]


def add_concurrency(ap) -> None:  # type: ignore[no-untyped-def]
    ap.add_argument(
        "--concurrency",
        metavar="N",
        help="emulate Lambda Managed Instances with N slots (RIE's LMI mode; default: $AWS_LAMBDA_MAX_CONCURRENCY when set, "
        "else classic one-at-a-time mode); an invoke that finds no open /next gets 400 Runtime.Unavailable",
    )


def concurrency_from(ap, value: str | None) -> int | None:  # type: ignore[no-untyped-def]
    """N from --concurrency, else from AWS_LAMBDA_MAX_CONCURRENCY, else None; a bad value is a usage error."""
    from dispatcher.emulator.emulator import check_concurrency

    source = "--concurrency"
    if value is None:
        value = os.environ.get("AWS_LAMBDA_MAX_CONCURRENCY") or None
        source = "AWS_LAMBDA_MAX_CONCURRENCY"
    if value is None:
        return None
    try:
        return check_concurrency(value, source)
    except ValueError as exc:
        ap.error(str(exc))
        raise  # ap.error exits; this keeps type checkers happy
