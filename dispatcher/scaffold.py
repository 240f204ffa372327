"""`dispatcher init`: the files that turn a binary, a script or a handler into a function.

    plan = plan_init("my-fn", Target("command", "./my-binary --flag"))
    written = write_plan(plan, force=False)

`plan_init` decides every file's content and checks it (the dispatcher.yaml
is compiled by the same code `dispatcher check` runs) without touching the
disk; `write_plan` refuses to overwrite anything unless forced, and then
writes all of it.  What a worker needs from this project at run time (the PHP,
Node or shell adapter) is copied into the folder, so that the folder, and the
function.zip made from it, is self-contained; the Python adapter ships in the
layer instead.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field

from dispatcher.config import CONFIG_NAME, compile_file
from dispatcher.package import default_python, render_dockerfile
from dispatcher.package.layer import ARCHITECTURES, PYTHON_VERSIONS, RUN_CODE, WRAPPER_NAME

__all__ = ["Target", "Plan", "InitError", "plan_init", "write_plan", "find_adapters", "KINDS"]

# The choices of --kind for each target kind; the first is the default.
KINDS = {"command": ("msgpack",), "python": ("msgpack",), "node": ("msgpack",), "php": ("handler", "legacy"), "script": ("exec", "jsonl")}
ADAPTERS_DIR = "dispatcher-adapters"  # where the adapters a worker needs are copied, inside the folder
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


class InitError(Exception):
    """The arguments cannot make a function: what went wrong, and what to do."""


@dataclass(frozen=True)
class Target:
    """What to serve: kind is command | python | node | php | script; spec as the user wrote it."""

    kind: str
    spec: str
    variant: str | None = None  # --kind


@dataclass
class Plan:
    folder: str
    worker: str
    files: dict[str, tuple[bytes, bool]] = field(default_factory=dict)  # relpath -> (content, executable)
    copies: dict[str, str] = field(default_factory=dict)  # relpath -> source path (vendored adapter files)
    notes: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)


def find_adapters() -> str:
    """The adapters folder: $DISPATCHER_ADAPTERS, else the one next to this package in a source checkout."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for candidate in (os.environ.get("DISPATCHER_ADAPTERS"), os.path.join(here, "adapters")):
        if candidate and os.path.isdir(os.path.join(candidate, "php")):
            return candidate
    raise InitError(
        "the worker adapters (adapters/php, node, shell) are not installed next to this dispatcher package; "
        "set DISPATCHER_ADAPTERS to the adapters folder of a lambda-dispatcher checkout"
    )


def _vendor(plan: Plan, adapter: str, keep: tuple[str, ...]) -> str:
    """Copy adapters/<adapter>'s `keep` entries into the folder; return its relative path there."""
    source = os.path.join(find_adapters(), adapter)
    dest = f"{ADAPTERS_DIR}/{adapter}"
    for entry in keep:
        path = os.path.join(source, entry)
        files = [path] if os.path.isfile(path) else []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            files += [os.path.join(dirpath, name) for name in sorted(filenames)]
        if not files:
            raise InitError(f"{path} is missing from the {adapter} adapter (run `make setup` in the checkout for node_modules)")
        for disk in files:
            plan.copies[f"{dest}/{os.path.relpath(disk, source)}"] = disk
    return dest


def _worker_name(text: str) -> str:
    stem = os.path.basename(text).split(".")[0]  # ./my-binary, app.mjs, legacy.sh, pkg.module
    name = "".join(ch if ch in _NAME_CHARS else "-" for ch in stem).strip("-.")[:64]
    return name or "main"


def _relative_file(folder: str, given: str, what: str) -> str:
    """`given` (relative to the folder) as a clean relative path to an existing file inside it."""
    path = os.path.normpath(os.path.join(folder, given))
    rel = os.path.relpath(path, folder)
    if os.path.isabs(given) or rel == ".." or rel.startswith("../"):
        raise InitError(f"{what} {given!r} is outside {folder}: the function's files live in its folder; copy it in first")
    if not os.path.isfile(path):
        raise InitError(f"{what} {given!r} does not exist in {folder} (paths are relative to the folder)")
    return rel.replace(os.sep, "/")


