"""Pledges: amounts from the policy in force, refusals, and status events that never overwrite."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable

import pytest

from fieldapp.errors import NotFoundError, ValidationError
from fieldapp.model import Household, Member
from fieldapp.store import Store
from fieldapp.workspace import Workspace
from sync.protocol.errors import FieldappError
from tests.fieldapp.conftest import FailsHalfWay, Refused
from tests.fieldapp.samples import new_household

JULY = dt.date(2026, 7, 1)
TODAY = dt.date(2026, 11, 23)


def _family(ws: Workspace, household: Household, names: list[str]) -> list[Member]:
    return [ws.members.add(household.id, full_name=name) for name in names]


@pytest.fixture
def household(add_household: Callable[..., Household]) -> Household:
    return add_household(groups=["farmer"])


@pytest.fixture
def near_poor(add_household: Callable[..., Household]) -> Household:
    return add_household(head_name="Hà Văn Dũng", groups=["near_poor", "farmer"])


def _events(ws: Workspace) -> list[tuple[object, ...]]:
    return [tuple(r) for r in ws.store.query("SELECT * FROM pledge_event ORDER BY rowid")]


def test_bhyt_household_pledge_splits_the_ladder_per_member(
    workspace: Workspace, household: Household, counts: Callable[[Store], dict[str, int]]
) -> None:
    """3 members for 12 months from 2026-07-01 pay 1,366,200 + 956,340 + 819,720 = 3,142,260."""
    members = _family(workspace, household, ["Lê Văn An", "Hà Thị Bình", "Lê Văn Cường"])
    before = counts(workspace.store)

    pledges = workspace.pledges.pledge_bhyt_household(
        household.id, member_ids=[m.id for m in members], months=12, start=JULY
    )

    assert [p.member_id for p in pledges] == [m.id for m in members]
    assert [p.params["position"] for p in pledges] == [1, 2, 3]
    assert [p.payable for p in pledges] == [1_366_200, 956_340, 819_720]
    assert sum(p.payable for p in pledges) == 3_142_260
    assert sum(p.gross for p in pledges) == 3_142_260
    assert all(isinstance(p.payable, int) for p in pledges)
    quote = workspace.pledges.quote_bhyt(members=3, months=12, on=JULY, province="15")
    assert {p.policy_version for p in pledges} == {quote.policy_version}
    assert quote.policy_version
    assert all(p.scheme == "bhyt_household" and p.status == "pledged" for p in pledges)
    assert all(p.start_date == "2026-07-01" for p in pledges)
    after = counts(workspace.store)
    assert after["pledge"] == before["pledge"] + 3
    assert after["pledge_event"] == before["pledge_event"] + 3
    # One outbox row for each pledge and one for each of their first events.
    assert after["outbox"] == before["outbox"] + 6
    stored = workspace.store.query("SELECT policy_version, payable FROM pledge ORDER BY rowid")
    assert [tuple(r) for r in stored] == [
        (quote.policy_version, 1_366_200),
        (quote.policy_version, 956_340),
        (quote.policy_version, 819_720),
    ]
    sent = [
        json.loads(r[0])
        for r in workspace.store.query("SELECT data FROM outbox WHERE entity = 'pledge'")
    ]
    assert [d["payable"] for d in sent] == [1_366_200, 956_340, 819_720]
    assert {d["policy_version"] for d in sent} == {quote.policy_version}
    assert workspace.pledges.of_household(household.id) == pledges


def test_member_covered_elsewhere_is_refused(
    workspace: Workspace, household: Household, stores_nothing: Refused
) -> None:
    """A member whose card another group pays for cannot join through the household."""
    first, second = _family(workspace, household, ["Lê Văn An", "Hà Thị Bình"])
    workspace.members.update(second.id, covered_by="HN")
    with stores_nothing(ValidationError) as caught:
        workspace.pledges.pledge_bhyt_household(
            household.id, member_ids=[first.id, second.id], months=12, start=JULY
        )
    assert caught.value.problems[0].code == "covered_elsewhere"
    assert "Hà Thị Bình" in caught.value.vi and "Hà Thị Bình" in caught.value.en


@pytest.mark.parametrize("case", ["removed", "other_household", "duplicate", "none", "months"])
def test_bad_bhyt_pledge_is_refused_and_nothing_stored(
    workspace: Workspace,
    household: Household,
    add_household: Callable[..., Household],
    stores_nothing: Refused,
    case: str,
) -> None:
    """Removed, foreign, repeated or no members, and a 5-month period, are all refused."""
    first, second = _family(workspace, household, ["Lê Văn An", "Hà Thị Bình"])
    months = 12
    ids = [first.id, second.id]
    expected: type[Exception] = ValidationError
    if case == "removed":
        workspace.members.remove(second.id)
        expected = NotFoundError
    elif case == "other_household":
        stranger = workspace.members.add(add_household().id, full_name="Vàng A Páo")
        ids = [first.id, stranger.id]
        expected = NotFoundError
    elif case == "duplicate":
        ids = [first.id, first.id]
    elif case == "none":
        ids = []
    else:
        months, expected = 5, FieldappError
    with stores_nothing(expected):
        workspace.pledges.pledge_bhyt_household(
            household.id, member_ids=ids, months=months, start=JULY
        )


@pytest.mark.parametrize("months", [1, 3, 6, 12])
def test_bhxh_near_poor_at_the_floor_pays_198000_a_month(
    workspace: Workspace, near_poor: Household, months: int
) -> None:
    """A near-poor household member at the 1,500,000 floor pays 198,000 đ per month."""
    (member,) = _family(workspace, near_poor, ["Hà Văn Dũng"])
    pledge = workspace.pledges.pledge_bhxh(member.id, income=1_500_000, months=months, start=TODAY)
    assert pledge.scheme == "bhxh_voluntary"
    assert pledge.gross == 330_000 * months
    assert pledge.central_support == 132_000 * months
    assert pledge.payable == 198_000 * months
    assert pledge.params["groups"] == ["near_poor"]
    assert pledge.policy_version
    assert workspace.store.scalar(
        "SELECT policy_version FROM pledge WHERE id = ?", (pledge.id,)
    ) == (pledge.policy_version)
    # Household and member inserts, then the pledge and its first event.
    assert workspace.pending_sync() == 4
    assert workspace.store.scalar("SELECT count(*) FROM outbox WHERE entity LIKE 'pledge%'") == 2


def test_bhxh_without_support_group_pays_264000(workspace: Workspace, household: Household) -> None:
    """A household with no support group gets the general 20% support: 264,000 đ a month."""
    (member,) = _family(workspace, household, ["Lê Văn An"])
    pledge = workspace.pledges.pledge_bhxh(member.id, income=1_500_000, months=1, start=TODAY)
    assert pledge.params["groups"] == ["other"]
    assert pledge.payable == 264_000


def test_bhxh_income_below_floor_is_refused(
    workspace: Workspace, household: Household, stores_nothing: Refused
) -> None:
    """An income under the floor is refused with a message, and nothing is stored."""
    (member,) = _family(workspace, household, ["Lê Văn An"])
    with stores_nothing(FieldappError) as caught:
        workspace.pledges.pledge_bhxh(member.id, income=100, months=1, start=TODAY)
    assert caught.value.vi and caught.value.en
    with pytest.raises(NotFoundError):
        workspace.pledges.pledge_bhxh("no-such-member", income=1_500_000, months=1, start=TODAY)


def test_status_history_pledged_then_paid(workspace: Workspace, near_poor: Household) -> None:
    """Paying adds a new event after the first one; the first event row is left as it was."""
    (member,) = _family(workspace, near_poor, ["Hà Văn Dũng"])
    pledge = workspace.pledges.pledge_bhxh(member.id, income=1_500_000, months=3, start=TODAY)
    (first,) = _events(workspace)
    pending = workspace.pending_sync()

    paid = workspace.pledges.mark_paid(pledge.id, receipt_id="receipt-1")

    assert paid.status == "paid"
    assert [e.status for e in paid.history] == ["pledged", "paid"]
    assert paid.history[-1].receipt_id == "receipt-1"
    events = _events(workspace)
    assert len(events) == 2
    assert events[0] == first
    assert workspace.pending_sync() == pending + 1
    last = workspace.store.one("SELECT * FROM outbox ORDER BY seq DESC LIMIT 1")
    assert last is not None
    assert (last["entity"], last["op"]) == ("pledge_event", "insert")
    assert json.loads(last["data"])["status"] == "paid"
    # The pledge row itself is not rewritten by a status change.
    assert paid.payable == pledge.payable
    assert paid.created_at == pledge.created_at


def test_paid_pledge_cannot_be_cancelled(workspace: Workspace, near_poor: Household) -> None:
    """paid → cancelled and paid → paid are refused; the history stays pledged, paid."""
    (member,) = _family(workspace, near_poor, ["Hà Văn Dũng"])
    pledge = workspace.pledges.pledge_bhxh(member.id, income=1_500_000, months=1, start=TODAY)
    workspace.pledges.mark_paid(pledge.id)
    pending = workspace.pending_sync()
    with pytest.raises(FieldappError) as caught:
        workspace.pledges.cancel(pledge.id, reason="Đổi ý")
    assert caught.value.code == "bad_transition"
    assert caught.value.vi and caught.value.en
    with pytest.raises(FieldappError):
        workspace.pledges.mark_paid(pledge.id)
    assert [e.status for e in workspace.pledges.get(pledge.id).history] == ["pledged", "paid"]
    assert workspace.pending_sync() == pending


@pytest.mark.parametrize("reason", ["", "   ", "\u200b"])
def test_cancel_needs_a_reason(workspace: Workspace, near_poor: Household, reason: str) -> None:
    """Cancelling without a reason is refused and adds no event."""
    (member,) = _family(workspace, near_poor, ["Hà Văn Dũng"])
    pledge = workspace.pledges.pledge_bhxh(member.id, income=1_500_000, months=1, start=TODAY)
    with pytest.raises(ValidationError) as caught:
        workspace.pledges.cancel(pledge.id, reason=reason)
    assert caught.value.problems[0].code == "reason_required"
    assert workspace.pledges.get(pledge.id).status == "pledged"
    assert len(_events(workspace)) == 1


def test_cancelled_pledge_keeps_its_reason_and_cannot_be_paid(
    workspace: Workspace, near_poor: Household
) -> None:
    """A cancel event stores the cleaned reason; a cancelled pledge cannot then be paid."""
    (member,) = _family(workspace, near_poor, ["Hà Văn Dũng"])
    pledge = workspace.pledges.pledge_bhxh(member.id, income=1_500_000, months=1, start=TODAY)
    cancelled = workspace.pledges.cancel(pledge.id, reason="  Chưa có tiền,  hẹn sau ")
    assert cancelled.status == "cancelled"
    assert cancelled.history[-1].reason == "Chưa có tiền, hẹn sau"
    with pytest.raises(FieldappError):
        workspace.pledges.mark_paid(pledge.id)
    with pytest.raises(NotFoundError):
        workspace.pledges.cancel("no-such-pledge", reason="x")


def test_pledge_failing_half_way_leaves_nothing(
    workspace: Workspace, household: Household, fails_half_way: FailsHalfWay
) -> None:
    """If the status event cannot be written, neither the pledges nor their outbox rows remain."""
    members = _family(workspace, household, ["Lê Văn An", "Hà Thị Bình"])
    with fails_half_way("pledge_event"):
        workspace.pledges.pledge_bhyt_household(
            household.id, member_ids=[m.id for m in members], months=6, start=JULY
        )


def test_a_household_quote_refuses_a_choice_of_members_it_cannot_quote(
    workspace: Workspace,
    household: Household,
    near_poor: Household,
    counts: Callable[[Store], dict[str, int]],
) -> None:
    """None chosen, one chosen twice, someone of another household or removed from this one:
    refused with its reason, and nothing is written (a quote only reads)."""
    an, binh = _family(workspace, household, ["Lê Văn An", "Hà Thị Bình"])
    (other,) = _family(workspace, near_poor, ["Hà Văn Dũng"])
    workspace.members.remove(binh.id)
    before = counts(workspace.store)

    def quote(member_ids: list[str]) -> object:
        return workspace.pledges.quote_household_bhyt(
            household.id, member_ids=member_ids, months=12, on=JULY
        )

    for chosen, code in (([], "no_members"), ([an.id, an.id], "duplicate_member")):
        with pytest.raises(ValidationError) as info:
            quote(chosen)
        assert [p.code for p in info.value.problems] == [code]
    for stranger in (other.id, binh.id, "no-such-member"):
        with pytest.raises(NotFoundError) as found:
            quote([an.id, stranger])
        assert stranger in found.value.en
    assert counts(workspace.store) == before
    assert [p.payable for p in quote([an.id]).people] == [1_366_200]


def test_the_payable_alone_is_the_household_quotes_payable(demo_workspace: Workspace) -> None:
    """Today's amounts (`household_bhyt_payable`, one `known` for the whole commune) are what
    the pledge form's quote asks, household by household, refusals included."""
    ws = demo_workspace
    on = ws.today()
    known: dict[tuple[object, ...], int] = {}
    quoted = refused = 0
    households = [h for v in ws.households.villages() for h in ws.households.in_village(v)]
    for household in households:
        ids = [m.id for m in ws.members.of_household(household.id)]
        # The whole household, and each member alone (after those already enrolled).
        for chosen, months in itertools.product([ids, *([i] for i in ids)], (6, 12)):
            try:
                expected: object = ws.pledges.quote_household_bhyt(
                    household.id, member_ids=chosen, months=months, on=on
                ).payable
            except FieldappError as exc:
                expected = (type(exc), exc.vi)
            try:
                alone: object = ws.pledges.household_bhyt_payable(
                    household.id, member_ids=chosen, months=months, on=on, known=known
                )
            except FieldappError as exc:
                alone = (type(exc), exc.vi)
            assert alone == expected, household.head_name
            quoted += isinstance(expected, int)
            refused += not isinstance(expected, int)
    # The demo commune has both, and households alike share one worked-out amount.
    assert quoted > 50 and refused > 0
    assert 0 < len(known) < quoted


