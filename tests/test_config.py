"""dispatcher.config and dispatcher.units: every key's valid and invalid forms,
errors naming file:line:key, ${VAR} expansion, discovery, selection, hostile
YAML, the build-time cache and the resolved printout.

Real files in tmp_path; the cache's promise not to import yaml is checked in a
fresh interpreter.
"""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatcher import __version__
from dispatcher.config import (
    Config,
    ConfigError,
    HandlerNotFound,
    WorkerConfig,
    describe,
    find_config,
    load,
    load_fast,
    write_cache,
)
from dispatcher.config import _cache
from dispatcher.config._schema import WORKER_KEYS
from dispatcher.errors import HANDLER_NOT_FOUND
from dispatcher.units import format_duration, format_size, parse_duration, parse_size

ROOT = Path(__file__).resolve().parent.parent
BASE = "workers:\n  w:\n    command: [./w]\n"  # a key appended to this is on line 4


def write(directory: Path, text: str | bytes, name: str = "dispatcher.yaml") -> str:
    path = directory / name
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return str(path)


def load_text(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    return load(write(tmp_path, text), environ or {})


def error_of(tmp_path: Path, text: str | bytes, environ: dict[str, str] | None = None) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path, environ or {})
    assert info.value.path == path
    assert str(info.value).startswith(path)
    return info.value


# --- units -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [("9s", 9.0), ("1.5s", 1.5), ("100ms", 0.1), ("300ms", 0.3), ("2m", 120.0), ("0s", 0.0), ("0.5ms", 0.0005), (" 5 s ", 5.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text, message",
    [
        ("9", "has no unit"),
        ("1.5", "has no unit"),
        ("-1s", "negative"),
        ("9sec", "not a duration"),
        ("1h", "not a duration"),
        ("1e3s", "not a duration"),
        ("infs", "not a duration"),
        (".5s", "not a duration"),
        ("5.s", "not a duration"),
        ("s", "not a duration"),
        ("", "not a duration"),
        ("1_000ms", "not a duration"),
    ],
)
def test_parse_duration_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@pytest.mark.parametrize(
    "text, size",
    [("0", 0), ("512", 512), ("512B", 512), ("1KB", 1024), ("1.5MB", 1572864), ("16MB", 16 << 20), ("1GB", 1 << 30), ("64KiB", 65536), ("2 mb", 2 << 20)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text, message",
    [("-1", "negative"), ("1XB", "not a size"), ("MB", "not a size"), ("0.1KB", "whole number of bytes"), ("1.5", "whole number of bytes"), ("1e6", "not a size"), ("", "not a size")],
)
def test_parse_size_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size(text)


@pytest.mark.parametrize("seconds, text", [(9.0, "9s"), (0.1, "100ms"), (0.3, "300ms"), (1.5, "1.5s"), (120.0, "120s"), (0.0, "0s")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("size, text", [(0, "0"), (1024, "1KB"), (16 << 20, "16MB"), (1 << 30, "1GB"), (1536, "1536B"), (1572864, "1536KB")])
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=1 << 40))
def test_size_round_trip(size: int) -> None:
    assert parse_size(format_size(size)) == size


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=900_000))
def test_duration_round_trip(milliseconds: int) -> None:
    seconds = milliseconds / 1000
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=1e-9)


# --- each key: valid forms ----------------------------------------------------

VALID = [
    ("startup_timeout", "9s", 9.0),
    ("startup_timeout", "1.5s", 1.5),
    ("startup_timeout", "250ms", 0.25),
    ("startup_timeout", "2m", 120.0),
    ("startup_timeout", "900s", 900.0),
    ("startup_timeout", "'3s'", 3.0),
    ("timeout_margin", "0", 0.0),
    ("timeout_margin", "0ms", 0.0),
    ("timeout_margin", "250ms", 0.25),
    ("shutdown_grace", "300ms", 0.3),
    ("shutdown_grace", "2s", 2.0),
    ("max_invocations", "0", 0),
    ("max_invocations", "1000", 1000),
    ("max_rss", "0", 0),
    ("max_rss", "512MB", 512 << 20),
    ("max_rss", "1.5GB", 3 << 29),
    ("max_rss", "1048576", 1 << 20),
    ("max_rss", "10GB", 10 << 30),
    ("max_frame", "1KB", 1024),
    ("max_frame", "1024", 1024),
    ("max_frame", "16MB", 16 << 20),
    ("max_frame", "64KiB", 65536),
    ("max_frame", "1GB", 1 << 30),
    ("protocol", "msgpack", "msgpack"),
    ("protocol", "jsonl", "jsonl"),
    ("protocol", "exec", "exec"),
    ("env", "{GREETING: hi}", {"GREETING": "hi"}),
    ("env", "{PORT: 8080, RATIO: 1.5}", {"PORT": "8080", "RATIO": "1.5"}),
    ("env", "{EMPTY: ''}", {"EMPTY": ""}),
    ("env", "{}", {}),
    ("command", "[./w, --flag]", ("./w", "--flag")),
    ("command", "[./w, 5, 0x1F]", ("./w", "5", "0x1F")),
    ("command", "\"./w --flag 'a b'\"", ("./w", "--flag", "a b")),
    ("command", "'./w \"x y\" z'", ("./w", "x y", "z")),
]


@pytest.mark.parametrize("key, value, expected", VALID)
def test_valid_value(tmp_path: Path, key: str, value: str, expected: object) -> None:
    text = f"workers:\n  w:\n    {key}: {value}\n" if key == "command" else f"{BASE}    {key}: {value}\n"
    worker = load_text(tmp_path, text).workers["w"]
    assert getattr(worker, key) == expected


