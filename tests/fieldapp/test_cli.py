"""The `fieldapp` command line, invoked through main() and once as the installed script."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fieldapp.cli import build_parser, main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _vietnamese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDAPP_LANG", "vi")


def test_demo_then_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """demo --households 5 fills the store; search --json finds its people as JSON records."""
    code, out, err = _run(capsys, "--data-dir", str(tmp_path), "demo", "--households", "5")
    assert code == 0, err
    assert "5 hộ" in out

    code, out, err = _run(capsys, "--data-dir", str(tmp_path), "demo", "--households", "5")
    assert code == 1
    assert "--force" in err
    assert out == ""

    code, out, _ = _run(capsys, "--data-dir", str(tmp_path), "search", "thi", "--json")
    assert code == 0
    hits = json.loads(out)
    assert hits
    keys = {"household_id", "member_id", "full_name", "head_name", "village", "cccd", "phone"}
    assert all(keys <= set(hit) for hit in hits)

    code, out, _ = _run(
        capsys, "--data-dir", str(tmp_path), "search", "khong co ai ten nay", "--json"
    )
    assert (code, json.loads(out)) == (0, [])


def test_demo_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """demo --json prints the counts it created and where the store is."""
    code, out, _ = _run(capsys, "--data-dir", str(tmp_path), "demo", "--households", "5", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["households"] == 5
    assert summary["members"] >= 5
    assert Path(summary["store"]).parent == tmp_path


def test_calc_bhyt_json(capsys: pytest.CaptureFixture[str]) -> None:
    """calc bhyt for 3 members, 12 months from 2026-07-01 gives gross 3,142,260 đ."""
    code, out, _ = _run(
        capsys, "calc", "bhyt", "--members", "3", "--months", "12", "--on", "2026-07-01", "--json"
    )
    assert code == 0
    result = json.loads(out)
    assert result["gross"] == 3_142_260
    assert result["payable"] == 3_142_260


def test_calc_bhxh_json(capsys: pytest.CaptureFixture[str]) -> None:
    """calc bhxh near-poor at the floor: payable 198,000, amounts as ints, policy as text."""
    code, out, _ = _run(
        capsys,
        "calc",
        "bhxh",
        "--income",
        "1500000",
        "--months",
        "1",
        "--group",
        "near_poor",
        "--on",
        "2026-03-01",
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["payable"] == 198_000
    for key in ("gross", "central_support", "local_support", "payable"):
        assert type(result[key]) is int
    assert isinstance(result["policy_version"], str) and result["policy_version"]
    assert result["gross"] - result["central_support"] - result["local_support"] == 198_000


def test_calc_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json the calculator prints a table with the amounts and the policy version."""
    code, out, _ = _run(
        capsys, "calc", "bhyt", "--members", "3", "--months", "12", "--on", "2026-07-01"
    )
    assert code == 0
    assert "3.142.260" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["calc", "bhxh", "--income", "100", "--months", "1", "--on", "2026-03-01", "--json"],
        ["calc", "bhyt", "--members", "3", "--months", "5", "--on", "2026-07-01", "--json"],
    ],
)
def test_invalid_calc_request_fails_on_stderr(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """An invalid request exits non-zero, explains on stderr and prints nothing on stdout."""
    code, out, err = _run(capsys, *argv)
    assert code != 0
    assert err.strip()
    assert out == ""


def test_bad_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed date is refused by the parser with exit status 2."""
    with pytest.raises(SystemExit) as caught:
        main(["calc", "bhyt", "--members", "3", "--months", "12", "--on", "01/07/2026"])
    assert caught.value.code == 2
    assert "01/07/2026" in capsys.readouterr().err


def test_import_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """import --json reads a CSV into the store given on the command line."""
    path = tmp_path / "list.csv"
    path.write_text(
        "Họ và tên,Ngày sinh,Thôn,Quan hệ\nHà Văn Dũng,1980,Bản Phố,Chủ hộ\n"
        "Lò Thị Lan,1982,Bản Phố,Vợ\n",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    argv = ["--data-dir", str(data), "import", str(path), "--province", "15"]
    code, out, err = _run(capsys, *argv, "--commune", "99001", "--json")
    assert code == 0, err
    assert json.loads(out)["members_added"] == 2
    code, out, err = _run(capsys, *argv)
    assert code == 1
    assert "--commune" in err


def test_no_command_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a command, or with calc alone, usage goes to stderr and the exit status is 2."""
    assert main([]) == 2
    assert "demo" in capsys.readouterr().err
    assert main(["calc"]) == 2
    assert "bhyt" in capsys.readouterr().err


def _parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = (), line: str | None = None
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every parser in the tree, with the help line its parent shows for it."""
    yield path, parser, line
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            lines = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name), lines.get(name))


def test_every_command_and_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Each subcommand has a help line, every option a help text, and --help works for each."""
    seen = []
    for path, parser, line in _parsers(build_parser()):
        assert line or not path, f"no help line for {' '.join(path)}"
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"{' '.join(path)}: {action.dest} has no help"
        with pytest.raises(SystemExit) as caught:
            main([*path, "--help"])
        assert caught.value.code == 0
        assert capsys.readouterr().out.startswith("usage: fieldapp")
        seen.append(" ".join(path))
    assert {"demo", "search", "calc", "calc bhyt", "calc bhxh", "import", "gui"} <= set(seen)


def test_help_in_english(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """FIELDAPP_LANG=en switches the help texts to English."""
    monkeypatch.setenv("FIELDAPP_LANG", "en")
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "number of households" in capsys.readouterr().out


def test_installed_console_script(tmp_path: Path) -> None:
    """The installed `fieldapp` script starts and prints its help."""
    script = Path(sys.executable).parent / "fieldapp"
    found = str(script) if script.exists() else shutil.which("fieldapp")
    assert found, "the fieldapp console script is not installed"
    env = {**os.environ, "FIELDAPP_DATA_DIR": str(tmp_path), "FIELDAPP_LANG": "vi"}
    done = subprocess.run(
        [found, "--help"], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "usage: fieldapp" in done.stdout
    for command in ("demo", "search", "calc", "import"):
        assert command in done.stdout


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["gui"], "gui"),
        (["--data-dir", "/x", "gui", "--self-test"], "gui"),
        (["--data-dir=/x", "gui"], "gui"),
        (["--data-dir", "gui", "search", "gui"], "search"),
        (["search", "gui"], "search"),
        (["--data-dir", "/x"], None),
        ([], None),
    ],
)
def test_the_command_word_is_found_past_the_data_dir(argv: list[str], command: str | None) -> None:
    from fieldapp.cli import _command_of

    assert _command_of(argv) == command


