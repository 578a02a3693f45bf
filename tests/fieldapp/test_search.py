"""Search: folded names, tone variants, NFD/NFC, CCCD, phone, village, Vietnamese order."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldapp.model import Household
from fieldapp.search import match_expression
from fieldapp.text import fold
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock

from .conftest import NOW


def _names(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [h.full_name for h in hits]


@pytest.fixture
def people(
    workspace: Workspace, add_household: Callable[..., Household]
) -> dict[str, tuple[str, str]]:
    """A few households and members; maps each member's name to (household id, member id)."""
    households = {
        "Bản Phố": add_household(village="Bản Phố", head_name="Nguyễn Văn Đức", phone="0912345678"),
        "Thôn Đồi Chè": add_household(
            village="Thôn Đồi Chè", head_name="Đặng Văn Đức", phone="0987111222"
        ),
    }
    rows = [
        ("Bản Phố", "Nguyễn Văn Đức", "001085012345"),
        ("Bản Phố", "Nguyễn Thị Hương", "001185054321"),
        ("Bản Phố", "Lò Thị Hoà", None),
        ("Thôn Đồi Chè", "Đặng Văn Đức", "015090123456"),
        ("Thôn Đồi Chè", "Hoàng Thị Hòa", None),
        ("Thôn Đồi Chè", "Nguyễn Thị Hương", None),
    ]
    found = {}
    for village, name, cccd in rows:
        household = households[village]
        member = workspace.members.add(household.id, full_name=name, cccd=cccd)
        found[f"{village}/{name}"] = (household.id, member.id)
    return found


def test_name_without_diacritics_finds_the_person(
    workspace: Workspace, people: dict[str, tuple[str, str]]
) -> None:
    """ "nguyen thi huong" finds both women called Nguyễn Thị Hương, and nobody else."""
    hits = workspace.search.find("nguyen thi huong")
    assert _names(hits) == ["Nguyễn Thị Hương", "Nguyễn Thị Hương"]
    assert {h.member_id for h in hits} == {
        people["Bản Phố/Nguyễn Thị Hương"][1],
        people["Thôn Đồi Chè/Nguyễn Thị Hương"][1],
    }


def test_d_with_stroke_folds_to_d(workspace: Workspace, people: dict[str, tuple[str, str]]) -> None:
    """ "dang van duc" finds Đặng Văn Đức; the look-alike Ð and upper case fold the same way."""
    expected = people["Thôn Đồi Chè/Đặng Văn Đức"][1]
    for query in ("dang van duc", "DANG VAN DUC", "Đặng Văn Đức", "\u00d0ang van \u00d0uc"):
        hits = workspace.search.find(query)
        assert [h.member_id for h in hits] == [expected], query


def test_old_and_new_tone_placement_both_found(
    workspace: Workspace, people: dict[str, tuple[str, str]]
) -> None:
    """ "hoa" finds both "Hoà" (old placement) and "Hòa" (new placement), typed either way."""
    for query in ("hoa", "Hoà", "Hòa"):
        names = _names(workspace.search.find(query))
        assert "Lò Thị Hoà" in names
        assert "Hoàng Thị Hòa" in names  # "hoa" is also a prefix of "hoang"


def test_nfd_and_nfc_find_each_other(
    workspace: Workspace, add_household: Callable[..., Household]
) -> None:
    """An NFD query finds an NFC record, and a record typed in NFD is found by an NFC query."""
    household = add_household()
    composed = workspace.members.add(household.id, full_name="Phạm Thị Thủy")
    decomposed = workspace.members.add(
        household.id, full_name=unicodedata.normalize("NFD", "Vũ Quốc Việt")
    )
    hits = workspace.search.find(unicodedata.normalize("NFD", "Phạm Thị Thủy"))
    assert [h.member_id for h in hits] == [composed.id]
    hits = workspace.search.find("Vũ Quốc Việt")
    assert [h.member_id for h in hits] == [decomposed.id]
    assert hits[0].full_name == "Vũ Quốc Việt"


def test_cccd_prefix_finds_the_owner(
    workspace: Workspace, people: dict[str, tuple[str, str]]
) -> None:
    """The first digits of a CCCD number find its owner."""
    for query in ("0010850", "001085012345"):
        hits = workspace.search.find(query)
        assert [h.member_id for h in hits] == [people["Bản Phố/Nguyễn Văn Đức"][1]]
        assert hits[0].cccd == "001085012345"


def test_phone_prefix_finds_the_household(
    workspace: Workspace, people: dict[str, tuple[str, str]]
) -> None:
    """The start of a phone number finds the household whose number it is."""
    hits = workspace.search.find("098711")
    assert len(hits) == 1
    assert hits[0].household_id == people["Thôn Đồi Chè/Đặng Văn Đức"][0]
    assert hits[0].head_name == "Đặng Văn Đức"
    assert hits[0].phone == "0987111222"


