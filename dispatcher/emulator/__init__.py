"""An embedded Lambda Runtime API emulator, for running a function locally.

It answers like Lambda's RAPID (as shipped in AWS's Runtime Interface
Emulator): the same routes, status codes, error documents and lifecycle
(lazy init, timeouts that reset the sandbox, exits reported as
Runtime.ExitError), without the RIE's crash on concurrent invokes.

    from dispatcher.emulator import Emulator
    with Emulator(runtime_argv=[...], function_timeout=3) as emu:
        result = emu.invoke(b'{"name": "Ada"}')

Modules: `_http` (sans-IO request parsing), `_render` (responses as RAPID writes them), `state` (the state table), `server` (the
epoll loop), `sandbox` (routes and actions; `streamed`: its streamed answers), `runtime` (the runtime process),
`model` (result values), `frontdoor` (the RIE-compatible invoke endpoint), `lmi`
(the Managed-Instances mode: N invokes at once).
"""

from typing import Any

from .emulator import Emulator
from .model import EmulatorClosedError, EmulatorError, EmulatorStats, InvokeResult, Outcome, StreamStart, sanitize_error_type

__all__ = [
    "Emulator",
    "InvokeResult",
    "StreamStart",
    "EmulatorStats",
    "Outcome",
    "EmulatorError",
    "EmulatorClosedError",
    "FrontDoor",
    "serve_frontdoor",
    "sanitize_error_type",
]


def __getattr__(name: str) -> Any:
    # The front door pulls in http.server (~30 ms); load it only when asked for.
    if name in ("FrontDoor", "serve_frontdoor"):
        from . import frontdoor

        return getattr(frontdoor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
