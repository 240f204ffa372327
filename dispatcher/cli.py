"""Command line: `dispatcher run | invoke | serve | check | init | package`.

Thin on purpose.  `run` is the Lambda bootstrap and is parsed by hand (argparse
costs milliseconds of cold start); the other commands use argparse and import
the emulator lazily.

Exit statuses of `invoke`: 0 success; 1 invocation error (the error document
on stdout); 2 usage or config error; 3 init failure (the init error on
stdout); 4 internal error; 130 interrupted.
`init` and `package` live in dispatcher/cli_deploy.py (exit statuses there).
"""

from __future__ import annotations

import os
import sys
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Sequence

__all__ = ["main"]

EXIT_OK, EXIT_INVOKE_ERROR, EXIT_USAGE, EXIT_INIT, EXIT_INTERNAL, EXIT_SIGINT = 0, 1, 2, 3, 4, 130

USAGE = """usage: dispatcher COMMAND [options]

commands:
  run      the Lambda bootstrap: serve the Runtime API at $AWS_LAMBDA_RUNTIME_API
  invoke   run the function locally against an embedded Runtime API emulator
  serve    serve the RIE invoke endpoint (POST /2015-03-31/functions/function/invocations)
  check    validate dispatcher.yaml and print the resolved configuration
  init     write dispatcher.yaml, bootstrap, Dockerfile and template.yaml for a worker
  package  build layer.zip, function.zip or the container Dockerfile for deployment

options:
  -h, --help     show this help; `dispatcher COMMAND --help` describes each command
  -V, --version  print `dispatcher VERSION` and exit

exit status:
  run      0 after a normal shutdown (SIGTERM); 1 init failed, or the Runtime API
           asked the runtime to exit or could not be reached; 2 usage error
           (or AWS_LAMBDA_RUNTIME_API not set)
  invoke   0 success; 1 invocation error (the error document on stdout);
           2 usage or config error; 3 init failure (the init error on stdout);
           4 internal error; 130 interrupted
  serve    0 stopped (Ctrl-C, SIGTERM); 2 usage or config error; 4 internal error
  check    0 the configuration is valid; 2 it is not, or the cache cannot be written
  init     0 written; 2 bad arguments or a file exists (nothing written); 4 internal error
  package  0 written; 2 usage or config error; 3 refused (nothing written); 4 internal error
  any      2 unknown command or bad options; 4 internal error; 130 interrupted
"""


def _err(msg: str) -> None:
    sys.stderr.write(f"dispatcher: {msg}\n")
    sys.stderr.flush()


# -- run ------------------------------------------------------------------------
def cmd_run(argv: Sequence[str]) -> int:
    explicit: str | None = None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--config" and args:
            explicit = args.pop(0)
        elif a.startswith("--config="):
            explicit = a.split("=", 1)[1]
        elif a in ("-h", "--help"):
            print("usage: dispatcher run [--config PATH]\n\nThe Lambda bootstrap: reads AWS_LAMBDA_RUNTIME_API and serves "
                  "invocations with the worker selected by _HANDLER (or `default`).")
            return 0
        else:
            _err(f"run: unexpected argument {a!r} (usage: dispatcher run [--config PATH])")
            return EXIT_USAGE
    from dispatcher.boot import run

    return run(explicit, os.environ)


# -- shared by invoke / serve / check --------------------------------------------
def _emulated_config(args, bootstrap):  # type: ignore[no-untyped-def]
    """The config `invoke` and `serve` run, or None with --bootstrap; and the
    exit status when it cannot be loaded (after saying why), else None."""
    if bootstrap is not None:
        return None, None
    from dispatcher.errors import ConfigError

    try:
        path, _ = _load_config(args.config, args.handler)
    except ConfigError as exc:
        _err(str(exc))
        return None, EXIT_USAGE
    return path, None


def _load_config(explicit: str | None, handler: str | None = None):  # type: ignore[no-untyped-def]
    from dispatcher.config import find_config, load

    path = find_config(explicit, os.environ)
    config = load(path, os.environ)
    config.select(handler or os.environ.get("_HANDLER") or None)
    return path, config


