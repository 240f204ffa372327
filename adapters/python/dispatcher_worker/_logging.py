"""Logging the way AWS's Python runtime (awslambdaric) sets it up.

- `logging`: a handler on the root logger formats records as awslambdaric
  does, `[LEVEL]\\t<time>Z\\t<request id>\\t<message>` in Text format, and as
  one JSON object (timestamp, level, message, logger, stackTrace, errorType,
  errorMessage, requestId, location, then `extra` fields) in JSON format;
  `AWS_LAMBDA_LOG_LEVEL` sets the root logger's level (TRACE means DEBUG).
  `logging` costs ~15 ms to import, so the adapter does not import it: an
  import hook installs the handler the moment user code imports `logging`,
  before the user's own setup runs (so that `logging.basicConfig()` is then a
  no-op, as on Lambda, where the handler is there before user code).
- A handler error is logged as awslambdaric logs it: `[ERROR] Type: message`
  and the traceback (indentation as no-break spaces), or a JSON record with
  errorMessage, errorType, requestId and stackTrace.
- `print()` goes to stderr; the supervisor forwards the line (and wraps it as
  a JSON record under JSON format).

A record of several lines is written as one line with `\\r` in place of each
newline, as AWS's runtimes write to stdout: the supervisor keeps it as one
record, and restores the newlines in a telemetry frame (docs/logging.md).
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping

__all__ = ["Logs"]

_NBSP = "\u00a0"


def _stamp(t: float) -> str:
    """RFC 3339 UTC with milliseconds (docs/logging.md says why milliseconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def _write(text: str) -> None:
    data = text.replace("\n", "\r") + "\n"
    try:
        os.write(2, data.encode("utf-8", "surrogateescape"))
    except OSError:
        pass


def _indent_nbsp(line: str) -> str:
    n = len(line) - len(line.lstrip(" "))
    return _NBSP * n + line[n:]


class Logs:
    """The worker's logging configuration (one per process)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.json = (env.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON"
        level = (env.get("AWS_LAMBDA_LOG_LEVEL") or "").upper()
        self.level = {"TRACE": "DEBUG"}.get(level, level)
        self.request_id: str | None = None
        self.tenant_id: str | None = None
        self._installed = False
        self._dumps: Any = None

    # -- the logging module ------------------------------------------------
    def watch_imports(self) -> None:
        """Install the root handler now if `logging` is loaded, else when it is imported."""
        if "logging" in sys.modules:
            self.maybe_install()
        elif not self._installed:
            sys.meta_path.insert(0, _LoggingImportHook(self))

    def maybe_install(self) -> None:
        """Install the root handler if `logging` is loaded and it is not installed yet."""
        if not self._installed and "logging" in sys.modules:
            self._installed = True
            _install(self)

    # -- handler errors ----------------------------------------------------------
    def log_error(self, error_type: str, message: str, stack: list[str]) -> None:
        """awslambdaric's log_error, for a handler error about to be reported."""
        if self.json:
            if self._dumps is None:
                import json

                self._dumps = json.JSONEncoder(ensure_ascii=False, default=str).encode
            record = {
                "timestamp": _stamp(time.time()),
                "level": "ERROR",
                "errorMessage": message,
                "errorType": error_type,
                "requestId": self.request_id or "",
                "stackTrace": stack,
            }
            _write(self._dumps(record))
            return
        head = "[ERROR]"
        if error_type:
            head += " " + error_type
        if message:
            head += (":" if error_type else "") + " " + message
        lines = [head, "Traceback (most recent call last):"]
        for element in stack:
            if element == "":
                lines.append("")
            else:
                lines.extend(_indent_nbsp(line) for line in element.splitlines())
        _write("\n".join(lines))


class _LoggingImportHook:
    """A meta path finder that only watches for `logging`: it lets the usual
    finder load the module, then installs the handler right after."""

    def __init__(self, logs: Logs) -> None:
        self.logs = logs

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "logging":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        loader = None if spec is None else spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module
        logs = self.logs

        def exec_module(module: Any) -> None:
            run(module)
            logs.maybe_install()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _install(logs: Logs) -> None:
    import logging

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                _write(self.format(record))
            except Exception:
                self.handleError(record)

    class Filter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.aws_request_id = logs.request_id or ""
            record.tenant_id = logs.tenant_id
            return True

    handler = Handler()
    if logs.json:
        handler.setFormatter(_json_formatter(logging))
    else:
        text = logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
        )
        text.converter = time.gmtime  # type: ignore[method-assign]
        handler.setFormatter(text)
    handler.addFilter(Filter())
    root = logging.getLogger()
    if logs.level in logging._nameToLevel:  # type: ignore[attr-defined]
        root.setLevel(logs.level)
    root.addHandler(handler)


_RESERVED = {
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
    "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
    "processName", "process", "aws_request_id", "tenant_id", "taskName", "message", "asctime",
}


def _json_formatter(logging: Any) -> Any:
    import json
    import traceback

    dumps = json.JSONEncoder(ensure_ascii=False, default=str).encode

    class JsonFormatter(logging.Formatter):  # type: ignore[misc, name-defined]
        """awslambdaric's JsonFormatter: the same fields in the same order."""

        def format(self, record: Any) -> str:
            levelno = min(50, max(0, record.levelno)) // 10 * 10
            exc = record.exc_info
            msg = record.msg if isinstance(record.msg, dict) and not record.args else record.getMessage()
            result = {
                "timestamp": _stamp(record.created),
                "level": logging.getLevelName(levelno),
                "message": msg,
                "logger": record.name,
                "stackTrace": traceback.format_tb(exc[2]) if exc else None,
                "errorType": exc[0].__name__ if exc else None,
                "errorMessage": str(exc[1]) if exc else None,
                "requestId": getattr(record, "aws_request_id", None),
                "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc else None,
            }
            if getattr(record, "tenant_id", None) is not None:
                result["tenantId"] = record.tenant_id
            result.update((k, v) for k, v in record.__dict__.items() if k not in _RESERVED and k not in result)
            return dumps({k: v for k, v in result.items() if v is not None})

    return JsonFormatter()
