"""The contenders: what is benchmarked, as data, and how each one is started.

A contender is one way of answering the Runtime API with an echo handler.
Dispatcher contenders are just a dispatcher.yaml path (the first candidate
that exists wins), so a new adapter joins the benchmark with one line here;
one whose config is missing, or whose worker kind the supervisor does not
accept yet, is skipped or failed with a note and the run goes on.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import shutil
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from bench.toolchain import BENCH, ROOT, Binaries


@dataclass(frozen=True)
class Contender:
    name: str
    label: str
    kind: str  # "native" | "lean" | "dispatcher" | "awslambdaric" | "shell"
    # dispatcher.yaml candidates, relative to the repository root; globs allowed.
    configs: tuple[str, ...] = ()
    # Run from the repository root before the first start, each when its file exists: (file, argv).
    builds: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exact_echo: bool = False  # the answer must be the event byte for byte
    large_events: bool = True  # takes part in the 1 MB / 6 MB round trips
    throughput: bool = True  # takes part in the timed throughput rounds
    protocol: str = ""  # a worker kind the supervisor may not speak yet: skipped until it does
    tools: tuple[tuple[str, str], ...] = ()  # (executable, how to install it) the worker needs


CONTENDERS: tuple[Contender, ...] = (
    Contender("native", "native Rust loop (baseline)", "native", exact_echo=True),
    Contender("lean-loop", "lean Python loop + Rust echo (ceiling)", "lean", exact_echo=True),
    Contender(
        "dispatcher-rust", "dispatcher + Rust echo", "dispatcher",
        configs=("examples/rust-echo/dispatcher.yaml", "bench/configs/rust-echo-standin.yaml"),
        builds=(("examples/rust-echo/build.sh", ("bash", "examples/rust-echo/build.sh")),),
        exact_echo=True,
    ),
    Contender(
        "dispatcher-python", "dispatcher + Python echo", "dispatcher",
        configs=("examples/python-echo/dispatcher.yaml",),
    ),
    Contender(
        "dispatcher-php", "dispatcher + PHP echo", "dispatcher",
        configs=("examples/php-echo/dispatcher.yaml", "adapters/php/examples/*echo*/dispatcher.yaml",
                 "bench/configs/php-echo.yaml"),
        tools=(("php", "apt-get install php-cli"),),
    ),
    Contender(
        "dispatcher-node", "dispatcher + Node echo", "dispatcher",
        configs=("examples/node-echo/dispatcher.yaml", "adapters/node/examples/*echo*/dispatcher.yaml",
                 "bench/configs/node-echo.yaml"),
        builds=(("adapters/node/package-lock.json",
                 ("sh", "-c", "[ -d adapters/node/node_modules ] || npm ci --prefix adapters/node --no-audit --no-fund")),),
        tools=(("node", "install Node.js 20 (apt-get install nodejs)"), ("npm", "apt-get install npm")),
    ),
    Contender(
        "dispatcher-jsonl-bash", "dispatcher + jsonl bash worker", "dispatcher",
        configs=("bench/configs/jsonl-bash.yaml",),
        tools=(("bash", "apt-get install bash"), ("jq", "apt-get install jq")),
        protocol="jsonl",
    ),
    Contender(
        "dispatcher-exec", "dispatcher + exec-mode script", "dispatcher",
        configs=("bench/configs/exec-script.yaml",),
        protocol="exec",
    ),
    Contender("awslambdaric", "awslambdaric 4.2.2 (in-process)", "awslambdaric"),
    Contender(
        "bash", "bash + curl + jq (AWS tutorial)", "shell",
        large_events=False,  # the tutorial passes the event in argv: over 128 KiB it cannot run
        throughput=False,  # a fixed count instead: ~30 events/s
    ),
)


@dataclass(frozen=True)
class Launch:
    """How to start a resolved contender (without CPU pinning)."""
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    config: str = ""  # the dispatcher.yaml used, relative to the root
    builds: tuple[list[str], ...] = ()


@dataclass(frozen=True)
class Skip:
    reason: str


def _first_config(candidates: tuple[str, ...]) -> str | None:
    for pattern in candidates:
        for hit in sorted(glob.glob(str(ROOT / pattern))):
            return os.path.relpath(hit, ROOT)
    return None


def supervisor_speaks(protocol: str) -> bool:
    """Whether the supervisor implements a worker kind, not just accepts it in dispatcher.yaml.

    The config schema knows every kind before the supervisor speaks them, so
    this looks for the kind's name in the supervisor's own modules (outside
    dispatcher/config/).  A heuristic until the supervisor exposes the list.
    """
    spec = importlib.util.find_spec("dispatcher")
    if spec is None or not spec.submodule_search_locations:
        return False
    pkg = Path(next(iter(spec.submodule_search_locations)))
    # `protocol == "exec"`, `"exec": ExecWorker`, `case "exec":` ... but not `stage = "exec"`.
    pattern = re.compile(rf"""protocol\W.*["']{protocol}["']|["']{protocol}["']\s*:""")
    for path in pkg.rglob("*.py"):
        if "config" in path.relative_to(pkg).parts or path.name == "errors.py":
            continue
        if pattern.search(path.read_text(errors="replace")):
            return True
    return False


