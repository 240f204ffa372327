"""The rules of dispatcher.yaml: which keys exist, what each accepts, and why not.

`compile_tree` turns the parsed tree into the *compiled* form: plain dicts,
tuples, str, int, float and None (so `marshal` can store it in the cache),
checked completely but independent of the environment.  What depends on the
environment at start-up is left for `_resolve`: `${VAR}` expansion (kept here
as parsed templates with their line numbers), the `startup_timeout` default,
and where `cwd` points.

A template is a str when it holds no `${...}`, else a tuple of parts, each a
literal str or a `(NAME, default-or-None)` pair.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from dispatcher.config._parse import Map, Scalar, Seq, Value
from dispatcher.config.model import PROTOCOLS, READY_MODES
from dispatcher.errors import ConfigError
from dispatcher.units import DURATION_HINT, SIZE_HINT, format_size, parse_duration, parse_size

__all__ = ["compile_tree", "WORKER_KEYS", "TOP_KEYS", "PACKAGE_KEYS", "DEFAULTS"]

TOP_KEYS = ("workers", "default", "package")
PACKAGE_KEYS = ("include", "exclude")

# Defaults a worker gets for each key left out.  startup_timeout's default
# depends on AWS_LAMBDA_INITIALIZATION_TYPE, so it is chosen in _resolve.
DEFAULTS: dict[str, Any] = {
    "cwd": ".",
    "env": (),
    "startup_timeout": None,
    "timeout_margin": 0.1,
    "shutdown_grace": 0.3,  # Lambda gives a runtime ~300 ms at shutdown (docs/runtime-api.md, "Limits")
    "max_invocations": 0,
    "max_rss": 0,
    "max_frame": 16 << 20,  # docs/protocol.md: default 16 MiB
    "protocol": "msgpack",
    "ready": None,  # "frame" unless protocol is exec; see _check_protocol_keys
    "error_type": None,  # "Function.ExitError" when protocol is exec
    "concurrency": None,  # auto: AWS_LAMBDA_MAX_CONCURRENCY when set, else 1 (chosen in _resolve)
}

MAX_DURATION = 900.0  # Lambda's longest function timeout: anything longer is a typo
MAX_INVOCATIONS = 1_000_000_000
MAX_CONCURRENCY = 1024  # slots; Lambda Managed Instances allow far fewer per environment
CONCURRENCY_HINT = "write `concurrency: auto` (AWS_LAMBDA_MAX_CONCURRENCY, else 1) or a number from 1 up"
MIN_FRAME, MAX_FRAME = 1 << 10, 1 << 30
MIN_RSS, MAX_RSS = 1 << 20, 10 << 30  # Lambda's largest function has 10,240 MB
EXEC_ERROR_TYPE = "Function.ExitError"
# Set by the supervisor for every worker (docs/protocol.md) or withheld on purpose.
RESERVED_ENV = ("DISPATCHER_PROTOCOL", "DISPATCHER_FEATURES", "DISPATCHER_MAX_FRAME", "DISPATCHER_WORKER",
                "DISPATCHER_CONCURRENCY", "AWS_LAMBDA_RUNTIME_API")

_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_DIGITS = frozenset("0123456789")
_NAME_CHARS = _NAME_START | _DIGITS
_WORKER_NAME_CHARS = _NAME_CHARS | frozenset(".-")
_VAR_HINT = "write ${NAME} or ${NAME:-default}, NAME being letters, digits and _; write $$ for a literal $"

Template = Any  # str | tuple[str | tuple[str, str | None], ...]


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    import difflib  # only on the error path: it costs ~1 ms to import

    by_lower = {choice.lower(): choice for choice in choices}  # `JSONL` is still a near miss
    close = difflib.get_close_matches(word.lower(), by_lower, n=1, cutoff=0.6)
    return f"did you mean {by_lower[close[0]]!r}?" if close else None


def _shown(node: Value) -> str:
    if isinstance(node, Seq):
        return "a list"
    if isinstance(node, Map):
        return "a mapping"
    if node.kind == "null":
        return "nothing (null)"
    noun = {"int": "a number", "float": "a number", "bool": "a boolean", "str": "the string"}[node.kind]
    return f"{noun} {node.text!r}" if node.kind == "str" else f"{noun} {node.text}"


class _Checker:
    """Raises ConfigErrors that name this file, the line and the dotted key."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, message: str, line: int | None, key: str | None, hint: str | None = None) -> NoReturn:
        raise ConfigError(message, path=self.path, line=line, key=key, hint=hint)

    def unknown(self, key: Scalar, where: str | None, known: tuple[str, ...], hint: str | None = None) -> NoReturn:
        dotted = f"{where}.{key.text}" if where else key.text
        self.fail(f"unknown key {key.text!r}", key.line, dotted, _suggest(key.text, known) or hint or f"known keys: {', '.join(known)}")

    def text(self, node: Value, key: str) -> str:
        """A string as written; numbers count as their text (`8080`), booleans and null do not."""
        if isinstance(node, Scalar) and node.kind in ("str", "int", "float"):
            if "\x00" in node.text:  # exec and the environment cannot carry it
                self.fail("contains a NUL character", node.line, key, "remove the \\0 escape")
            return node.text
        hint = None
        if isinstance(node, Scalar):
            hint = f"quote it: '{node.text}'" if node.kind == "bool" else "write '' for an empty string"
        self.fail(f"must be a string, got {_shown(node)}", node.line, key, hint)

    def template(self, text: str, line: int, key: str) -> Template:
        if "$" not in text:
            return text
        parts: list[Any] = []
        literal: list[str] = []
        i = 0
        while True:
            j = text.find("$", i)
            if j < 0:
                literal.append(text[i:])
                break
            literal.append(text[i:j])
            follower = text[j + 1 : j + 2]
            if follower != "{":  # `$$` is a `$`; a `$` before anything else is itself
                literal.append("$")
                i = j + 2 if follower == "$" else j + 1
                continue
            end = text.find("}", j + 2)
            if end < 0:
                spaces = "; in a string command, quote a default that holds spaces" if key.endswith(".command") else ""
                self.fail(f"unterminated ${{ in {text!r}", line, key, _VAR_HINT + spaces)
            body = text[j + 2 : end]
            name, colon_dash, default = body.partition(":-")
            if not name or name[0] not in _NAME_START or not set(name) <= _NAME_CHARS:
                self.fail(f"${{{body}}} is not a variable reference", line, key, _VAR_HINT)
            if "${" in default.replace("$$", ""):
                self.fail(f"${{{body}}}: a default cannot contain another ${{...}}", line, key, _VAR_HINT)
            if "".join(literal):
                parts.append("".join(literal))
            literal = []
            parts.append((name, default.replace("$$", "$") if colon_dash else None))
            i = end + 1
        if "".join(literal):
            parts.append("".join(literal))
        return tuple(parts) if any(type(part) is tuple for part in parts) else "".join(parts)

    # --- one method per worker key: (node, dotted key) -> compiled value ------

    def command(self, node: Value, key: str) -> tuple[tuple[Template, int], ...]:
        example = 'e.g. command: ["./hello", "--flag"] or command: "./hello --flag"'
        if isinstance(node, Scalar) and node.kind == "str":
            import shlex  # a string command is split once, here, never at start-up

            try:
                words = [(word, node.line) for word in shlex.split(self.text(node, key))]
            except ValueError as exc:
                self.fail(f"cannot split {node.text!r} into arguments: {exc}", node.line, key, "balance the quotes, or write a list")
        elif isinstance(node, Seq):
            words = [(self.text(item, f"{key}[{i}]"), item.line) for i, item in enumerate(node.items)]
        else:
            self.fail(f"must be a list of arguments or a string, got {_shown(node)}", node.line, key, example)
        if not words:
            self.fail("is empty", node.line, key, example)
        if not words[0][0]:
            self.fail("the program (first argument) is an empty string", words[0][1], key, example)
        return tuple((self.template(word, line, key), line) for word, line in words)

    def cwd(self, node: Value, key: str) -> str:
        text = self.text(node, key)
        if not text:
            self.fail("is empty", node.line, key, "leave it out to use the folder of this file, or write `cwd: .`")
        return text

    def env(self, node: Value, key: str) -> tuple[tuple[str, Template, int], ...]:
        if not isinstance(node, Map):
            self.fail(f"must be a mapping of NAME: value, got {_shown(node)}", node.line, key, "e.g. env: {GREETING: hi}")
        pairs = []
        for name_node, value in node.items:
            name = name_node.text
            if not name or name[0] not in _NAME_START or not set(name) <= _NAME_CHARS or name_node.kind != "str":
                self.fail(f"{name!r} is not a variable name", name_node.line, key, "letters, digits and _, not starting with a digit")
            if name in RESERVED_ENV:
                hint = "remove it (max_frame sets DISPATCHER_MAX_FRAME)"
                self.fail(f"{name} is set by the supervisor", name_node.line, f"{key}.{name}", hint)
            text = self.text(value, f"{key}.{name}")
            pairs.append((name, self.template(text, value.line, f"{key}.{name}"), value.line))
        return tuple(pairs)

    def _duration(self, node: Value, key: str, *, zero_ok: bool) -> float:
        if isinstance(node, Scalar) and node.kind in ("int", "float"):
            if zero_ok and node.text == "0":
                return 0.0  # unambiguous in any unit
            self.fail(f"{node.text} has no unit", node.line, key, DURATION_HINT)
        if not isinstance(node, Scalar) or node.kind != "str":
            self.fail(f"must be a duration, got {_shown(node)}", node.line, key, DURATION_HINT)
        try:
            seconds = parse_duration(node.text)
        except ValueError as exc:
            self.fail(str(exc), node.line, key, DURATION_HINT)
        if seconds == 0 and not zero_ok:
            self.fail("must be more than 0", node.line, key, DURATION_HINT)
        if seconds > MAX_DURATION:
            self.fail(f"{node.text} is longer than 900s, Lambda's longest function timeout", node.line, key, DURATION_HINT)
        return seconds

    def startup_timeout(self, node: Value, key: str) -> float:
        return self._duration(node, key, zero_ok=False)

    def timeout_margin(self, node: Value, key: str) -> float:
        return self._duration(node, key, zero_ok=True)

    def shutdown_grace(self, node: Value, key: str) -> float:
        return self._duration(node, key, zero_ok=False)

    def max_invocations(self, node: Value, key: str) -> int:
        if not isinstance(node, Scalar) or node.kind != "int" or not set(node.text.lstrip("-")) <= _DIGITS:
            self.fail(f"must be a whole number, got {_shown(node)}", node.line, key, "e.g. max_invocations: 1000 (0 = never recycle)")
        count = int(node.text)
        if not 0 <= count <= MAX_INVOCATIONS:
            self.fail(f"{count} is out of range", node.line, key, f"use 0 (never recycle) up to {MAX_INVOCATIONS}")
        return count

    def concurrency(self, node: Value, key: str) -> int | None:
        """None for `auto`; a number is checked against the environment in _resolve."""
        if isinstance(node, Scalar) and node.kind == "str" and node.text == "auto":
            return None
        if not isinstance(node, Scalar) or node.kind != "int" or not set(node.text.lstrip("-")) <= _DIGITS:
            self.fail(f"must be `auto` or a whole number, got {_shown(node)}", node.line, key, CONCURRENCY_HINT)
        count = int(node.text)
        if not 1 <= count <= MAX_CONCURRENCY:
            self.fail(f"{count} is out of range", node.line, key, f"use 1 up to {MAX_CONCURRENCY}, or auto")
        return count

    def _size(self, node: Value, key: str, low: int, high: int, zero_ok: bool) -> int:
        if not isinstance(node, Scalar) or node.kind not in ("int", "str"):
            self.fail(f"must be a size, got {_shown(node)}", node.line, key, SIZE_HINT)
        try:
            size = parse_size(node.text)
        except ValueError as exc:
            self.fail(str(exc), node.line, key, SIZE_HINT)
        if size == 0 and zero_ok:
            return 0
        if not low <= size <= high:
            bounds = f"between {format_size(low)} and {format_size(high)}" + (" (or 0 for never)" if zero_ok else "")
            bare = "; a bare number is bytes" if set(node.text) <= _DIGITS else ""
            self.fail(f"{node.text} ({size} bytes) is out of range", node.line, key, f"use {bounds}{bare}")
        return size

    def max_rss(self, node: Value, key: str) -> int:
        return self._size(node, key, MIN_RSS, MAX_RSS, zero_ok=True)

    def max_frame(self, node: Value, key: str) -> int:
        return self._size(node, key, MIN_FRAME, MAX_FRAME, zero_ok=False)

    def _choice(self, node: Value, key: str, choices: tuple[str, ...]) -> str:
        if isinstance(node, Scalar) and node.kind == "str" and node.text in choices:
            return node.text
        hint = _suggest(node.text, choices) if isinstance(node, Scalar) else None
        self.fail(f"must be one of {', '.join(choices)}, got {_shown(node)}", node.line, key, hint)

    def protocol(self, node: Value, key: str) -> str:
        return self._choice(node, key, PROTOCOLS)

    def ready(self, node: Value, key: str) -> str:
        return self._choice(node, key, READY_MODES)

    def error_type(self, node: Value, key: str) -> str:
        # It travels in the Lambda-Runtime-Function-Error-Type header: printable ASCII, no spaces.
        text = self.text(node, key)
        if not 0 < len(text) <= 128 or not all("!" <= ch <= "~" for ch in text):
            self.fail(f"{text!r} is not an error type", node.line, key, "printable ASCII without spaces, e.g. Function.ExitError")
        return text


