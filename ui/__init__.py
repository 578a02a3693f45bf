"""The desktop app (PySide6). Only app.py wires it; the areas never touch the store.

The order of a start is set here. The core modules the first screen needs are imported first,
then Qt. Once PySide6 is loaded it looks at every module imported after it, the first time it
is imported from anywhere, to see whether the module uses PySide6 (for PySide6's optional
`__feature__` switches, which this app does not use): it reads the module's whole source
file. `_load_qt()` imports Qt and writes down the answer for our modules and those already
loaded, so the reading is skipped; at start that reading took about 6 ms. PySide6's own
support modules, which shiboken compiles from source at every import of PySide6, and their
regular expressions are compiled once and kept (`fieldapp.startcache`): 25-35 ms. The enum
classes PySide6 makes for Qt's enums are built by `fieldapp.qt_enums`, the same classes as
Python's enum module makes, 27-33 -> 9 ms of a start.
"""

# ruff: noqa: F401

import concurrent.futures
import os
import sys

import fieldapp.agenda
import fieldapp.calculator
import fieldapp.coverage
import fieldapp.lock
import fieldapp.logs
import fieldapp.pledges
import fieldapp.workspace
import sync.protocol.labels
from fieldapp import qt_enums
from fieldapp.startcache import serving_start_up

# Packages of ours whose modules PySide6 need not read, and whether they use PySide6.
OUR_PACKAGES = (
    ("ui", True),
    ("fieldapp", False),
    ("fieldapp/cli", False),
    ("fieldapp/documents", False),
    ("sync", False),
    ("sync/protocol", False),
)


def _load_qt() -> None:
    """Import Qt, then record in PySide6's table of modules (module name -> feature flags;
    -1: not a PySide6 module, 0: a PySide6 module with no feature switched on) every module
    loaded so far and every module of our packages, as PySide6 would have found them. A
    PySide6 that keeps no such table reads the sources as before."""
    qt_enums.install()  # before PySide6 builds its first enum class (in the bundle: qt_hook)
    with serving_start_up():  # in the bundle, shiboken is loaded already (ui/qt_hook.py)
        import PySide6.QtCore  # after the core (see above); loads shiboken and its table

    feature = sys.modules.get("shibokensupport.feature")
    table = getattr(feature, "pyside_feature_dict", None)
    if not isinstance(table, dict):
        return
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for folder, uses_pyside in OUR_PACKAGES:
        package = folder.replace("/", ".")
        flags = 0 if uses_pyside else -1
        table.setdefault(package, flags)
        try:
            entries = list(os.scandir(os.path.join(root, folder)))
        except OSError:
            continue  # a bundle keeps its modules in an archive: nothing to list
        for entry in entries:
            stem, dot, suffix = entry.name.partition(".")
            if dot and suffix in ("py", "pyc") and stem != "__init__":
                table.setdefault(f"{package}.{stem}", flags)
    for name in list(sys.modules):
        if not name.startswith("PySide6"):
            table.setdefault(name, -1)


_load_qt()