def test_phone_typed_in_groups_finds_the_household(
    workspace: Workspace, people: dict[str, tuple[str, str]]
) -> None:
    """A phone typed with spaces, dots or +84 is one number and still finds its owner."""
    for typed in ("0987 111 222", "0987.111", "+84 987 111 222"):
        hits = workspace.search.find(typed)
        assert [h.head_name for h in hits] == ["Đặng Văn Đức"], typed


def test_member_phone_finds_the_member(
    workspace: Workspace, people: dict[str, tuple[str, str]]
) -> None:
    """A member's own phone finds the member (not only the household): the whole number, typed
    with +84 or without its 0, or only its last digits; a changed number is found instead."""
    household_id, member_id = people["Bản Phố/Lò Thị Hoà"]
    workspace.members.update(member_id, phone="0336 123 456")
    for typed in ("0336123456", "0336 123 456", "+84 336 123 456", "336123456", "123456", "3456"):
        hits = workspace.search.find(typed)
        assert [h.member_id for h in hits] == [member_id], typed
        assert hits[0].phone == "0336123456"
    # The household's number still finds the household's people, not through this member.
    assert member_id not in [h.member_id for h in workspace.search.find("0912345678")]
    workspace.members.update(member_id, phone="0389000111")
    assert workspace.search.find("0336123456") == []
    assert [h.member_id for h in workspace.search.find("000111")] == [member_id]
    assert household_id == workspace.members.get(member_id).household_id


def test_village_filter(workspace: Workspace, people: dict[str, tuple[str, str]]) -> None:
    """A village filter keeps only that village's people, also when typed in NFD."""
    wanted = people["Thôn Đồi Chè/Nguyễn Thị Hương"][1]
    assert [h.member_id for h in workspace.search.find("huong", village="Thôn Đồi Chè")] == [wanted]
    nfd = unicodedata.normalize("NFD", "Thôn Đồi Chè")
    assert [h.member_id for h in workspace.search.find("huong", village=nfd)] == [wanted]
    assert workspace.search.find("huong", village="Bản Cốc Ly") == []
    browsed = workspace.search.browse(village=nfd)
    assert {h.village for h in browsed} == {"Thôn Đồi Chè"}
    assert len(browsed) == 3


def test_village_name_is_searchable(
    workspace: Workspace, people: dict[str, tuple[str, str]]
) -> None:
    """Typing the village without diacritics finds the people who live there."""
    hits = workspace.search.find("doi che")
    assert {h.village for h in hits} == {"Thôn Đồi Chè"}
    assert {h.member_id for h in hits} >= {
        people["Thôn Đồi Chè/Hoàng Thị Hòa"][1],
        people["Thôn Đồi Chè/Đặng Văn Đức"][1],
    }


def test_head_is_not_listed_twice(workspace: Workspace, people: dict[str, tuple[str, str]]) -> None:
    """When the head is a member, the household's own search row does not repeat them."""
    hits = workspace.search.find("nguyen van duc")
    assert [(h.member_id, h.full_name) for h in hits] == [
        (people["Bản Phố/Nguyễn Văn Đức"][1], "Nguyễn Văn Đức")
    ]


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"nguyen',
        'nguyen"',
        "nguyen*",
        "*",
        "-nguyen",
        "nguyen -thi",
        "NEAR(nguyen thi)",
        "NEAR",
        "nguyen AND thi",
        "AND",
        "OR nguyen",
        "NOT",
        "(",
        ")",
        "(nguyen",
        "huong)",
        "body:nguyen",
        "^nguyen",
        "{nguyen}",
        "'",
        "nguyen + thi",
        "",
        "   ",
        "\u200b",
    ],
)
def test_fts_syntax_in_the_query_never_raises(
    workspace: Workspace, people: dict[str, tuple[str, str]], query: str
) -> None:
    """Quotes, stars, minus, NEAR, AND, parentheses and column filters are just text."""
    hits = workspace.search.find(query)
    assert isinstance(hits, list)
    words = set(re.findall(r"[a-z]+", fold(query)))
    if words and words <= {"nguyen", "thi"}:
        assert "Nguyễn Thị Hương" in _names(hits)


def test_query_without_words_browses(
    workspace: Workspace, people: dict[str, tuple[str, str]]
) -> None:
    """A query with nothing searchable lists everybody in browse order."""
    assert match_expression('  ()*"  ') is None
    assert workspace.search.find("()*") == workspace.search.browse()


def test_browse_is_in_vietnamese_order(
    workspace: Workspace, add_household: Callable[..., Household]
) -> None:
    """Browse sorts by given name first, with Đ after D and before E, not after Z."""
    household = add_household()
    names = [
        "Lê Văn Em",
        "Trần Văn Đức",
        "Vũ Thị Zin",
        "Nguyễn Văn Dũng",
        "Phạm Thị Ánh",
        "Đỗ Văn An",
        "Hà Văn Dũng",
        "Bùi Thị Ân",
    ]
    for name in names:
        workspace.members.add(household.id, full_name=name)
    assert _names(workspace.search.browse()) == [
        "Đỗ Văn An",
        "Phạm Thị Ánh",
        "Bùi Thị Ân",
        "Hà Văn Dũng",
        "Nguyễn Văn Dũng",
        "Trần Văn Đức",
        "Lê Văn Em",
        "Vũ Thị Zin",
    ]
    first, second = workspace.search.browse(limit=4), workspace.search.browse(limit=4, offset=4)
    assert _names(first + second) == _names(workspace.search.browse())