WORKER_KEYS = ("command",) + tuple(DEFAULTS)
_WORKER_CHECKS: dict[str, Callable[[_Checker, Value, str], Any]] = {name: getattr(_Checker, name) for name in WORKER_KEYS}


def _worker(ck: _Checker, name: Scalar, node: Value) -> dict[str, Any]:
    where = f"workers.{name.text}"
    if name.kind != "str" or not name.text or not set(name.text) <= _WORKER_NAME_CHARS or len(name.text) > 64:
        ck.fail(f"{name.text!r} is not a worker name", name.line, where, "use letters, digits, _ . - (at most 64), quoted if it looks like a number")
    if not isinstance(node, Map):
        ck.fail(f"must be a mapping of settings, got {_shown(node)}", node.line, where, "a worker needs at least `command: [...]`")
    given = {key.text: (key, value) for key, value in node.items}
    for key_node, _ in node.items:
        if key_node.text not in _WORKER_CHECKS:
            hint = "it belongs at the top level, not inside a worker" if key_node.text in TOP_KEYS else None
            ck.unknown(key_node, where, WORKER_KEYS, hint)
    if "command" not in given:
        ck.fail("has no `command`", name.line, where, 'add e.g. command: ["./hello"]')
    worker: dict[str, Any] = {"name": name.text, "line": name.line, "cwd_line": name.line}
    for key in WORKER_KEYS:
        if key in given:
            value = given[key][1]
            worker[key] = _WORKER_CHECKS[key](ck, value, f"{where}.{key}")
            if key in ("cwd", "concurrency"):
                worker[f"{key}_line"] = value.line
        else:
            worker[key] = DEFAULTS[key]
    _check_protocol_keys(ck, worker, given, where)
    return worker