def _command(plan: Plan, target: Target) -> tuple[list[str], list[str], str]:
    """(argv, extra YAML lines, a comment on what runs) for `target`."""
    folder, kind, spec, variant = plan.folder, target.kind, target.spec, target.variant
    if kind == "command":
        try:
            argv = shlex.split(spec)
        except ValueError as exc:
            raise InitError(f"--command {spec!r} cannot be split into arguments: {exc}; balance the quotes") from None
        if not argv:
            raise InitError("--command is empty: give the worker's command line, e.g. --command './my-binary --flag'")
        program = os.path.join(folder, argv[0])
        if "/" in argv[0] and not os.path.isfile(program):
            plan.notes.append(f"{argv[0]} does not exist yet in {folder}: build it there before `dispatcher invoke`")
        elif "/" in argv[0] and not os.access(program, os.X_OK):
            raise InitError(f"{argv[0]} is not executable: chmod +x {program}")
        return argv, [], "a long-lived worker speaking the msgpack protocol (docs/protocol.md), e.g. built with adapters/rust"
    if kind == "python":
        module, colon, function = spec.partition(":")
        if not colon or not module or not function:
            raise InitError(f"--python {spec!r} is not MODULE:FUNCTION, e.g. --python app:handler")
        if not os.path.exists(os.path.join(folder, module.replace(".", "/") + ".py")) and not os.path.isdir(os.path.join(folder, module.replace(".", "/"))):
            plan.notes.append(f"{module}.py is not in {folder} yet: write it before `dispatcher invoke`")
        return ["${DISPATCHER_PYTHON}", "-m", "dispatcher_worker", f"{module}:{function}"], [], "the Python adapter (dispatcher_worker, shipped in the layer) serving your handler"
    if kind == "node":
        file, colon, export = spec.rpartition(":")
        if not colon or not file:
            file, export = spec, "handler"
        rel = _relative_file(folder, file, "--node")
        adapter = _vendor(plan, "node", ("bin.mjs", "index.mjs", "package.json", "src", "node_modules"))
        plan.notes.append("Lambda's Python runtime has no node: deploy the container image (add Node to it) or a layer carrying node")
        return ["node", f"{adapter}/bin.mjs", f"./{rel}#{export}"], [], f"the Node adapter (copied into {ADAPTERS_DIR}/node) serving your handler"
    if kind == "php":
        rel = _relative_file(folder, spec, "--php")
        adapter = _vendor(plan, "php", ("bin", "src"))
        plan.notes.append("Lambda's Python runtime has no php: deploy the container image (add PHP to it) or a layer carrying php")
        if variant == "legacy":
            return ["php", f"{adapter}/bin/dispatcher-legacy.php", rel], [], "an unedited PHP script, forked per invocation (adapters/php, legacy mode)"
        return ["php", f"{adapter}/bin/dispatcher-worker.php", rel], [], "a PHP file returning the handler, loaded once (adapters/php)"
    assert kind == "script"
    rel = _relative_file(folder, spec, "--script")
    if not os.access(os.path.join(folder, rel), os.X_OK):
        raise InitError(f"{rel} is not executable: chmod +x {os.path.join(folder, rel)} (and give it a #! line)")
    if variant == "jsonl":
        shell = os.path.join(find_adapters(), "shell", "dispatcher.sh")
        plan.copies["dispatcher.sh"] = shell
        plan.notes.append('the jsonl helper is copied as dispatcher.sh: source it with . "$(dirname "$0")/dispatcher.sh" (docs/jsonl.md)')
        return [f"./{rel}"], ["protocol: jsonl"], "a long-lived script speaking jsonl, one JSON line each way (docs/jsonl.md)"
    return [f"./{rel}"], ["protocol: exec"], "a command run once per invocation: the event on stdin, the response from stdout (docs/exec.md)"