def test_demo_members_are_found_by_their_folded_names(demo_workspace: Workspace) -> None:
    """In the demo commune, every member (sampled) is found by their name typed without marks."""
    rows = demo_workspace.store.query(
        "SELECT id, full_name FROM member WHERE removed = 0 ORDER BY id"
    )
    assert len(rows) > 100
    for row in rows[::7]:
        hits = demo_workspace.search.find(fold(row["full_name"]), limit=500)
        assert row["id"] in {h.member_id for h in hits}, row["full_name"]


def test_demo_browse_pages_follow_the_sort_key(demo_workspace: Workspace) -> None:
    """Browsing the demo commune page by page gives every member once, in sort-key order."""
    seen: list[str] = []
    offset = 0
    while page := demo_workspace.search.browse(limit=100, offset=offset):
        seen += [h.member_id for h in page if h.member_id]
        offset += 100
    assert len(seen) == len(set(seen)) == demo_workspace.members.count()
    keys = dict(demo_workspace.store.query("SELECT id, sort_key FROM member").__iter__())
    assert [keys[m] for m in seen] == sorted(keys[m] for m in seen)


# Letters of Vietnamese names, with their tone-marked vowels; names are built from these.
_VOWELS = "aăâeêioôơuưy"
_TONES = ("", "\u0300", "\u0309", "\u0303", "\u0301", "\u0323")
_CONSONANTS = ["b", "c", "ch", "d", "đ", "g", "gh", "h", "k", "kh", "l", "m", "n", "ng", "nh"]
_CONSONANTS += ["p", "ph", "qu", "r", "s", "t", "th", "tr", "v", "x"]


@st.composite
def _syllables(draw: st.DrawFn) -> str:
    onset = draw(st.sampled_from(["", *_CONSONANTS]))
    vowel = draw(st.sampled_from(_VOWELS)) + draw(st.sampled_from(_TONES))
    extra = draw(st.sampled_from(["", "i", "o", "u", "y"]))
    coda = draw(st.sampled_from(["", "c", "ch", "m", "n", "ng", "nh", "p", "t"]))
    word = onset + unicodedata.normalize("NFC", vowel) + extra + coda
    return word[0].upper() + word[1:]


_NAMES = st.lists(_syllables(), min_size=2, max_size=4).map(" ".join)


@pytest.fixture(scope="module")
def shared_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """One workspace for all examples of the property test below."""
    ws = Workspace.open(Path(tmp_path_factory.mktemp("search-property")), clock=FixedClock(NOW))
    yield ws
    ws.close()


@settings(max_examples=60, deadline=None)
@given(name=_NAMES, decomposed=st.booleans())
def test_added_member_is_found_by_folded_name(
    shared_workspace: Workspace, name: str, decomposed: bool
) -> None:
    """For any Vietnamese-looking name, searching its folded form finds the member just added."""
    ws = shared_workspace
    household = ws.households.add(
        province_code="15", commune_code="99001", village="Bản Phố", head_name="Lê Văn An"
    )
    typed = unicodedata.normalize("NFD", name) if decomposed else name
    member = ws.members.add(household.id, full_name=typed)
    assert member.full_name == unicodedata.normalize("NFC", name)
    hits = ws.search.find(fold(name), limit=10_000)
    assert member.id in {h.member_id for h in hits}


def test_group_filter_keeps_only_households_of_that_group(demo_workspace: Workspace) -> None:
    """find() and browse() with a group return only people whose household carries it."""
    ws = demo_workspace
    for hits in (
        ws.search.find("", group="near_poor", limit=500),
        ws.search.find("thi", group="near_poor", limit=500),
    ):
        assert hits
        for hit in hits:
            assert "near_poor" in ws.households.get(hit.household_id).groups
    everyone = ws.search.find("thi", limit=500)
    assert len(everyone) > len(ws.search.find("thi", group="near_poor", limit=500))


def test_search_rows_are_mapped_to_their_household(demo_workspace: Workspace) -> None:
    """Every index row has a household map row with the same rowid, found through an index."""
    store = demo_workspace.store
    index_rows = store.query("SELECT rowid, household_id, member_id FROM search_index")
    map_rows = store.query("SELECT id, household_id, member_id FROM search_row")
    assert sorted(map(tuple, index_rows)) == sorted(map(tuple, map_rows))
    plan = " ".join(
        str(r[3])
        for r in store.query(
            "EXPLAIN QUERY PLAN SELECT id FROM search_row WHERE household_id = ?", ("x",)
        )
    )
    assert "search_row_household" in plan
