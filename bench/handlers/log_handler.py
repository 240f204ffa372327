"""Echo handler that writes one log line per invocation, for bench/logcost.py.

BENCH_LOG picks the line: `none` (no line: the baseline), `print` (a print()
line: to stdout under awslambdaric, to stderr under the dispatcher adapter),
`logging` (logging.warning: formatted by the runtime's own handler).
"""

import logging
import os

_HOW = os.environ.get("BENCH_LOG", "none")
_log = logging.getLogger("bench")


def handler(event, context):
    if _HOW == "print":
        print("processed one order for the benchmark")
    elif _HOW == "logging":
        _log.warning("processed one order for the benchmark")
    return event
