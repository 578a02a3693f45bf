"""Laptop bundle figures: size on disk and start-up to a shown main window, against a bare PySide6
one-folder bundle (a QMainWindow and nothing else) built with the same exclusions."""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Figure, alternating_medians, cached_demo_store, print_table

from run import bundle_executable, folder_size, pyinstaller_command

SPEC = ROOT / "build.spec"
# The large commune the start is measured on (as in bench_ui).
STORE_HOUSEHOLDS = 50_000
# Starts of each side, in turn, for the medians: this machine's pace changes from minute to
# minute. With 9 starts the ratio of unchanged code moved by a tenth between runs; with 15, 40
# alternating pairs of unchanged bundles gave a 5-95% range of 1.18-1.62 for the ratio of
# medians of 15 drawn from them (1.43 over all 40), and runs of this script 1.23-1.57.
STARTS = 30
EXE = bundle_executable()
# What build.spec's exclusions are made of; the bare bundle gets the same code, copied from it.
SHARED_FROM_SPEC = (
    "LINUX",
    "NOARCHIVE",
    "EXCLUDES",
    "DROP_DATA",
    "DROP_PLUGINS",
    "wanted",
    "without_orphans",
)
BARE_SCRIPT = """\
import os
import sys

from PySide6.QtWidgets import QApplication, QMainWindow

app = QApplication(sys.argv[:1])
window = QMainWindow()
window.resize(1366, 768)
window.show()
app.processEvents()
sys.stdout.flush()
os._exit(0)
"""
BARE_SPEC = """\
import sys
from pathlib import Path

{shared}

a = Analysis([{script!r}], excludes=EXCLUDES, noarchive=NOARCHIVE)
a.datas = [entry for entry in a.datas if wanted(entry)]
a.binaries = [entry for entry in a.binaries if wanted(entry)]
if LINUX:
    a.binaries = without_orphans(a.binaries)
pyz = PYZ(a.pure)
exe = EXE(pyz, a.scripts, [], exclude_binaries=True, name="bare", strip=LINUX, upx=False,
          console=True)
coll = COLLECT(exe, a.binaries, a.datas, strip=LINUX, upx=False, name="bare")
"""


def note(text: str) -> None:
    print(f"  bench_bundle: {text}", file=sys.stderr, flush=True)


def newest_source() -> float:
    """When anything that goes into the bundle last changed."""
    paths = [SPEC, ROOT / "pyproject.toml"]
    for package in ("fieldapp", "ui", "sync", "resources"):
        paths += [
            p for p in (ROOT / package).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        ]
    return max(p.stat().st_mtime for p in paths)


def ours(quick: bool) -> tuple[Path | None, float | None]:
    """Our bundle's executable (built now when missing or older than the sources), build time."""
    fresh = EXE.exists() and EXE.stat().st_mtime > newest_source()
    if fresh:
        return EXE, None
    if quick:
        if EXE.exists():
            note("the bundle is older than the sources; measuring it anyway (quick mode)")
            return EXE, None
        note("no bundle in dist/fieldapp and quick mode does not build one: no figures")
        return None, None
    note("building the bundle (python3 run.py build) …")
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "run.py"), "build"], check=True)
    return EXE, time.perf_counter() - start


def bare_spec(script: Path) -> str:
    tree = ast.parse(SPEC.read_text(encoding="utf-8"))
    source = SPEC.read_text(encoding="utf-8")
    pieces = []
    for node in tree.body:
        names = []
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.FunctionDef):
            names = [node.name]
        if set(names) & set(SHARED_FROM_SPEC):
            pieces.append(ast.get_source_segment(source, node) or "")
    return BARE_SPEC.format(shared="\n\n".join(pieces), script=str(script))


def bare() -> tuple[Path, float | None]:
    """The bare bundle, built once per PySide6/PyInstaller version and exclusion list."""
    import PyInstaller
    import PySide6

    work = Path(tempfile.gettempdir()) / "fieldapp-bench-bare-bundle"
    script = work / "bare.py"
    spec = bare_spec(script)
    key = hashlib.sha256(
        f"{spec}{BARE_SCRIPT}{PySide6.__version__}{PyInstaller.__version__}".encode()
    ).hexdigest()
    exe = work / "dist" / "bare" / ("bare.exe" if os.name == "nt" else "bare")
    if exe.exists() and (work / "key").read_text() == key:
        return exe, None
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    script.write_text(BARE_SCRIPT, encoding="utf-8")
    (work / "bare.spec").write_text(spec, encoding="utf-8")
    note(f"building the bare PySide6 bundle in {work} …")
    start = time.perf_counter()
    command = pyinstaller_command(work / "bare.spec", work, sys.executable)
    subprocess.run(command, cwd=work, check=True)
    (work / "key").write_text(key)
    return exe, time.perf_counter() - start


def start_time(command: list[str], env: dict[str, str]) -> float:
    """Wall time of one start of the command."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command} exit {done.returncode}: {done.stderr[-3000:]}")
    return elapsed


def run(quick: bool = False) -> list[Figure]:
    exe, ours_build = ours(quick)
    if exe is None:
        return []
    bare_exe, bare_build = bare()
    ours_bytes, ours_files = folder_size(exe.parent)
    bare_bytes, bare_files = folder_size(bare_exe.parent)
    built = ""
    if ours_build is not None or bare_build is not None:
        fmt = lambda t: "reused" if t is None else f"{t:.0f} s"  # noqa: E731
        built = f"; built in {fmt(ours_build)} vs {fmt(bare_build)}"

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    rounds = 3 if quick else STARTS
    with tempfile.TemporaryDirectory(prefix="fieldapp-bench-bundle-") as tmp:
        if quick:
            data = Path(tmp) / "data"
            subprocess.run(
                [str(exe), "--data-dir", str(data), "demo", "--households", "20"],
                env=env,
                check=True,
                capture_output=True,
            )
            store = "20-household demo store"
        else:
            data = cached_demo_store(STORE_HOUSEHOLDS).parent
            store = f"{STORE_HOUSEHOLDS:,}-household demo store (about 200,000 members)"
        # In turn, after one start of each (a second start of the day).
        ours_start, bare_start = alternating_medians(
            lambda: start_time([str(exe), "--data-dir", str(data), "gui", "--self-test"], env),
            lambda: start_time([str(bare_exe)], env),
            rounds,
        )
    return [
        Figure(
            "bundle size on disk vs bare PySide6 bundle",
            ours_bytes / 1e6,
            bare_bytes / 1e6,
            "MB",
            1.5,
            note=f"{ours_files} vs {bare_files} files{built}",
        ),
        Figure(
            "bundle start to Today's first rows vs bare window",
            ours_start,
            bare_start,
            "s",
            1.5,
            note=f"{store}; the window on Today with its first rows painted; medians of "
            f"{rounds} starts each, in turn",
        ),
    ]


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv), "fieldapp laptop bundle")