def test_defaults(tmp_path: Path) -> None:
    worker = load_text(tmp_path, BASE).workers["w"]
    assert worker == WorkerConfig(
        name="w",
        command=("./w",),
        cwd=str(tmp_path),
        env=worker.env,
        startup_timeout=9.0,
        timeout_margin=0.1,
        shutdown_grace=0.3,
        max_invocations=0,
        max_rss=0,
        max_frame=16 << 20,
        protocol="msgpack",
        ready="frame",
        error_type=None,
    )
    assert dict(worker.env) == {}
    with pytest.raises(TypeError):
        worker.env["X"] = "y"  # type: ignore[index]
    with pytest.raises(AttributeError):
        worker.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "extra, ready, error_type",
    [
        (["protocol: msgpack"], "frame", None),
        (["protocol: jsonl"], "frame", None),
        (["protocol: jsonl", "ready: spawn"], "spawn", None),
        (["protocol: exec"], None, "Function.ExitError"),
        (["protocol: exec", "error_type: Custom.Failure"], None, "Custom.Failure"),
    ],
)
def test_protocol_specific_keys(tmp_path: Path, extra: list[str], ready: str | None, error_type: str | None) -> None:
    text = BASE + "".join(f"    {item}\n" for item in extra)
    worker = load_text(tmp_path, text).workers["w"]
    assert (worker.ready, worker.error_type) == (ready, error_type)


@pytest.mark.parametrize("cwd, expected", [(".", ""), ("sub", "sub"), ("sub/../sub/", "sub")])
def test_cwd_is_relative_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cwd: str, expected: str) -> None:
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir("/")  # the process's cwd must not matter
    worker = load_text(tmp_path, f"{BASE}    cwd: {cwd}\n").workers["w"]
    assert worker.cwd == os.path.normpath(tmp_path / expected)


def test_cwd_absolute(tmp_path: Path) -> None:
    other = tempfile.mkdtemp()
    try:
        assert load_text(tmp_path, f"{BASE}    cwd: {other}\n").workers["w"].cwd == other
    finally:
        os.rmdir(other)


@pytest.mark.parametrize(
    "kind, expected",
    [(None, 9.0), ("on-demand", 9.0), ("provisioned-concurrency", 120.0), ("snap-start", 120.0)],
)
def test_startup_timeout_default_follows_init_type(tmp_path: Path, kind: str | None, expected: float) -> None:
    environ = {"AWS_LAMBDA_INITIALIZATION_TYPE": kind} if kind else {}
    assert load_text(tmp_path, BASE, environ).workers["w"].startup_timeout == expected
    explicit = load_text(tmp_path, BASE + "    startup_timeout: 5s\n", environ)
    assert explicit.workers["w"].startup_timeout == 5.0


def test_merge_keys_share_settings(tmp_path: Path) -> None:
    text = (
        "workers:\n"
        "  a: &base\n"
        "    command: [./a]\n"
        "    env: {SHARED: yes-please}\n"
        "    max_frame: 1MB\n"
        "  b:\n"
        "    <<: *base\n"
        "    command: [./b]\n"
        "default: a\n"
    )
    b = load_text(tmp_path, text).workers["b"]
    assert (b.command, dict(b.env), b.max_frame) == (("./b",), {"SHARED": "yes-please"}, 1 << 20)


# --- each key: invalid forms ---------------------------------------------------