def resolve(c: Contender, bins: Binaries) -> Launch | Skip:
    """A Launch, or why this contender cannot run on this machine."""
    base_env = {
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008",
        "AWS_REGION": "us-east-1",
        "BENCH_BIN": str(bins.echo_worker.parent),
        "BENCH_DIR": str(BENCH),
    }
    if c.kind == "native":
        return Launch([str(bins.native)], BENCH, base_env)
    if c.kind == "lean":
        if importlib.util.find_spec("msgpack") is None:
            return Skip("msgpack is not installed in the running interpreter (make setup)")
        return Launch([sys.executable, str(BENCH / "lean_loop.py"), str(bins.echo_worker)], BENCH, base_env)
    if c.kind == "awslambdaric":
        if importlib.util.find_spec("awslambdaric") is None:
            return Skip("awslambdaric is not installed (pip install awslambdaric==4.2.2 failed?)")
        return Launch([sys.executable, "-m", "awslambdaric", "echo_handler.handler"], BENCH / "handlers", base_env)
    if c.kind == "shell":
        missing = [t for t in ("bash", "curl", "jq") if shutil.which(t) is None]
        if missing:
            return Skip(f"missing {', '.join(missing)}: apt-get install {' '.join(missing)}")
        folder = BENCH / "shell-bootstrap"
        env = dict(base_env, _HANDLER="function.handler", LAMBDA_TASK_ROOT=str(folder))
        return Launch(["bash", str(folder / "bootstrap")], folder, env)
    if c.kind == "dispatcher":
        missing = [f"{tool} ({hint})" for tool, hint in c.tools if shutil.which(tool) is None]
        if missing:
            return Skip(f"missing {', '.join(missing)}")
        config = _first_config(c.configs)
        if config is None:
            return Skip(f"no dispatcher.yaml yet (looked for {', '.join(c.configs)})")
        if importlib.util.find_spec("dispatcher.cli") is None:
            return Skip("`python -m dispatcher run` does not exist yet (dispatcher/cli.py missing)")
        if c.protocol and not supervisor_speaks(c.protocol):
            return Skip(f"the supervisor does not speak `protocol: {c.protocol}` yet")
        builds = [list(argv) for marker, argv in c.builds if (ROOT / marker).exists()]
        # As a deployment build would (docs/deploy.md): precompiled bytecode, as pip
        # gives awslambdaric at install time (an environment with
        # PYTHONDONTWRITEBYTECODE=1 would otherwise recompile at every cold start),
        # and the compiled-config cache that spares the supervisor `import yaml`.
        builds.append([sys.executable, "-m", "compileall", "-q", str(ROOT / "dispatcher"), str(ROOT / "adapters" / "python")])
        builds.append([sys.executable, "-m", "dispatcher", "check", "--write-cache", "--config", str(ROOT / config)])
        # Started as the layer's wrapper starts it (dispatcher/package/layer.py):
        # `python3 -S -c RUN_CODE run`, the package and its dependencies on
        # PYTHONPATH since -S leaves site-packages out.
        from dispatcher.package.layer import RUN_CODE

        paths = dict.fromkeys([str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
        return Launch([sys.executable, "-S", "-c", RUN_CODE, "run", "--config", str(ROOT / config)], ROOT,
                      dict(base_env, PYTHONPATH=os.pathsep.join(paths)), config=config, builds=tuple(builds))
    raise ValueError(f"unknown contender kind {c.kind!r} for {c.name}")


def select(names: list[str] | None) -> tuple[Contender, ...]:
    """The contenders named on the command line (all when none); unknown names are an error."""
    if not names:
        return CONTENDERS
    known = {c.name: c for c in CONTENDERS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"bench: unknown contender(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return tuple(known[n] for n in names)
