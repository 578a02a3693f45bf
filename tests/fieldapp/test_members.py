"""Members: identity checks that refuse or warn, NFC names, field-wise updates, removal."""

from __future__ import annotations

import datetime as dt
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

# 001 = Hà Nội, 1 = female born in the 1900s, 85 = 1985.
CCCD_FEMALE_1985 = "001185012345"


@pytest.fixture
def household(add_household: Callable[..., Household]) -> Household:
    return add_household(head_name="Hoàng Văn Thắng")


def test_add_member_happy_path(
    workspace: Workspace, household: Household, counts: Callable[[Store], dict[str, int]]
) -> None:
    """A valid member is stored with no warnings, one outbox insert and a search row."""
    before = counts(workspace.store)
    member = workspace.members.add(
        household.id,
        full_name="Nông Thị Hương",
        date_of_birth=dt.date(1985, 3, 4),
        sex="female",
        relation="Vợ",
        cccd="001 185 012 345",
        bhxh_code="0123456789",
        ethnicity="Tày",
    )
    assert member.cccd == CCCD_FEMALE_1985
    assert member.date_of_birth == "1985-03-04"
    assert member.warnings == ()
    assert member.removed is False
    assert workspace.members.get(member.id) == member
    assert workspace.members.of_household(household.id) == [member]
    after = counts(workspace.store)
    assert after["member"] == before["member"] + 1
    assert after["outbox"] == before["outbox"] + 1
    # The household row is rebuilt with one row per member.
    assert after["search_index"] == 2
    last = outbox_rows(workspace)[-1]
    assert (last["entity"], last["op"]) == ("member", "insert")
    assert last["data"]["full_name"] == "Nông Thị Hương"
    assert last["data"]["household_id"] == household.id


BAD_MEMBERS = [
    ("full_name", "Nông Thị 3", "name_has_digit"),
    ("full_name", "", "name_required"),
    ("full_name", "123", "name_no_letter"),
    ("cccd", "00118501234", "cccd_format"),
    ("cccd", "0011850123456", "cccd_format"),
    ("cccd", "00118501234A", "cccd_format"),
    ("sex", "x", "bad_sex"),
    ("date_of_birth", "1985-13-01", "bad_date"),
    ("date_of_birth", "2027-01-01", "dob_future"),
    ("bhxh_code", "012345678", "bhxh_code_format"),
    ("bhyt_card", "GD4", "bhyt_card_format"),
    ("phone", "091234", "phone_format"),
    ("phone", "0123456789", "phone_format"),
]


@pytest.mark.parametrize(("field", "value", "code"), BAD_MEMBERS)
def test_bad_member_is_refused_and_nothing_stored(
    workspace: Workspace,
    household: Household,
    stores_nothing: Refused,
    field: str,
    value: str,
    code: str,
) -> None:
    """Each invalid field raises ValidationError in both languages and stores nothing."""
    values: dict[str, Any] = {"full_name": "Nông Thị Hương", "sex": "female"}
    values[field] = value
    with stores_nothing(ValidationError) as caught:
        workspace.members.add(household.id, **values)
    error = caught.value
    assert code in [p.code for p in error.problems]
    assert error.vi and error.en and error.vi != error.en


def test_member_of_unknown_household_is_refused(
    workspace: Workspace, stores_nothing: Refused
) -> None:
    """Adding a member to a household that does not exist stores nothing."""
    with stores_nothing(NotFoundError):
        workspace.members.add("no-such-household", full_name="Nông Thị Hương")


@pytest.mark.parametrize(
    ("sex", "born", "code"),
    [
        ("male", dt.date(1985, 3, 4), "cccd_sex_mismatch"),
        ("female", dt.date(1986, 3, 4), "cccd_year_mismatch"),
    ],
)
def test_cccd_mismatch_is_stored_with_a_warning(
    workspace: Workspace, household: Household, sex: str, born: dt.date, code: str
) -> None:
    """A CCCD that disagrees with sex or birth year is kept, with the warning on the member."""
    member = workspace.members.add(
        household.id, full_name="Nông Thị Hương", sex=sex, date_of_birth=born, cccd=CCCD_FEMALE_1985
    )
    assert member.cccd == CCCD_FEMALE_1985
    assert [w["code"] for w in member.warnings] == [code]
    warning = member.warnings[0]
    assert warning["severity"] == "warning"
    assert warning["vi"] and warning["en"]
    assert workspace.members.get(member.id).warnings == member.warnings


def test_fixing_the_sex_clears_the_warning(workspace: Workspace, household: Household) -> None:
    """Correcting the recorded sex removes the stored mismatch warning and syncs that."""
    member = workspace.members.add(
        household.id, full_name="Nông Thị Hương", sex="male", cccd=CCCD_FEMALE_1985
    )
    assert member.warnings
    fixed = workspace.members.update(member.id, sex="female")
    assert fixed.warnings == ()
    last = outbox_rows(workspace)[-1]
    assert last["data"]["sex"] == "female"
    assert last["data"]["warnings"] == []


def test_nfd_name_is_stored_as_nfc(workspace: Workspace, household: Household) -> None:
    """A decomposed name is stored composed, and sorts like the composed one."""
    nfc = "Nguyễn Thị Hương"
    member = workspace.members.add(household.id, full_name=unicodedata.normalize("NFD", nfc))
    assert member.full_name == nfc
    other = workspace.members.add(household.id, full_name=nfc)
    keys = workspace.store.query(
        "SELECT sort_key FROM member WHERE id IN (?, ?)", (member.id, other.id)
    )
    assert keys[0][0] == keys[1][0]


