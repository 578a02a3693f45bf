"""Qt's enum classes, built as the standard library builds them, in a third of its time.

PySide6 makes each Qt enum a standard `enum` class (Enum, IntEnum, Flag or IntFlag), built
through the functional API (`IntEnum(name, [(member, value), ...], boundary=KEEP)`) when the
Qt class holding it is first used. Python 3.11 builds such a class member by member through
`_EnumDict`, proto-members and `__set_name__`, with checks meant for class bodies written by
hand. The app's start builds 86 of them: 27-33 ms of it (a bare PySide6 window builds 37, in
about 25 ms of its own start).

`install()` puts `build` in front of `EnumType._create_`, only on the Python minor versions
whose enum module it was checked against (STDLIB_CHECKED). `build` takes only the calls
PySide6 makes: one of the four standard bases, a list of (name, int) pairs, boundary KEEP,
no module, qualname, mixin type or start, and member names a class body would take as
members (not "_..." or "mro", none twice, none an attribute of a base class). Any other call
goes to the standard `_create_` (with the caller's module, which it would otherwise take
from the wrong frame). For those it takes:

- the class body is what the standard EnumType.__new__ writes for a class of that base
  without members (made once per base by the standard code: mixins, `__new__`, repr, str,
  format, Flag operators), with its own member lists and maps and the caller's module;
- the members are added as `_proto_member.__set_name__` adds them: the same attributes,
  order, aliases, value map, Flag masks and iteration order.

The 86 classes of a start then take 9 ms (the standard way, 27 ms; measured in one process
each, the same machine); with the bare bundle as the floor, the bundle's start went from
1.43-1.55 to 1.28-1.30 of it. tests/ui/test_qt_enums.py builds all 714 enum classes of the Qt
modules the app ships both ways, in two processes, and compares namespaces, members, maps,
masks, operators, unknown values and pickling; and checks that other calls get the standard
answers (or refusals).
"""

from __future__ import annotations

import enum
import sys
from typing import Any

# The enum module versions `build` mirrors: (major, minor) of Python.
STDLIB_CHECKED = ((3, 11),)

_BASES = (enum.Enum, enum.IntEnum, enum.Flag, enum.IntFlag)
_KEEP = getattr(enum, "KEEP", None)
_ENUM_TYPE: Any = enum.EnumType  # (its _create_ is not in the type stubs)
_standard_create: Any = None
_new_type = type.__new__
_set_attribute = type.__setattr__


# The standard library's own test, so that a member is a single bit exactly when it says so.
_single_bit: Any = enum._is_single_bit  # type: ignore[attr-defined]


def _takes(cls: Any, names: Any, module: Any, qualname: Any, type: Any, start: Any) -> bool:
    if cls not in _BASES or module is not None or qualname is not None or type is not None:
        return False
    if start != 1 or not isinstance(names, list):
        return False
    for item in names:
        if not (
            item.__class__ is tuple
            and len(item) == 2
            and item[0].__class__ is str
            and item[1].__class__ is int
        ):
            return False
    return True


def build(
    cls: Any,
    class_name: str,
    names: Any = None,
    *,
    module: Any = None,
    qualname: Any = None,
    type: Any = None,
    start: int = 1,
    boundary: Any = None,
) -> Any:
    """`EnumType._create_(cls, class_name, names, ...)`, as the standard one answers it."""
    # The standard `_create_` names the module of its caller two frames up (EnumType.__call__
    # is one); this function is called at the same depth, so it looks there for both paths.
    caller = module
    if caller is None:
        try:
            caller = sys._getframe(2).f_globals["__name__"]
        except (AttributeError, ValueError, KeyError):
            caller = None
    if (
        boundary is not _KEEP
        or caller is None
        or not _takes(cls, names, module, qualname, type, start)
        or not _plain_names(cls, names)
    ):
        return _standard_create(
            cls,
            class_name,
            names,
            module=caller,
            qualname=qualname,
            type=type,
            start=start,
            boundary=boundary,
        )
    body = _model(cls)[0]
    namespace = dict(body)
    namespace["__module__"] = caller
    for key in _CONTAINERS:
        namespace[key] = namespace[key].__class__()
    new = namespace.pop("__new__")
    enum_class = _new_type(cls.__class__, class_name, (cls,), namespace)
    # Set after the class is made, as EnumType.__new__ does (in the body, type() would make
    # it a staticmethod).
    _set_attribute(enum_class, "__new__", new)
    _add_members(enum_class, names)
    return enum_class


