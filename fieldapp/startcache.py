"""What the desktop app's start compiles or decompresses, kept for the next start.

Three kinds of work are done at every start, the same each time (sync.protocol.codecache keeps
them by their exact text):

- PySide6's own support modules: shiboken keeps them as source inside its library and compiles
  all 14 of them whenever it is imported (18-25 ms of every PySide6 program's start);
- regular expressions: `re` parses and compiles each pattern in Python, and the modules loaded
  at start compile 56 of them as they are imported, three big ones in PySide6's support
  modules alone (about 10 ms);
- in the bundle, its modules: PyInstaller decompresses each from its archive (KeptModules).

`serving_start_up()` is held around the imports of a start: the app's import of its core, ui
and Qt (`fieldapp.cli.gui.launch`, `ui/__init__`) and, in the bundle, a run-time hook that loads
shiboken before PyInstaller's own PySide6 hook imports QtCore (ui/qt_hook.py). While it is,
`compile` answers the support modules' texts from the kept code, and `re` gets a pattern's
compiled form from the kept one; every other call goes where it went before, unchanged.
Nothing here imports Qt.
"""

from __future__ import annotations

import builtins
import marshal
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sync.protocol.codecache import (
    BUILTIN_COMPILE,
    KeptCode,
    KeptFile,
    KeptPatterns,
    default_path,
    register,
    replaced,
)

# The file names shiboken compiles its embedded support modules under.
QT_SUPPORT_FILES = ("signature_bootstrap.py", "shibokensupport/")


class QtSupportCode(KeptCode):
    """PySide6's support modules, compiled once (see the module's docstring)."""

    def compile(
        self,
        source: Any,
        filename: Any,
        mode: str,
        flags: int = 0,
        dont_inherit: bool = False,
        optimize: int = -1,
        **options: Any,
    ) -> Any:
        """`compile` as the built-in one; a support module's text comes from the kept code.

        Only the calls shiboken makes are served: the text as bytes, compiled whole as a
        module, under one of its file names, with no flags. Their code is what the built-in
        compile gives without inheriting the caller's `__future__` flags, as shiboken's own
        callers have none."""
        if (
            mode == "exec"
            and not flags
            and optimize == -1
            and not options
            and isinstance(source, bytes)
            and isinstance(filename, str)
            and filename.startswith(QT_SUPPORT_FILES)
        ):
            return self.code((filename, source), source, filename)
        return BUILTIN_COMPILE(source, filename, mode, flags, dont_inherit, optimize, **options)

    def serving(self) -> AbstractContextManager[None]:
        """While held, `compile` is self.compile (then what it was before)."""
        return replaced(builtins, "compile", self.compile)


# A module of the bundle's archive: its name, the archive's size and time of change, and where
# the module's entry lies in it (offset, length).
ModuleKey = tuple[str, int, int, int, int]


class KeptModules(KeptFile[ModuleKey, bytes]):
    """The bundle's modules, decompressed, kept for the next start.

    PyInstaller keeps the bundle's modules in one zlib-compressed archive, and opens, reads and
    decompresses a module's entry each time one is imported: about 10 ms of a start for the 200
    or so modules the first screen needs. `serve(archive, …)` makes the archive's `extract`
    answer a module from the kept bytes (what decompressing its entry gives, loaded with
    marshal as the archive loads them); a module not kept is extracted as before and, while
    `recording`, kept. Recording stops when the start is over (`start_up_done`, once Today's
    first rows are painted) or for a command that is not the app's start, so the file holds
    what a start needs and nothing an agent opened later. An entry belongs to one build of the
    archive (its size and time, and the entry's place in it): after an update nothing old is
    used, and the next save leaves the old entries out."""

    def __init__(self, path: Path | None) -> None:
        super().__init__(path, keep_unused=True)
        self.recording = False
        self._archive: Any = None
        self._extract: Any = None
        self._identity: tuple[int, int] = (-1, -1)
        self._module_types: tuple[int, ...] = ()

    @property
    def serving(self) -> bool:
        return self._archive is not None

    def serve(self, archive: Any, identity: tuple[int, int], module_types: tuple[int, ...]) -> None:
        """Answer `archive.extract` for modules (entries of `module_types` in `archive.toc`)
        from the kept bytes; `identity` is the archive file's size and time of change. Once."""
        if self._archive is not None:
            return
        self._archive, self._extract = archive, archive.extract
        self._identity, self._module_types = identity, module_types
        self.recording = True
        archive.extract = self.extract

    def _valid(self, key: object, value: object) -> bool:
        return (
            isinstance(value, bytes)
            and isinstance(key, tuple)
            and len(key) == 5
            and isinstance(key[0], str)
            and key[1:3] == self._identity
            and all(isinstance(n, int) for n in key[3:])
        )

    def extract(self, name: str, raw: bool = False) -> Any:
        """What the archive's extract(name, raw) gives."""
        entry = self._archive.toc.get(name)
        if raw or entry is None or entry[0] not in self._module_types:
            return self._extract(name, raw)
        key: ModuleKey = (name, *self._identity, entry[1], entry[2])
        data = self._get(key)
        if data is not None:
            try:
                return marshal.loads(data)
            except (EOFError, ValueError, TypeError):
                pass  # damaged: read from the archive again
        data = self._extract(name, True)
        if self.recording and isinstance(data, bytes):
            self._put(key, data)
        return marshal.loads(data)


QT_SUPPORT = QtSupportCode(default_path("qt-support"), keep_unused=False)
PATTERNS = KeptPatterns(default_path("patterns"))
MODULES = KeptModules(default_path("modules"))  # served in the bundle only (ui/qt_hook.py)
register(QT_SUPPORT)
register(PATTERNS)
register(MODULES)


def start_up_done() -> None:
    """The start is over (the first rows are painted, or this is not the app's start): what
    is loaded from now on is not a start's, and is not kept."""
    MODULES.recording = False


@contextmanager
def serving_start_up() -> Iterator[None]:
    """Both served: held around the imports of a start (see the module's docstring)."""
    with QT_SUPPORT.serving(), PATTERNS.serving():
        yield
