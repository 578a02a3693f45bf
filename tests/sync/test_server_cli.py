"""The fieldapp-server command, invoked in-process against a real database."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from sync.protocol import signing, wire
from sync.protocol.clock import FixedClock
from sync.protocol.hlc import HybridClock
from sync.protocol.ids import is_uuid
from sync.server import cli, devices
from sync.server.devices import CODE_ALPHABET
from sync.server.schema import open_engine
from tests.sync.conftest import START, household, visit

COMMUNE = "04001"


class Cli:
    """Runs main([...]) with the test database and returns (status, stdout, stderr)."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url = url
        self.capsys = capsys
        self.clock = FixedClock(START)

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        status = cli.main(["--database-url", self.url, *args], clock=self.clock)
        out, err = self.capsys.readouterr()
        return status, out, err

    def ok(self, *args: str) -> str:
        status, out, err = self(*args)
        assert status == 0, err
        return out.strip()

    def count(self, table: str) -> int:
        engine = open_engine(self.url)
        try:
            with engine.connect() as conn:
                return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() or 0)
        finally:
            engine.dispose()


@pytest.fixture
def run(database_url: str, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(database_url, capsys)


def _enrol(run: Cli, agent_id: str) -> wire.EnrolResponse:
    code = run.ok("enrol-code", agent_id)
    engine = open_engine(run.url)
    try:
        with engine.begin() as conn:
            return devices.enrol(conn, code=code, device_name="laptop", clock=run.clock)
    finally:
        engine.dispose()


def _batch_file(enrolment: wire.EnrolResponse, tmp_path: Path) -> tuple[Path, list[str]]:
    clock = HybridClock(enrolment["device_id"])
    home = household(COMMUNE)
    call = visit(home["id"], enrolment["agent_id"])
    records = [
        wire.Record(
            seq=seq,
            entity=entity,
            id=data["id"],
            op="insert",
            hlc=clock.tick(seq),
            data=data,
            base=None,
        )
        for seq, (entity, data) in enumerate([("household", home), ("visit", call)], start=1)
    ]
    batch = wire.Batch(
        protocol=1,
        device_id=enrolment["device_id"],
        batch_id="01937b2a-0000-7000-8000-000000000001",
        seq_from=1,
        seq_to=2,
        records=records,
    )
    path = tmp_path / "batch.fieldapp"
    path.write_bytes(
        signing.write_batch_file(batch, signing.decode_device_key(enrolment["device_key"]))
    )
    return path, [home["id"], call["id"]]


def test_agent_add_prints_id_and_list_shows_it(run: Cli) -> None:
    """agent add prints the new id; agent list shows the communes."""
    agent_id = run.ok("agent", "add", "Trần Thị Bình", "--commune", COMMUNE, "--commune", "04002")
    assert is_uuid(agent_id)
    listed = json.loads(run.ok("agent", "list", "--json"))
    assert listed == [{"id": agent_id, "name": "Trần Thị Bình", "communes": [COMMUNE, "04002"]}]


def test_bad_commune_is_a_clear_error_without_traceback(run: Cli) -> None:
    """User errors exit non-zero with a message in Vietnamese (English with FIELDAPP_LANG=en)."""
    status, _, err = run("agent", "add", "A", "--commune", "4001")
    assert status == 1
    assert err.startswith("Lỗi: Mã xã phải gồm 5 chữ số")
    assert "Traceback" not in err


def test_messages_in_english(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """FIELDAPP_LANG=en switches messages to English."""
    monkeypatch.setenv("FIELDAPP_LANG", "en")
    status, _, err = run("revoke", "01937b2a-0000-7000-8000-000000000009")
    assert status == 1
    assert err.strip() == "Error: No such device: 01937b2a-0000-7000-8000-000000000009"


def test_enrol_code_is_ten_unambiguous_characters(run: Cli) -> None:
    """enrol-code prints a one-time code from the unambiguous alphabet; only its hash is kept."""
    agent_id = run.ok("agent", "add", "A", "--commune", COMMUNE)
    code = run.ok("enrol-code", agent_id, "--valid-hours", "24")
    assert re.fullmatch(f"[{CODE_ALPHABET}]{{10}}", code)
    status, _, err = run("enrol-code", "no-such-agent")
    assert status == 1 and "no-such-agent" in err


def test_receipt_book_add_refuses_overlaps(run: Cli) -> None:
    """Receipt ranges in one series never overlap; other series are independent."""
    agent_id = run.ok("agent", "add", "A", "--commune", COMMUNE)
    assert is_uuid(
        run.ok("receipt-book", "add", agent_id, "--series", "AA/26", "--from", "1", "--to", "50")
    )
    status, _, err = run(
        "receipt-book", "add", agent_id, "--series", "AA/26", "--from", "50", "--to", "60"
    )
    assert status == 1 and "AA/26 1–50" in err
    run.ok("receipt-book", "add", agent_id, "--series", "AB/26", "--from", "1", "--to", "50")
    assert run.count("receipt_books") == 2


def test_target_set_replaces(run: Cli) -> None:
    """Setting a target twice for the same month keeps one row with the new count."""
    agent_id = run.ok("agent", "add", "A", "--commune", COMMUNE)
    run.ok("target", "set", agent_id, "--scheme", "bhyt", "--month", "2026-12", "--count", "40")
    out = run.ok(
        "target", "set", agent_id, "--scheme", "bhyt", "--month", "2026-12", "--count", "45"
    )
    assert "45" in out
    assert run.count("targets") == 1
    assert run.count("changes WHERE entity = 'target'") == 2
    status, _, _ = run(
        "target", "set", agent_id, "--scheme", "bhyt", "--month", "12-2026", "--count", "1"
    )
    assert status == 1


def test_policy_publish(run: Cli, tmp_path: Path) -> None:
    """A policy is published once; republishing the same is a no-op, other content is refused."""
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"version": "vn-2026.11", "base": 2530000}), encoding="utf-8")
    assert "vn-2026.11" in run.ok("policy", "publish", str(policy))
    assert "trước đó" in run.ok("policy", "publish", str(policy))
    policy.write_text(json.dumps({"version": "vn-2026.11", "base": 1}), encoding="utf-8")
    status, _, err = run("policy", "publish", str(policy))
    assert status == 1 and "phiên bản mới" in err
    policy.write_text("[]", encoding="utf-8")
    assert run("policy", "publish", str(policy))[0] == 1
    assert run("policy", "publish", str(tmp_path / "missing.json"))[0] == 1
    assert run.count("changes WHERE entity = 'policy'") == 1


