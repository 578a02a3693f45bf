"""Work compiled once and kept between runs, looked up by the exact text it was compiled from.

Python keeps the bytecode of a module it imports from a file, but nothing of what is compiled at
run time. A `KeptFile` holds such work by key (the text; the file name and the text; a pattern
and its flags) in one file beside this module's bytecode (or in the bundle's folder), as Python
keeps a module's bytecode beside its source; `save_all()` (at the end of every command,
fieldapp.cli.finish) writes the files to which a run added something. A key holds the whole
text, and an entry is what compiling that same text gives, so a stale or foreign entry is simply
never asked for; a file from another Python version, one too big, or one that cannot be read is
ignored, and a write that fails leaves the old file.

- `KeptCode`: code objects; the dataclass methods of `sync.protocol.frozen` are kept so (13-20
  ms of the desktop app's start were spent compiling them).
- `KeptPatterns`: regular expressions' programs (`re` parses and compiles each pattern in
  Python).

The desktop app's start uses both, and more, through `fieldapp.startcache`.
"""

from __future__ import annotations

import _sre
import builtins
import marshal
import os
import re
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from types import CodeType
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# The file's limits: bigger files are not read; with more entries than this, a save keeps only
# those this run used (a file grows by the texts of classes that have since changed).
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_TEXTS = 4096

# The interpreter's bytecode version: nothing from another Python is used.
_MAGIC = marshal.dumps(sys.version_info[:3]) + sys.implementation.name.encode()
# The built-in compile and re's, whatever they name while an entry serves.
BUILTIN_COMPILE = builtins.compile
_compile_pattern = re._compiler.compile  # type: ignore[attr-defined]

_ALL: list[KeptFile[Any, Any]] = []


class KeptFile(Generic[K, V]):
    """Entries by key, loaded from `path` when first asked for and written back by `save`.

    `keep_unused`: whether a save keeps the entries this run did not use (the dataclass
    methods: a command uses only some of the app's classes), up to MAX_TEXTS; otherwise only
    those used are written (texts that change with a new version of what they come from)."""

    def __init__(self, path: Path | None, *, keep_unused: bool = True) -> None:
        self.path = path
        self.keep_unused = keep_unused
        self._entries: dict[K, V] | None = None
        self._used: set[K] = set()
        self.compiled = 0  # entries this run made (not found in the file)

    def _valid(self, key: object, value: object) -> bool:
        """Whether a loaded key and value are of the shapes this file holds."""
        raise NotImplementedError

    def _load(self) -> dict[K, V]:
        entries: dict[K, V] = {}
        try:
            if self.path is not None:
                with self.path.open("rb") as file:
                    data = file.read(MAX_FILE_BYTES + 1)
                if len(data) <= MAX_FILE_BYTES:
                    loaded = marshal.loads(data)
                    if _is_ours(loaded):
                        entries = {k: v for k, v in loaded[1].items() if self._valid(k, v)}
        except (OSError, EOFError, ValueError, TypeError):
            entries = {}
        self._entries = entries
        return entries

    def _get(self, key: K) -> V | None:
        entries = self._entries if self._entries is not None else self._load()
        self._used.add(key)
        return entries.get(key)

    def _put(self, key: K, value: V) -> None:
        entries = self._entries if self._entries is not None else self._load()
        entries[key] = value
        self._used.add(key)
        self.compiled += 1

    @property
    def used(self) -> int:
        """How many entries this run asked for (found in the file or made)."""
        return len(self._used)

    def save(self) -> bool:
        """Write the file if this run made something new; whether it was written. A folder
        that cannot be written (a read-only installation) leaves things as they were."""
        if not self.compiled or self.path is None or self._entries is None:
            return False
        # PYTHONDONTWRITEBYTECODE holds for this file as for bytecode. The bundle turns bytecode
        # off for its own reasons (its modules are in an archive); there the file is written.
        if sys.dont_write_bytecode and getattr(sys, "_MEIPASS", None) is None:
            return False
        entries = self._entries
        if not self.keep_unused or len(entries) > MAX_TEXTS:
            entries = {key: value for key, value in entries.items() if key in self._used}
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as file:
                file.write(marshal.dumps((_MAGIC, entries)))
            os.replace(temporary, self.path)
        except (OSError, ValueError):  # ValueError: an entry marshal cannot write
            with suppress(OSError):
                temporary.unlink(missing_ok=True)
            return False
        self.compiled = 0
        return True


def _is_ours(loaded: object) -> bool:
    """Whether a loaded file is this Python's: (magic, dict of entries)."""
    return (
        isinstance(loaded, tuple)
        and len(loaded) == 2
        and loaded[0] == _MAGIC
        and isinstance(loaded[1], dict)
    )


