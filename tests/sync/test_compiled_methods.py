"""The methods `@frozen` has the dataclass decorator generate are compiled once and kept in a
file: the next run uses them as they are, a bad file is ignored, and a failed write loses
nothing."""

from __future__ import annotations

import ast
import dataclasses
import marshal
import os
import subprocess
import sys
import textwrap
from dataclasses import field
from pathlib import Path

import pytest

from sync.protocol import codecache
from sync.protocol import frozen as frozen_module
from sync.protocol.frozen import CompiledMethods, frozen, kept_dataclass

ROOT = Path(__file__).resolve().parents[2]


def _record_class() -> type:
    """A new class each call, with the same text: defaults, a factory, a keyword-only field."""

    @frozen
    class Payment:
        receipt: str
        amount: int = 0
        lines: tuple[str, ...] = field(default_factory=tuple)
        note: str = field(default="", kw_only=True)

    return Payment


@pytest.fixture
def methods(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CompiledMethods:
    kept = CompiledMethods(tmp_path / "cache" / "methods.marshal")
    monkeypatch.setattr(frozen_module, "METHODS", kept)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    return kept


def _check(cls: type) -> None:
    """Records of the class behave as a frozen dataclass's do."""
    made = cls("BL-0001", 1_263_600, note="đóng cả năm")
    assert (made.receipt, made.amount, made.lines, made.note) == (
        "BL-0001",
        1_263_600,
        (),
        "đóng cả năm",
    )
    assert made == cls("BL-0001", 1_263_600, note="đóng cả năm")
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.amount = 0
    with pytest.raises(TypeError):
        cls("BL-0001", 1, (), "not keyword-only")


def test_a_second_run_compiles_nothing_and_gets_the_same_methods(
    methods: CompiledMethods, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _record_class()
    assert methods.compiled == 3  # __init__, __setattr__, __delattr__
    _check(first)
    assert methods.save() is True
    assert methods.path is not None and methods.path.exists()
    assert methods.save() is False  # nothing new since

    again = CompiledMethods(methods.path)
    monkeypatch.setattr(frozen_module, "METHODS", again)
    second = _record_class()
    assert again.compiled == 0
    _check(second)
    for name in ("__init__", "__setattr__", "__delattr__"):
        ours, theirs = getattr(first, name), getattr(second, name)
        assert ours.__code__ == theirs.__code__
        assert ours.__defaults__ == theirs.__defaults__
        assert ours.__kwdefaults__ == theirs.__kwdefaults__


def test_the_code_is_what_the_decorator_alone_would_make(methods: CompiledMethods) -> None:
    """Compiled without frozen.py's `from __future__ import annotations`, as the decorator's
    own exec compiles: the __init__ annotations are the fields' types (here the strings this
    module's own future import makes), not the names of the decorator's variables."""
    ours = _record_class()

    @dataclasses.dataclass(frozen=True)
    class Payment:
        receipt: str
        amount: int = 0
        lines: tuple[str, ...] = field(default_factory=tuple)
        note: str = field(default="", kw_only=True)

    assert methods.compiled == 3
    assert ours.__init__.__annotations__ == Payment.__init__.__annotations__
    assert not any("__dataclass" in str(a) for a in ours.__init__.__annotations__.values())
    assert ours.__init__.__code__.co_varnames == Payment.__init__.__code__.co_varnames


def test_the_decorator_gets_its_own_exec_back_even_when_it_fails(
    methods: CompiledMethods,
) -> None:
    with pytest.raises(TypeError, match="non-default argument"):

        @frozen
        class Broken:
            village: str = "Bản Phố"
            household: str  # type: ignore[misc]

    assert "exec" not in vars(dataclasses)
    _record_class()
    assert "exec" not in vars(dataclasses)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x00\x01garbage",
        marshal.dumps((b"another python", {})),
        marshal.dumps(("three", "items", "tuple")),
        marshal.dumps((codecache._MAGIC, ["not", "a", "dict"])),
        marshal.dumps((codecache._MAGIC, {"text": "not code", 3: compile("1", "x", "eval")})),
    ],
    ids=["empty", "garbage", "other-python", "wrong-shape", "not-a-dict", "wrong-entries"],
)
def test_a_bad_file_is_ignored_and_replaced(methods: CompiledMethods, content: bytes) -> None:
    assert methods.path is not None
    methods.path.parent.mkdir(parents=True)
    methods.path.write_bytes(content)
    _check(_record_class())
    assert methods.compiled == 3
    assert methods.save() is True
    reloaded = CompiledMethods(methods.path)
    assert len(reloaded._load()) == 3


