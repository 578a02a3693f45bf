"""Households: validation, normalisation, field-wise updates and their outbox rows."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest

from fieldapp.errors import NotFoundError, ValidationError
from fieldapp.model import Household
from fieldapp.store import Store
from fieldapp.workspace import Workspace
from tests.fieldapp.conftest import FailsHalfWay, Refused, field_clocks, outbox_rows


def test_add_household_stores_fields_outbox_and_search_row(
    workspace: Workspace, counts: Callable[[Store], dict[str, int]]
) -> None:
    """A new household is stored normalised, with one outbox insert and one search row."""
    household = workspace.households.add(
        province_code="15",
        commune_code="99001",
        village="  Thôn   Nậm Mòn ",
        head_name="Lê Văn An",
        address="Thôn Nậm Mòn",
        phone="+84 912 345 678",
        groups=["farmer", "near_poor", "farmer"],
        best_months=[8, 7, 8],
        notes="Hẹn sau thu hoạch",
    )
    assert household.village == "Thôn Nậm Mòn"
    assert household.phone == "0912345678"
    assert household.groups == ("farmer", "near_poor")
    assert household.best_months == (7, 8)
    assert workspace.households.get(household.id) == household
    assert counts(workspace.store) == {
        "household": 1,
        "member": 0,
        "visit": 0,
        "pledge": 0,
        "pledge_event": 0,
        "outbox": 1,
        "search_index": 1,
    }
    (row,) = outbox_rows(workspace)
    assert (row["entity"], row["entity_id"], row["op"], row["state"]) == (
        "household",
        household.id,
        "insert",
        "pending",
    )
    assert row["base"] is None
    assert row["data"]["head_name"] == "Lê Văn An"
    assert row["data"]["groups"] == ["farmer", "near_poor"]
    clocks = field_clocks(workspace, "household", household.id)
    assert set(clocks) >= {"head_name", "village", "phone", "groups", "best_months"}
    assert set(clocks.values()) == {row["hlc"]}


BAD_HOUSEHOLDS = [
    ("province_code", "1", "province_code"),
    ("province_code", "ab", "province_code"),
    ("province_code", "150", "province_code"),
    ("commune_code", "9900", "commune_code"),
    ("commune_code", "99a01", "commune_code"),
    ("village", "", "village_required"),
    ("village", "   ", "village_required"),
    ("head_name", "Lê Văn 2", "name_has_digit"),
    ("head_name", "", "name_required"),
    ("phone", "12345", "phone_format"),
    ("phone", "0112345678", "phone_format"),
    ("groups", ["farmer", "rich"], "unknown_group"),
    ("best_months", [13], "bad_month"),
    ("best_months", [0], "bad_month"),
]


@pytest.mark.parametrize(("field", "value", "code"), BAD_HOUSEHOLDS)
def test_bad_household_is_refused_and_nothing_stored(
    add_household: Callable[..., Household],
    stores_nothing: Refused,
    field: str,
    value: Any,
    code: str,
) -> None:
    """Each invalid field raises ValidationError in both languages and writes no row at all."""
    with stores_nothing(ValidationError) as caught:
        add_household(**{field: value})
    error = caught.value
    assert code in [p.code for p in error.problems]
    assert all(p.field == field for p in error.problems)
    assert error.vi and error.en and error.vi != error.en
    assert error.message("en") == error.en
    assert error.message("vi") == error.vi


def test_nfd_input_is_stored_as_nfc(
    workspace: Workspace, add_household: Callable[..., Household]
) -> None:
    """Decomposed text typed with Unikey's tổ hợp mode is stored composed."""
    household = add_household(
        head_name=unicodedata.normalize("NFD", "Đặng Thị Hoà"),
        village=unicodedata.normalize("NFD", "Bản Lầu Thí Ngài"),
    )
    stored = workspace.store.one(
        "SELECT head_name, village FROM household WHERE id = ?", (household.id,)
    )
    assert stored is not None
    assert stored["head_name"] == unicodedata.normalize("NFC", "Đặng Thị Hoà")
    assert stored["village"] == unicodedata.normalize("NFC", "Bản Lầu Thí Ngài")
    assert unicodedata.is_normalized("NFC", json.dumps(outbox_rows(workspace), ensure_ascii=False))


def test_update_writes_only_changed_fields_with_base_clocks(
    workspace: Workspace, add_household: Callable[..., Household], clock: Any
) -> None:
    """An update sends only the fields that change, each with the clock it replaces."""
    household = add_household()
    before = field_clocks(workspace, "household", household.id)
    clock.advance(minutes=5)
    updated = workspace.households.update(
        household.id,
        phone="0987 654 321",
        village="Thôn Nậm Mòn",  # unchanged
        best_months=[8, 7],  # unchanged once normalised
        notes="Có ao cá",
    )
    assert updated.phone == "0987654321"
    assert updated.notes == "Có ao cá"
    assert updated.updated_at > household.updated_at
    rows = outbox_rows(workspace)
    assert len(rows) == 2
    change = rows[-1]
    assert change["op"] == "update"
    assert change["hlc"] > rows[0]["hlc"]
    assert change["data"] == {
        "id": household.id,
        "commune_code": household.commune_code,
        "phone": "0987654321",
        "notes": "Có ao cá",
    }
    assert change["base"] == {"phone": before["phone"], "notes": before["notes"]}
    after = field_clocks(workspace, "household", household.id)
    assert after["phone"] == after["notes"] == change["hlc"]
    assert after["village"] == before["village"]