def _yaml(worker: str, argv: list[str], extra: list[str], what: str) -> str:
    lines = [
        "# dispatcher.yaml, written by `dispatcher init` (docs/deploy.md, README \"Configuration\").",
        "# `dispatcher check` validates it; `dispatcher invoke '{}'` runs it locally.",
        "workers:",
        f"  {worker}:",
        f"    # {what}",
        f"    command: [{', '.join(json.dumps(word) for word in argv)}]",
        *(f"    {line}" for line in extra),
        "    # startup_timeout: 9s     # the worker must be ready within this",
        "    # timeout_margin: 100ms   # answer this long before Lambda's deadline",
        "    # max_rss: 512MB          # start a fresh worker past this resident memory",
        f"default: {worker}              # so any _HANDLER (the function's handler setting) runs it",
        "",
        "# What `dispatcher package --function` ships: this folder, less version control,",
        "# caches, *.zip, Dockerfile/template.yaml and secrets (.env*, *.pem, keys).",
        "# package:",
        "#   include: [my-binary, assets/]",
        "#   exclude: ['*.md']",
        "",
    ]
    return "\n".join(lines)


def _bootstrap() -> str:
    return (
        "#!/bin/sh\n"
        "# bootstrap, written by `dispatcher init`: the runtime entry point for a custom\n"
        "# runtime (provided.al2023 plus a layer carrying Python and lambda-dispatcher)\n"
        "# or a container image.  On a managed Python runtime use the layer's exec\n"
        f"# wrapper instead (AWS_LAMBDA_EXEC_WRAPPER=/opt/{WRAPPER_NAME}; docs/deploy.md).\n"
        "# The interpreter is named by absolute path: a version-manager shim costs ~50 ms per cold start;\n"
        "# -c instead of -m dispatcher: runpy's imports would cost ~1.7 ms more.\n"
        'for python in "${DISPATCHER_INTERPRETER:-}" /var/lang/bin/python3 /opt/python/bin/python3 /usr/bin/python3; do\n'
        '    if [ -n "$python" ] && [ -x "$python" ]; then\n'
        '        export PYTHONPATH="/opt/python${PYTHONPATH:+:$PYTHONPATH}"\n'
        f"        exec \"$python\" -c '{RUN_CODE}' run\n"
        "    fi\n"
        "done\n"
        'echo "bootstrap: no Python interpreter found; set DISPATCHER_INTERPRETER to one with lambda-dispatcher installed" >&2\n'
        "exit 127\n"
    )


def _template(worker: str, python: str, arch: str) -> str:
    return f"""# AWS SAM template, written by `dispatcher init`: the layer + exec-wrapper shape.
# The managed python{python} runtime supplies the interpreter; the layer carries
# lambda-dispatcher; AWS_LAMBDA_EXEC_WRAPPER makes it run instead of the
# managed runtime's loop; function.zip holds the worker and dispatcher.yaml.
#   dispatcher package --layer --python {python} --arch {arch} -o layer.zip
#   dispatcher package --function --python {python} -o function.zip
#   sam deploy --guided
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: {worker}, served by lambda-dispatcher
Resources:
  DispatcherLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer.zip
      CompatibleRuntimes: [python{python}]
      CompatibleArchitectures: [{arch}]
  Function:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: function.zip
      Runtime: python{python}          # provides /var/lang/bin/python3
      Architectures: [{arch}]          # the worker binary and the layer's wheels are built for it
      Handler: {worker}                # becomes _HANDLER: the worker's name in dispatcher.yaml
      Layers: [{{Ref: DispatcherLayer}}]
      Timeout: 30
      MemorySize: 512
      Environment:
        Variables:
          AWS_LAMBDA_EXEC_WRAPPER: /opt/{WRAPPER_NAME}
Outputs:
  FunctionName:
    Value: {{Ref: Function}}
"""