INVALID = [
    # key, value, (sub)key reported, message fragment, hint fragment
    ("startup_timeout", "9", "", "9 has no unit", "`9s`"),
    ("startup_timeout", "1.5", "", "has no unit", "`9s`"),
    ("startup_timeout", "0", "", "has no unit", "`9s`"),
    ("startup_timeout", "0s", "", "must be more than 0", "ms, s or m"),
    ("startup_timeout", "-1s", "", "negative", "`9s`"),
    ("startup_timeout", "9sec", "", "not a duration", "ms, s or m"),
    ("startup_timeout", "1h", "", "not a duration", "ms, s or m"),
    ("startup_timeout", "1000s", "", "longer than 900s", "`9s`"),
    ("startup_timeout", "[9s]", "", "must be a duration, got a list", "`9s`"),
    ("startup_timeout", "true", "", "must be a duration, got a boolean", "`9s`"),
    ("startup_timeout", "", "", "must be a duration, got nothing", "`9s`"),
    ("timeout_margin", "5", "", "5 has no unit", "`100ms`"),
    ("timeout_margin", "-5ms", "", "negative", "ms, s or m"),
    ("shutdown_grace", "0ms", "", "must be more than 0", "ms, s or m"),
    ("shutdown_grace", "2h", "", "not a duration", "ms, s or m"),
    ("max_invocations", "-1", "", "-1 is out of range", "0 (never recycle)"),
    ("max_invocations", "2000000000", "", "out of range", "1000000000"),
    ("max_invocations", "1.5", "", "must be a whole number, got a number 1.5", "max_invocations: 1000"),
    ("max_invocations", "'10'", "", "must be a whole number, got the string '10'", "max_invocations: 1000"),
    ("max_invocations", "yes", "", "must be a whole number, got a boolean", "max_invocations: 1000"),
    ("max_invocations", "0x10", "", "must be a whole number", "max_invocations: 1000"),
    ("max_rss", "512", "", "512 (512 bytes) is out of range", "a bare number is bytes"),
    ("max_rss", "-1MB", "", "negative", "16MB"),
    ("max_rss", "20GB", "", "out of range", "between 1MB and 10GB (or 0 for never)"),
    ("max_rss", "1.5", "", "must be a size, got a number 1.5", "whole number of bytes"),
    ("max_rss", "512XB", "", "not a size", "KB, MB or GB"),
    ("max_rss", "0.1KB", "", "whole number of bytes", "KB, MB or GB"),
    ("max_frame", "0", "", "out of range", "between 1KB and 1GB"),
    ("max_frame", "16", "", "out of range", "a bare number is bytes"),
    ("max_frame", "2GB", "", "out of range", "between 1KB and 1GB"),
    ("max_frame", "16mbit", "", "not a size", "16MB"),
    ("max_frame", "{a: 1}", "", "must be a size, got a mapping", "16MB"),
    ("protocol", "msgpak", "", "must be one of msgpack, jsonl, exec", "did you mean 'msgpack'?"),
    ("protocol", "JSONL", "", "must be one of", "did you mean 'jsonl'?"),
    ("protocol", "5", "", "got a number 5", None),
    ("ready", "spawn", "", "applies only to protocol: jsonl", "set protocol: jsonl"),
    ("error_type", "Oops", "", "applies only to protocol: exec", "set protocol: exec"),
    ("cwd", "''", "", "is empty", "cwd: ."),
    ("cwd", "[a]", "", "must be a string, got a list", None),
    ("cwd", "missing-dir", "", "is not a directory", "relative to this file's folder"),
    ("env", "[A]", "", "must be a mapping of NAME: value, got a list", "env: {GREETING: hi}"),
    ("env", "A=b", "", "must be a mapping of NAME: value", "env: {GREETING: hi}"),
    ("env", "{1A: x}", "", "'1A' is not a variable name", "letters, digits and _"),
    ("env", "{'A B': x}", "", "'A B' is not a variable name", "letters, digits and _"),
    ("env", "{A: [x]}", ".A", "must be a string, got a list", None),
    ("env", "{A: true}", ".A", "must be a string, got a boolean", "quote it: 'true'"),
    ("env", "{A: }", ".A", "must be a string, got nothing", "write '' for an empty string"),
    ("env", "{DISPATCHER_MAX_FRAME: 5}", ".DISPATCHER_MAX_FRAME", "is set by the supervisor", "max_frame"),
    ("env", "{A: '${'}", ".A", "unterminated ${", "$$ for a literal $"),
    ("env", '{A: "\\0"}', ".A", "contains a NUL character", None),
    ("cwd", '"a\\0"', "", "contains a NUL character", None),
]


@pytest.mark.parametrize("key, value, subkey, message, hint", INVALID)
def test_invalid_value(tmp_path: Path, key: str, value: str, subkey: str, message: str, hint: str | None) -> None:
    err = error_of(tmp_path, f"{BASE}    {key}: {value}\n")
    assert (err.line, err.key) == (4, f"workers.w.{key}{subkey}"), str(err)
    assert message in err.message
    if hint is not None:
        assert err.hint is not None and hint in err.hint
    assert str(err).startswith(f"{err.path}:4: workers.w.{key}{subkey}: ")


INVALID_COMMANDS = [
    # value, key reported, message fragment, hint fragment
    ("5", "command", "must be a list of arguments or a string, got a number 5", 'command: ["./hello", "--flag"]'),
    ("{a: b}", "command", "got a mapping", 'command: ["./hello"'),
    ("", "command", "got nothing", 'command: ["./hello"'),
    ("[]", "command", "is empty", 'command: ["./hello"'),
    ("''", "command", "is empty", 'command: ["./hello"'),
    ("'   '", "command", "is empty", 'command: ["./hello"'),
    ("['']", "command", "the program (first argument) is an empty string", None),
    ("[./w, [x]]", "command[1]", "must be a string, got a list", None),
    ("[./w, true]", "command[1]", "got a boolean true", "quote it: 'true'"),
    ("[./w, null]", "command[1]", "got nothing", None),
    ('[./w, "a\\0b"]', "command[1]", "contains a NUL character", "remove the \\0 escape"),
    ('"./w a\\0b"', "command", "contains a NUL character", None),
    ("'./w \"unterminated'", "command", "cannot split", "balance the quotes"),
    ("[./w, '${']", "command", "unterminated ${", "$$ for a literal $"),
    ("'./w ${A:-a b}'", "command", "unterminated ${", "quote a default that holds spaces"),
    ("[./w, '${1X}']", "command", "${1X} is not a variable reference", "${NAME:-default}"),
    ("[./w, '${}']", "command", "${} is not a variable reference", None),
    ("[./w, '${A:?oops}']", "command", "${A:?oops} is not a variable reference", "${NAME:-default}"),
    ("[./w, '${A-x}']", "command", "is not a variable reference", "${NAME:-default}"),
    ("[./w, '${A:-${B}}']", "command", "a default cannot contain another", None),
]


@pytest.mark.parametrize("value, key, message, hint", INVALID_COMMANDS)
def test_invalid_command(tmp_path: Path, value: str, key: str, message: str, hint: str | None) -> None:
    err = error_of(tmp_path, f"workers:\n  w:\n    command: {value}\n")
    assert (err.line, err.key) == (3, f"workers.w.{key}"), str(err)
    assert message in err.message
    if hint is not None:
        assert err.hint is not None and hint in err.hint


def test_error_type_must_fit_a_header(tmp_path: Path) -> None:
    err = error_of(tmp_path, BASE + "    protocol: exec\n    error_type: has space\n")
    assert (err.line, err.key) == (5, "workers.w.error_type")
    assert "printable ASCII" in (err.hint or "")