def _make_emulator(config_path: str | None, handler: str | None, timeout: float, bootstrap: list[str] | None = None, concurrency: int | None = None, queue: bool = False):  # type: ignore[no-untyped-def]
    """The emulator running `dispatcher run` on the config, or the `--bootstrap` command in the current directory."""
    from dispatcher.emulator import Emulator

    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
    if bootstrap is not None:
        return Emulator(
            runtime_argv=bootstrap, env=env, function_timeout=timeout, handler=handler, task_root=os.getcwd(),
            concurrency=concurrency, queue=queue,
        )  # fmt: skip
    assert config_path is not None
    env["DISPATCHER_CONFIG"] = os.path.abspath(config_path)
    # Locally, the emulator stops the runtime after every run: its normal
    # shutdown lines would only be noise under the response.
    env.setdefault("DISPATCHER_LOG_LEVEL", "warn")
    return Emulator(
        runtime_argv=[sys.executable, "-m", "dispatcher", "run", "--config", os.path.abspath(config_path)],
        env=env,
        function_timeout=timeout,
        handler=handler,
        task_root=os.path.dirname(os.path.abspath(config_path)),
        lifecycle_log=2,  # START/END/REPORT on stderr, as Lambda and the RIE print them
        concurrency=concurrency,
        queue=queue,
    )


def _duration(text: str) -> float:
    import argparse

    from dispatcher.units import DURATION_HINT, parse_duration

    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} ({DURATION_HINT})") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


# -- invoke -----------------------------------------------------------------------
def cmd_invoke(argv: Sequence[str]) -> int:
    import argparse

    from dispatcher.cli_bootstrap import BOOTSTRAP_HELP, bootstrap_or_none, split_bootstrap_args
    from dispatcher.cli_concurrency import add_concurrency, concurrency_from

    ap = argparse.ArgumentParser(
        prog="dispatcher invoke",
        usage="%(prog)s [options] [EVENT] [-- BOOTSTRAP-ARGS...]",
        description="Run one event (or --repeat N) through the function locally.",
    )
    ap.add_argument("event", nargs="?", help="the event, as JSON text; `-` reads all of stdin; default {}")
    ap.add_argument("--bootstrap", metavar="PATH", help=BOOTSTRAP_HELP)
    ap.add_argument("--event-file", metavar="F", help="read the event from file F (byte for byte)")
    ap.add_argument("--config", metavar="PATH", help="dispatcher.yaml (default: $DISPATCHER_CONFIG, $LAMBDA_TASK_ROOT/dispatcher.yaml, ./dispatcher.yaml)")
    ap.add_argument("--handler", metavar="NAME", help="worker to run (sets _HANDLER)")
    ap.add_argument("--timeout", type=_duration, default=3.0, metavar="DURATION", help="function timeout (default 3s)")
    ap.add_argument("--repeat", type=int, default=1, metavar="N", help="send the event N times over one warm runtime")
    add_concurrency(ap)
    argv, bootstrap_args = split_bootstrap_args(argv)
    args = ap.parse_args(argv)
    bootstrap = bootstrap_or_none(ap, args, bootstrap_args)
    concurrency = concurrency_from(ap, args.concurrency)
    if args.event is not None and args.event_file:
        ap.error("give the event either as an argument or with --event-file, not both")
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    path, failed = _emulated_config(args, bootstrap)
    if failed is not None:
        return failed
    if args.event_file:
        try:
            with open(args.event_file, "rb") as f:
                event = f.read()
        except OSError as exc:
            _err(f"cannot read --event-file: {exc}")
            return EXIT_USAGE
    elif args.event == "-":
        event = sys.stdin.buffer.read()
    elif args.event is not None:
        event = os.fsencode(args.event)
    else:
        event = b"{}"
    # One caller sending one event after another: queue, so that an invoke sent
    # before the runtime re-opened its /next waits instead of getting Runtime.Unavailable.
    emu = _make_emulator(path, args.handler, args.timeout, bootstrap, concurrency, queue=concurrency is not None)
    try:
        with emu:
            emu.start()
            return _invoke_loop(emu, event, args.repeat)
    except KeyboardInterrupt:
        return EXIT_SIGINT