def test_gui_is_opened_through_the_short_parser_with_its_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fieldapp --data-dir D gui --self-test` reaches the launcher with both options."""
    seen: dict[str, object] = {}

    def launcher(*, data_dir: Path | None, self_test: bool = False) -> int:
        seen.update(data_dir=data_dir, self_test=self_test)
        return 0

    monkeypatch.setattr("fieldapp.cli.gui.launch", launcher)
    assert main(["--data-dir", str(tmp_path), "gui", "--self-test"]) == 0
    assert seen == {"data_dir": tmp_path, "self_test": True}


GUI_LINES = [
    ["gui"],
    ["gui", "--self-test"],
    ["--data-dir", "/srv/dữ liệu", "gui"],
    ["--data-dir", "relative/folder", "gui", "--self-test"],
    ["--data-dir=/x", "gui"],
    ["--data-dir=/x", "gui", "--self-test"],
]
# Lines the short reading leaves to the parser: other commands, help, mistakes, and forms
# argparse reads in its own way (abbreviations, repeated options, an option as the folder).
PARSER_LINES = [
    [],
    ["--help"],
    ["gui", "--help"],
    ["gui", "--self-test", "--self-test"],
    ["gui", "--self-tes"],
    ["gui", "extra"],
    ["--data-dir", "/x"],
    ["--data-dir", "-x", "gui"],
    ["--data-dir=", "gui"],
    ["--data", "/x", "gui"],
    ["--data-dir", "/x", "--data-dir", "/y", "gui"],
    ["gui", "--data-dir", "/x"],
    ["search", "gui"],
    ["--data-dir", "/x", "search", "Hương"],
]


@pytest.mark.parametrize("argv", GUI_LINES)
def test_opening_the_app_is_read_as_the_parser_reads_it(argv: list[str]) -> None:
    from fieldapp.cli import gui_command

    args = build_parser().parse_args(argv)
    assert gui_command(argv) == (args.data_dir, args.self_test)


@pytest.mark.parametrize("argv", PARSER_LINES)
def test_any_other_line_is_left_to_the_parser(argv: list[str]) -> None:
    from fieldapp.cli import gui_command

    assert gui_command(argv) is None


@pytest.mark.parametrize(
    "argv", [["gui", "--self-test", "--self-test"], ["--data-dir", "-x", "gui"]]
)
def test_lines_left_to_the_parser_still_reach_it(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line the short reading does not take is not refused by it: argparse decides."""
    seen: list[object] = []
    monkeypatch.setattr(
        "fieldapp.cli.gui.launch",
        lambda *, data_dir, self_test=False: seen.append((data_dir, self_test)) or 0,
    )
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    expected = build_parser(only_gui=True)
    try:
        args = expected.parse_args(argv)
    except SystemExit:
        assert code == 2 and seen == []
    else:
        assert code == 0 and seen == [(args.data_dir, args.self_test)]


def test_opening_the_app_does_not_load_the_parser() -> None:
    """`fieldapp gui` hands over to the app without importing argparse or the command groups'
    shared module (PySide6 loads argparse later for its own use)."""
    code = (
        "import sys\n"
        "import fieldapp.cli.gui as g\n"
        "def launch(*, data_dir, self_test=False):\n"
        "    print('LAUNCH', data_dir, self_test)\n"
        "    return 0\n"
        "g.launch = launch\n"
        "from fieldapp.cli import main\n"
        "code = main(['--data-dir', '/tmp/x', 'gui', '--self-test'])\n"
        "loaded = sorted({'argparse', 'fieldapp.cli.common'} & set(sys.modules))\n"
        "print('CODE', code, 'LOADED', loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "LAUNCH /tmp/x True" in done.stdout
    assert "CODE 0 LOADED []" in done.stdout, done.stdout