def _check_protocol_keys(ck: _Checker, worker: dict[str, Any], given: dict[str, tuple[Scalar, Value]], where: str) -> None:
    """`ready` is for jsonl, `error_type` for exec: refuse them elsewhere rather than ignore them."""
    protocol = worker["protocol"]
    for key, owner in (("ready", "jsonl"), ("error_type", "exec")):
        if key in given and protocol != owner:
            ck.fail(
                f"applies only to protocol: {owner} (this worker's protocol is {protocol})",
                given[key][0].line,
                f"{where}.{key}",
                f"remove it, or set protocol: {owner}",
            )
    if protocol == "exec":
        worker["error_type"] = worker["error_type"] or EXEC_ERROR_TYPE
    else:
        worker["ready"] = worker["ready"] or "frame"  # msgpack always waits for the ready frame


def compile_tree(tree: Value | None, path: str) -> dict[str, Any]:
    """The compiled form of a parsed dispatcher.yaml (see the module docstring)."""
    ck = _Checker(path)
    example = "e.g.\nworkers:\n  hello:\n    command: [./hello]"
    if tree is None:
        ck.fail("the file is empty", None, None, "it needs a `workers:` mapping; see config.example.yaml")
    if not isinstance(tree, Map):
        ck.fail(f"the top level must be a mapping with `workers:`, got {_shown(tree)}", tree.line, None, example)
    given = {key.text: (key, value) for key, value in tree.items}
    for key, _ in tree.items:
        if key.text not in TOP_KEYS:
            hint = "worker settings go under `workers: NAME:`" if key.text in WORKER_KEYS else None
            ck.unknown(key, None, TOP_KEYS, hint)
    if "workers" not in given:
        ck.fail("there is no `workers:` mapping", tree.line, None, example)
    workers_key, workers = given["workers"]
    if not isinstance(workers, Map):
        ck.fail(f"must map worker names to their settings, got {_shown(workers)}", workers.line, "workers", example)
    if not workers.items:
        ck.fail("no workers are defined", workers.line, "workers", example)
    compiled = [_worker(ck, name, node) for name, node in workers.items]
    names = [worker["name"] for worker in compiled]
    default = None
    if "default" in given:
        node = given["default"][1]
        if not isinstance(node, Scalar) or node.kind != "str":
            ck.fail(f"must be a worker name, got {_shown(node)}", node.line, "default", f"one of: {', '.join(names)}")
        if node.text not in names:
            hint = _suggest(node.text, names) or f"known workers: {', '.join(names)}"
            ck.fail(f"{node.text!r} names no worker", node.line, "default", hint)
        default = node.text
    package = _package(ck, given["package"][1]) if "package" in given else None
    return {"default": default, "workers": tuple(compiled), "package": package}


