"""Resolving a handler spec (`package.module:function`) to a callable.

Every failure is a Failure whose type awslambdaric would report for the same
mistake, so the init_error says what went wrong and what to fix.
Accepted forms:
    app:handler          module `app`, attribute `handler`
    pkg.mod:Cls.method   dotted attribute path after the colon
    src/app.py:handler   a file: its folder becomes importable, module `app`
    app.handler          Lambda's Handler setting, read by awslambdaric's rules:
    pkg.mod.handler      the last dot splits module and function, and "/" in
    src/app.handler      the module path is a package separator (`src.app`)
The colon forms are this adapter's and are checked to be Python names; the
Lambda form is checked as awslambdaric checks it (a module that is not a name
fails to import: Runtime.ImportModuleError; a missing function:
Runtime.HandlerNotFound).
"""

from __future__ import annotations

import importlib
import os
import sys

# typing is only for annotations (strings here): importing it costs ~2 ms a start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

from dispatcher_worker._errors import (
    BUILT_IN_MODULE_CONFLICT,
    HANDLER_NOT_FOUND,
    IMPORT_MODULE_ERROR,
    MALFORMED_HANDLER_NAME,
    USER_CODE_SYNTAX_ERROR,
    Failure,
    user_stack,
)

__all__ = ["split_spec", "load_handler"]


def split_spec(spec: str) -> tuple[str, str, str | None]:
    """(module name, attribute path, folder to make importable or None)."""
    colon = ":" in spec
    if colon:
        module, _, attr = spec.partition(":")
    else:
        module, _, attr = spec.rpartition(".")
    folder = None
    if colon and module.endswith(".py"):
        folder = os.path.dirname(os.path.abspath(module))
        module = os.path.basename(module)[:-3]
    else:
        module = module.replace("/", ".")
    malformed = not module or not attr or module.startswith(".")
    if colon and not malformed:
        malformed = not all(p.isidentifier() for p in module.split(".")) or not all(
            a.isidentifier() for a in attr.split(".")
        )
    if malformed:
        raise Failure(
            MALFORMED_HANDLER_NAME,
            f"Bad handler '{spec}': expected 'module.function' as in Lambda's Handler setting, or "
            "'module:function' (e.g. 'app.handler' or 'app:handler' for def handler(event, context) in app.py)",
        )
    return module, attr, folder


def load_handler(spec: str) -> Callable[..., Any]:
    """Import the module named by `spec` (running its top-level code) and return the handler."""
    module_name, attr, folder = split_spec(spec)
    # Inserted in front, the file's folder last so that it wins over the
    # working directory: `src/app.py:handler` means that app.py.
    for path in (os.getcwd(), folder):
        if path and path not in sys.path:
            sys.path.insert(0, path)
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise Failure(BUILT_IN_MODULE_CONFLICT, f"Cannot use built-in module {module_name} as a handler module")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise Failure(
            IMPORT_MODULE_ERROR, f"Unable to import module '{module_name}': {exc}", user_stack(exc.__traceback__)
        ) from exc
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {(exc.text or "").strip()}\n']
        raise Failure(USER_CODE_SYNTAX_ERROR, f"Syntax error in module '{module_name}': {exc}", trace) from exc
    target: Any = module
    for name in attr.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise Failure(HANDLER_NOT_FOUND, f"Handler '{attr}' missing on module '{module_name}'") from None
    if not callable(target):
        raise Failure(
            HANDLER_NOT_FOUND,
            f"Handler '{attr}' on module '{module_name}' is a {type(target).__name__}, not a function",
        )
    return target
