"""`python -m dispatcher_worker [HANDLER] [--raw]`: the launcher.

The command line is parsed by hand: argparse would cost more import time
than the rest of the adapter, and there is one argument and one flag.
"""

import os
import sys

from dispatcher_worker._errors import MALFORMED_HANDLER_NAME
from dispatcher_worker._serve import report_usage_error, serve_spec

USAGE = """\
usage: python -m dispatcher_worker [HANDLER] [--raw]

Serves a handler(event, context) to the lambda-dispatcher supervisor over
stdin/stdout (wire protocol v1). HANDLER is Lambda's 'app.handler' (as in the
function's Handler setting: 'pkg.mod.handler', 'src/app.handler') or
'module:function' ('app:handler', 'app:Api.handle', 'src/app.py:handler').
The working directory is importable. Without HANDLER, $_HANDLER is used, as
AWS's Python runtime does.
  --raw   pass the event as bytes and send the returned bytes untouched (no JSON)
"""


def main(argv: list) -> int:
    args = [a for a in argv if a != "--raw"]
    raw = len(args) != len(argv)
    if args in (["-h"], ["--help"]):
        sys.stderr.write(USAGE)
        return 0
    if not args and os.environ.get("_HANDLER"):
        args = [os.environ["_HANDLER"]]
    if len(args) != 1 or args[0].startswith("-"):
        problem = "no HANDLER argument and _HANDLER is not set" if not args else f"unexpected arguments {args!r}"
        sys.stderr.write(f"dispatcher_worker: {problem}\n{USAGE}")
        report_usage_error(MALFORMED_HANDLER_NAME, f"dispatcher_worker: {problem}; usage: "
                           "python -m dispatcher_worker [HANDLER] [--raw], HANDLER like app.handler or app:handler")
        return 2
    return serve_spec(args[0], raw=raw)


sys.exit(main(sys.argv[1:]))