def plan_init(folder: str, target: Target, *, name: str | None = None, python: str | None = None, arch: str = "x86_64") -> Plan:
    """Every file `dispatcher init` would write into `folder` for `target`, checked; nothing is written."""
    if python is None:  # this interpreter's version, when Lambda has it
        python = default_python() if default_python() in PYTHON_VERSIONS else PYTHON_VERSIONS[-1]
    if python not in PYTHON_VERSIONS:
        raise InitError(f"--python-version {python} is not one of {', '.join(PYTHON_VERSIONS)} (Lambda's runtimes with exec wrappers)")
    if arch not in ARCHITECTURES:
        raise InitError(f"--arch {arch} is not one of {', '.join(ARCHITECTURES)}")
    kinds = KINDS[target.kind]
    if target.variant is not None and target.variant not in kinds:
        raise InitError(f"--kind {target.variant} does not apply to --{target.kind}: use one of {', '.join(kinds)}")
    target = Target(target.kind, target.spec, target.variant or kinds[0])
    folder = os.path.abspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise InitError(f"{folder} is not a folder")
    worker = name or _worker_name(target.spec.split()[0] if target.kind == "command" and target.spec.split() else target.spec.partition(":")[0])
    if not set(worker) <= _NAME_CHARS or len(worker) > 64:
        raise InitError(f"--name {worker!r} is not a worker name: use letters, digits, _ . - (at most 64)")
    plan = Plan(folder, worker)
    argv, extra, what = _command(plan, target)
    config = _yaml(worker, argv, extra, what)
    with tempfile.TemporaryDirectory(prefix="dispatcher-init-") as tmp:  # the very check `dispatcher check` runs
        path = os.path.join(tmp, CONFIG_NAME)
        with open(path, "w", encoding="utf-8") as f:
            f.write(config)
        compile_file(path)
    plan.files[CONFIG_NAME] = (config.encode(), False)
    plan.files["bootstrap"] = (_bootstrap().encode(), True)
    dockerfile = render_dockerfile(python, arch)
    if target.kind in ("php", "node"):
        tool = {"php": "php8.3-cli php8.3-process", "node": "nodejs20"}[target.kind]  # process: pcntl, for legacy mode
        dockerfile = dockerfile.replace("ENV PYTHONPATH", f"# The worker needs {target.kind}; the Python base image has none:\nRUN dnf install -y {tool} && dnf clean all\nENV PYTHONPATH", 1)
    plan.files["Dockerfile"] = (dockerfile.encode(), False)
    plan.files["template.yaml"] = (_template(worker, python, arch).encode(), False)
    flags = f" --python {python}" + (f" --arch {arch}" if arch != "x86_64" else "")
    plan.next_steps = [
        "dispatcher invoke '{}'                     # run it locally, no AWS account needed",
        f"dispatcher package --layer{flags} -o layer.zip && dispatcher package --function --python {python} -o function.zip",
        "sam deploy --guided                        # template.yaml: managed Python runtime + layer + exec wrapper",
    ]
    return plan


def write_plan(plan: Plan, *, force: bool = False) -> list[str]:
    """Write the plan's files; refuse (writing nothing) when one exists and force is false."""
    targets = sorted(set(plan.files) | set(plan.copies))
    existing = [rel for rel in targets if os.path.lexists(os.path.join(plan.folder, rel))]
    if existing and not force:
        shown = ", ".join(existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
        raise InitError(f"{shown} already exist{'s' if len(existing) == 1 else ''} in {plan.folder}: nothing was written; pass --force to overwrite")
    os.makedirs(plan.folder, exist_ok=True)
    for rel in targets:
        path = os.path.join(plan.folder, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.lexists(path):
            os.unlink(path)
        if rel in plan.copies:
            shutil.copy2(plan.copies[rel], path)
            continue
        content, executable = plan.files[rel]
        with open(path, "wb") as f:
            f.write(content)
        os.chmod(path, 0o755 if executable else 0o644)
    return targets
