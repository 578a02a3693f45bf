"""The store's records agree with the synced fields described once in sync.protocol.fields."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import get_origin, get_type_hints

import pytest

from fieldapp.model import Household, Member, Pledge, PledgeEvent, Visit
from fieldapp.records import JSON_FIELDS
from sync.protocol.fields import FIELDS, HOUSEHOLD, MEMBER, PLEDGE, PLEDGE_EVENT, VISIT

# Columns the store keeps for itself beside what travels.
STORE_ONLY = {"created_at", "updated_at"}


@pytest.mark.parametrize(
    ("record", "entity"),
    [
        (Household, HOUSEHOLD),
        (Member, MEMBER),
        (Visit, VISIT),
        (Pledge, PLEDGE),
        (PledgeEvent, PLEDGE_EVENT),
    ],
)
def test_records_hold_the_synced_fields_in_their_form(record: type, entity: str) -> None:
    """Every synced field is a field of the record; JSON on the wire is a tuple or dict here."""
    hints = get_type_hints(record)
    names = [f.name for f in dataclasses.fields(record)]
    assert set(FIELDS[entity]) <= set(names)
    for name, field in FIELDS[entity].items():
        held_as_json = get_origin(hints[name]) in (tuple, dict)
        assert held_as_json == (field.kind == "json"), name


def test_mergeable_records_hold_nothing_else() -> None:
    """Households and members are their synced fields plus the store's own timestamps (and a
    household's local move), in order, and the columns written as JSON are exactly their list
    fields."""
    # Local only: the commune a household moved to, when it left this laptop's communes.
    local = {HOUSEHOLD: ["moved_to"], MEMBER: []}
    for record, entity in ((Household, HOUSEHOLD), (Member, MEMBER)):
        names = [f.name for f in dataclasses.fields(record)]
        assert names == [*FIELDS[entity], *sorted(STORE_ONLY), *local[entity]]
    assert sorted(JSON_FIELDS) == ["best_months", "groups", "warnings"]


def test_from_row_converts_by_field_type() -> None:
    """JSON text becomes tuples and dicts, 0/1 a flag, numbers int; other columns as stored."""
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    row = conn.execute(
        "SELECT 'p1' AS id, 'h1' AS household_id, 'm1' AS member_id, 'bhxh_voluntary' AS scheme,"
        " '{\"months\":12}' AS params, 100.0 AS gross, 0 AS central_support,"
        " 0 AS local_support, 100 AS payable, '2026.1' AS policy_version,"
        " '2026-01-01' AS start_date, '2026-01-31' AS due_date,"
        " '2026-01-01T00:00:00.000Z' AS created_at"
    ).fetchone()
    pledge = Pledge.from_row(row)
    assert pledge.params == {"months": 12}
    assert pledge.gross == 100 and type(pledge.gross) is int
    assert pledge.history == ()
    event = PledgeEvent(
        id="e1",
        pledge_id="p1",
        status="paid",
        at="2026-01-02T00:00:00.000Z",
        reason="",
        receipt_id=None,
    )
    assert Pledge.from_row(row, (event,)).status == "paid"
    member = conn.execute(
        "SELECT 'm1' AS id, 'h1' AS household_id, 'A' AS full_name, NULL AS date_of_birth,"
        " NULL AS sex, '' AS relation, NULL AS cccd, NULL AS bhxh_code, '' AS ethnicity,"
        " NULL AS bhyt_card, NULL AS bhyt_expiry, NULL AS covered_by, '' AS bhxh_status,"
        " 1 AS removed, '[{\"code\":\"x\"}]' AS warnings, 'c' AS created_at, 'u' AS updated_at,"
        " 'near_poor' AS bhyt_group, NULL AS bhyt_valid_from, 1 AS bhxh_participating,"
        " 1500000 AS bhxh_income, NULL AS bhxh_paid_through, 12 AS bhxh_supported_months,"
        " NULL AS old_id, '0912345678' AS phone"
    ).fetchone()
    read = Member.from_row(member)
    assert read.removed is True
    assert read.bhxh_participating is True
    assert read.bhyt_group_effective == "near_poor"
    assert read.warnings == ({"code": "x"},)
    assert read.date_of_birth is None
    assert read.phone == "0912345678"
