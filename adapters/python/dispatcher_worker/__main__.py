"""`python -m dispatcher_worker MODULE:FUNCTION [--raw]`: the launcher.

The command line is parsed by hand: argparse would cost more import time
than the rest of the adapter, and there is one argument and one flag.
"""

import sys

from dispatcher_worker._errors import MALFORMED_HANDLER_NAME
from dispatcher_worker._serve import report_usage_error, serve_spec

USAGE = """\
usage: python -m dispatcher_worker MODULE:FUNCTION [--raw]

Serves FUNCTION(event, context) from MODULE to the lambda-dispatcher supervisor
over stdin/stdout (wire protocol v1). MODULE is imported with the working
directory importable; 'src/app.py:handler' and 'app.handler' work too.
  --raw   pass the event as bytes and send the returned bytes untouched (no JSON)
"""


def main(argv: list) -> int:
    args = [a for a in argv if a != "--raw"]
    raw = len(args) != len(argv)
    if args in (["-h"], ["--help"]):
        sys.stderr.write(USAGE)
        return 0
    if len(args) != 1 or args[0].startswith("-"):
        problem = "no handler given" if not args else f"unexpected arguments {args!r}"
        sys.stderr.write(f"dispatcher_worker: {problem}\n{USAGE}")
        report_usage_error(MALFORMED_HANDLER_NAME, f"dispatcher_worker: {problem}; usage: "
                           "python -m dispatcher_worker MODULE:FUNCTION [--raw]")
        return 2
    return serve_spec(args[0], raw=raw)


sys.exit(main(sys.argv[1:]))
