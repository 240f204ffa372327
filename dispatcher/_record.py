"""A start-up-cheap stand-in for `@dataclass(frozen=True)`.

`import dataclasses` pulls in `inspect` (about 14 ms with its own imports)
and building each dataclass costs another fraction of a millisecond; the
run path of a Lambda bootstrap pays both on every cold start.  `record`
builds the same frozen value classes (fields from the annotations, defaults,
__init__ by position or keyword, __eq__, __hash__, __repr__) with none of
that.  Modules import it as

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from dataclasses import dataclass as record
    else:
        from dispatcher._record import record

so that type checkers still see a real frozen dataclass.
"""

from __future__ import annotations

__all__ = ["record", "field", "FrozenInstanceError"]

_MISSING = object()


class _Field:
    __slots__ = ("repr", "default")

    def __init__(self, repr: bool, default: object) -> None:
        self.repr = repr
        self.default = default


def field(*, repr: bool = True, default: object = _MISSING) -> object:
    """`dataclasses.field` subset: repr=False keeps a value (a body) out of repr()."""
    return _Field(repr, default)


class FrozenInstanceError(AttributeError):
    pass


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")


def _build(cls: type) -> type:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for name in klass.__dict__.get("__annotations__", {}):
            if name not in names:
                names.append(name)
    defaults: dict[str, object] = {}
    hidden: set[str] = set()
    for n in names:
        if n not in cls.__dict__:
            continue
        value = cls.__dict__[n]
        if isinstance(value, _Field):
            if not value.repr:
                hidden.add(n)
            if value.default is _MISSING:
                delattr(cls, n)
                continue
            value = value.default
        defaults[n] = value
    params = []
    for n in names:
        params.append(f"{n}=__d_{n}" if n in defaults else n)
    # Writing the instance dict directly skips the frozen __setattr__ (and is
    # ~3x cheaper than object.__setattr__ per field: records are built per event).
    body = ("    __d = self.__dict__\n" + "".join(f"    __d[{n!r}] = {n}\n" for n in names)) if names else "    pass\n"
    src = f"def __init__(self, {', '.join(params)}):\n{body}"
    scope: dict[str, object] = {f"__d_{n}": v for n, v in defaults.items()}
    scope["__set"] = object.__setattr__
    exec(src, scope)  # noqa: S102 - generated from annotation names only
    fields = tuple(names)

    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in fields)

    def __hash__(self: object) -> int:
        return hash(tuple(getattr(self, n) for n in fields))

    def __repr__(self: object) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in fields if n not in hidden)
        return f"{type(self).__name__}({inner})"

    cls.__init__ = scope["__init__"]  # type: ignore[misc]
    cls.__eq__ = __eq__  # type: ignore[method-assign,assignment]
    cls.__hash__ = __hash__  # type: ignore[method-assign,assignment]
    cls.__repr__ = __repr__  # type: ignore[method-assign,assignment]
    cls.__setattr__ = _frozen_setattr  # type: ignore[method-assign,assignment]
    cls.__match_args__ = fields  # type: ignore[attr-defined]
    cls.__record_fields__ = fields  # type: ignore[attr-defined]
    return cls


def record(cls: type | None = None, /, **_options: object):  # type: ignore[no-untyped-def]
    """`@record`, or `@record(frozen=True, slots=True)` (options are accepted and
    ignored: every record is frozen; slots would not pay for themselves here)."""
    if cls is None:
        return _build
    return _build(cls)
