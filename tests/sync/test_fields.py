"""Entity fields described once: the wire's checks and lengths, and the server's columns."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from sync.protocol import fields, wire
from sync.protocol.hlc import EPOCH_MS, hlc_format
from sync.server import schema
from tests.sync.conftest import household, member

DEVICE = "01937b2a-0000-7000-8000-000000000001"


def _insert(entity: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": 1,
        "entity": entity,
        "id": data["id"],
        "op": "insert",
        "hlc": hlc_format(EPOCH_MS, 0, DEVICE),
        "data": data,
        "base": None,
    }


def test_every_text_field_has_a_longest_value() -> None:
    """Text, digits, choices and timestamps all carry a length; choices fit it."""
    for entity, described in fields.FIELDS.items():
        for field in described.values():
            sized = field.kind in ("text", "digits", "choice", "timestamp")
            assert (field.max_length is not None) == sized, f"{entity}.{field.name}"
            assert all(len(c) <= (field.max_length or 0) for c in field.choices)


@pytest.mark.parametrize(
    ("entity", "data", "name", "limit"),
    [
        ("household", household(), "notes", fields.NOTE_LENGTH),
        ("household", household(), "head_name", fields.NAME_LENGTH),
        ("member", member(str(uuid.uuid4())), "cccd", fields.CODE_LENGTH),
    ],
)
def test_text_longer_than_its_field_is_refused(
    entity: str, data: dict[str, Any], name: str, limit: int
) -> None:
    """At the limit a value passes; one character more is an invalid field, said in both
    languages."""
    assert wire.check_record(_insert(entity, {**data, name: "x" * limit})) is None
    problem = wire.check_record(_insert(entity, {**data, name: "x" * (limit + 1)}))
    assert problem is not None and problem.code == "invalid_field"
    assert f"{entity}.{name}" in problem.en and str(limit) in problem.en
    assert str(limit) in problem.vi


def test_optional_text_may_be_null_and_required_text_not_blank() -> None:
    """None passes an optional field; a blank required name does not."""
    assert wire.check_record(_insert("household", household(notes=None))) is None
    problem = wire.check_record(_insert("household", household(head_name="  ")))
    assert problem is not None and problem.en.endswith("must not be empty")


def test_synced_fields_are_all_but_the_id_in_order() -> None:
    """What an insert must carry."""
    assert fields.synced_fields("receipt_void") == ("receipt_id", "reason", "at")
    assert fields.synced_fields("household")[0] == "province_code"


def test_server_columns_are_sized_by_the_fields() -> None:
    """Where the server copies a text field into a sized column, the width is the field's."""
    series = fields.FIELDS["receipt"]["series"]
    assert schema.receipts.c.series.type.length == series.max_length == fields.CODE_LENGTH
    assert schema.receipt_books.c.series.type.length == fields.CODE_LENGTH
    commune = fields.FIELDS["household"]["commune_code"].max_length
    for table in (schema.households, schema.agent_communes, schema.changes):
        assert table.c.commune_code.type.length == commune
    assert schema.cash_handovers.c.scheme.type.length == fields.CHOICE_LENGTH
    assert isinstance(schema.cash_handovers.c.reason.type, sa.Text)
    assert schema.COPIED_FIELDS["cash_handover"] == fields.synced_fields("cash_handover")
    assert schema.COPIED_FIELDS["receipt"] == ("household_id", "series", "number", "amount")
