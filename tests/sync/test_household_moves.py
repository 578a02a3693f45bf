"""A household moved out of an agent's communes leaves that agent's laptop on its next pull,
with a note, instead of every later edit of it being refused for ever."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fieldapp.errors import ValidationError
from tests.sync.client_fixtures import COMMUNE, OTHER, Laptop, laptop_factory
from tests.sync.conftest import Server

MakeLaptop = Callable[[str], Laptop]


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    yield from laptop_factory(server, tmp_path)


def _moved_by_another_agent(server: Server, laptops: MakeLaptop) -> tuple[Laptop, Laptop, str]:
    """Agent A serves one commune, agent B two; B moves A's household to the other commune."""
    a, b = laptops("a"), laptops("b")
    a.enrol(server.add_agent("Lò Thị Mai", [COMMUNE]))
    b.enrol(server.add_agent("Giàng A Pó", [COMMUNE, OTHER]))
    home = a.add_household(head="Vàng Seo Sử")
    assert a.sync().ok and b.sync().ok
    b.ws.households.update(home, commune_code=OTHER)
    assert b.sync().ok
    return a, b, home


def test_the_laptop_learns_of_the_move_and_takes_the_household_off_its_lists(
    server: Server, laptops: MakeLaptop
) -> None:
    """A's next sync says where the household went; it leaves the village lists, the search
    and the count, but the household and its history stay on the laptop."""
    a, _b, home = _moved_by_another_agent(server, laptops)
    before = a.ws.households.count()
    result = a.sync()
    assert result.ok and result.moved == [("Vàng Seo Sử", OTHER)]
    [note] = result.moved_notes()
    assert "Vàng Seo Sử" in note and OTHER in note
    assert a.ws.households.count() == before - 1
    assert all(h.id != home for h in a.ws.households.in_village("Bản Phố"))
    assert a.ws.search.find("vang seo su") == []
    assert a.ws.households.get(home).moved_to == OTHER


def test_a_change_to_a_moved_household_is_refused_on_the_laptop_not_at_the_province(
    server: Server, laptops: MakeLaptop
) -> None:
    """Once A knows of the move, an edit or a visit is refused with a reason before it reaches
    the outbox, so nothing is left refused at the province for ever."""
    a, _b, home = _moved_by_another_agent(server, laptops)
    assert a.sync().ok
    pending = a.pending()
    with pytest.raises(ValidationError) as caught:
        a.ws.households.update(home, phone="0987654321")
    assert caught.value.problems[0].code == "household_moved"
    assert "đã được chuyển sang xã" in caught.value.problems[0].vi
    with pytest.raises(ValidationError):
        a.ws.visits.record(home, outcome="consulted")
    assert a.pending() == pending
    result = a.sync()
    assert result.ok and result.refused == []


def test_a_household_moved_back_returns_to_the_lists(server: Server, laptops: MakeLaptop) -> None:
    """When the household comes back into A's communes, A's next pull brings it back."""
    a, b, home = _moved_by_another_agent(server, laptops)
    assert a.sync().ok
    b.ws.households.update(home, commune_code=COMMUNE, phone="0977777777")
    assert b.sync().ok
    assert a.sync().ok
    back = a.ws.households.get(home)
    assert back.moved_to is None and back.phone == "0977777777"
    assert [h.head_name for h in a.ws.search.find("vang seo su")] == ["Vàng Seo Sử"]
    a.ws.households.update(home, notes="Đã về xã cũ")
    assert a.sync().ok