@pytest.mark.parametrize(
    "value, environ, expected",
    [
        (None, {}, 1),  # auto, on classic Lambda
        (None, {"AWS_LAMBDA_MAX_CONCURRENCY": "8"}, 8),  # auto, on Lambda Managed Instances
        ("auto", {"AWS_LAMBDA_MAX_CONCURRENCY": "4"}, 4),
        ("1", {"AWS_LAMBDA_MAX_CONCURRENCY": "4"}, 1),
        ("4", {"AWS_LAMBDA_MAX_CONCURRENCY": "4"}, 4),
        ("1", {}, 1),
    ],
)
def test_concurrency(tmp_path: Path, value: str | None, environ: dict[str, str], expected: int) -> None:
    text = BASE + (f"    concurrency: {value}\n" if value else "")
    assert load_text(tmp_path, text, environ).workers["w"].concurrency == expected


@pytest.mark.parametrize(
    "value, environ, message",
    [
        ("8", {"AWS_LAMBDA_MAX_CONCURRENCY": "4"}, "8 is more than AWS_LAMBDA_MAX_CONCURRENCY (4)"),
        ("2", {}, "2 is more than AWS_LAMBDA_MAX_CONCURRENCY (not set, so 1"),
        ("0", {}, "0 is out of range"),
        ("many", {}, "must be `auto` or a whole number, got the string 'many'"),
        ("1.5", {}, "must be `auto` or a whole number, got a number 1.5"),
    ],
)
def test_concurrency_errors(tmp_path: Path, value: str, environ: dict[str, str], message: str) -> None:
    err = error_of(tmp_path, BASE + f"    concurrency: {value}\n", environ)
    assert (err.line, err.key) == (4, "workers.w.concurrency")
    assert message in str(err)
    assert err.hint


def test_ready_value_suggests(tmp_path: Path) -> None:
    err = error_of(tmp_path, BASE + "    protocol: jsonl\n    ready: frames\n")
    assert (err.line, err.key, err.hint) == (5, "workers.w.ready", "did you mean 'frame'?")


# --- the file as a whole --------------------------------------------------------

STRUCTURE = [
    # text, line, key, message fragment, hint fragment
    ("", None, None, "the file is empty", "workers:"),
    ("# nothing but a comment\n", None, None, "the file is empty", "config.example.yaml"),
    ("- a\n", 1, None, "the top level must be a mapping with `workers:`, got a list", "workers:"),
    ("just text\n", 1, None, "the top level must be a mapping", None),
    ("default: a\n", 1, None, "there is no `workers:` mapping", "command:"),
    ("workers:\n", 1, "workers", "must map worker names to their settings, got nothing", "workers:"),
    ("workers: []\n", 1, "workers", "must map worker names to their settings, got a list", None),
    ("workers: ./hello\n", 1, "workers", "got the string './hello'", None),
    ("workers: {}\n", 1, "workers", "no workers are defined", None),
    ("workers:\n  w:\n    comand: [./w]\n", 3, "workers.w.comand", "unknown key 'comand'", "did you mean 'command'?"),
    ("workers:\n  w:\n    command: [./w]\n    max_fram: 1MB\n", 4, "workers.w.max_fram", "unknown key 'max_fram'", "did you mean 'max_frame'?"),
    ("workers:\n  w:\n    command: [./w]\n    zzz: 1\n", 4, "workers.w.zzz", "unknown key 'zzz'", "known keys: command, cwd"),
    ("workers:\n  w:\n    command: [./w]\n    default: w\n", 4, "workers.w.default", "unknown key", "belongs at the top level"),
    ("worker:\n  w: {command: [./w]}\n", 1, "worker", "unknown key 'worker'", "did you mean 'workers'?"),
    ("workers:\n  w: {command: [./w]}\ncommand: [./x]\n", 3, "command", "unknown key", "go under `workers: NAME:`"),
    ("workers:\n  w:\n    cwd: .\n", 2, "workers.w", "has no `command`", 'command: ["./hello"]'),
    ("workers:\n  w:\n", 2, "workers.w", "must be a mapping of settings, got nothing", "at least `command"),
    ("workers:\n  w: ./w\n", 2, "workers.w", "must be a mapping of settings, got the string './w'", None),
    ("workers:\n  'a b': {command: [./w]}\n", 2, "workers.a b", "'a b' is not a worker name", "letters, digits"),
    ("workers:\n  1: {command: [./w]}\n", 2, "workers.1", "'1' is not a worker name", "quoted"),
    ("workers:\n  w: {command: [./w]}\n  w: {command: [./x]}\n", 3, None, "duplicate key 'w' (first at line 2)", "remove one"),
    ("workers:\n  w:\n    command: [./w]\n    command: [./x]\n", 4, None, "duplicate key 'command' (first at line 3)", None),
    ("workers:\n  w: {command: [./w]}\n  v: {command: [./v]}\ndefault: vv\n", 4, "default", "'vv' names no worker", "did you mean 'v'?"),
    ("workers:\n  w: {command: [./w]}\ndefault: zzz\n", 3, "default", "'zzz' names no worker", "known workers: w"),
    ("workers:\n  w: {command: [./w]}\ndefault: [w]\n", 3, "default", "must be a worker name, got a list", "one of: w"),
    ("workers:\n\tw: {}\n", 2, None, "invalid YAML", "tabs"),
    ("workers: [\n", 2, None, "invalid YAML", None),
    ("workers: {w: {command: [./w]}}\n---\nb: 2\n", 2, None, "invalid YAML: but found another document", "single document"),
    ("workers: {w: {command: [./w]}}\nx: *nope\n", 2, None, "invalid YAML: found undefined alias 'nope'", None),
    ("workers:\n  w: {command: [./w]}\n  v:\n    <<: 5\n", 4, None, "`<<` must be followed by a mapping", "<<: *base"),
    ("workers:\n  w: {command: [./w], ? [a]: b}\n", 2, None, "a mapping key must be a plain string", None),
    ("workers:\n  w: {command: \x00}\n", 2, None, "control character #x0000 is not allowed", "UTF-8"),
    (b"workers:\n  w: {command: [\xff\xfe]}\n", 2, None, "not utf-8 text", "UTF-8"),
]