def test_a_file_over_the_limit_is_not_read(
    methods: CompiledMethods, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record_class()
    methods.save()
    assert methods.path is not None
    monkeypatch.setattr(codecache, "MAX_FILE_BYTES", methods.path.stat().st_size - 1)
    assert CompiledMethods(methods.path)._load() == {}


def test_a_text_that_changed_is_compiled_and_the_file_stays_bounded(
    methods: CompiledMethods, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record_class()
    methods.save()

    @frozen
    class Visit:
        household: str
        outcome: str = "hẹn lại"

    assert methods.compiled == 3
    monkeypatch.setattr(codecache, "MAX_TEXTS", 4)
    assert methods.save() is True
    assert methods.path is not None
    kept = CompiledMethods(methods.path)._load()
    # Over the limit: only the texts this run used are kept (all six here).
    assert len(kept) == 6
    fresh = CompiledMethods(methods.path)
    monkeypatch.setattr(frozen_module, "METHODS", fresh)
    _record_class()
    assert fresh.compiled == 0
    monkeypatch.setattr(codecache, "MAX_TEXTS", 2)
    fresh.compiled = 1  # as if something were new: the save keeps only the three used
    assert fresh.save() is True
    assert len(CompiledMethods(methods.path)._load()) == 3


def test_a_folder_that_cannot_be_written_loses_nothing(
    methods: CompiledMethods, tmp_path: Path
) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder should be", encoding="utf-8")
    _check(_record_class())
    assert methods.save() is False
    assert blocker.read_text(encoding="utf-8") == "a file where the folder should be"
    assert methods.compiled == 3  # still to be written by a later save


def test_a_write_cut_short_leaves_the_old_file(
    methods: CompiledMethods, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record_class()
    methods.save()
    assert methods.path is not None
    before = methods.path.read_bytes()

    @frozen
    class Pledge:
        member: str

    def cut(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(codecache.os, "replace", cut)
    assert methods.save() is False
    assert methods.path.read_bytes() == before
    assert [p.name for p in methods.path.parent.iterdir()] == ["methods.marshal"]


def test_nothing_is_written_when_bytecode_is_not(
    methods: CompiledMethods, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    _record_class()
    assert methods.save() is False
    assert methods.path is not None and not methods.path.exists()


def test_the_command_line_keeps_what_it_compiled(tmp_path: Path) -> None:
    """`fieldapp.cli.finish` (every command's and the app's end) writes the file beside the
    bytecode, following PYTHONPYCACHEPREFIX; the next process compiles none of it."""
    script = textwrap.dedent(
        """
        import sys
        from sync.protocol import frozen as F

        @F.frozen
        class Household:
            village: str
            head: str = ""

        print(F.METHODS.path, F.METHODS.compiled)
        sys.stdout.flush()
        from fieldapp.cli import finish
        finish(0)
        """
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONPYCACHEPREFIX": str(tmp_path / "pycache"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    path = Path(runs[0][0])
    assert path.is_relative_to(tmp_path / "pycache")
    assert path.exists()
    assert int(runs[0][1]) > 0  # the first process compiled its records' methods ...
    assert int(runs[1][1]) == 0  # ... and the second found every one of them in the file


def _decorator_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                names.add(ast.unparse(target))
    return names


def test_every_dataclass_of_the_app_keeps_its_compiled_methods() -> None:
    """Records are `@frozen`, other dataclasses `@kept_dataclass`: none is left to compile
    its methods at every start."""
    plain = []
    for package in ("fieldapp", "ui", "sync"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "sync" / "protocol" / "frozen.py":
                continue
            used = _decorator_names(ast.parse(path.read_text(encoding="utf-8")))
            if used & {"dataclass", "dataclasses.dataclass"}:
                plain.append(path.relative_to(ROOT).as_posix())
    assert plain == []


def test_kept_dataclass_is_the_dataclass_decorator(methods: CompiledMethods) -> None:
    @kept_dataclass(frozen=True, order=True)
    class Stamp:
        wall_ms: int
        counter: int = 0

    @kept_dataclass
    class Tally:
        done: int = 0
        names: list[str] = field(default_factory=list)

    assert methods.compiled > 0
    assert sorted([Stamp(2), Stamp(1, 5), Stamp(1)]) == [Stamp(1), Stamp(1, 5), Stamp(2)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Stamp(1).counter = 2  # type: ignore[misc]
    tally = Tally()
    tally.done += 1
    tally.names.append("Bản Phố")
    assert tally == Tally(1, ["Bản Phố"]) and Tally().names == []
    assert "exec" not in vars(dataclasses)
