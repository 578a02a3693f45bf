"""The bundle's first run-time hook (build.spec), run before PyInstaller's own.

- The bundle's modules are read through the kept, decompressed copies of those a start loads
  (fieldapp.startcache.MODULES), from here on.
- shiboken is loaded with its support modules' code and its patterns kept between runs
  (fieldapp.startcache), before PyInstaller's PySide6 hook imports QtCore, which would load
  shiboken and compile them.
- Qt's enum classes are built by fieldapp.qt_enums from the first (QtCore's) on.
"""

import os
import sys

from fieldapp import qt_enums
from fieldapp.startcache import MODULES, serving_start_up


def _serve_modules() -> None:
    import pyimod01_archive  # PyInstaller's bootstrap modules: in the bundle only
    import pyimod02_importers

    archive = getattr(pyimod02_importers, "pyz_archive", None)
    filename = getattr(archive, "_filename", None)
    if archive is None or not isinstance(filename, str) or not hasattr(archive, "toc"):
        return  # another PyInstaller: the modules are read as it reads them
    try:
        stat = os.stat(filename)
    except OSError:
        return
    module_types = (pyimod01_archive.PYZ_ITEM_MODULE, pyimod01_archive.PYZ_ITEM_PKG)
    MODULES.serve(archive, (stat.st_size, stat.st_mtime_ns), module_types)


if getattr(sys, "frozen", False):
    _serve_modules()
qt_enums.install()
with serving_start_up():
    import shiboken6  # noqa: F401
