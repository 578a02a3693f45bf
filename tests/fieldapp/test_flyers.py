"""Personalised flyers from a demo commune: one page per household, with its own amounts."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest

from fieldapp.calculator import bhyt_household
from fieldapp.flyers import AUDIENCES, audience_of, flyer_for, household_flyers, village_flyers
from fieldapp.model import Household
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from sync.protocol.errors import FieldappError
from sync.protocol.money import format_vnd
from tests.fieldapp.conftest import NOW, build_demo_store, opened_copy, run_fieldapp
from tests.fieldapp.pdfcheck import flat, page_sizes_mm, page_texts

HOUSEHOLDS = 30


@pytest.fixture(scope="module")
def commune_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo commune of 30 households, built once for this module."""
    return build_demo_store(tmp_path_factory.mktemp("flyer-commune"), HOUSEHOLDS)


@pytest.fixture
def commune(tmp_path: Path, commune_file: Path) -> Iterator[Workspace]:
    """A private copy of the 30-household commune, opened with the fixed clock."""
    with opened_copy(commune_file, tmp_path / "commune", FixedClock(NOW)) as ws:
        yield ws


def _biggest_village(ws: Workspace) -> str:
    return max(ws.households.villages(), key=lambda v: len(ws.households.in_village(v)))


def _bhyt_12_months(ws: Workspace, household: Household) -> int | None:
    """What the calculator says the household's non-covered members pay for 12 months."""
    members = ws.members.of_household(household.id)
    joining = [m for m in members if not m.covered_by]
    if not joining:
        return None
    return bhyt_household(
        ws.policy,
        members=len(joining),
        months=12,
        on=ws.store.clock.today(),
        covered_elsewhere=len(members) - len(joining),
        province=household.province_code,
    ).payable


def _pages(pdf: bytes) -> list[str]:
    return [flat(text) for text in page_texts(pdf)]


def test_village_batch_has_one_page_per_household_with_its_own_amounts(
    commune: Workspace,
) -> None:
    """Every household of the village gets one A5 page with its head's name and BHYT amount."""
    village = _biggest_village(commune)
    households = commune.households.in_village(village)
    assert len(households) >= 4
    pdf = village_flyers(commune, village=village)
    assert len(pypdf.PdfReader(io.BytesIO(pdf)).pages) == len(households)
    assert all(size == pytest.approx((148, 210), abs=0.1) for size in page_sizes_mm(pdf))

    pages = _pages(pdf)
    amounts = [_bhyt_12_months(commune, h) for h in households]
    assert any(a is not None for a in amounts)
    for household, amount, text in zip(households, amounts, pages, strict=True):
        assert f"Kính gửi gia đình ông/bà {household.head_name}" in text
        assert village in text
        if amount is None:
            assert "12 tháng" not in text  # everyone is covered by another group
        else:
            assert f"12 tháng {format_vnd(amount)}" in text
        members = commune.members.of_household(household.id)
        assert all(m.full_name in text for m in members)
        # Another household's head is never greeted on this page.
        for other in households:
            if other.head_name != household.head_name:
                assert f"ông/bà {other.head_name} " not in text + " "


def test_amounts_follow_the_members_who_join(commune: Workspace) -> None:
    """A member covered by another group is left out of the household's BHYT amount."""
    village = _biggest_village(commune)
    household = next(
        h
        for h in commune.households.in_village(village)
        if sum(not m.covered_by for m in commune.members.of_household(h.id)) >= 2
    )
    before = _bhyt_12_months(commune, household)
    member = next(m for m in commune.members.of_household(household.id) if not m.covered_by)
    commune.members.update(member.id, covered_by="HT")
    after = _bhyt_12_months(commune, household)
    assert before is not None and after is not None and after < before
    assert flyer_for(commune, commune.households.get(household.id)).bhyt_amounts[12] == after
    (page,) = _pages(household_flyers(commune, [household.id]))
    assert f"12 tháng {format_vnd(after)}" in page
    assert f"12 tháng {format_vnd(before)}" not in page


