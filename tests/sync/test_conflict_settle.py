"""Settling a field that several laptops edited: every open conflict over it closes at once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from sync.server import cli
from sync.server.schema import changes, field_conflicts, households
from tests.sync.client_fixtures import COMMUNE, Laptop, laptop_factory
from tests.sync.conftest import Server
from tests.sync.test_web import add_supervisor, csrf_of, signed_in

MakeLaptop = Callable[[str], Laptop]
PHONES = {"a": "0911111111", "b": "0922222222", "c": "0933333333"}


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    yield from laptop_factory(server, tmp_path)


@dataclass
class Edited:
    laptops: dict[str, Laptop]
    home: str
    # Open conflicts over the phone, oldest first, and the one over the address.
    phone: list[int]
    address: int


def _three_laptops_edit_one_phone(server: Server, laptops: MakeLaptop) -> Edited:
    """Three agents change the same household's phone without seeing each other's change;
    the last one also changes the address after another did."""
    made = {name: laptops(name) for name in PHONES}
    for name, laptop in made.items():
        laptop.enrol(server.add_agent(f"Nhân viên {name.upper()}", [COMMUNE]))
    home = made["a"].add_household()
    for laptop in made.values():
        assert laptop.sync().ok
    for index, (name, laptop) in enumerate(made.items()):
        laptop.clock.advance(minutes=index)
        changes_made = {"phone": PHONES[name]}
        if name != "a":
            changes_made["address"] = f"Thôn {index}"
        laptop.ws.households.update(home, **changes_made)
    for laptop in made.values():
        assert laptop.sync().ok
    with server.engine.connect() as conn:
        found = conn.execute(sa.select(field_conflicts).order_by(field_conflicts.c.id)).all()
    rows = sorted(found, key=lambda r: (r.field != "phone", r.id))
    assert [(r.field, r.incoming_value) for r in rows] == [
        ("phone", PHONES["b"]),
        ("phone", PHONES["c"]),
        ("address", "Thôn 2"),
    ]
    return Edited(made, home, [rows[0].id, rows[1].id], rows[2].id)


def _settled(server: Server) -> dict[int, tuple[str | None, object]]:
    with server.engine.connect() as conn:
        rows = conn.execute(sa.select(field_conflicts)).all()
    return {int(r.id): (r.resolved_at, r.resolution) for r in rows}


def _feed_rows_after(server: Server, cursor: int) -> list[sa.Row[object]]:
    with server.engine.connect() as conn:
        return list(conn.execute(sa.select(changes).where(changes.c.cursor > cursor)).all())


def _last_cursor(server: Server) -> int:
    with server.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(changes.c.cursor))).scalar() or 0)


def test_settling_on_the_page_closes_every_open_conflict_over_the_field(
    server: Server, laptops: MakeLaptop
) -> None:
    """Picking one conflict's value closes both phone conflicts, writes the value once, and
    the page says how many it closed; the address conflict stays open."""
    edited = _three_laptops_edit_one_phone(server, laptops)
    first, second = edited.phone
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    before = _last_cursor(server)
    with signed_in(server, "xa1") as client:
        page = client.get(f"/web/conflicts/{second}").text
        assert "còn 1 xung đột khác" in page and f"/web/conflicts/{first}" in page
        done = client.post(
            f"/web/conflicts/{second}", data={"csrf": csrf_of(page), "choice": "server"}
        )
        assert done.status_code == 303
        shown = client.get(done.headers["location"]).text
        assert "Đã đóng cùng lúc <strong>2 xung đột</strong>" in shown
        assert f"#{first}, #{second}" in shown
        # Either conflict's page tells the same story.
        assert "2 xung đột" in client.get(f"/web/conflicts/{first}").text
        listed = client.get("/web/conflicts").text
        assert f"/web/conflicts/{edited.address}" in listed
        assert f"/web/conflicts/{first}" not in listed

    settled = _settled(server)
    for conflict in (first, second):
        resolved_at, resolution = settled[conflict]
        assert resolved_at is not None and isinstance(resolution, dict)
        assert resolution["value"] == PHONES["b"] and resolution["by"] == "xa1"
        assert resolution["closed"] == [first, second] and resolution["picked"] == second
    # b's phone is the server side of the second conflict and the incoming side of the first.
    assert settled[first][1]["choice"] == "incoming"  # type: ignore[index]
    assert settled[second][1]["choice"] == "server"  # type: ignore[index]
    assert settled[edited.address][0] is None

    fed = _feed_rows_after(server, before)
    assert len(fed) == 1 and fed[0].data["phone"] == PHONES["b"]
    with server.engine.connect() as conn:
        stored = conn.execute(sa.select(households.c.data, households.c.field_hlc)).one()
    assert stored.data["phone"] == PHONES["b"] and stored.field_hlc["phone"] == fed[0].hlc
    for laptop in edited.laptops.values():
        assert laptop.sync().ok
        assert laptop.ws.households.get(edited.home).phone == PHONES["b"]


def test_cli_resolve_settles_the_field_like_the_page(
    server: Server, laptops: MakeLaptop, capsys: pytest.CaptureFixture[str]
) -> None:
    """`fieldapp-server conflicts resolve ID --pick incoming` closes both phone conflicts and
    says so; settling one of them again is refused."""
    edited = _three_laptops_edit_one_phone(server, laptops)
    first, second = edited.phone
    before = _last_cursor(server)
    base = ["--database-url", server.database_url, "conflicts"]
    capsys.readouterr()
    status = cli.main(
        [*base, "resolve", str(first), "--pick", "incoming", "--by", "tinh"], clock=server.clock
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "đã đóng 2 xung đột" in out and f"#{first}, #{second}" in out
    assert json.dumps(PHONES["b"]) in out

    settled = _settled(server)
    assert all(settled[c][0] is not None for c in (first, second))
    assert settled[first][1]["by"] == "tinh"  # type: ignore[index]
    assert settled[edited.address][0] is None
    assert len(_feed_rows_after(server, before)) == 1

    status = cli.main([*base, "resolve", str(second), "--pick", "server"])
    out, err = capsys.readouterr()
    assert status == 1 and "đã được xử lý" in err
    status = cli.main([*base, "resolve", str(edited.address), "--pick", "server", "--json"])
    out, err = capsys.readouterr()
    assert status == 0, err
    answer = json.loads(out)
    assert answer["closed"] == [edited.address] and answer["field"] == "address"
    assert answer["value"] == "Thôn 1"
    status = cli.main([*base, "list"])
    out, _err = capsys.readouterr()
    assert status == 0 and "Không có xung đột nào cần xử lý" in out
    for laptop in edited.laptops.values():
        assert laptop.sync().ok
        home = laptop.ws.households.get(edited.home)
        assert (home.phone, home.address) == (PHONES["b"], "Thôn 1")