# The attributes of a new enum class that are its own containers (the others are shared).
_CONTAINERS = ("_member_names_", "_member_map_", "_value2member_map_", "_unhashable_values_")
_MODELS: dict[Any, tuple[dict[str, Any], frozenset[str]]] = {}


def _model(cls: Any) -> tuple[dict[str, Any], frozenset[str]]:
    """What the standard EnumType.__new__ writes in the body of a class of `cls` without
    members (the same for every such class, but for its own containers and module), and
    every attribute name `cls` and its bases define. Made once per base class."""
    found = _MODELS.get(cls)
    if found is None:
        metacls = cls.__class__
        classdict = metacls.__prepare__("Model", (cls,))
        classdict["__module__"] = __name__
        model = metacls.__new__(metacls, "Model", (cls,), classdict, boundary=_KEEP)
        body = dict(vars(model))
        in_bases = frozenset().union(*(vars(base) for base in cls.__mro__))
        found = _MODELS[cls] = (body, in_bases)
    return found


def _plain_names(cls: Any, names: list[tuple[str, int]]) -> bool:
    """Whether every name is a member's as the standard class body takes it: unique, not
    starting with "_" (sunder, dunder and private names are not members there), not "mro" and
    not an attribute of a base class (the standard path then puts a redirecting descriptor in
    place)."""
    taken = {name for name, _value in names}
    if len(taken) != len(names) or "mro" in taken or any(n[:1] in ("", "_") for n in taken):
        return False
    return taken.isdisjoint(_model(cls)[1])


def _add_members(enum_class: Any, names: list[tuple[str, int]]) -> None:
    """The members, as `_proto_member.__set_name__` adds them one by one."""
    new_member = enum_class._new_member_
    use_args = enum_class._use_args_
    member_type = enum_class._member_type_
    member_names = enum_class._member_names_
    member_map = enum_class._member_map_
    value_map = enum_class._value2member_map_
    is_flag = issubclass(enum_class, enum.Flag)
    flag_mask = singles_mask = 0
    for name, given in names:
        member = new_member(enum_class, given) if use_args else new_member(enum_class)
        if not hasattr(member, "_value_"):
            member._value_ = given if member_type is object else member_type(given)
        value = member._value_
        member._name_ = name
        member.__objclass__ = enum_class
        member.__init__(given)
        member._sort_order_ = len(member_names)
        if is_flag:
            flag_mask |= value
            if _single_bit(value):
                singles_mask |= value
        canonical = value_map.get(value)
        if canonical is None:
            if not is_flag or _single_bit(value):
                member_names.append(name)
        else:
            member = canonical
        _set_attribute(enum_class, name, member)
        member_map[name] = member
        value_map.setdefault(value, member)
    if is_flag:
        enum_class._flag_mask_ = flag_mask
        enum_class._singles_mask_ = singles_mask
        enum_class._all_bits_ = 2 ** (flag_mask.bit_length()) - 1
        values = [m._value_ for m in enum_class]
        if values != sorted(values):
            enum_class._iter_member_ = enum_class._iter_member_by_def_


def installed() -> bool:
    """Whether `build` is in front of `EnumType._create_`."""
    return _standard_create is not None


def install() -> bool:
    """Build Qt's enum classes with `build` from now on in this process (once; not on a
    Python whose enum module it was not checked against). Whether it is in place."""
    global _standard_create
    if sys.version_info[:2] not in STDLIB_CHECKED:
        return False
    if _standard_create is None:
        _standard_create = _ENUM_TYPE._create_
        _ENUM_TYPE._create_ = build
    return True


def uninstall() -> None:
    """The standard `_create_` again."""
    global _standard_create
    if _standard_create is not None:
        _ENUM_TYPE._create_ = _standard_create
        _standard_create = None
