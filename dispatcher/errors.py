"""Stable error names and the exception hierarchy.

Two tiers, as in the Rust runtime: an *invocation* error is reported to
/error and the loop goes on; a *fatal* error ends the supervisor (after
/init/error when init has not finished).  Every exception the package raises
on purpose derives from DispatcherError, so a broad `except` is only needed
at the loop boundary.
"""

from __future__ import annotations

__all__ = [
    "DispatcherError",
    "ConfigError",
    "ProtocolError",
    "HttpError",
    "RuntimeApiError",
    "FatalError",
    # errorType strings
    "EXIT_ERROR",
    "PROTOCOL_ERROR",
    "MARSHAL_ERROR",
    "UNMARSHAL_ERROR",
    "INVOKE_TIMEOUT",
    "SANDBOX_TIMEDOUT",
    "INVALID_ENTRYPOINT",
    "INIT_TIMEOUT",
    "CONFIG_ERROR",
    "HANDLER_NOT_FOUND",
    "RESPONSE_SIZE_TOO_LARGE",
]

# errorType strings the supervisor itself produces.  The body carries these
# verbatim; the header is derived by runtime_api.error_type_header().
EXIT_ERROR = "Runtime.ExitError"  # worker died during an invoke / before ready
PROTOCOL_ERROR = "Runtime.ProtocolError"  # worker broke wire protocol v1
MARSHAL_ERROR = "Runtime.MarshalError"  # result value not convertible to JSON
UNMARSHAL_ERROR = "Runtime.UnmarshalError"  # event is not JSON (jsonl, adapters)
SANDBOX_TIMEDOUT = "Sandbox.Timedout"  # body type on a deadline, as Lambda's
INVOKE_TIMEOUT = "Runtime.InvokeTimeout"  # header type on a deadline
INVALID_ENTRYPOINT = "Runtime.InvalidEntrypoint"  # worker command not runnable
INIT_TIMEOUT = "Runtime.InitTimeout"  # no `ready` within startup_timeout
CONFIG_ERROR = "Runtime.ConfigError"  # dispatcher.yaml invalid
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"  # _HANDLER names no worker
RESPONSE_SIZE_TOO_LARGE = "Function.ResponseSizeTooLarge"


class DispatcherError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(DispatcherError):
    """dispatcher.yaml is unusable.  Carries where and what, for one clear line."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.key = key
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or "<config>"
        if self.line is not None:
            where += f":{self.line}"
        text = f"{where}: "
        if self.key:
            text += f"{self.key}: "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class ProtocolError(DispatcherError):
    """The peer (a worker, or the Runtime API) sent bytes that break the protocol."""


class HttpError(ProtocolError):
    """Malformed HTTP/1.1 message (sans-IO parser)."""


class RuntimeApiError(DispatcherError):
    """The Runtime API could not be reached or answered outside the contract."""


class FatalError(DispatcherError):
    """The supervisor must exit non-zero (after reporting, where possible)."""

    def __init__(self, message: str, error_type: str = "Runtime.Unknown") -> None:
        self.error_type = error_type
        super().__init__(message)