@pytest.mark.parametrize("text, line, key, message, hint", STRUCTURE)
def test_structure_errors(tmp_path: Path, text: str | bytes, line: int | None, key: str | None, message: str, hint: str | None) -> None:
    err = error_of(tmp_path, text)
    assert (err.line, err.key) == (line, key), str(err)
    assert message in err.message
    if hint is not None:
        assert err.hint is not None and hint in err.hint, str(err)


def test_unknown_key_message_reads_well(tmp_path: Path) -> None:
    path = write(tmp_path, "workers:\n  hello:\n    comand: [./hello]\n")
    with pytest.raises(ConfigError) as info:
        load(path, {})
    assert str(info.value) == f"{path}:3: workers.hello.comand: unknown key 'comand' (did you mean 'command'?)"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it: No such file"):
        load(str(tmp_path / "absent.yaml"), {})
    with pytest.raises(ConfigError, match="cannot read it: Is a directory"):
        load(str(tmp_path), {})


# --- ${VAR} expansion -----------------------------------------------------------

EXPANSIONS = [
    # argument as written (YAML single-quoted), environ, result
    ("${A}", {"A": "x"}, "x"),
    ("pre-${A}-post", {"A": "x"}, "pre-x-post"),
    ("${A}${B}", {"A": "1", "B": "2"}, "12"),
    ("${A}", {"A": ""}, ""),
    ("${A:-d}", {}, "d"),
    ("${A:-d}", {"A": ""}, "d"),
    ("${A:-d}", {"A": "v"}, "v"),
    ("${A:-}", {}, ""),
    ("${A:-a b}", {}, "a b"),
    ("${A:-x$$y}", {}, "x$y"),
    ("${A:-:-}", {}, ":-"),
    ("$$A", {"A": "x"}, "$A"),
    ("$${A}", {"A": "x"}, "${A}"),
    ("$$$$", {}, "$$"),
    ("$A", {"A": "x"}, "$A"),
    ("a$b", {}, "a$b"),
    ("$", {}, "$"),
    ("cost: 5$", {}, "cost: 5$"),
    ("${DISPATCHER_PYTHON}", {}, sys.executable),
    ("${DISPATCHER_PYTHON}", {"DISPATCHER_PYTHON": "/opt/py"}, "/opt/py"),
    ("${DISPATCHER_PYTHON:-nope}", {}, sys.executable),
]


@pytest.mark.parametrize("arg, environ, expected", EXPANSIONS)
def test_expansion(tmp_path: Path, arg: str, environ: dict[str, str], expected: str) -> None:
    text = f"workers:\n  w:\n    command: [./w, '{arg}']\n    env: {{V: '{arg}'}}\n"
    worker = load_text(tmp_path, text, environ).workers["w"]
    assert worker.command == ("./w", expected)
    assert dict(worker.env) == {"V": expected}


def test_string_command_expands_per_argument(tmp_path: Path) -> None:
    text = "workers:\n  w:\n    command: '${DISPATCHER_PYTHON} -c \"import x\" ${ARG} \"${ARG:-b c}\"'\n"
    worker = load_text(tmp_path, text, {"ARG": "has space"}).workers["w"]
    assert worker.command == (sys.executable, "-c", "import x", "has space", "has space")


@pytest.mark.parametrize(
    "text, line, key",
    [
        ("workers:\n  w:\n    command: [./w, '${MISSING}']\n", 3, "workers.w.command[1]"),
        ("workers:\n  w:\n    command:\n      - ./w\n      - --x\n      - ${MISSING}\n", 6, "workers.w.command[2]"),
        ("workers:\n  w:\n    command: ./w ${MISSING}\n", 3, "workers.w.command[1]"),
        ("workers:\n  w:\n    command: [./w]\n    env:\n      OK: fine\n      K: ${MISSING}/x\n", 6, "workers.w.env.K"),
    ],
)
def test_unset_variable_names_key_and_variable(tmp_path: Path, text: str, line: int, key: str) -> None:
    err = error_of(tmp_path, text, {"OTHER": "1"})
    assert (err.line, err.key) == (line, key)
    assert err.message == "${MISSING} is used but MISSING is not set"
    assert err.hint is not None and "${MISSING:-value}" in err.hint


def test_program_expanding_to_empty_is_an_error(tmp_path: Path) -> None:
    err = error_of(tmp_path, "workers:\n  w:\n    command: ['${EMPTY}', x]\n", {"EMPTY": ""})
    assert (err.line, err.key) == (3, "workers.w.command")
    assert "expands to an empty string" in err.message