def _invoke_loop(emu, event: bytes, repeat: int) -> int:  # type: ignore[no-untyped-def]
    if repeat == 1:
        from dispatcher.emulator.stream_out import invoke_to

        # One event: a streamed answer is written to stdout as it arrives.
        outcome = invoke_to(emu, event, sys.stdout.buffer, _err)
        return {"success": EXIT_OK, "init_error": EXIT_INIT}.get(outcome, EXIT_INVOKE_ERROR)
    failures = 0
    latencies: list[float] = []
    init_ms: float | None = None
    last = None
    for _ in range(repeat):
        res = emu.invoke(event)
        last = res
        latencies.append(res.duration_ms)
        if res.init_duration_ms is not None:
            init_ms = res.init_duration_ms
        if res.outcome != "success":
            failures += 1
        if res.outcome == "init_error" and repeat == 1:
            break
    assert last is not None
    out = sys.stdout.buffer
    out.write(last.body)
    out.flush()
    if repeat > 1:
        latencies.sort()
        p50 = latencies[len(latencies) // 2]
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        init = f"{init_ms:.1f} ms" if init_ms is not None else "n/a"
        _err(f"{repeat} invocations, {failures} failed; latency p50 {p50:.2f} ms, p99 {p99:.2f} ms; init {init}")
    if last.outcome == "init_error":
        return EXIT_INIT
    return EXIT_INVOKE_ERROR if failures else EXIT_OK


# -- serve ----------------------------------------------------------------------
def cmd_serve(argv: Sequence[str]) -> int:
    import argparse
    import signal

    from dispatcher.cli_bootstrap import BOOTSTRAP_HELP, bootstrap_or_none, split_bootstrap_args
    from dispatcher.cli_concurrency import add_concurrency, concurrency_from

    ap = argparse.ArgumentParser(
        prog="dispatcher serve",
        usage="%(prog)s [options] [-- BOOTSTRAP-ARGS...]",
        description="Serve the function behind the RIE invoke endpoint.",
    )
    ap.add_argument("--config", metavar="PATH")
    ap.add_argument("--bootstrap", metavar="PATH", help=BOOTSTRAP_HELP)
    ap.add_argument("--handler", metavar="NAME")
    ap.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    ap.add_argument("--port", type=int, default=9000, help="invoke endpoint port (default 9000; 0 picks a free one)")
    ap.add_argument("--timeout", type=_duration, default=3.0, metavar="DURATION", help="function timeout (default 3s)")
    add_concurrency(ap)
    ap.add_argument("--queue", action="store_true", help="with --concurrency: hold an invoke until a slot frees instead of answering Runtime.Unavailable")
    argv, bootstrap_args = split_bootstrap_args(argv)
    args = ap.parse_args(argv)
    bootstrap = bootstrap_or_none(ap, args, bootstrap_args)
    concurrency = concurrency_from(ap, args.concurrency)
    if args.queue and concurrency is None:
        ap.error("--queue needs --concurrency N (or AWS_LAMBDA_MAX_CONCURRENCY): without slots, invokes are already served one at a time")
    path, failed = _emulated_config(args, bootstrap)
    if failed is not None:
        return failed
    from dispatcher.emulator.frontdoor import serve_frontdoor

    emu = _make_emulator(path, args.handler, args.timeout, bootstrap, concurrency, args.queue)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        with emu:
            emu.start()
            handle = serve_frontdoor(emu, args.host, args.port)
            host, port = handle.address if hasattr(handle, "address") else (args.host, args.port)
            _err(f"serving on http://{host}:{port}/2015-03-31/functions/function/invocations (Ctrl-C stops)")
            signal.pause() if not hasattr(handle, "wait") else handle.wait()
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


# -- check ----------------------------------------------------------------------
def cmd_check(argv: Sequence[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="dispatcher check", description="Validate dispatcher.yaml and print the resolved configuration.")
    ap.add_argument("--config", metavar="PATH")
    ap.add_argument("--write-cache", action="store_true", help="write the parsed-config cache next to the file (at build time; speeds up cold start)")
    args = ap.parse_args(argv)
    from dispatcher.config import describe, find_config, load, write_cache
    from dispatcher.errors import ConfigError

    try:
        path = find_config(args.config, os.environ)
        config = load(path, os.environ)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_USAGE
    sys.stdout.write(describe(config))
    if args.write_cache:
        try:
            cache = write_cache(path)
        except OSError as exc:
            _err(f"cannot write the cache: {exc}")
            return EXIT_USAGE
        _err(f"wrote {cache}")
    return EXIT_OK


# -- init / package (dispatcher/cli_deploy.py) -----------------------------------
def cmd_init(argv: Sequence[str]) -> int:
    from dispatcher.cli_deploy import cmd_init as run

    return run(argv)


def cmd_package(argv: Sequence[str]) -> int:
    from dispatcher.cli_deploy import cmd_package as run

    return run(argv)


COMMANDS = {"run": cmd_run, "invoke": cmd_invoke, "serve": cmd_serve, "check": cmd_check, "init": cmd_init, "package": cmd_package}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return EXIT_OK if args else EXIT_USAGE
    if args[0] in ("-V", "--version"):
        from dispatcher import __version__  # the package is imported already: costs nothing

        sys.stdout.write(f"dispatcher {__version__}\n")
        return EXIT_OK
    cmd = COMMANDS.get(args[0])
    if cmd is None:
        _err(f"unknown command {args[0]!r}\n{USAGE}")
        return EXIT_USAGE
    try:
        return cmd(args[1:])
    except KeyboardInterrupt:
        return EXIT_SIGINT
    except SystemExit:
        raise
    except Exception as exc:  # the one broad catch: report, exit 4
        import traceback

        traceback.print_exc()
        _err(f"internal error: {exc}")
        return EXIT_INTERNAL
