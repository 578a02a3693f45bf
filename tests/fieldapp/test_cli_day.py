"""`fieldapp visit add` and `fieldapp pledge add`: an agent's day scripted on the command line,
run through main() against a real store folder."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from fieldapp.cli import main
from fieldapp.store import STORE_FILENAME
from fieldapp.workspace import Workspace

RESIDENTS = (
    "Họ và tên,Ngày sinh,Giới tính,Thôn,Quan hệ\n"
    "Hà Văn Dũng,12/03/1980,Nam,Bản Phố,Chủ hộ\n"
    "Lò Thị Lan,05/09/1982,Nữ,Bản Phố,Vợ\n"
    "Hà Văn Nam,20/01/2008,Nam,Bản Phố,Con\n"
)
# Tables a refused command must leave as they were.
TABLES = ("household", "member", "visit", "pledge", "pledge_event", "receipt", "outbox")


@pytest.fixture(autouse=True)
def _vietnamese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDAPP_LANG", "vi")


class Cli:
    """The command line on one data folder, with its output captured."""

    def __init__(self, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.folder = folder
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        code = main(["--data-dir", str(self.folder), *argv])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *argv: str) -> Any:
        code, out, err = self(*argv, "--json")
        assert code == 0, err
        return json.loads(out)

    def counts(self) -> dict[str, int]:
        conn = sqlite3.connect(self.folder / STORE_FILENAME)
        try:
            return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        finally:
            conn.close()

    def refused(self, *argv: str) -> str:
        """Run a command that must be refused with exit 2 and store nothing; its stderr."""
        before = self.counts()
        code, out, err = self(*argv)
        assert code == 2, (out, err)
        assert out == ""
        assert self.counts() == before
        return err


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """A store folder holding one imported household of three (no cards, no groups)."""
    run = Cli(tmp_path / "data", capsys)
    residents = tmp_path / "danh-sach.csv"
    residents.write_text(RESIDENTS, encoding="utf-8")
    report = run.json("import", str(residents), "--province", "15", "--commune", "04001")
    assert report["members_added"] == 3
    return run


def _household(cli: Cli) -> tuple[str, dict[str, str]]:
    """The imported household's id, and its members' ids by name."""
    hits = cli.json("search", "ha van dung")
    household_id = hits[0]["household_id"]
    with Workspace.open(cli.folder) as ws:
        members = {m.full_name: m.id for m in ws.members.of_household(household_id)}
    return household_id, members


def test_a_scripted_day_visit_pledge_and_receipt(cli: Cli) -> None:
    """Visit, BHYT pledges for the whole household, then a receipt for the printed pledge ids:
    the store holds the visit, the pledges paid at the amounts printed, and one receipt for
    their sum, which is what the calculator gives for three household members."""
    household_id, members = _household(cli)
    visit = cli.json(
        "visit",
        "add",
        "--household",
        household_id,
        "--outcome",
        "pledged",
        "--topic",
        "BHYT hộ gia đình",
        "--notes",
        "Hẹn nộp tiền hôm nay",
    )
    assert visit["household_id"] == household_id and visit["outcome"] == "pledged"

    pledges = cli.json(
        "pledge", "add", "--household", household_id, "--scheme", "bhyt", "--months", "12"
    )
    assert sorted(p["member_id"] for p in pledges) == sorted(members.values())
    assert all(p["status"] == "pledged" and type(p["payable"]) is int for p in pledges)
    # The household ladder: 100 %, 70 %, 60 % of the first member's amount.
    first = pledges[0]["payable"]
    assert [p["payable"] for p in pledges][1:] == [first * 7 // 10, first * 6 // 10]
    with Workspace.open(cli.folder) as ws:
        today = ws.today().isoformat()
    calc = cli.json("calc", "bhyt", "--members", "3", "--months", "12", "--on", today)
    assert sum(p["payable"] for p in pledges) == calc["payable"]

    code, _, err = cli(
        "receipts", "book", "add", "--series", "LC-NTA-26", "--from", "1", "--to", "50"
    )
    assert code == 0, err
    pledge_args = [word for p in pledges for word in ("--pledge", p["id"])]
    receipt = cli.json("receipts", "issue", *pledge_args)
    assert receipt["amount"] == calc["payable"]

    with Workspace.open(cli.folder) as ws:
        stored_visit = ws.visits.get(visit["id"])
        assert (stored_visit.outcome, stored_visit.topics) == ("pledged", ("BHYT hộ gia đình",))
        for printed in pledges:
            stored = ws.pledges.get(printed["id"])
            assert stored.status == "paid"
            assert stored.payable == printed["payable"] and stored.gross == printed["gross"]
        stored_receipt = ws.receipts.get(receipt["id"])
        assert stored_receipt.amount == sum(p["payable"] for p in pledges)
        assert sorted(stored_receipt.pledge_ids) == sorted(p["id"] for p in pledges)
        # A real household's day is all waiting for the next sync.
        assert ws.store.scalar("SELECT count(*) FROM outbox WHERE state = 'local'") == 0


def test_visit_text_output_and_next_visit(cli: Cli) -> None:
    """Without --json the visit is confirmed in words, with the day to come back."""
    household_id, _ = _household(cli)
    code, out, err = cli(
        "visit",
        "add",
        "--household",
        household_id,
        "--outcome",
        "follow_up",
        "--next-visit",
        "2099-01-05",
    )
    assert code == 0, err
    assert "Đã ghi lần thăm hộ Hà Văn Dũng: Hẹn thăm lại" in out
    assert "Hẹn thăm lại: 05/01/2099" in out


def test_visit_refusals(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown outcome or household, or a next visit before the visit, exits 2 with the
    reason and stores nothing; a malformed date is refused by the parser with exit 2."""
    household_id, _ = _household(cli)
    add = ("visit", "add", "--household")
    err = cli.refused(*add, household_id, "--outcome", "vui_ve")
    assert "Kết quả thăm không hợp lệ: vui_ve." in err
    err = cli.refused(*add, "khong-co-ho-nay", "--outcome", "consulted")
    assert "Không tìm thấy hộ gia đình: khong-co-ho-nay" in err
    err = cli.refused(*add, household_id, "--outcome", "consulted", "--next-visit", "2020-01-01")
    assert "Ngày hẹn thăm lại phải sau ngày thăm." in err

    before = cli.counts()
    with pytest.raises(SystemExit) as caught:
        main(
            [
                "--data-dir",
                str(cli.folder),
                *add,
                household_id,
                "--outcome",
                "consulted",
                "--next-visit",
                "05/01/2027",
            ]
        )
    assert caught.value.code == 2
    assert "ngày không hợp lệ: 05/01/2027 (YYYY-MM-DD)" in capsys.readouterr().err
    assert cli.counts() == before


