"""Demo data stays on the laptop: the sync client against the real server on a loopback port."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from fieldapp.cli import main as fieldapp_main
from fieldapp.demo import create_demo, remove_demo
from tests.sync.client_fixtures import COMMUNE, Laptop, laptop_factory, server_counts
from tests.sync.conftest import Server

MakeLaptop = Callable[[str], Laptop]


@pytest.fixture
def laptops(server_now: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    """Laptops by name on their own store files, talking to the real server; the command line
    reads the system clock, so the server's stands at the real time."""
    yield from laptop_factory(server_now, tmp_path)


def _real_work(laptop: Laptop) -> str:
    """A real household with a member, a visit and a pledge; its id."""
    home = laptop.add_household()
    head = laptop.ws.members.add(home, full_name="Nguyễn Văn An", relation="chủ hộ", sex="male")
    laptop.ws.visits.record(home, outcome="pledged")
    laptop.ws.pledges.pledge_bhyt_household(
        home, member_ids=[head.id], months=12, start=dt.date(2026, 12, 1)
    )
    return home


def _demo_work(laptop: Laptop) -> list[str]:
    """A demo commune of 4 households, and an agent's visit and pledge on one of them; the
    demo households' ids."""
    create_demo(laptop.ws, households=4, seed=7)
    ids = [str(r[0]) for r in laptop.ws.store.query("SELECT id FROM household WHERE demo = 1")]
    laptop.ws.visits.record(ids[0], outcome="consulted", next_visit=dt.date(2026, 12, 20))
    member = laptop.ws.members.of_household(ids[0])[0]
    laptop.ws.pledges.pledge_bhxh(member.id, income=2_000_000, months=12, start=laptop.ws.today())
    return ids


def _server_ids(server: Server, table: str) -> set[str]:
    with server.engine.connect() as conn:
        return {str(r[0]) for r in conn.execute(sa.text(f"SELECT id FROM {table}"))}


def test_demo_households_and_work_on_them_are_never_uploaded(
    server_now: Server,
    laptops: MakeLaptop,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the real household's records reach the server; `sync run` says how many demo
    changes stayed on the laptop, and nothing is left pending or refused."""
    monkeypatch.setenv("FIELDAPP_LANG", "vi")
    laptop = laptops("a")
    laptop.enrol(server_now.add_agent("Trần Thị Bình", [COMMUNE]))
    home = _real_work(laptop)
    demo_ids = _demo_work(laptop)
    real_changes = laptop.pending()
    kept = int(laptop.ws.store.scalar("SELECT count(*) FROM outbox WHERE state = 'local'"))
    # Households, members, visits, pledges and their events of the demo, the agent's own too.
    assert kept > len(demo_ids) * 2
    assert real_changes == 5

    data = ["--data-dir", str(laptop.data_dir)]
    assert fieldapp_main([*data, "sync", "run"]) == 0
    out = capsys.readouterr().out
    assert f"Đã gửi {real_changes} bản ghi: máy chủ nhận {real_changes}, từ chối 0." in out
    assert f"{kept} thay đổi của dữ liệu mẫu được giữ lại trên máy, không gửi lên máy chủ." in out
    assert "Còn chờ gửi: 0" in out

    counts = server_counts(server_now)
    expected = {"household": 1, "member": 1, "visit": 1, "pledge": 1, "pledge_event": 1}
    assert {k: counts[k] for k in expected} == expected
    assert _server_ids(server_now, "households") == {home}
    assert laptop.pending() == 0
    assert laptop.ws.store.scalar("SELECT count(*) FROM outbox WHERE state = 'local'") == kept

    # A later run sends nothing new and still reports the demo changes kept here.
    assert fieldapp_main([*data, "sync", "run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["sent"], report["kept_local"]) == (True, 0, kept)
    assert server_counts(server_now) == counts


def test_after_removing_the_demo_nothing_is_kept_back(
    server_now: Server,
    laptops: MakeLaptop,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once the demo is removed, a sync sends the real work only and reports no kept changes;
    the USB export leaves demo changes out as the upload does."""
    monkeypatch.setenv("FIELDAPP_LANG", "en")
    laptop = laptops("a")
    laptop.enrol(server_now.add_agent("Trần Thị Bình", [COMMUNE]))
    _demo_work(laptop)
    _real_work(laptop)
    data = ["--data-dir", str(laptop.data_dir)]
    usb = laptop.data_dir / "lo.fabatch"
    assert fieldapp_main([*data, "sync", "export", "--out", str(usb)]) == 0
    out = capsys.readouterr().out
    assert "5 record(s)" in out
    assert "change(s) to demo data kept on this laptop" in out

    removed = remove_demo(laptop.ws)
    assert removed.households == 4
    result = laptop.sync()
    assert result.ok, result.as_dict()
    assert (result.sent, result.kept_local, result.kept_local_note()) == (5, 0, None)
    assert server_counts(server_now)["household"] == 1
