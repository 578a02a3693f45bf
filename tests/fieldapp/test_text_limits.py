"""Text longer than the wire allows is refused on the laptop, when it is typed, not at sync.

The limits are the ones sync.protocol.fields gives the server; a record the laptop stored with
a longer text would be refused by the province for ever.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fieldapp.errors import ValidationError
from fieldapp.model import Household
from fieldapp.workspace import Workspace
from sync.protocol.fields import ADDRESS_LENGTH, FIELDS, HOUSEHOLD, NOTE_LENGTH, VISIT
from tests.fieldapp.conftest import Refused


def test_the_limits_are_the_wire_s() -> None:
    """Notes and addresses are bounded by the same numbers the server checks."""
    assert FIELDS[HOUSEHOLD]["notes"].max_length == NOTE_LENGTH
    assert FIELDS[HOUSEHOLD]["address"].max_length == ADDRESS_LENGTH
    assert FIELDS[VISIT]["notes"].max_length == NOTE_LENGTH


def test_a_note_at_the_limit_is_kept(
    workspace: Workspace, add_household: Callable[..., Household]
) -> None:
    """Exactly NOTE_LENGTH characters are stored and reach the outbox whole."""
    note = ("Hẹn sau vụ lúa " * NOTE_LENGTH)[: NOTE_LENGTH - 1] + "."
    household = add_household(notes=note)
    assert workspace.households.get(household.id).notes == note


def test_a_household_note_past_the_limit_is_refused_and_nothing_stored(
    stores_nothing: Refused,
    add_household: Callable[..., Household],
) -> None:
    """One character more: refused with a reason naming the field and both lengths."""
    with stores_nothing(ValidationError) as caught:
        add_household(notes="x" * (NOTE_LENGTH + 1))
    [problem] = caught.value.problems  # type: ignore[attr-defined]
    assert (problem.field, problem.code) == ("notes", "too_long")
    assert "2.000 ký tự" in problem.vi and "2001" in problem.vi
    assert "2,000 characters" in problem.en


def test_an_edit_past_the_limit_leaves_the_household_as_it_was(
    workspace: Workspace, add_household: Callable[..., Household], stores_nothing: Refused
) -> None:
    """An update that would make the address too long changes nothing, outbox included."""
    household = add_household()
    with stores_nothing(ValidationError):
        workspace.households.update(household.id, address="Bản " * ADDRESS_LENGTH)
    assert workspace.households.get(household.id).address == household.address


@pytest.mark.parametrize("length", [NOTE_LENGTH + 1, 100_000])
def test_a_visit_note_past_the_limit_is_refused(
    workspace: Workspace,
    add_household: Callable[..., Household],
    stores_nothing: Refused,
    length: int,
) -> None:
    """A visit whose notes run past the limit is not recorded."""
    household = add_household()
    with stores_nothing(ValidationError) as caught:
        workspace.visits.record(household.id, outcome="consulted", notes="ư" * length)
    assert caught.value.problems[0].field == "notes"  # type: ignore[attr-defined]