def test_visit_refusal_in_english(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """FIELDAPP_LANG=en gives the reason in English."""
    monkeypatch.setenv("FIELDAPP_LANG", "en")
    err = cli.refused("visit", "add", "--household", "nope", "--outcome", "consulted")
    assert "household not found: nope" in err


def test_pledge_refusals(cli: Cli, tmp_path: Path) -> None:
    """A bad household, a member of another household, months the policy does not allow,
    BHXH without an income or under the floor, an income on BHYT, a member named twice: each
    exits 2 with its reason and stores nothing."""
    household_id, members = _household(cli)
    other = tmp_path / "other.csv"
    other.write_text("Họ và tên,Thôn,Quan hệ\nLý Văn Páo,Bản Lầu,Chủ hộ\n", encoding="utf-8")
    cli.json("import", str(other), "--province", "15", "--commune", "04001")
    stranger = cli.json("search", "ly van pao")[0]["member_id"]
    dung = members["Hà Văn Dũng"]
    add = ("pledge", "add", "--household")

    err = cli.refused(*add, "nope", "--scheme", "bhyt", "--months", "12")
    assert "Không tìm thấy hộ gia đình: nope" in err
    for scheme, extra in (("bhyt", ()), ("bhxh", ("--income", "2000000"))):
        err = cli.refused(
            *add, household_id, "--scheme", scheme, "--member", stranger, "--months", "12", *extra
        )
        assert f"Không tìm thấy thành viên của hộ: {stranger}" in err
    err = cli.refused(*add, household_id, "--scheme", "bhyt", "--months", "5")
    assert "Số tháng đóng phải là một trong: 3, 6, 12 (nhận được 5)" in err
    err = cli.refused(*add, household_id, "--scheme", "bhxh", "--member", dung, "--months", "12")
    assert "BHXH tự nguyện cần --income" in err
    err = cli.refused(
        *add,
        household_id,
        "--scheme",
        "bhxh",
        "--member",
        dung,
        "--months",
        "12",
        "--income",
        "100000",
    )
    assert "1.500.000 đ" in err
    err = cli.refused(
        *add, household_id, "--scheme", "bhyt", "--months", "12", "--income", "2000000"
    )
    assert "--income chỉ dùng cho BHXH tự nguyện" in err
    for scheme, extra in (("bhyt", ()), ("bhxh", ("--income", "2000000"))):
        err = cli.refused(
            *add,
            household_id,
            "--scheme",
            scheme,
            "--member",
            dung,
            "--member",
            dung,
            "--months",
            "12",
            *extra,
        )
        assert "Một thành viên được chọn hai lần." in err


def test_a_refused_member_stores_none_of_the_others(cli: Cli) -> None:
    """BHXH for two members where the second is unknown: neither pledge is stored."""
    household_id, members = _household(cli)
    err = cli.refused(
        "pledge",
        "add",
        "--household",
        household_id,
        "--scheme",
        "bhxh",
        "--member",
        members["Hà Văn Dũng"],
        "--member",
        "ai-do",
        "--months",
        "12",
        "--income",
        "2000000",
    )
    assert "Không tìm thấy thành viên của hộ: ai-do" in err


def test_pledge_without_members_takes_those_who_can_join(cli: Cli) -> None:
    """Without --member, BHYT goes to every member whose card nobody else pays for (a child
    under 6 with a state-paid card is left out, as the pledge dialog leaves them out)."""
    household_id, members = _household(cli)
    with Workspace.open(cli.folder) as ws:
        child = ws.members.add(
            household_id,
            full_name="Hà Thị Mai",
            relation="Con",
            sex="female",
            bhyt_group="child_under_6",
        )
    pledges = cli.json(
        "pledge", "add", "--household", household_id, "--scheme", "bhyt", "--months", "6"
    )
    assert sorted(p["member_id"] for p in pledges) == sorted(members.values())
    assert child.id not in {p["member_id"] for p in pledges}
    assert {p["params"]["months"] for p in pledges} == {6}


def test_bhxh_pledge_for_one_member_with_the_calculators_amount(cli: Cli) -> None:
    """BHXH for a chosen member: one pledge at the amount `calc bhxh` gives, printed in words
    too without --json."""
    household_id, members = _household(cli)
    with Workspace.open(cli.folder) as ws:
        today = ws.today().isoformat()
    code, out, err = cli(
        "pledge",
        "add",
        "--household",
        household_id,
        "--scheme",
        "bhxh",
        "--member",
        members["Lò Thị Lan"],
        "--months",
        "12",
        "--income",
        "2.000.000",
    )
    assert code == 0, err
    calc = cli.json(
        "calc", "bhxh", "--income", "2000000", "--months", "12", "--group", "other", "--on", today
    )
    with Workspace.open(cli.folder) as ws:
        (pledge,) = ws.pledges.of_household(household_id)
    assert (pledge.member_id, pledge.scheme) == (members["Lò Thị Lan"], "bhxh_voluntary")
    assert pledge.payable == calc["payable"]
    assert "Lò Thị Lan: BHXH tự nguyện, 12 tháng — " in out
    assert "Đã ghi 1 cam kết" in out


def test_work_on_a_demo_household_is_demo_too(tmp_path: Path, cli: Cli) -> None:
    """A visit and pledges recorded from the command line on a demo household are kept on the
    laptop, like the demo itself; `demo --remove` then takes them away with it and leaves the
    imported household and its work."""
    real_id, _ = _household(cli)
    code, out, err = cli("demo", "--households", "3", "--force")
    assert code == 0, err
    assert "Dữ liệu mẫu chỉ ở trên máy này, không bao giờ được gửi lên máy chủ" in out
    with Workspace.open(cli.folder) as ws:
        demo_id = str(ws.store.scalar("SELECT id FROM household WHERE demo = 1 LIMIT 1"))
    cli.json("visit", "add", "--household", demo_id, "--outcome", "consulted")
    pledges = cli.json(
        "pledge", "add", "--household", demo_id, "--scheme", "bhyt", "--months", "12"
    )
    real_visit = cli.json("visit", "add", "--household", real_id, "--outcome", "consulted")
    with Workspace.open(cli.folder) as ws:
        states = {
            str(r[0]): str(r[1])
            for r in ws.store.query(
                "SELECT entity_id, state FROM outbox WHERE entity IN ('visit', 'pledge')"
            )
        }
    assert {states[p["id"]] for p in pledges} == {"local"}
    assert states[real_visit["id"]] == "pending"

    removed = cli.json("demo", "--remove")
    assert removed["households"] == 3 and removed["pledges"] >= len(pledges)
    code, out, _ = cli("demo", "--remove")
    assert (code, out.strip()) == (0, "Không có dữ liệu mẫu để xoá.")
    with Workspace.open(cli.folder) as ws:
        assert [h.id for h in ws.households.in_village("Bản Phố")] == [real_id]
        assert ws.visits.get(real_visit["id"]).household_id == real_id
        assert ws.members.count() == 3


def test_demo_remove_says_what_it_removed(cli: Cli) -> None:
    """`demo --remove` without --json lists what went, in Vietnamese."""
    cli("demo", "--households", "2", "--force")
    code, out, err = cli("demo", "--remove")
    assert code == 0, err
    assert out.startswith("Đã xoá dữ liệu mẫu: 2 hộ, ")
    assert "Dữ liệu thật không bị động đến." in out
