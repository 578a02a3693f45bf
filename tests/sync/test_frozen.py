"""`@frozen` records behave as frozen dataclasses do: equality, hashing, repr, immutability,
and the dataclasses functions; only their methods are shared instead of generated per class."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import field

import pytest

from sync.protocol.frozen import frozen


@frozen
class Card:
    number: str
    ends: str | None = None
    note: str = field(default="", compare=False)
    tags: tuple[str, ...] = field(default_factory=tuple)
    secret: str = field(default="", repr=False)
    stamp: int = field(default=0, hash=False)


@dataclasses.dataclass(frozen=True)
class CardAsDataclass:
    number: str
    ends: str | None = None
    note: str = field(default="", compare=False)
    tags: tuple[str, ...] = field(default_factory=tuple)
    secret: str = field(default="", repr=False)
    stamp: int = field(default=0, hash=False)


@frozen
class Other:
    number: str
    ends: str | None = None


@frozen
class Empty:
    pass


@frozen
class One:
    value: int


@frozen
class Child(Other):
    village: str = ""


@frozen
class OwnMethods:
    code: str

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OwnMethods) and self.code.lower() == other.code.lower()

    def __repr__(self) -> str:
        return f"<{self.code}>"


@frozen
class OwnHash:
    code: str

    def __hash__(self) -> int:
        return 7


VALUES = {
    "number": ["GD4010112345678", "HN2010198765432"],
    "ends": [None, "2026-12-31"],
    "note": ["", "gặp chủ hộ"],
    "tags": [(), ("BHYT",)],
    "secret": ["", "x"],
    "stamp": [0, 5],
}


def _all_cards() -> list[dict[str, object]]:
    names = list(VALUES)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*VALUES.values())]


def test_equality_and_hash_match_a_frozen_dataclass_for_every_pair() -> None:
    cards = _all_cards()
    for a, b in itertools.product(cards, repeat=2):
        ours_a, ours_b = Card(**a), Card(**b)  # type: ignore[arg-type]
        std_a, std_b = CardAsDataclass(**a), CardAsDataclass(**b)  # type: ignore[arg-type]
        assert (ours_a == ours_b) is (std_a == std_b), (a, b)
        assert (ours_a != ours_b) is (std_a != std_b), (a, b)
        if ours_a == ours_b:
            assert hash(ours_a) == hash(ours_b)


def test_fields_left_out_of_comparing_and_hashing() -> None:
    a = Card("GD4010112345678", note="một", stamp=1)
    b = Card("GD4010112345678", note="hai", stamp=1)
    assert a == b  # note: compare=False
    assert hash(a) == hash(b)
    c = Card("GD4010112345678", stamp=2)
    assert a != c  # stamp is compared ...
    assert hash(a) == hash(c)  # ... but not hashed (hash=False), as in a dataclass
    assert hash(CardAsDataclass("A", stamp=1)) == hash(CardAsDataclass("A", stamp=2))
    assert len({a, b, c, Card("HN2010198765432")}) == 3


def test_another_class_is_never_equal_even_with_the_same_fields() -> None:
    assert Other("A", None) != Child("A", None)
    assert Other("A") != CardAsDataclass("A")
    assert Other("A").__eq__(("A", None)) is NotImplemented
    assert Other("A") != ("A", None)


def test_repr_is_the_dataclass_one() -> None:
    for values in _all_cards()[:16]:
        ours = repr(Card(**values))  # type: ignore[arg-type]
        std = repr(CardAsDataclass(**values))  # type: ignore[arg-type]
        assert ours == std.replace("CardAsDataclass(", "Card(", 1)
    assert repr(Empty()) == "Empty()"
    assert repr(One(3)) == "One(value=3)"
    assert "secret" not in repr(Card("A", secret="s"))


def test_one_field_and_no_field() -> None:
    assert One(1) == One(1) and One(1) != One(2)
    assert hash(One(1)) == hash(One(1))
    assert Empty() == Empty() and hash(Empty()) == hash(Empty())


def test_frozen_and_the_dataclasses_functions() -> None:
    card = Card("GD4010112345678", tags=("BHYT",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.number = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del card.ends  # type: ignore[misc]
    assert dataclasses.is_dataclass(card)
    assert dataclasses.replace(card, ends="2027-01-31").ends == "2027-01-31"
    assert dataclasses.asdict(card)["tags"] == ("BHYT",)
    assert [f.name for f in dataclasses.fields(Child)] == ["number", "ends", "village"]
    assert Card("A").tags == () and Card("A").tags is not None


def test_subclass_compares_its_own_fields_too() -> None:
    assert Child("A", None, "Bản Phố") == Child("A", None, "Bản Phố")
    assert Child("A", None, "Bản Phố") != Child("A", None, "Nà Hang")
    assert repr(Child("A")) == "Child(number='A', ends=None, village='')"


def test_methods_the_class_defines_are_kept() -> None:
    assert OwnMethods("ab") == OwnMethods("AB")
    assert repr(OwnMethods("ab")) == "<ab>"
    # Its own __eq__ without a __hash__: hashed by its fields, as a frozen dataclass would be.
    assert hash(OwnMethods("ab")) == hash(OwnMethods("ab"))
    assert hash(OwnHash("a")) == 7


def test_the_methods_are_shared_not_generated_per_class() -> None:
    assert Card.__eq__ is Other.__eq__ is One.__eq__
    assert Card.__hash__ is Other.__hash__
    assert Card.__repr__ is Other.__repr__
    generated = {"__init__", "__setattr__", "__delattr__"}
    for cls in (Card, Other, One):
        made = {
            name
            for name, value in vars(cls).items()
            if callable(value)
            and getattr(getattr(value, "__code__", None), "co_filename", "") == "<string>"
        }
        assert made == generated, (cls, made)
