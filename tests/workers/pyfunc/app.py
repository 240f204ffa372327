"""A Python adapter handler with several behaviours, chosen by the event."""

import os
import sys

if os.environ.get("PYFUNC_IMPORT_FAIL"):
    raise RuntimeError("module-level failure")


class BadInput(Exception):
    pass


def handler(event, context):
    action = event.get("action") if isinstance(event, dict) else None
    if action == "error":
        raise BadInput("the input was bad")
    if action == "crash":
        os._exit(3)
    if action == "print":
        print("hello from print")
        print("to stderr", file=sys.stderr)
        return {"printed": True, "request_id": context.aws_request_id}
    return {"echo": event, "remaining_ok": context.get_remaining_time_in_millis() > 0}
