"""Entry point of the laptop bundle (build.spec): the desktop app, its self-test, or the CLI.

fieldapp                 open the desktop app (as `fieldapp gui`)
fieldapp --self-test     check this installation end to end on a throw-away store, exit 0/1
fieldapp COMMAND …       the `fieldapp` command line (demo, search, calc, backup, sync …)
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

# Modules the app reaches by name, through importlib or a plugin lookup, or only on a rarely
# used path, which PyInstaller's import analysis of this file may not see. build.spec lists them
# as hidden imports, and the self-test imports every one: a bundle without one fails there.
LAZY_MODULES = (
    "fieldapp.documents.flyer",
    "sync.protocol.receipt_qr",
    "fieldapp.documents.receipt",
    "fieldapp.reports_pdf",
    "fieldapp.importfile",
    "fieldapp.backup",
    "fieldapp.lock",
    "sync.client",
    "fieldapp.cli.sync",
    "ui.app",
    "ui.printing",
    "reportlab.graphics.barcode.qr",
    "reportlab.graphics.barcode.qrencoder",
    "reportlab.pdfbase._fontdata",
    "reportlab.pdfbase.ttfonts",
    "reportlab.platypus",
    "openpyxl",
    "sqlite_utils",
    "httpx",
    "cryptography.hazmat.primitives.ciphers.aead",
    "platformdirs",
)
# Our packages whose every module the laptop may load; the provincial server is not shipped.
APP_PACKAGES = ("fieldapp", "ui", "sync")
NOT_SHIPPED = ("sync.server",)
# The bundle's scripts (its entry and its first run-time hook), run once, not imported.
SCRIPTS = ("ui.bundle", "ui.qt_hook")
# Packages no start of the app imports (printing, importing, syncing and the standard library
# parts only they use): the bundle keeps them as loose .pyc files beside the archive, not in it.
# At every start, before any of our code runs, PyInstaller reads the archive's index entry by
# entry from the file (6 ms for its 944 modules, 0.7 ms for the 104 of a bare PySide6 bundle);
# with these outside it holds about 270. tests/ui/test_startup.py checks that a start loads
# none of them.
LOOSE_PACKAGES = (
    "openpyxl",
    "et_xmlfile",
    "reportlab",
    "PIL",
    "cryptography",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "idna",
    "certifi",
    "charset_normalizer",
    "sqlite_utils",
    "click",
    "pluggy",
    "dateutil",
    "asyncio",
    "email",
    "xml",
    "multiprocessing",
    "unittest",
)


def app_modules() -> list[str]:
    """Every module of our packages that this installation holds (source tree or bundle)."""
    names: list[str] = []
    for package_name in APP_PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            if not info.name.startswith(NOT_SHIPPED) and info.name not in SCRIPTS:
                names.append(info.name)
    return names


def import_everything() -> int:
    """Import our modules and the lazily loaded ones; raises ImportError naming what is missing."""
    names = sorted({*app_modules(), *LAZY_MODULES})
    failed: list[str] = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    if failed:
        raise ImportError("cannot import " + "; ".join(failed))
    return len(names)


def put_bundled_tools_on_path() -> None:
    """Let the app find tools shipped inside the bundle (poppler's pdftoppm for print previews)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is None:
        return
    for folder in (Path(bundle) / "poppler" / "bin", Path(bundle) / "poppler"):
        if folder.is_dir():
            os.environ["PATH"] = os.pathsep.join([str(folder), os.environ.get("PATH", "")])
            return


def self_test() -> int:
    """Check the installation: imports, the field workflow, then the main window on that store."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from fieldapp.selfcheck import run_self_check
    from sync.protocol.errors import FieldappError

    frozen = getattr(sys, "frozen", False)
    print(f"Tự kiểm tra fieldapp ({'bản đóng gói' if frozen else 'mã nguồn'}: {sys.executable})")
    # ignore_cleanup_errors: on Windows a file Qt still holds must not turn a pass into a crash.
    with tempfile.TemporaryDirectory(
        prefix="fieldapp-selftest-", ignore_cleanup_errors=True
    ) as tmp:
        data_dir = Path(tmp) / "data"
        try:
            count = import_everything()
            print(f"  Nạp được cả {count} mô-đun của ứng dụng.")
            for line in run_self_check(data_dir):
                print(f"  {line}")
        except FieldappError as exc:
            print(f"TỰ KIỂM TRA THẤT BẠI: {exc.message()}", file=sys.stderr)
            return 1
        except Exception:
            print("TỰ KIỂM TRA THẤT BẠI:", file=sys.stderr)
            traceback.print_exc()
            return 1
        from fieldapp.startcache import MODULES, QT_SUPPORT

        if frozen and not MODULES.serving:
            print("TỰ KIỂM TRA THẤT BẠI: mô-đun không được đọc qua ui/qt_hook.py.", file=sys.stderr)
            return 1
        if frozen and QT_SUPPORT.used == 0:
            # The bundle loads shiboken through its first run-time hook (build.spec).
            print("TỰ KIỂM TRA THẤT BẠI: PySide6 nạp không qua ui/qt_hook.py.", file=sys.stderr)
            return 1
        if QT_SUPPORT.used:
            print(
                f"  Mã hỗ trợ của PySide6: {QT_SUPPORT.used} mô-đun, "
                f"{QT_SUPPORT.used - QT_SUPPORT.compiled} lấy lại từ lần chạy trước."
            )
        import shutil

        pdftoppm = shutil.which("pdftoppm")
        print(
            f"  Xem trước và in từ ứng dụng: dùng {pdftoppm}"
            if pdftoppm
            else "  Không có poppler (pdftoppm): ứng dụng chỉ lưu được PDF, không xem trước để in."
        )
        from ui.app import run

        print("  Mở cửa sổ chính trên kho dữ liệu đó, ở trang Hôm nay:")
        sys.stdout.flush()
        code = run(data_dir=data_dir, self_test=True)
    if code != 0:
        print(f"TỰ KIỂM TRA THẤT BẠI: cửa sổ chính trả mã {code}.", file=sys.stderr)
        return code
    print("Tự kiểm tra: đạt.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    from fieldapp.cli import gui_command
    from fieldapp.startcache import start_up_done

    if gui_command(args or ["gui"]) is None:
        start_up_done()  # the modules kept for a start are the app's, not a command's
    if args == ["--self-test"]:
        return self_test()
    from fieldapp.cli import main as fieldapp_main

    return fieldapp_main(args or ["gui"])


def _give_windows_gui_a_console() -> None:
    """A windowed Windows build has no stdout: write to the console it was started from, if any."""
    if sys.platform != "win32" or sys.stdout is not None:
        return
    import ctypes

    attach_parent_process = -1
    if ctypes.windll.kernel32.AttachConsole(attach_parent_process):
        sys.stdout = open("CONOUT$", "w", encoding="utf-8", errors="replace")  # noqa: SIM115
        sys.stderr = open("CONOUT$", "w", encoding="utf-8", errors="replace")  # noqa: SIM115


def console() -> None:
    """Run and end the process as the `fieldapp` console script does (fieldapp.cli.finish)."""
    from fieldapp.cli import finish

    _give_windows_gui_a_console()
    put_bundled_tools_on_path()
    try:
        code = main()
    except SystemExit as exc:  # argparse's --help and usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except Exception:
        traceback.print_exc()
        code = 1
    finish(code)


if __name__ == "__main__":
    console()
