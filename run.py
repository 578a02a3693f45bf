#!/usr/bin/env python3
"""One entry point for people and CI: install what is needed, then run the app, tests or checks.

    python3 run.py app      # install (first time), create the demo commune if empty, open the app
    python3 run.py test     # install, run the checks (ruff, mypy) and the whole test suite
    python3 run.py check    # ruff check, ruff format --check, mypy on the core
    python3 run.py bench    # run every benchmark and print the table of ratios
    python3 run.py build [--self-test]  # the laptop bundle dist/fieldapp/ (PyInstaller, build.spec)
    python3 run.py server … # the provincial server (fieldapp-server …)

Uses only the standard library, so it runs on a fresh machine with Python ≥ 3.11.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("FIELDAPP_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".fieldapp-installed"

# Debian packages the test suite uses: poppler (PDF → text/PNG), zbar (QR decoding), the PDF
# printer for a real CUPS queue, PostgreSQL for the server suite, Chromium for the supervisor
# pages, and the X libraries Qt's xcb plugin needs under Xvfb.
DEBIAN_TEST_PACKAGES = [
    "poppler-utils",
    "zbar-tools",
    "cups",
    "cups-client",
    "printer-driver-cups-pdf",
    "postgresql",
    "chromium",
    "xvfb",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libxcb-cursor0",
    "libxkbcommon-x11-0",
    "libegl1",
    "libgl1",
    "libfontconfig1",
    "libdbus-1-3",
]
PG_TEST_DB = "fieldapp_test"


def say(text: str) -> None:
    print(f"[run.py] {text}", flush=True)


def ensure_venv() -> None:
    """Create .venv and install the project with its dev extras when pyproject.toml changed."""
    # This script is started by whatever python3 the machine has, so the check is real.
    if sys.version_info < (3, 11):  # noqa: UP036
        sys.exit("fieldapp needs Python 3.11 or newer.")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not PYTHON.exists():
        say(f"creating {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    say("installing fieldapp and its dependencies (first time only)")
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(wanted)


def tool(name: str) -> str:
    exe = BIN / (name + (".exe" if os.name == "nt" else ""))
    return str(exe)


def ensure_debian_packages() -> None:
    """Install the Debian packages the tests use, when this is Debian and we may (root)."""
    if not sys.platform.startswith("linux") or shutil.which("apt-get") is None:
        return
    missing = [p for p in DEBIAN_TEST_PACKAGES if not _dpkg_installed(p)]
    if not missing:
        return
    if os.geteuid() != 0:
        say("missing Debian packages (tests that need them are skipped): " + " ".join(missing))
        return
    say("installing Debian packages: " + " ".join(missing))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def _dpkg_installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
    )
    return result.returncode == 0 and "install ok installed" in result.stdout


def ensure_postgres() -> str | None:
    """Start the local PostgreSQL cluster and give the URL of a test database, when possible."""
    if os.environ.get("FIELDAPP_TEST_PG_URL"):
        return os.environ["FIELDAPP_TEST_PG_URL"]
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return None
    if shutil.which("pg_lsclusters") is None:
        return None
    clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
    if not clusters.strip():
        return None
    version, name, port, status = clusters.split()[:4]
    if status != "online":
        subprocess.run(["pg_ctlcluster", version, name, "start"], check=True)

    def psql(sql: str) -> str:
        out = subprocess.run(
            ["runuser", "-u", "postgres", "--", "psql", "-p", port, "-tAc", sql],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    if psql("SELECT 1 FROM pg_roles WHERE rolname = 'fieldapp'") != "1":
        psql("CREATE ROLE fieldapp LOGIN PASSWORD 'fieldapp' CREATEDB")
    if psql(f"SELECT 1 FROM pg_database WHERE datname = '{PG_TEST_DB}'") != "1":
        psql(f"CREATE DATABASE {PG_TEST_DB} OWNER fieldapp")
    return f"postgresql+psycopg://fieldapp:fieldapp@127.0.0.1:{port}/{PG_TEST_DB}"


def check() -> int:
    steps = [
        [tool("ruff"), "check", "."],
        [tool("ruff"), "format", "--check", "."],
        [tool("mypy")],
    ]
    for step in steps:
        say(" ".join(Path(step[0]).name if i == 0 else s for i, s in enumerate(step)))
        if subprocess.run(step, cwd=ROOT).returncode != 0:
            return 1
    return 0


def test(args: list[str]) -> int:
    ensure_debian_packages()
    if check() != 0:
        return 1
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    pg_url = ensure_postgres()
    if pg_url:
        env["FIELDAPP_TEST_PG_URL"] = pg_url
        say("PostgreSQL tests run against " + pg_url.split("@")[-1])
    say("pytest " + " ".join(args))
    return subprocess.run([str(PYTHON), "-m", "pytest", *args], cwd=ROOT, env=env).returncode


def app(args: list[str]) -> int:
    fieldapp = tool("fieldapp")
    # First start: a demo commune, so there is something to look at.
    demo = subprocess.run([fieldapp, *args, "demo", "--if-empty"])
    if demo.returncode != 0:
        return demo.returncode
    return subprocess.run([fieldapp, *args, "gui"]).returncode


def bundle_executable() -> Path:
    """The bundle's command-line executable (on Windows the windowed one has no console)."""
    name = "fieldapp-cli.exe" if os.name == "nt" else "fieldapp"
    return ROOT / "dist" / "fieldapp" / name