def test_the_payable_alone_refuses_as_the_quote_does_and_keeps_cases_apart(
    workspace: Workspace, household: Household
) -> None:
    first, second = _family(workspace, household, ["Hầu A Vừ", "Hầu Thị Mỷ"])
    on = workspace.today()
    for ids in ([], [first.id, first.id], [first.id, "không-có"]):
        with pytest.raises(FieldappError) as whole:
            workspace.pledges.quote_household_bhyt(household.id, member_ids=ids, months=12, on=on)
        with pytest.raises(FieldappError) as alone:
            workspace.pledges.household_bhyt_payable(
                household.id, member_ids=ids, months=12, on=on, known={}
            )
        assert (type(alone.value), alone.value.vi) == (type(whole.value), whole.value.vi)
    # One amount worked out per case: a member after one already enrolled this year pays less
    # than the first of a household, and `known` keeps the two apart.
    workspace.members.update(first.id, bhyt_valid_from="2026-03-01", bhyt_expiry="2027-02-28")
    other = new_household(workspace, head_name="Sùng A Páo")
    alone_there = workspace.members.add(other.id, full_name="Sùng A Páo")
    known: dict[tuple[object, ...], int] = {}
    amounts = []
    for home, member in ((household, second), (other, alone_there), (household, second)):
        amount = workspace.pledges.household_bhyt_payable(
            home.id, member_ids=[member.id], months=12, on=on, known=known
        )
        whole = workspace.pledges.quote_household_bhyt(
            home.id, member_ids=[member.id], months=12, on=on
        )
        assert amount == whole.payable
        amounts.append(amount)
    assert amounts[0] < amounts[1] and amounts[0] == amounts[2] and len(known) == 2
    both = [first.id, second.id]
    assert (
        workspace.pledges.household_bhyt_payable(household.id, member_ids=both, months=12, on=on)
        == workspace.pledges.quote_household_bhyt(
            household.id, member_ids=both, months=12, on=on
        ).payable
    )