def test_update_writes_only_changed_fields_with_base_clocks(
    workspace: Workspace, household: Household
) -> None:
    """An update sends the changed fields plus the household id, with the replaced clocks."""
    member = workspace.members.add(
        household.id, full_name="Nông Thị Hương", relation="Vợ", ethnicity="Tày"
    )
    clocks = field_clocks(workspace, "member", member.id)
    updated = workspace.members.update(
        member.id, relation="Vợ", ethnicity="Nùng", bhxh_code="0123-456-789"
    )
    assert updated.ethnicity == "Nùng"
    assert updated.bhxh_code == "0123456789"
    change = outbox_rows(workspace)[-1]
    assert change["op"] == "update"
    assert change["data"] == {
        "id": member.id,
        "household_id": household.id,
        "ethnicity": "Nùng",
        "bhxh_code": "0123456789",
    }
    assert change["base"] == {"ethnicity": clocks["ethnicity"], "bhxh_code": clocks["bhxh_code"]}


def test_update_that_changes_nothing_writes_no_outbox_row(
    workspace: Workspace, household: Household
) -> None:
    """Saving unchanged values (NFD name, spaced CCCD) writes nothing."""
    member = workspace.members.add(
        household.id,
        full_name="Nông Thị Hương",
        sex="female",
        date_of_birth="1985-03-04",
        cccd=CCCD_FEMALE_1985,
    )
    pending = workspace.pending_sync()
    same = workspace.members.update(
        member.id,
        full_name=unicodedata.normalize("NFD", "Nông Thị Hương"),
        date_of_birth=dt.date(1985, 3, 4),
        cccd="001185 012345",
        sex="female",
    )
    assert same == member
    assert workspace.pending_sync() == pending


def test_bad_update_changes_nothing(
    workspace: Workspace, household: Household, stores_nothing: Refused
) -> None:
    """A refused update (CCCD of 11 digits) keeps the member and the outbox as they were."""
    member = workspace.members.add(household.id, full_name="Nông Thị Hương")
    with stores_nothing(ValidationError):
        workspace.members.update(member.id, cccd="00118501234", ethnicity="Tày")
    assert workspace.members.get(member.id) == member
    with pytest.raises(TypeError):
        workspace.members.update(member.id, removed=True)
    with pytest.raises(NotFoundError):
        workspace.members.update("no-such-member", ethnicity="Tày")


def test_update_failing_half_way_leaves_the_old_values(
    workspace: Workspace, household: Household, fails_half_way: FailsHalfWay
) -> None:
    """When the outbox write of an update fails, the member row is not changed either."""
    member = workspace.members.add(household.id, full_name="Nông Thị Hương")
    with fails_half_way("outbox"):
        workspace.members.update(member.id, full_name="Nông Thị Lan")
    assert workspace.members.get(member.id) == member
    assert [h.member_id for h in workspace.search.find("huong")] == [member.id]


def test_remove_marks_removed_and_drops_from_search(
    workspace: Workspace, household: Household
) -> None:
    """A removed member stays on record but leaves search, browse, counts and the member list."""
    member = workspace.members.add(household.id, full_name="Nông Thị Hương")
    keep = workspace.members.add(household.id, full_name="Hoàng Văn Thắng")
    assert [h.member_id for h in workspace.search.find("huong")] == [member.id]

    removed = workspace.members.remove(member.id)

    assert removed.removed is True
    assert workspace.search.find("huong") == []
    assert [h.member_id for h in workspace.search.browse()] == [keep.id]
    assert workspace.members.of_household(household.id) == [keep]
    assert removed in workspace.members.of_household(household.id, include_removed=True)
    assert workspace.members.count() == 1
    last = outbox_rows(workspace)[-1]
    assert last["op"] == "update"
    assert last["data"] == {"id": member.id, "household_id": household.id, "removed": True}
    pending = workspace.pending_sync()
    workspace.members.remove(member.id)
    assert workspace.pending_sync() == pending
    with pytest.raises(NotFoundError):
        workspace.members.remove("no-such-member")


def test_check_reports_problems_without_saving(
    workspace: Workspace, household: Household, counts: Callable[[Store], dict[str, int]]
) -> None:
    """check() returns errors and warnings for proposed values and writes nothing."""
    member = workspace.members.add(household.id, full_name="Nông Thị Hương", sex="female")
    before = counts(workspace.store)
    problems = workspace.members.check(member.id, cccd="001085012345")
    assert [(p.code, p.severity) for p in problems] == [("cccd_sex_mismatch", "warning")]
    problems = workspace.members.check(full_name="A1")
    assert ("name_has_digit", "error") in [(p.code, p.severity) for p in problems]
    assert counts(workspace.store) == before


@pytest.mark.parametrize(
    "typed", ["0912 345 678", "+84 912 345 678", "84912345678", "0912.345.678"]
)
def test_member_phone_is_kept_in_national_form_and_synced(
    workspace: Workspace, household: Household, typed: str
) -> None:
    """The member's own phone, as the household's: normalised, and queued with the member."""
    member = workspace.members.add(household.id, full_name="Nông Thị Hương", phone=typed)
    assert member.phone == "0912345678"
    assert workspace.members.get(member.id).phone == "0912345678"
    inserted = workspace.store.one(
        "SELECT data FROM outbox WHERE entity = 'member' AND entity_id = ?", (member.id,)
    )
    assert inserted is not None and json.loads(inserted["data"])["phone"] == "0912345678"

    changed = workspace.members.update(member.id, phone="0987 111 222")
    assert changed.phone == "0987111222"
    last = workspace.store.one(
        "SELECT data FROM outbox WHERE entity = 'member' AND entity_id = ? ORDER BY seq DESC",
        (member.id,),
    )
    assert last is not None
    assert json.loads(last["data"])["phone"] == "0987111222"
    cleared = workspace.members.update(member.id, phone=None)
    assert cleared.phone is None