# --- discovery ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "explicit, env_var, task_root_has, cwd_has, expected",
    [
        ("explicit", "envvar", True, True, "explicit"),
        ("explicit-dir", None, True, True, "explicit-dir"),
        (None, "envvar", True, True, "envvar"),
        (None, None, True, True, "root"),
        (None, None, False, True, "cwd"),
        (None, None, None, True, "cwd"),  # LAMBDA_TASK_ROOT unset
    ],
)
def test_discovery_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, explicit: str | None, env_var: str | None, task_root_has: bool | None, cwd_has: bool, expected: str
) -> None:
    places = {name: tmp_path / name for name in ("explicit", "explicit-dir", "envvar", "root", "cwd")}
    for place in places.values():
        place.mkdir()
    files = {
        "explicit": write(places["explicit"], BASE, "custom.yaml"),
        "explicit-dir": write(places["explicit-dir"], BASE),
        "envvar": write(places["envvar"], BASE, "other.yaml"),
        "root": str(places["root"] / "dispatcher.yaml"),
        "cwd": "dispatcher.yaml",
    }
    if task_root_has:
        write(places["root"], BASE)
    if cwd_has:
        write(places["cwd"], BASE)
    monkeypatch.chdir(places["cwd"])
    environ = {}
    if env_var:
        environ["DISPATCHER_CONFIG"] = files[env_var]
    if task_root_has is not None:
        environ["LAMBDA_TASK_ROOT"] = str(places["root"])
    given = str(places["explicit-dir"]) if explicit == "explicit-dir" else files.get(explicit or "")
    found = find_config(given, environ)
    assert found == files[expected]
    assert load(found, {}).workers["w"].command == ("./w",)


@pytest.mark.parametrize(
    "explicit, environ, message, hint",
    [
        ("nope.yaml", {}, "no such file (given by --config)", "check the path"),
        (None, {"DISPATCHER_CONFIG": "nope.yaml"}, "no such file (given by DISPATCHER_CONFIG)", "check the path"),
        (None, {"LAMBDA_TASK_ROOT": "/nonexistent-root"}, "not found", "/nonexistent-root/dispatcher.yaml and "),
        (None, {}, "not found", "pass --config PATH or set DISPATCHER_CONFIG"),
    ],
)
def test_discovery_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, explicit: str | None, environ: dict[str, str], message: str, hint: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        find_config(explicit, environ)
    assert info.value.message == message
    assert info.value.hint is not None and hint in info.value.hint
    if explicit is None and "DISPATCHER_CONFIG" not in environ:
        assert str(tmp_path / "dispatcher.yaml") in info.value.hint  # says where it looked


# --- selection --------------------------------------------------------------------

ONE = "workers:\n  a: {command: [./a]}\n"
TWO = "workers:\n  a: {command: [./a]}\n  b: {command: [./b]}\n"


@pytest.mark.parametrize(
    "text, handler, expected",
    [
        (ONE, None, "a"),
        (ONE, "", "a"),
        (ONE, "a", "a"),
        (ONE, "index.handler", "a"),
        (ONE + "default: a\n", "zzz", "a"),
        (TWO, "a", "a"),
        (TWO, "b", "b"),
        (TWO + "default: b\n", None, "b"),
        (TWO + "default: b\n", "a", "a"),
        (TWO + "default: b\n", "index.handler", "b"),
    ],
)
def test_select(tmp_path: Path, text: str, handler: str | None, expected: str) -> None:
    assert load_text(tmp_path, text).select(handler).name == expected


@pytest.mark.parametrize("handler", [None, "", "zzz"])
def test_select_without_a_match_is_handler_not_found(tmp_path: Path, handler: str | None) -> None:
    config = load_text(tmp_path, TWO)
    with pytest.raises(HandlerNotFound) as info:
        config.select(handler)
    err = info.value
    assert isinstance(err, ConfigError)
    assert err.error_type == HANDLER_NOT_FOUND == "Runtime.HandlerNotFound"
    assert err.known == ("a", "b")
    assert err.handler == (handler or None)
    assert "known workers: a, b" in str(err)
    assert ("_HANDLER='zzz' names no worker" if handler else "_HANDLER is not set") in str(err)


def test_workers_keep_file_order(tmp_path: Path) -> None:
    config = load_text(tmp_path, "workers:\n  z: {command: [./z]}\n  a: {command: [./a]}\n  m: {command: [./m]}\ndefault: a\n")
    assert list(config.workers) == ["z", "a", "m"]
    assert config.default == "a"
    assert config.path == os.path.abspath(tmp_path / "dispatcher.yaml")


# --- hostile YAML ---------------------------------------------------------------------


def _laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "workers:\n  w:\n    command: [./w]\n    env:\n      " + "\n      ".join(lines) + "\n"


HOSTILE = [
    # name, text, message fragment, hint fragment
    ("billion laughs", _laughs(), "expands to more than 10000 values", "aliases"),
    ("recursive alias", "workers: &a {w: *a}\n", "nested deeper than 50 levels", "refer to itself"),
    ("self-containing list", "workers: {w: {command: &c [./w, *c]}}\n", "nested deeper than 50 levels", None),
    ("deep flow nesting", "workers: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested deeper than 50 levels", "flatten"),
    ("deep block nesting", "".join("  " * i + f"k{i}:\n" for i in range(200)), "nested deeper than 50 levels", None),
    ("many values", "workers: {w: {command: [" + "x," * 50_000 + "]}}\n", "more than 10000 values", None),
    ("python object tag", "workers: !!python/object/apply:os.system ['echo hi']\n", "tag !!python/object/apply:os.system is not allowed", "plain YAML"),
    ("python name tag", "workers: {w: {command: !!python/name:os.system ''}}\n", "tag !!python/name:os.system is not allowed", None),
    ("custom tag", "workers: {w: {command: !env CMD}}\n", "tag !env is not allowed", None),
    ("binary tag", "workers: {w: {command: !!binary aGk=}}\n", "tag !!binary is not allowed", None),
    ("set tag", "workers: !!set {w}\n", "tag !!set is not allowed", None),
    ("omap tag", "workers: !!omap [w: {command: [x]}]\n", "tag !!omap is not allowed", None),
]