def test_repository_policy_file_publishes(run: Cli) -> None:
    """The policy table shipped with the app is a valid policy document."""
    shipped = Path(__file__).parents[2] / "resources" / "policy" / "vn-2026.11.json"
    assert run("policy", "publish", str(shipped))[0] == 0


def test_revoke(run: Cli) -> None:
    """revoke marks the device; revoking twice says so."""
    agent_id = run.ok("agent", "add", "A", "--commune", COMMUNE)
    device_id = _enrol(run, agent_id)["device_id"]
    assert device_id in run.ok("revoke", device_id)
    status, _, err = run("revoke", device_id)
    assert status == 1 and "thu hồi" in err


def test_import_round_trip_and_idempotent(run: Cli, tmp_path: Path) -> None:
    """A USB batch file is applied once, an ack file is written, a second import changes nothing."""
    agent_id = run.ok("agent", "add", "A", "--commune", COMMUNE)
    enrolment = _enrol(run, agent_id)
    path, _ = _batch_file(enrolment, tmp_path)
    out = run.ok("import", str(path))
    assert "nhận 2, từ chối 0, xung đột 0" in out
    key = signing.decode_device_key(enrolment["device_key"])
    ack = signing.read_ack_file(
        (tmp_path / "batch.fieldapp.ack").read_bytes(), enrolment["device_id"], key
    )
    assert ack["accepted"] == [1, 2]
    other = tmp_path / "again.ack"
    run.ok("import", str(path), "--ack-out", str(other))
    assert signing.read_ack_file(other.read_bytes(), enrolment["device_id"], key) == ack
    assert run.count("households") == 1 and run.count("visits") == 1
    assert run.count("batches WHERE via = 'file'") == 1