def test_update_that_changes_nothing_writes_no_outbox_row(
    workspace: Workspace, add_household: Callable[..., Household]
) -> None:
    """Saving the same values (even typed in NFD) leaves the record and the outbox untouched."""
    household = add_household(head_name="Đặng Văn Đức")
    same = workspace.households.update(
        household.id,
        head_name=unicodedata.normalize("NFD", "Đặng  Văn Đức "),
        phone="091 234 5678",
        groups=["farmer"],
    )
    assert same == household
    assert workspace.pending_sync() == 1


def test_successive_updates_chain_their_base_clocks(
    workspace: Workspace, add_household: Callable[..., Household]
) -> None:
    """The second edit of a field names the first edit's clock as its base."""
    household = add_household()
    workspace.households.update(household.id, notes="một")
    workspace.households.update(household.id, notes="hai")
    rows = outbox_rows(workspace)
    assert [r["op"] for r in rows] == ["insert", "update", "update"]
    assert rows[2]["base"] == {"notes": rows[1]["hlc"]}
    assert rows[0]["hlc"] < rows[1]["hlc"] < rows[2]["hlc"]


def test_bad_update_changes_nothing(
    workspace: Workspace, add_household: Callable[..., Household], stores_nothing: Refused
) -> None:
    """A refused update leaves the household and the outbox as they were."""
    household = add_household()
    with stores_nothing(ValidationError):
        workspace.households.update(household.id, phone="abc", notes="không lưu")
    assert workspace.households.get(household.id) == household


def test_update_of_unknown_field_or_household_is_refused(
    workspace: Workspace, add_household: Callable[..., Household]
) -> None:
    """Only editable fields can be changed, and only on a household that exists."""
    household = add_household()
    with pytest.raises(TypeError):
        workspace.households.update(household.id, id="other")
    with pytest.raises(NotFoundError):
        workspace.households.update("no-such-id", notes="x")
    with pytest.raises(NotFoundError):
        workspace.households.get("no-such-id")
    assert workspace.pending_sync() == 1


def test_add_failing_half_way_leaves_nothing(
    add_household: Callable[..., Household], fails_half_way: FailsHalfWay
) -> None:
    """When the outbox write fails after the row was written, the household is not stored."""
    with fails_half_way("outbox"):
        add_household()


def test_update_failing_half_way_leaves_the_old_values(
    workspace: Workspace, add_household: Callable[..., Household], fails_half_way: FailsHalfWay
) -> None:
    """When the outbox write of an update fails, the household keeps its old values."""
    household = add_household()
    with fails_half_way("outbox"):
        workspace.households.update(household.id, head_name="Hà Văn Bình")
    assert workspace.households.get(household.id) == household
    assert workspace.search.find("binh") == []


def test_update_reindexes_search(
    workspace: Workspace, add_household: Callable[..., Household]
) -> None:
    """After a change of village, search finds the household under the new village only."""
    household = add_household(village="Bản Phố")
    workspace.households.update(household.id, village="Thôn Đồi Chè")
    assert [h.household_id for h in workspace.search.find("doi che")] == [household.id]
    assert workspace.search.find("ban pho") == []


def test_villages_and_households_in_village(
    workspace: Workspace, add_household: Callable[..., Household]
) -> None:
    """Villages list in Vietnamese order; a village's households sort by the head's given name."""
    add_household(village="Thôn Đồi Chè", head_name="Lò Văn Thắng")
    add_household(village="Thôn Đồi Chè", head_name="Nông Thị Lan")
    add_household(village="Bản Phố", head_name="Vàng A Dính")
    add_household(village="Thôn Đồi Chè", head_name="Hà Văn Ân")
    add_household(village="Thôn Dìn Chin", head_name="Ma Thị Súa")
    assert workspace.households.villages() == ["Bản Phố", "Thôn Dìn Chin", "Thôn Đồi Chè"]
    heads = [h.head_name for h in workspace.households.in_village("Thôn Đồi Chè")]
    assert heads == ["Hà Văn Ân", "Nông Thị Lan", "Lò Văn Thắng"]
    nfd = unicodedata.normalize("NFD", "Thôn Đồi Chè")
    assert len(workspace.households.in_village(nfd)) == 3
    assert workspace.households.count() == 5
    assert not workspace.is_empty()


def test_check_reports_problems_without_saving(workspace: Workspace) -> None:
    """households.check() gives the problems a form would raise and stores nothing."""
    problems = workspace.households.check(commune_code="123", phone="12", groups=["rich"])
    assert {p.code for p in problems} == {"commune_code", "phone_format", "unknown_group"}
    assert all(p.vi and p.en for p in problems)
    assert workspace.households.check(village="Bản Phố", head_name="Giàng Seo Sử") == []
    assert workspace.households.count() == 0
    assert workspace.pending_sync() == 0