@pytest.mark.parametrize("name, text, message, hint", HOSTILE, ids=[case[0] for case in HOSTILE])
def test_hostile_yaml_is_refused_quickly(tmp_path: Path, name: str, text: str, message: str, hint: str | None) -> None:
    if name == "billion laughs":
        assert len(text) < 600  # would expand to 9**9 strings
    start = time.perf_counter()
    err = error_of(tmp_path, text)
    assert time.perf_counter() - start < 2.0
    assert message in err.message and err.line is not None
    if hint is not None:
        assert err.hint is not None and hint in err.hint


def test_python_tags_run_nothing(tmp_path: Path) -> None:
    target = tmp_path / "created-by-yaml"
    error_of(tmp_path, f"workers: !!python/object/apply:os.mkdir ['{target}']\n")
    assert not target.exists()


@pytest.mark.parametrize("loader", [load, load_fast])
def test_huge_file_refused_before_parsing(tmp_path: Path, loader) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, BASE + "# " + "x" * (10 << 20) + "\n")
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        loader(path, {})
    assert time.perf_counter() - start < 1.0
    assert info.value.message == "the file is larger than 1 MiB"
    assert info.value.path == path


def test_file_just_under_the_limit_loads(tmp_path: Path) -> None:
    text = BASE + "#" * ((1 << 20) - len(BASE) - 1) + "\n"
    assert len(text) == 1 << 20
    assert load_text(tmp_path, text).workers["w"].command == ("./w",)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=300),
        st.text(alphabet=" \n\t:-[]{}&*!|>'\"#%@`,?<=~abwc${}019.sm\\", max_size=300),
        st.binary(max_size=200),
        st.builds(
            lambda key, value: f"workers:\n  w:\n    command: [./w]\n    {key}: {value}\n",
            st.sampled_from(WORKER_KEYS + ("comand", "<<", "default")),
            st.text(alphabet=" :-[]{}&*!'\"#,$abc019.smKMGB", max_size=20),
        ),
    )
)
def test_arbitrary_input_raises_only_config_error(text: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = write(Path(directory), text)
        try:
            load(path, {})
        except ConfigError as err:
            assert err.path == path and err.message


# --- the build-time cache ------------------------------------------------------------

RICH = (
    "workers:\n"
    "  hello: &base\n"
    "    command: '${DISPATCHER_PYTHON} -c \"print(1)\" ${GREETING:-hi}'\n"
    "    env: {GREETING: '${GREETING:-hello}', PORT: 8080, LITERAL: '$$HOME'}\n"
    "    max_rss: 512MB\n"
    "    timeout_margin: 0\n"
    "  lines:\n"
    "    <<: *base\n"
    "    command: [./lines, '${MODE:-fast}']\n"
    "    protocol: jsonl\n"
    "    ready: spawn\n"
    "  script:\n"
    "    command: [./script.sh]\n"
    "    protocol: exec\n"
    "    startup_timeout: 1.5s\n"
    "default: hello\n"
)


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in directory.iterdir()}


def test_cache_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, RICH)
    cache = write_cache(path)
    assert cache == path + ".cache"
    assert os.stat(cache).st_mode & 0o777 == 0o644
    for environ in ({}, {"GREETING": "bonjour", "MODE": "slow", "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}):
        assert load_fast(path, environ) == load(path, environ)
    assert load_fast(path, {"GREETING": "bonjour"}).workers["hello"].command[-1] == "bonjour"


def test_cache_does_not_depend_on_the_build_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "workers:\n  w:\n    command: [./w, '${SECRET}']\n")
    write_cache(path)  # SECRET is unset at build time: fine
    assert load_fast(path, {"SECRET": "s3"}).workers["w"].command == ("./w", "s3")
    with pytest.raises(ConfigError) as info:
        load_fast(path, {})
    assert (info.value.line, info.value.key) == (3, "workers.w.command[1]")


def test_write_cache_refuses_an_invalid_file_and_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "workers:\n  w:\n    comand: [./w]\n")
    with pytest.raises(ConfigError, match="did you mean 'command'"):
        write_cache(path)
    assert sorted(os.listdir(tmp_path)) == ["dispatcher.yaml"]


def test_stale_cache_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "workers:\n  w:\n    command: [./aaa]\n")
    write_cache(path)
    write(tmp_path, "workers:\n  w:\n    command: [./bbb]\n")  # same length, new content
    assert load_fast(path, {}).workers["w"].command == ("./bbb",)
    write(tmp_path, "workers:\n  w:\n    comand: [./bbb]\n")
    with pytest.raises(ConfigError, match="did you mean 'command'"):
        load_fast(path, {})


def _stamped(source: bytes, body: Any, *, magic: str = _cache._MAGIC, fmt: int = _cache.FORMAT, version: str = __version__) -> bytes:
    return marshal.dumps((magic, fmt, version, source, body))


CORRUPT: dict[str, Callable[[bytes, bytes], bytes]] = {
    "empty": lambda good, source: b"",
    "garbage": lambda good, source: b"\x00garbage\xff" * 10,
    "truncated": lambda good, source: good[: len(good) // 2],
    "not a tuple": lambda good, source: marshal.dumps({"workers": ()}),
    "wrong magic": lambda good, source: _stamped(source, marshal.loads(good)[4], magic="other"),
    "other format": lambda good, source: _stamped(source, marshal.loads(good)[4], fmt=_cache.FORMAT + 1),
    "other release": lambda good, source: _stamped(source, marshal.loads(good)[4], version="0.0.0"),
    "damaged body": lambda good, source: _stamped(source, {"workers": 5, "default": None}),
    "body missing keys": lambda good, source: _stamped(source, {"workers": ({"name": "w"},), "default": None}),
    "body not a dict": lambda good, source: _stamped(source, ("w",)),
    "no workers": lambda good, source: _stamped(source, {"workers": (), "default": None}),
    "too large": lambda good, source: good + b"\x00" * (5 << 20),
}


@pytest.mark.parametrize("damage", CORRUPT, ids=list(CORRUPT))
def test_corrupt_cache_is_ignored(tmp_path: Path, damage: str) -> None:
    path = write(tmp_path, RICH)
    good = Path(write_cache(path)).read_bytes()
    Path(path + ".cache").write_bytes(CORRUPT[damage](good, Path(path).read_bytes()))
    assert load_fast(path, {}) == load(path, {})


def test_cache_that_is_a_directory_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, RICH)
    os.mkdir(path + ".cache")
    assert load_fast(path, {}) == load(path, {})


