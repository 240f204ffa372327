"""The `context` argument of a handler: the same attributes as AWS's Python
runtime (awslambdaric) gives, built from one `invoke` message.

Function-wide values (name, version, memory, log group and stream) come from
the environment, read once per worker into `FunctionInfo`, not per
invocation.
"""

from __future__ import annotations

import sys
import time

# typing is only for annotations (strings here): importing it costs ~2 ms a start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Mapping

__all__ = ["FunctionInfo", "LambdaContext", "ClientContext", "Client", "CognitoIdentity"]

# The W3C trace-context fields context.w3c() may return, as in awslambdaric:
# other keys of the client context's "w3c" object, and values that are not
# strings, are left out.
W3C_ALLOWED_FIELDS = ("traceparent", "tracestate", "baggage")


class FunctionInfo:
    """Function-wide context values, the same for every invocation of a worker."""

    __slots__ = ("function_name", "function_version", "memory_limit_in_mb", "log_group_name", "log_stream_name")

    def __init__(self, env: Mapping[str, str]) -> None:
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")  # a str, as in awslambdaric
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")


class _Fields:
    """An object whose __slots__ are filled from a JSON object, missing ones None."""

    __slots__: tuple[str, ...] = ()

    def __init__(self, data: Mapping[str, Any]) -> None:
        for name in self.__slots__:
            setattr(self, name, data.get(name))

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Client(_Fields):
    __slots__ = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")


class ClientContext(_Fields):
    __slots__ = ("custom", "env", "client")

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        client = data.get("client")
        self.client = Client(client) if isinstance(client, dict) else None


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")

    def __repr__(self) -> str:
        return f"CognitoIdentity({self.cognito_identity_id!r}, {self.cognito_identity_pool_id!r})"


class LambdaContext:
    """What a handler receives as `context`."""

    __slots__ = (
        "aws_request_id",
        "invoked_function_arn",
        "function_name",
        "function_version",
        "memory_limit_in_mb",
        "log_group_name",
        "log_stream_name",
        "client_context",
        "identity",
        "tenant_id",
        "trace_id",
        "_w3c",
        "_deadline_ms",
        "_clock",
    )

    def __init__(
        self,
        invoke: Mapping[str, Any],
        function: FunctionInfo,
        parse_json: Callable[[str], Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.aws_request_id: str = invoke["id"]
        self.invoked_function_arn: str = invoke["function_arn"]
        self.function_name = function.function_name
        self.function_version = function.function_version
        self.memory_limit_in_mb = function.memory_limit_in_mb
        self.log_group_name = function.log_group_name
        self.log_stream_name = function.log_stream_name
        self.tenant_id: str | None = invoke["tenant_id"]
        self.trace_id: str | None = invoke["trace_id"]
        text = invoke["client_context"]
        if text:
            data = _json_object(parse_json, text, "client_context")
            self.client_context = ClientContext(data)
            self._w3c = _w3c_fields(data.get("w3c"))
        else:
            self.client_context = None
            self._w3c = None
        # As on AWS, `identity` is always an object: code written for Lambda
        # reads context.identity.cognito_identity_id without a None check.
        text = invoke["cognito_identity"]
        self.identity = CognitoIdentity(_json_object(parse_json, text, "cognito_identity") if text else {})
        self._deadline_ms: int = invoke["deadline_ms"]
        self._clock = clock

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(self._clock() * 1000))

    def w3c(self) -> dict[str, str]:
        """The W3C trace context the invoker sent in the client context ("w3c"), as awslambdaric offers it."""
        return dict(self._w3c) if self._w3c else {}

    def log(self, msg: str) -> None:
        """awslambdaric's context.log: to the function's log (stderr here)."""
        sys.stderr.write(msg)
        sys.stderr.flush()

    def __repr__(self) -> str:
        return (
            f"LambdaContext(aws_request_id={self.aws_request_id!r}, "
            f"invoked_function_arn={self.invoked_function_arn!r}, "
            f"function_name={self.function_name!r}, trace_id={self.trace_id!r})"
        )


def _w3c_fields(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {key: value[key] for key in W3C_ALLOWED_FIELDS if isinstance(value.get(key), str)}


class ContextError(ValueError):
    """A client-context or identity header that is not a JSON object."""


def _json_object(parse_json: Callable[[str], Any], text: str, what: str) -> Mapping[str, Any]:
    try:
        value = parse_json(text)
    except ValueError as exc:
        raise ContextError(f"{what} is not valid JSON ({exc}): {text[:200]!r}") from None
    if not isinstance(value, dict):
        raise ContextError(f"{what} is JSON but not an object: {text[:200]!r}")
    return value
