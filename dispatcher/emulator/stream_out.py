"""`dispatcher invoke`'s output for one event: the answer on stdout, a streamed
one written piece by piece as it arrives (with the HTTP-integration prelude
applied as a function URL does: status and headers reported on stderr, the
body after the 8 NULs on stdout), an error after the first byte on stderr."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from .emulator import Emulator
from .model import InvokeResult, StreamStart
from .prelude import Prelude, PreludeError, PreludeSplitter, is_http_integration

__all__ = ["invoke_to"]


def invoke_to(emu: Emulator, event: bytes, out: BinaryIO, say: Callable[[str], None]) -> str:
    """Run one invoke, writing its answer to `out`; the outcome ("success", "error", ...)."""
    splitter: PreludeSplitter | None = None
    result: InvokeResult | None = None
    for item in emu.invoke_stream(event):
        if isinstance(item, StreamStart):
            if is_http_integration(item.content_type):
                splitter = PreludeSplitter()
            continue
        if isinstance(item, InvokeResult):
            result = item
            break
        data = item
        if splitter is not None and splitter.prelude is None:
            try:
                prelude, data = splitter.feed(data)
            except PreludeError as exc:
                say(str(exc))
                splitter = None  # show the rest raw: nothing the function wrote is lost
                data = item
            else:
                if prelude is not None:
                    _report(prelude, say)
        if data:
            out.write(data)
            out.flush()
    assert result is not None
    if not result.streamed:
        out.write(result.body)
        out.flush()
        return result.outcome
    if splitter is not None and splitter.prelude is None and result.outcome == "success":
        try:
            _report(splitter.finish(), say)
        except PreludeError as exc:
            say(str(exc))
    if result.outcome != "success":
        say(f"the stream ended with {result.error_type}: {result.body.decode('utf-8', 'replace')}")
        return result.outcome
    if result.stream_error_type is not None:
        body = (result.stream_error_body or b"").decode("utf-8", "replace")
        say(f"the stream ended with an error ({result.stream_error_type}): {body}")
        return "error"
    return "success"


def _report(prelude: Prelude, say: Callable[[str], None]) -> None:
    fields = [f"{n}: {v}" for n, v in prelude.headers] + [f"Set-Cookie: {c}" for c in prelude.cookies]
    say(f"HTTP {prelude.status}" + ("; " + "; ".join(fields) if fields else ""))