@pytest.mark.parametrize("state", ["missing", "fresh", "stale", "corrupt"])
def test_load_fast_never_writes(tmp_path: Path, state: str) -> None:
    path = write(tmp_path, RICH)
    if state != "missing":
        write_cache(path)
    if state == "stale":
        write(tmp_path, RICH.replace("./script.sh", "./other.sh"))
    if state == "corrupt":
        Path(path + ".cache").write_bytes(b"junk")
    before = _snapshot(tmp_path)
    time.sleep(0.01)
    load_fast(path, {})
    assert _snapshot(tmp_path) == before


FAST_PATH_PROBE = """
import sys, os
import dispatcher.config as c
after_import = sorted(m for m in ("yaml", "shlex", "difflib", "json", "hashlib", "tempfile") if m in sys.modules)
config = c.load_fast(sys.argv[1], {"GREETING": "x"})
after_load = sorted(m for m in ("yaml", "shlex", "difflib", "json", "hashlib", "tempfile") if m in sys.modules)
print(after_import, after_load, config.workers["hello"].command[-1])
"""


def test_fast_path_imports_no_parser(tmp_path: Path) -> None:
    path = write(tmp_path, RICH)

    def probe() -> str:
        out = subprocess.run([sys.executable, "-c", FAST_PATH_PROBE, path], capture_output=True, text=True, timeout=60, check=True)
        return out.stdout.strip()

    assert probe() == "[] ['shlex', 'yaml'] x"  # no cache: the YAML is parsed (the probe can see it)
    write_cache(path)
    assert probe() == "[] [] x"


# --- describe and the example --------------------------------------------------------


def test_describe(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    text = (
        "workers:\n"
        "  w:\n"
        "    command: [./w, 'a b']\n"
        "    cwd: sub\n"
        "    env: {GREETING: '${G:-hi}'}\n"
        "    max_rss: 512MB\n"
        "  x:\n"
        "    command: [./x]\n"
        "    protocol: exec\n"
        "    startup_timeout: 1.5s\n"
        "default: w\n"
    )
    config = load_text(tmp_path, text)
    assert describe(config) == (
        f"# {tmp_path / 'dispatcher.yaml'}\n"
        "workers:\n"
        "  w:\n"
        '    command: ["./w", "a b"]\n'
        f'    cwd: "{tmp_path / "sub"}"\n'
        '    env: {GREETING: "hi"}\n'
        "    startup_timeout: 9s\n"
        "    timeout_margin: 100ms\n"
        "    shutdown_grace: 300ms\n"
        "    max_invocations: 0  # never recycle\n"
        "    max_rss: 512MB\n"
        "    max_frame: 16MB\n"
        "    protocol: msgpack\n"
        "    ready: frame\n"
        "    error_type: null\n"
        "    concurrency: 1  # invocations at once (auto: AWS_LAMBDA_MAX_CONCURRENCY, else 1)\n"
        "  x:\n"
        '    command: ["./x"]\n'
        f'    cwd: "{tmp_path}"\n'
        "    env: {}\n"
        "    startup_timeout: 1.5s\n"
        "    timeout_margin: 100ms\n"
        "    shutdown_grace: 300ms\n"
        "    max_invocations: 0  # never recycle\n"
        "    max_rss: 0  # no limit\n"
        "    max_frame: 16MB\n"
        "    protocol: exec\n"
        "    ready: null\n"
        '    error_type: "Function.ExitError"\n'
        "    concurrency: 1  # invocations at once (auto: AWS_LAMBDA_MAX_CONCURRENCY, else 1)\n"
        "default: w\n"
    )


def test_describe_is_valid_yaml_with_every_key(tmp_path: Path) -> None:
    import yaml

    described = yaml.safe_load(describe(load_text(tmp_path, ONE)))
    assert set(described["workers"]["a"]) == set(WORKER_KEYS)
    assert described["default"] is None


def test_example_documents_every_key_with_its_default(tmp_path: Path) -> None:
    example = ROOT / "config.example.yaml"
    config = load(str(example), {})
    text = example.read_text()
    lines = text.splitlines()
    for key in WORKER_KEYS + ("workers", "default"):
        shown_at = [line for line in lines if line.lstrip().startswith(f"{key}:")]
        assert shown_at, f"config.example.yaml does not show {key}"
        assert " # " in shown_at[0], f"config.example.yaml: no comment on {shown_at[0]!r}"
    shown = config.workers["hello"]
    default = load_text(tmp_path, "workers:\n  hello:\n    command: [./hello]\n").workers["hello"]
    assert shown == WorkerConfig(**{**default.__dict__, "cwd": str(ROOT), "env": shown.env})
    assert config.workers["lines"].command == (sys.executable, "worker.py")
    assert (config.workers["lines"].ready, config.workers["script"].error_type) == ("frame", "Function.ExitError")
