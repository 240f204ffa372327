"""Error types the adapter reports, and how a Python exception becomes the
(error_type, error_message, stack_trace) triple of an `error` or `init_error`
frame.  The names and message wording follow AWS's Python runtime
(awslambdaric), so logs and alarms keyed on them keep working.
"""

from __future__ import annotations

from types import TracebackType

__all__ = [
    "IMPORT_MODULE_ERROR",
    "USER_CODE_SYNTAX_ERROR",
    "HANDLER_NOT_FOUND",
    "MALFORMED_HANDLER_NAME",
    "BUILT_IN_MODULE_CONFLICT",
    "UNMARSHAL_ERROR",
    "MARSHAL_ERROR",
    "RESPONSE_SIZE_TOO_LARGE",
    "Failure",
    "describe",
]

IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
MARSHAL_ERROR = "Runtime.MarshalError"
RESPONSE_SIZE_TOO_LARGE = "Function.ResponseSizeTooLarge"

_PACKAGE_DIR = __file__.rsplit("/", 1)[0] + "/"


class Failure(Exception):
    """An error with a fixed Lambda error type (as opposed to a user exception)."""

    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        self.error_type = error_type
        self.message = message
        self.stack = stack or []
        super().__init__(message)


def describe(exc: BaseException) -> tuple[str, str, list[str]]:
    """(error_type, error_message, stack_trace) for an exception, as awslambdaric reports it."""
    if isinstance(exc, Failure):
        return exc.error_type, exc.message, exc.stack
    return type(exc).__name__, _message(exc), user_stack(exc.__traceback__)


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception as inner:  # a broken __str__ must not lose the error
        return f"<{type(exc).__name__}: str() failed with {type(inner).__name__}>"


def user_stack(tb: TracebackType | None) -> list[str]:
    """traceback.format_list lines from the first frame of user code on.

    The leading frames are the adapter's and importlib's own: they say nothing
    about the user's bug.  Frames after user code (e.g. inside `os`) stay.
    """
    import importlib
    import traceback  # only on the error path: it pulls in linecache and more

    skip = (_PACKAGE_DIR, importlib.__file__.rsplit("/", 1)[0] + "/", "<frozen importlib")
    frames = traceback.extract_tb(tb)
    first = next((i for i, f in enumerate(frames) if not f.filename.startswith(skip)), len(frames))
    return traceback.format_list(frames[first:])
