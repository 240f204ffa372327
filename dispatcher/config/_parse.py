"""YAML text to a small tree of plain values that remember their line.

The only module that imports yaml.  It composes nodes with PyYAML's SafeLoader
and never constructs objects, so no tag can run code; then it walks the nodes
into Map / Seq / Scalar.  Hostile input is refused on the way, before it costs
real time or memory:

- nesting deeper than MAX_DEPTH (the composer recurses; this keeps it far from
  RecursionError and makes recursive aliases such as `&a [*a]` an error);
- more than MAX_NODES nodes composed, or visited while walking: an alias is a
  pointer, so a few hundred bytes of nested aliases ("billion laughs") compose
  into a small graph that only explodes when walked, and the walk counts every
  visit;
- any tag but the standard scalar, sequence and mapping ones.

The file-size bound is applied by the caller, before the bytes reach here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
import yaml

from dispatcher.errors import ConfigError

__all__ = ["Scalar", "Seq", "Map", "Value", "parse", "MAX_DEPTH", "MAX_NODES"]

MAX_DEPTH = 50  # a dispatcher.yaml is 4 levels deep; 50 leaves room for any sane use of anchors
MAX_NODES = 10_000  # ~20 nodes per worker: enough for hundreds of workers

_STD = "tag:yaml.org,2002:"
# Scalar tags the SafeLoader resolver produces for plain text.  A timestamp or
# `=` is kept as the text written (no key here wants a date).
_SCALAR_KINDS = {
    _STD + "str": "str",
    _STD + "int": "int",
    _STD + "float": "float",
    _STD + "bool": "bool",
    _STD + "null": "null",
    _STD + "timestamp": "str",
    _STD + "value": "str",
}
_MERGE = _STD + "merge"


@dataclass(frozen=True)
class Scalar:
    line: int
    kind: str  # str | int | float | bool | null (as YAML 1.1 resolves plain text)
    text: str  # exactly as written (for a quoted scalar, its content)


@dataclass(frozen=True)
class Seq:
    line: int
    items: tuple[Value, ...]


@dataclass(frozen=True)
class Map:
    line: int
    items: tuple[tuple[Scalar, Value], ...]  # in file order, duplicates refused, merges applied


Value = Scalar | Seq | Map


class _Refused(Exception):
    def __init__(self, message: str, line: int, hint: str) -> None:
        super().__init__(message)
        self.line = line
        self.hint = hint


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses deep nesting and too many nodes."""

    def __init__(self, stream: bytes) -> None:
        super().__init__(stream)
        self._depth = 0
        self._composed = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._composed += 1
        self._depth += 1
        if self._depth > MAX_DEPTH or self._composed > MAX_NODES:
            line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", line, "flatten the structure")
            raise _Refused(f"more than {MAX_NODES} values", line, "a dispatcher.yaml needs a few dozen")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Walker:
    def __init__(self) -> None:
        self.visited = 0

    def value(self, node: yaml.Node, depth: int) -> Value:
        self.visited += 1
        line = node.start_mark.line + 1
        if self.visited > MAX_NODES:
            raise _Refused(
                f"expands to more than {MAX_NODES} values",
                line,
                "aliases (*name) are expanded where they are used; nest them less",
            )
        if depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels", line, "an alias may refer to itself")
        if isinstance(node, yaml.ScalarNode):
            kind = _SCALAR_KINDS.get(node.tag)
            if kind is None:
                raise _bad_tag(node.tag, line)
            return Scalar(line, kind, node.value)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _STD + "seq":
                raise _bad_tag(node.tag, line)
            return Seq(line, tuple(self.value(item, depth + 1) for item in node.value))
        if node.tag != _STD + "map" or not isinstance(node, yaml.MappingNode):
            raise _bad_tag(node.tag, line)
        return self.mapping(node, depth)

    def mapping(self, node: yaml.MappingNode, depth: int) -> Map:
        items: list[tuple[Scalar, Value]] = []
        seen: dict[str, int] = {}
        merged: list[Map] = []
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _MERGE:
                merged.extend(self.merge_sources(value_node, depth))
                continue
            key = self.value(key_node, depth + 1)
            if not isinstance(key, Scalar):
                raise _Refused("a mapping key must be a plain string", key_line, "write `name: value`")
            if key.text in seen:
                raise _Refused(
                    f"duplicate key {key.text!r} (first at line {seen[key.text]})", key_line, "remove one of them"
                )
            seen[key.text] = key_line
            items.append((key, self.value(value_node, depth + 1)))
        # YAML merge keys (`<<: *base`): keys written here win, then earlier sources.
        for source in merged:
            for key, value in source.items:
                if key.text not in seen:
                    seen[key.text] = key.line
                    items.append((key, value))
        return Map(node.start_mark.line + 1, tuple(items))

    def merge_sources(self, node: yaml.Node, depth: int) -> list[Map]:
        walked = self.value(node, depth + 1)
        sources = walked.items if isinstance(walked, Seq) else (walked,)
        if not all(isinstance(source, Map) for source in sources):
            raise _Refused("`<<` must be followed by a mapping or a list of mappings", walked.line, "e.g. `<<: *base`")
        return list(sources)  # type: ignore[arg-type]


def _bad_tag(tag: str, line: int) -> _Refused:
    shown = "!!" + tag[len(_STD) :] if tag.startswith(_STD) else tag
    return _Refused(f"tag {shown} is not allowed", line, "only plain YAML values (strings, numbers, lists, maps) are read")


def _yaml_error(exc: yaml.YAMLError, source: bytes, path: str) -> ConfigError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "unreadable"
        hint = "YAML does not allow tabs for indentation; use spaces" if "'\\t'" in problem else None
        if hint is None and exc.context:
            hint = exc.context + (f" at line {exc.context_mark.line + 1}" if exc.context_mark else "")
        return ConfigError(f"invalid YAML: {problem}", path=path, line=mark.line + 1 if mark else None, hint=hint)
    if isinstance(exc, yaml.reader.ReaderError):  # bad encoding (byte offset) or a control character (char offset)
        if exc.encoding != "unicode":
            message = f"not {exc.encoding} text: {exc.reason} (byte #x{exc.character:02x})"
            line = source[: exc.position].count(b"\n") + 1
        else:
            message = f"control character #x{exc.character:04x} is not allowed"
            line = source.decode("utf-8", "replace")[: exc.position].count("\n") + 1
        return ConfigError(message, path=path, line=line, hint="the file must be UTF-8 text without control characters")
    return ConfigError(f"invalid YAML: {exc}", path=path)


def parse(source: bytes, path: str) -> Value | None:
    """The document in `source` as a tree, None when the file holds no document."""
    try:
        node = yaml.compose(source, Loader=_BoundedLoader)
        return None if node is None else _Walker().value(node, 1)
    except _Refused as exc:
        raise ConfigError(str(exc), path=path, line=exc.line, hint=exc.hint) from None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source, path) from None
