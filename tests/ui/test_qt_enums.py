"""Qt's enum classes built by fieldapp.qt_enums are the standard library's, member for member.

Run as a script (`python tests/ui/test_qt_enums.py standard|fast`), this file builds every enum
class of the Qt modules the app ships, in a new process, and prints a description of each as
JSON; the tests compare the two descriptions.
"""

from __future__ import annotations

import enum
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fieldapp import qt_enums

ROOT = Path(__file__).resolve().parents[2]
QT_MODULES = ("QtCore", "QtGui", "QtWidgets", "QtPrintSupport", "QtNetwork")


def _plain(value: Any) -> Any:
    """A value of an enum class's namespace, as comparable text."""
    if value is None or (isinstance(value, bool | int | str) and not isinstance(value, enum.Enum)):
        return repr(value)
    if isinstance(value, enum.Enum):
        return f"member {type(value).__qualname__}.{value._name_}"
    if isinstance(value, type):
        return f"type {value.__module__}.{value.__qualname__}"
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {repr(key): _plain(item) for key, item in value.items()}
    name = getattr(value, "__qualname__", None) or getattr(
        getattr(value, "func", None), "__qualname__", None
    )
    return f"{type(value).__name__} {name}"


def _outcome(call: Any) -> str:
    try:
        return repr(call())
    except Exception as exc:  # the same refusal is part of the same behaviour
        return f"{type(exc).__name__}: {exc}"


def describe(cls: Any) -> dict[str, Any]:
    """Everything the app or PySide6 can see of an enum class and its members."""
    members = {}
    for name, member in cls.__members__.items():
        seen = {
            "repr": repr(member),
            "str": str(member),
            "format": format(member),
            "value": repr(member.value),
            "name": member.name,
            "sort": member._sort_order_,
            "own class": member.__objclass__ is cls and type(member) is cls,
            "attributes": sorted(vars(member)),
            "hash": hash(member),
            "pickled": _outcome(lambda m=member: pickle.loads(pickle.dumps(m)) is m),
            "by value": cls(member.value) is member,
            "by name": cls[name] is member and getattr(cls, name) is member,
            "in": member in cls,
        }
        if isinstance(member, enum.Flag):
            seen["invert"] = _outcome(lambda m=member: ~m)
            seen["or"] = _outcome(lambda m=member: m | cls(0))
            seen["and"] = _outcome(lambda m=member: m & m)
            seen["bits"] = _outcome(lambda m=member: list(m))
        if isinstance(member, int):
            seen["int"] = int(member) + 1
        members[name] = seen
    return {
        "module": cls.__module__,
        "qualname": cls.__qualname__,
        "metaclass": type(cls).__name__,
        "mro": [f"{base.__module__}.{base.__qualname__}" for base in cls.__mro__],
        "namespace": {k: _plain(v) for k, v in vars(cls).items()},
        "member order in namespace": [k for k in vars(cls) if k in cls._member_map_],
        "iterated": [repr(member) for member in cls],
        "length": len(cls),
        "members": members,
        "unknown value": _outcome(lambda: cls(123457)),
        "unknown value kept": _outcome(lambda: cls(123457) is cls(123457)),
    }


def _enum_classes(namespace: Any, seen: set[int]) -> Any:
    for name in sorted(vars(namespace)):
        value = vars(namespace)[name]
        if isinstance(value, type) and id(value) not in seen:
            seen.add(id(value))
            if isinstance(value, enum.EnumType):
                yield value
            else:
                yield from _enum_classes(value, seen)


def _describe_qt(way: str) -> None:
    """Print (as JSON) every enum class of QT_MODULES, built the standard or the fast way,
    and how many calls the fast way handed to the standard one."""
    handed_on = [0]
    if way == "fast":
        assert qt_enums.install()
        standard = qt_enums._standard_create

        def counted(*args: Any, **kwargs: Any) -> Any:
            handed_on[0] += 1
            return standard(*args, **kwargs)

        qt_enums._standard_create = counted
    import importlib

    modules = [importlib.import_module(f"PySide6.{name}") for name in QT_MODULES]
    # (Describing makes more: PySide6 answers an unknown value with a one-member class made
    # from a dict, which the fast way hands on.)
    handed_on_by_import = handed_on[0]
    seen: set[int] = set()
    classes = {}
    for module in modules:
        for cls in _enum_classes(module, seen):
            classes[f"{cls.__module__}.{cls.__qualname__}"] = describe(cls)
    json.dump({"classes": classes, "handed on": handed_on_by_import}, sys.stdout, sort_keys=True)


def _qt_described(way: str) -> dict[str, Any]:
    # Every Qt class (and so every enum class) is made as its module is imported.
    env = {
        **os.environ,
        "PYSIDE6_OPTION_LAZY": "0",
        "PYTHONHASHSEED": "0",  # members hash by name: the same in both processes
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, __file__, way],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


needs_checked_python = pytest.mark.skipif(
    sys.version_info[:2] not in qt_enums.STDLIB_CHECKED,
    reason="the fast way is used only on the Python versions it was checked against",
)