def pyinstaller_command(spec: Path, folder: Path, python: Path | str = PYTHON) -> list[str]:
    """The PyInstaller command building a spec's bundle in folder/dist, working in folder/build."""
    return [
        str(python),
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--clean",
        "--log-level",
        "WARN",
        "--distpath",
        str(folder / "dist"),
        "--workpath",
        str(folder / "build"),
        str(spec),
    ]


def folder_size(folder: Path) -> tuple[int, int]:
    """Bytes and number of files, each file once (PyInstaller links some libraries into place)."""
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files), len(files)


def build(args: list[str]) -> int:
    """Build the one-folder bundle from build.spec; with --self-test, run the bundle's check."""
    unknown = [a for a in args if a != "--self-test"]
    if unknown:
        print("usage: python3 run.py build [--self-test]", file=sys.stderr)
        return 2
    has_pyinstaller = subprocess.run(
        [str(PYTHON), "-c", "import PyInstaller"], capture_output=True
    ).returncode
    if has_pyinstaller != 0:
        say("installing PyInstaller into the virtual environment")
        subprocess.run(
            [
                str(PYTHON),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "pyinstaller",
            ],
            check=True,
        )
    say("pyinstaller --noconfirm --clean build.spec")
    start = time.perf_counter()
    built = subprocess.run(pyinstaller_command(ROOT / "build.spec", ROOT), cwd=ROOT)
    if built.returncode != 0:
        return built.returncode
    exe = bundle_executable()
    size, count = folder_size(exe.parent)
    say(
        f"built {exe.parent} in {time.perf_counter() - start:.0f} s: "
        f"{size / 1e6:.1f} MB (10^6 bytes) in {count} files"
    )
    if "--self-test" not in args:
        return 0
    say(f"{exe.relative_to(ROOT)} --self-test")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([str(exe), "--self-test"], cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("app", [])
    if command in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    ensure_venv()
    if command == "app":
        return app(rest)
    if command == "test":
        return test(rest)
    if command == "check":
        return check()
    if command == "bench":
        return subprocess.run(
            [str(PYTHON), str(ROOT / "benchmarks" / "run_all.py"), *rest]
        ).returncode
    if command == "build":
        return build(rest)
    if command == "server":
        return subprocess.run([tool("fieldapp-server"), *rest]).returncode
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
