"""Command line for deployment: `dispatcher init` and `dispatcher package`.

Thin like dispatcher/cli.py, which registers these two commands: arguments
are parsed here, the work is done by dispatcher.scaffold and dispatcher.package.
Progress goes to stderr, one line per step.

Exit statuses of `init` and `package`: 0 written; 2 usage or config error (bad
arguments, an invalid dispatcher.yaml, a file that would be overwritten); 3
refused (a path leaving the folder, a size over Lambda's limits, a missing
interpreter or a failed download; nothing written); 4 internal error.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Sequence

from dispatcher.cli import EXIT_OK, EXIT_USAGE, _err

__all__ = ["cmd_init", "cmd_package", "EXIT_REFUSED"]

EXIT_REFUSED = 3


def cmd_init(argv: Sequence[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        prog="dispatcher init",
        description="Write a checked, commented dispatcher.yaml, an executable bootstrap, a Dockerfile and a SAM "
        "template.yaml (layer + exec wrapper) for one worker, then print the next commands. Never overwrites without --force.",
        epilog="exit status: 0 written; 2 bad arguments or a file exists (nothing written); 4 internal error",
    )
    ap.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the function's folder (default: here); FILE paths are relative to it")
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--command", metavar="CMDLINE", help='a worker speaking the msgpack protocol, e.g. "./my-binary --flag"')
    what.add_argument("--python", metavar="MODULE:FUNCTION", help="a Python handler, e.g. app:handler")
    what.add_argument("--node", metavar="FILE:EXPORT", help="a Node handler, e.g. app.mjs:handler")
    what.add_argument("--php", metavar="FILE", help="a PHP file returning the handler (--kind legacy: an unedited script)")
    what.add_argument("--script", metavar="FILE", help="an executable script (--kind exec: once per invocation; jsonl: long-lived)")
    ap.add_argument("--kind", help="exec | jsonl with --script (default exec); handler | legacy with --php (default handler)")
    ap.add_argument("--name", help="the worker's name (default: from the file or program)")
    ap.add_argument("--python-version", metavar="X.Y", help="the Lambda Python runtime for the layer (default: this interpreter's)")
    ap.add_argument("--arch", default="x86_64", help="x86_64 (default) | arm64")
    ap.add_argument("--force", action="store_true", help="overwrite existing files")
    args = ap.parse_args(argv)
    from dispatcher.errors import ConfigError
    from dispatcher.scaffold import InitError, Target, plan_init, write_plan

    kind = next(k for k in ("command", "python", "node", "php", "script") if getattr(args, k) is not None)
    try:
        plan = plan_init(args.dir, Target(kind, getattr(args, kind), args.kind), name=args.name, python=args.python_version, arch=args.arch)
        written = write_plan(plan, force=args.force)
    except (InitError, ConfigError) as exc:
        _err(f"init: {exc}")
        return EXIT_USAGE
    except OSError as exc:
        _err(f"init: cannot write into {args.dir}: {exc.strerror or exc} ({exc.filename or ''})")
        return EXIT_USAGE
    for rel in written:
        if "/" not in rel:
            _err(f"wrote {os.path.join(args.dir, rel)}")
    for folder in sorted({"/".join(rel.split("/")[:2]) for rel in written if "/" in rel}):
        _err(f"copied {os.path.join(args.dir, folder)}/ (the adapter the worker runs)")
    for note in plan.notes:
        _err(f"note: {note}")
    where = "" if os.path.abspath(args.dir) == os.getcwd() else f"cd {args.dir}\n  "
    sys.stdout.write(f"worker {plan.worker!r} is ready; next:\n  {where}" + "\n  ".join(plan.next_steps) + "\n")
    return EXIT_OK


# -- package --------------------------------------------------------------------
def cmd_package(argv: Sequence[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        prog="dispatcher package",
        description="Build a deployment artifact, deterministically (two runs give the same bytes). One line per step "
        "on stderr, sizes at the end. See docs/deploy.md.",
        epilog="exit status: 0 written; 2 usage or config error; 3 refused (nothing written); 4 internal error",
    )
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--layer", action="store_true", help="layer.zip: lambda-dispatcher, its wheels and /opt/dispatcher-wrapper")
    what.add_argument("--function", action="store_true", help="function.zip: dispatcher.yaml, its cache and the worker's files")
    what.add_argument("--image", action="store_true", help="a Dockerfile on the public Lambda Python base image")
    ap.add_argument("-o", "--output", metavar="PATH", help="where to write (default layer.zip, function.zip or Dockerfile)")
    ap.add_argument("--python", metavar="X.Y", help="target Lambda runtime python3.11 | 3.12 | 3.13 (default: this interpreter's)")
    ap.add_argument("--arch", default="x86_64", help="--layer/--image: x86_64 (default) | arm64")
    ap.add_argument("--no-bytecode", action="store_true", help="--layer: ship sources only when no interpreter of the target version is at hand")
    ap.add_argument("--config", metavar="PATH", help="--function: dispatcher.yaml (default: as for `dispatcher check`)")
    ap.add_argument("--with-layer", metavar="ZIP", help="--function: count this layer in the 250 MB unzipped limit")
    ap.add_argument("--force", action="store_true", help="--image: overwrite a Dockerfile that differs")
    args = ap.parse_args(argv)
    from dispatcher.errors import ConfigError
    from dispatcher.package import PackageError, build_function, build_layer, default_python, render_dockerfile

    def step(line: str) -> None:
        _err(f"package: {line}")

    python = args.python or default_python()
    try:
        if args.image:
            output = args.output or "Dockerfile"
            text = render_dockerfile(python, args.arch)
            if os.path.exists(output) and not args.force:
                with open(output, encoding="utf-8", errors="replace") as f:
                    if f.read() != text:
                        _err(f"package: {output} exists and differs: nothing written; pass --force to overwrite it")
                        return EXIT_USAGE
            with open(output, "w", encoding="utf-8") as f:
                f.write(text)
            step(f"wrote {output} (FROM public.ecr.aws/lambda/python:{python}, {args.arch}); build it next to layer.zip and function.zip")
            return EXIT_OK
        if args.layer:
            summary = build_layer(args.output or "layer.zip", python=python, arch=args.arch, bytecode=not args.no_bytecode, progress=step)
        else:
            from dispatcher.config import find_config

            config = find_config(args.config, os.environ)
            summary = build_function(config, args.output or "function.zip", python=python, layer=args.with_layer, progress=step)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except ValueError as exc:  # render_dockerfile's choices
        _err(f"package: {exc}")
        return EXIT_USAGE
    except PackageError as exc:
        _err(f"package: refused: {exc}")
        return EXIT_REFUSED
    except OSError as exc:
        _err(f"package: cannot write {exc.filename or args.output}: {exc.strerror or exc}")
        return EXIT_USAGE
    for note in summary.notes:
        step(note)
    step(summary.line())
    return EXIT_OK
