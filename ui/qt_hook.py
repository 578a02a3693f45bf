"""The bundle's first run-time hook (build.spec): shiboken loaded with its support modules' code
and its patterns kept between runs (sync.protocol.codecache), before PyInstaller's own PySide6
hook imports QtCore, which would load shiboken and compile them."""

from sync.protocol.codecache import serving_start_up

with serving_start_up():
    import shiboken6  # noqa: F401