def test_group_filter_prints_only_that_audience(commune: Workspace) -> None:
    """With a group, only the village's households of that audience get a page."""
    village, group, chosen = next(
        (v, g, [h for h in commune.households.in_village(v) if audience_of(h) == g])
        for v in commune.households.villages()
        for g in AUDIENCES
        if 0
        < sum(audience_of(h) == g for h in commune.households.in_village(v))
        < len(commune.households.in_village(v))
    )
    pages = _pages(village_flyers(commune, village=village, group=group))
    assert len(pages) == len(chosen)
    for household, text in zip(chosen, pages, strict=True):
        assert f"Kính gửi gia đình ông/bà {household.head_name}" in text
    left_out = [h for h in commune.households.in_village(village) if audience_of(h) != group]
    for household in left_out:
        if all(household.head_name != h.head_name for h in chosen):
            assert all(household.head_name not in text for text in pages)


def test_english_flyers(commune: Workspace) -> None:
    """In English the same households get English text and the same amounts."""
    village = _biggest_village(commune)
    households = commune.households.in_village(village)
    pages = _pages(village_flyers(commune, village=village, language="en"))
    assert len(pages) == len(households)
    for household, text in zip(households, pages, strict=True):
        assert f"Dear {household.head_name} and family" in text
        assert "Kính gửi" not in text
        amount = _bhyt_12_months(commune, household)
        if amount is not None:
            assert format_vnd(amount) in text


@pytest.mark.parametrize(
    ("village", "group", "code"),
    [
        ("Thôn Không Có", None, "no_households"),
        (None, "fisherman", "bad_audience"),
    ],
)
def test_unknown_village_or_group_is_refused(
    commune: Workspace, village: str | None, group: str | None, code: str
) -> None:
    """An unknown village or audience group is a clear error in both languages."""
    village = village or _biggest_village(commune)
    with pytest.raises(FieldappError) as caught:
        village_flyers(commune, village=village, group=group)
    assert caught.value.code == code
    assert (group or village) in caught.value.vi
    assert (group or village) in caught.value.en


def test_village_name_is_matched_after_cleaning(commune: Workspace) -> None:
    """A village typed with extra spaces or decomposed accents still finds its households."""
    village = _biggest_village(commune)
    typed = "  " + unicodedata.normalize("NFD", village).replace(" ", "  ") + " "
    assert len(_pages(village_flyers(commune, village=typed))) == len(
        commune.households.in_village(village)
    )


def test_print_flyers_command_writes_the_pdf(
    commune: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`fieldapp print flyers --village … --out …` writes the village's flyers as one PDF."""
    village = _biggest_village(commune)
    out = tmp_path / "out" / "to-roi.pdf"
    code = run_fieldapp(commune, "print", "flyers", "--village", village, "--out", str(out))
    assert code == 0
    assert str(out) in capsys.readouterr().out
    households = commune.households.in_village(village)
    pages = _pages(out.read_bytes())
    assert len(pages) == len(households)
    assert f"Kính gửi gia đình ông/bà {households[0].head_name}" in pages[0]
    assert not out.with_name(out.name + ".part").exists()


def test_print_flyers_command_needs_a_destination(
    commune: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --out or --printer the command says what is missing and writes nothing."""
    village = _biggest_village(commune)
    code = run_fieldapp(commune, "print", "flyers", "--village", village)
    assert code == 1
    assert "--out" in capsys.readouterr().err


def test_print_flyers_command_reports_unknown_village(
    commune: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown village is reported on stderr with exit code 1 and no file."""
    out = tmp_path / "none.pdf"
    options = ("--village", "Bản Không Có", "--out", str(out), "--group", "cooperative")
    code = run_fieldapp(commune, "print", "flyers", *options)
    assert code == 1
    assert "Bản Không Có" in capsys.readouterr().err
    assert not out.exists()