_PATTERN_HINT = "patterns are relative to this file's folder, e.g. include: [bin/, templates/*.html]"


def _package(ck: _Checker, node: Value) -> dict[str, Any]:
    """`package: {include: [...], exclude: [...]}`: what `dispatcher package --function` ships.

    Only the syntax is checked here (the rules live in dispatcher.package); a
    pattern may not leave the folder: no absolute path, no `..`.
    """
    example = "e.g. package: {include: [my-binary, assets/], exclude: ['*.md']}"
    if not isinstance(node, Map):
        ck.fail(f"must be a mapping with include and/or exclude, got {_shown(node)}", node.line, "package", example)
    compiled: dict[str, Any] = {"include": None, "exclude": ()}
    for key_node, value in node.items:
        if key_node.text not in PACKAGE_KEYS:
            ck.unknown(key_node, "package", PACKAGE_KEYS)
        key = f"package.{key_node.text}"
        if not isinstance(value, Seq):
            ck.fail(f"must be a list of paths or patterns, got {_shown(value)}", value.line, key, example)
        patterns = []
        for i, item in enumerate(value.items):
            where = f"{key}[{i}]"
            text = ck.text(item, where)
            parts = text.replace("\\", "/").split("/")
            if not text.strip():
                ck.fail("is empty", item.line, where, _PATTERN_HINT)
            if text.startswith(("/", "~")):
                ck.fail(f"{text!r} is an absolute path: the package holds only files under this file's folder", item.line, where, _PATTERN_HINT)
            if ".." in parts:
                ck.fail(f"{text!r} leaves this file's folder (..)", item.line, where, "copy the file into the folder, " + _PATTERN_HINT)
            patterns.append(text)
        compiled[key_node.text] = tuple(patterns)
    return compiled