@needs_checked_python
def test_every_qt_enum_class_is_built_as_the_standard_library_builds_it() -> None:
    standard = _qt_described("standard")
    fast = _qt_described("fast")
    assert len(standard["classes"]) > 600  # QtCore, QtGui and QtWidgets alone hold 600 or so
    assert fast["handed on"] == 0, "every Qt enum class should take the fast way"
    assert fast["classes"].keys() == standard["classes"].keys()
    for name, described in standard["classes"].items():
        assert fast["classes"][name] == described, name


@needs_checked_python
def test_the_app_builds_every_qt_enum_class_the_fast_way_from_the_first() -> None:
    """Importing the ui package (the app's start) puts the fast way in place before PySide6
    makes its first enum class: every class PySide6 asks for is built by it."""
    code = (
        "import enum, sys\n"
        "from fieldapp import qt_enums\n"
        "asked, built = [], []\n"
        "call, build = enum.EnumType.__call__, qt_enums.build\n"
        "def ask(cls, *args, **kwargs):\n"
        "    answer = call(cls, *args, **kwargs)\n"
        "    if isinstance(answer, type):\n"
        "        asked.append(answer)\n"
        "    return answer\n"
        "def counted(*args, **kwargs):\n"
        "    built.append(build(*args, **kwargs))\n"
        "    return built[-1]\n"
        "enum.EnumType.__call__ = ask\n"
        "qt_enums.build = counted\n"
        "assert 'PySide6' not in sys.modules\n"
        "import ui.app\n"
        "print(len(asked), len(built), asked == built)\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    asked, _built, same = done.stdout.split()
    assert int(asked) > 20 and same == "True", done.stdout


@pytest.fixture
def fast_way() -> Any:
    """The fast way in place for one test, and the process left as it was."""
    was = qt_enums.installed()
    if not qt_enums.install():
        pytest.skip("the fast way is used only on the Python versions it was checked against")
    yield qt_enums
    if not was:
        qt_enums.uninstall()


def _both_ways(fast_way: Any, make: Any) -> tuple[Any, Any]:
    made_fast = make()
    fast_way.uninstall()
    try:
        made_standard = make()
    finally:
        fast_way.install()
    return made_fast, made_standard


FLAG_MEMBERS = [("None_", 0), ("A", 1), ("B", 2), ("AB", 3), ("D", 8), ("All", -1), ("C", 4)]


@needs_checked_python
@pytest.mark.parametrize("base", [enum.Enum, enum.IntEnum, enum.Flag, enum.IntFlag])
def test_the_shape_pyside_uses_gives_the_same_class(fast_way: Any, base: Any) -> None:
    """Aliases, a zero, a negative, multi-bit values and values out of order included."""
    members = [*FLAG_MEMBERS, ("Again", 2)]
    fast, standard = _both_ways(fast_way, lambda: base("Sample", list(members), boundary=enum.KEEP))
    assert describe(fast) == describe(standard)
    assert fast.__module__ == __name__  # the caller's module, as the standard way names it


@needs_checked_python
@pytest.mark.parametrize(
    "make",
    [
        lambda: enum.Enum("Sample", "RED GREEN BLUE"),
        lambda: enum.IntEnum("Sample", [("A", 1), ("B", 2)]),  # no boundary
        lambda: enum.IntFlag("Sample", {"A": 1, "B": 2}, boundary=enum.KEEP),  # a mapping
        lambda: enum.IntEnum("Sample", [("A", 1)], boundary=enum.KEEP, module="elsewhere"),
        lambda: enum.IntEnum("Sample", [("A", 1)], boundary=enum.KEEP, start=0),
        lambda: enum.Enum("Sample", [("A", "text")], boundary=enum.KEEP),  # not an int
        lambda: enum.IntEnum("Sample", [("name", 1), ("B", 2)], boundary=enum.KEEP),
        lambda: enum.IntEnum("Sample", [("_hidden_", 1), ("B", 2)], boundary=enum.KEEP),
        lambda: enum.IntEnum("Sample", [("A", 1), ("A", 2)], boundary=enum.KEEP),
        lambda: enum.IntEnum("Sample", [("mro", 1)], boundary=enum.KEEP),
        lambda: enum.StrEnum("Sample", [("A", "a")], boundary=enum.KEEP),  # another base
    ],
)
def test_every_other_call_gets_the_standard_answer(fast_way: Any, make: Any) -> None:
    fast, standard = _both_ways(fast_way, lambda: _outcome_or_class(make))
    if isinstance(standard, str):
        assert fast == standard  # the same refusal
    else:
        assert describe(fast) == describe(standard)
        assert fast.__module__ == standard.__module__


def _outcome_or_class(make: Any) -> Any:
    try:
        return make()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


@needs_checked_python
def test_a_class_made_the_fast_way_pickles_by_reference(fast_way: Any) -> None:
    made = enum.IntFlag("Pickled", [("A", 1), ("B", 2)], boundary=enum.KEEP)
    assert made.__module__ == __name__
    globals()["Pickled"] = made  # where unpickling looks for it
    try:
        both = made.A | made.B
        assert pickle.loads(pickle.dumps(both)) is both
        assert pickle.loads(pickle.dumps(made.B)) is made.B
    finally:
        del globals()["Pickled"]


if __name__ == "__main__":
    _describe_qt(sys.argv[1])
