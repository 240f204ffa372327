"""The handler the conformance tests run under AWS's own Python runtime interface client (awslambdaric).

Same behaviour as examples/bash-runtime/function.sh: echo the event, except
{"fail": text} raises, {"sleep": N} sleeps first; with $HANDLER_LOG set,
"begin"/"end" lines are appended around the work.
"""

import os
import time


def _log(line: str) -> None:
    path = os.environ.get("HANDLER_LOG")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def handler(event, context):
    _log("begin")
    if isinstance(event, dict) and "fail" in event:
        raise ValueError(event["fail"])
    if isinstance(event, dict) and "sleep" in event:
        time.sleep(event["sleep"])
    _log("end")
    return event