# A kept text: the dataclass methods' text, or (file name, source bytes) of a support module.
CodeKey = str | tuple[str, bytes]


class KeptCode(KeptFile[CodeKey, CodeType]):
    """Code by its text (or its file name and text)."""

    def _valid(self, key: object, value: object) -> bool:
        if not isinstance(value, CodeType):
            return False
        if isinstance(key, str):
            return True
        return (
            isinstance(key, tuple)
            and len(key) == 2
            and isinstance(key[0], str)
            and isinstance(key[1], bytes)
        )

    def code(self, key: CodeKey, source: str | bytes, filename: str) -> CodeType:
        """The code of `source` compiled as a module by the built-in compile (without this
        module's `from __future__` flags), from the file when it was compiled before."""
        code = self._get(key)
        if code is None:
            code = BUILTIN_COMPILE(source, filename, "exec", dont_inherit=True)
            self._put(key, code)
        return code


# A pattern (text or bytes) and its flags -> what `_sre.compile` makes the pattern from: the
# flags it ends with, its program, the number of groups beyond the whole match, the group names
# and the name of each group.
PatternKey = tuple[str | bytes, int]
PatternForm = tuple[int, list[int], int, dict[str, int], tuple[str | None, ...]]


class KeptPatterns(KeptFile[PatternKey, PatternForm]):
    """Regular expressions compiled once: `re` parses a pattern and writes its program in
    Python (0.05-3.7 ms a pattern); the program is kept, and `_sre.compile` builds the same
    pattern object from it directly."""

    def _valid(self, key: object, value: object) -> bool:
        return (
            isinstance(key, tuple)
            and len(key) == 2
            and isinstance(key[0], str | bytes)
            and isinstance(key[1], int)
            and isinstance(value, tuple)
            and len(value) == 5
            and isinstance(value[0], int)
            and isinstance(value[1], list)  # of ints: _sre.compile checks them and the program
            and isinstance(value[2], int)
            and isinstance(value[3], dict)
            and all(isinstance(n, str) and isinstance(i, int) for n, i in value[3].items())
            and isinstance(value[4], tuple)
            and all(name is None or isinstance(name, str) for name in value[4])
        )

    def compile(self, pattern: Any, flags: int = 0) -> Any:
        """`re._compiler.compile(pattern, flags)` (what `re` calls for a pattern not in its own
        cache), from the kept form when this pattern was compiled before.

        The form is what `re._compiler.compile` of CPython 3.11-3.13 hands to `_sre.compile`;
        `_sre` checks a program before it runs it. Parsed patterns and the DEBUG flag go to
        `re` itself."""
        if not isinstance(pattern, str | bytes) or flags & re.DEBUG:
            return _compile_pattern(pattern, flags)
        flags = int(flags)
        key = (pattern, flags)
        form = self._get(key)
        if form is not None:
            try:
                return _sre.compile(pattern, *form)
            except (TypeError, ValueError, RuntimeError, OverflowError):
                pass  # a damaged entry: made anew
        parsed = re._parser.parse(pattern, flags)  # type: ignore[attr-defined]
        program = re._compiler._code(parsed, flags)  # type: ignore[attr-defined]
        names: dict[str, int] = dict(parsed.state.groupdict)
        index: list[str | None] = [None] * parsed.state.groups
        for name, number in names.items():
            index[number] = name
        form = (
            flags | int(parsed.state.flags),
            [int(op) for op in program],  # re names some of its ints
            parsed.state.groups - 1,
            names,
            tuple(index),
        )
        self._put(key, form)
        return _sre.compile(pattern, *form)

    def serving(self) -> AbstractContextManager[None]:
        """While held, re compiles through self.compile (then as before)."""
        return replaced(re._compiler, "compile", self.compile)  # type: ignore[attr-defined]


@contextmanager
def replaced(owner: Any, name: str, value: Any) -> Iterator[None]:
    """While held, `owner.name` is `value`; then what it was before, also on an error."""
    before = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, before)


def default_path(name: str) -> Path | None:
    """`name` (with this Python's tag) beside this module's bytecode, following
    PYTHONPYCACHEPREFIX, or in the bundle's folder; None where Python keeps no bytecode."""
    tag = sys.implementation.cache_tag
    if tag is None:
        return None
    filename = f"{name}.{tag}.marshal"
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        return Path(bundle, "__pycache__", filename)
    from importlib.util import cache_from_source

    return Path(cache_from_source(__file__)).with_name(filename)


def register(kept: KeptFile[Any, Any]) -> None:
    """Have save_all write `kept`."""
    _ALL.append(kept)


def save_all() -> None:
    """Keep what this run compiled for the next one (see KeptFile.save)."""
    for each in _ALL:
        each.save()
