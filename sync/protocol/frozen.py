"""`@frozen`: a frozen dataclass that shares its `__eq__`, `__hash__` and `__repr__`.

Python 3.11 writes out and compiles every method a dataclass generates, one at a time (about
0.1 ms each), when the class is created: a frozen dataclass costs six of them, and the forty
or so the desktop app's first screen needs took about 25 ms of each start. A class decorated
with `@frozen` is an ordinary frozen dataclass (`dataclasses.fields`, `replace`, `asdict` and
`field(...)` work as usual) whose generated methods are only `__init__` and the
`__setattr__`/`__delattr__` that keep it frozen. Equality, hashing and repr are the functions
below, shared by every such class; they behave as the generated ones do:

- two records are equal when they are of the same class and their fields compare equal, in
  field order (fields with `compare=False` left out); any other object is NotImplemented;
- the hash is that of the fields that take part in it (`hash=True`, or `hash=None` and
  `compare=True`), so equal records hash alike;
- the repr is `ClassName(field=value, ...)` over the fields with `repr=True`.

A method the class defines itself is kept, as the dataclass decorator keeps it.

The methods still generated are compiled once and kept: the dataclass decorator writes each one
out as text and compiles it, which took 13-20 ms of each start of the desktop app for the 127
methods on the way to Today's first rows. While `@frozen` (or `@kept_dataclass`, for the
dataclasses that are not frozen records) runs the decorator, its compiling goes through
`METHODS` (a `CompiledMethods`, kept as `sync.protocol.codecache` keeps code): the code of a
text compiled before, in this process or in an earlier one, is used again. The texts and their
code are kept in one file beside this module's bytecode (or in the bundle's folder), as Python
keeps a module's bytecode beside its source; `fieldapp.cli.finish` writes it when a run
compiled something new. Loading the file takes under a millisecond. Only the text the decorator
itself writes is looked up.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

from sync.protocol.codecache import KeptCode, default_path, register

T = TypeVar("T")

# Per class: the getters of the compared and the hashed fields, and the names shown by repr.
# Made the first time a class's records are compared, hashed or shown, not when it is defined.
_Keys = tuple[Callable[[Any], tuple[Any, ...]], Callable[[Any], tuple[Any, ...]], tuple[str, ...]]
_KEYS: dict[type, _Keys] = {}


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function giving these attributes of an object as a tuple (even for one or none)."""
    if not names:
        return lambda _record: ()
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda record: (one(record),)
    many: Callable[[Any], tuple[Any, ...]] = attrgetter(*names)
    return many


def _keys(cls: type) -> _Keys:
    keys = _KEYS.get(cls)
    if keys is None:
        fields = dataclasses.fields(cls)
        compared = tuple(f.name for f in fields if f.compare)
        hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
        shown = tuple(f.name for f in fields if f.repr)
        keys = _KEYS[cls] = (_getter(compared), _getter(hashed), shown)
    return keys


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is self.__class__:
        compared = _keys(self.__class__)[0]
        return bool(compared(self) == compared(other))
    result: bool = NotImplemented  # what __eq__ answers for another class
    return result


def _hash(self: Any) -> int:
    return hash(_keys(self.__class__)[1](self))


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _keys(self.__class__)[2])
    return f"{self.__class__.__qualname__}({shown})"


def _defines_hash(cls: type) -> bool:
    """Whether the class body defines __hash__ (Python sets it to None by itself in a class
    that defines __eq__ without it: that is not the class's own)."""
    value = cls.__dict__.get("__hash__", dataclasses.MISSING)
    return value is not dataclasses.MISSING and not (value is None and "__eq__" in cls.__dict__)


class CompiledMethods(KeptCode):
    """The code of the methods dataclasses generate, by their text (sync.protocol.codecache).

    `exec` stands in for the built-in one while the dataclass decorator runs: it compiles a
    text only the first time it is seen."""

    def exec(self, source: object, globals: Any = None, locals: Any = None, /) -> None:
        """What `exec(source, globals, locals)` does, compiling `source` only once."""
        if not isinstance(source, str):
            exec(source, globals, locals)  # type: ignore[arg-type]
            return
        exec(self.code(source, source, "<string>"), globals, locals)


METHODS = CompiledMethods(default_path("dataclass-methods"))
register(METHODS)


def _dataclass(cls: type[T], **options: bool) -> type[T]:
    """`dataclasses.dataclass(**options)(cls)`, its methods compiled through METHODS.

    The decorator calls `exec` by its name in the dataclasses module; while it runs, that name
    is METHODS.exec. Only the text the decorator writes goes through it."""
    namespace = vars(dataclasses)
    namespace["exec"] = METHODS.exec
    try:
        return dataclasses.dataclass(**options)(cls)
    finally:
        namespace.pop("exec", None)


@overload
def kept_dataclass(cls: type[T], /) -> type[T]: ...
@overload
def kept_dataclass(
    *, frozen: bool = False, order: bool = False, slots: bool = False
) -> Callable[[type[T]], type[T]]: ...
@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def kept_dataclass(
    cls: type[T] | None = None,
    /,
    *,
    frozen: bool = False,
    order: bool = False,
    slots: bool = False,
) -> type[T] | Callable[[type[T]], type[T]]:
    """`@dataclasses.dataclass` (bare or with these options) whose generated methods are kept
    compiled between runs, for the dataclasses that are not `@frozen` records."""

    def decorate(cls: type[T]) -> type[T]:
        return _dataclass(cls, frozen=frozen, order=order, slots=slots)

    return decorate if cls is None else decorate(cls)


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def frozen(cls: type[T], /) -> type[T]:
    """Make `cls` a frozen dataclass with the shared equality, hash and repr."""
    own_hash = _defines_hash(cls)
    made = _dataclass(cls, frozen=True, eq=False, repr=False)
    if "__eq__" not in made.__dict__:
        made.__eq__ = _eq  # type: ignore[method-assign]
    if not own_hash:
        made.__hash__ = _hash  # type: ignore[method-assign]
    if "__repr__" not in made.__dict__:
        made.__repr__ = _repr  # type: ignore[method-assign]
    return made