def test_import_tampered_file_refused_whole(run: Cli, tmp_path: Path) -> None:
    """Changing one byte of the batch makes the whole file refused, with nothing applied."""
    enrolment = _enrol(run, run.ok("agent", "add", "A", "--commune", COMMUNE))
    path, _ = _batch_file(enrolment, tmp_path)
    envelope = json.loads(path.read_text(encoding="utf-8"))
    envelope["batch"]["records"][1]["data"]["outcome"] = "paid"
    path.write_text(json.dumps(envelope, ensure_ascii=False), encoding="utf-8")
    status, _, err = run("import", str(path))
    assert status == 1 and "Chữ ký" in err
    assert run.count("households") == 0 and run.count("visits") == 0
    assert not (tmp_path / "batch.fieldapp.ack").exists()


def test_import_foreign_or_revoked_device_refused(run: Cli, tmp_path: Path) -> None:
    """A file from a device this server never enrolled, or a revoked one, is refused."""
    enrolment = _enrol(run, run.ok("agent", "add", "A", "--commune", COMMUNE))
    foreign = wire.EnrolResponse(
        **{**enrolment, "device_id": "01937b2a-0000-7000-8000-0000000000ff"}
    )
    path, _ = _batch_file(foreign, tmp_path)
    status, _, err = run("import", str(path))
    assert status == 1 and "không được đăng ký" in err
    path, _ = _batch_file(enrolment, tmp_path)
    run.ok("revoke", enrolment["device_id"])
    status, _, err = run("import", str(path))
    assert status == 1 and "thu hồi" in err
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x00\x01garbage")
    assert run("import", str(garbage))[0] == 1
    assert run.count("households") == 0


def test_conflicts_list_and_stats(run: Cli, tmp_path: Path) -> None:
    """conflicts list and stats print text and JSON."""
    agent_id = run.ok("agent", "add", "A", "--commune", COMMUNE)
    path, _ = _batch_file(_enrol(run, agent_id), tmp_path)
    run.ok("import", str(path))
    assert "Không có xung đột" in run.ok("conflicts", "list")
    assert json.loads(run.ok("conflicts", "list", "--json")) == []
    stats = json.loads(run.ok("stats", "--json"))
    assert stats["entities"]["household"] == 1 and stats["entities"]["visit"] == 1
    assert stats["agents"][0]["counts"]["visit"] == 1
    assert stats["agents"][0]["active_devices"] == 1
    assert "household" in run.ok("stats")


def _commands(parser: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import argparse

    found: list[tuple[str, ...]] = []
    for action in getattr(parser, "_actions", []):
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*prefix, name))
                found.extend(_commands(sub, (*prefix, name)))
    return found


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    """--help works on every command and sub-command and says what it does."""
    commands = _commands(cli.build_parser())
    assert ("receipt-book", "add") in commands and ("import",) in commands
    for command in [(), *commands]:
        with pytest.raises(SystemExit) as exit_info:
            cli.main([*command, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert "usage:" in out
        description = out.split("\n\n")[1].strip()
        assert description and not description.startswith(("positional", "options")), command


def test_default_data_dir_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--data-dir creates DIR/server.sqlite3."""
    assert (
        cli.main(["--data-dir", str(tmp_path / "d"), "agent", "add", "A", "--commune", COMMUNE])
        == 0
    )
    assert (tmp_path / "d" / "server.sqlite3").exists()
    capsys.readouterr()
