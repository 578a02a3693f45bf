"""Validators and parsers for identifiers, phones, dates, names and sex."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldapp.errors import Problem, ValidationError, raise_if_errors
from fieldapp.validation import (
    CCCD_PROVINCES,
    DateParseError,
    check_bhxh_code,
    check_bhyt_card,
    check_cccd,
    check_date_of_birth,
    check_phone,
    check_required_name,
    decode_cccd,
    normalise_bhyt_card,
    normalise_cccd,
    normalise_phone,
    parse_date,
    parse_date_loose,
    parse_sex,
)

TODAY = date(2026, 11, 15)


def codes(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.code, p.severity) for p in problems]


def assert_bilingual(problems: list[Problem], field: str) -> None:
    for problem in problems:
        assert problem.field == field
        assert problem.vi and problem.en and problem.vi != problem.en
        assert unicodedata.is_normalized("NFC", problem.vi)


# --- CCCD -------------------------------------------------------------------------------------


def test_province_list_is_the_63_pre_merger_codes() -> None:
    assert len(CCCD_PROVINCES) == 63
    assert CCCD_PROVINCES["001"] == "Hà Nội"
    assert CCCD_PROVINCES["011"] == "Điện Biên"
    assert CCCD_PROVINCES["096"] == "Cà Mau"
    assert "003" not in CCCD_PROVINCES
    assert all(len(code) == 3 and code.isdigit() for code in CCCD_PROVINCES)


@pytest.mark.parametrize("value", [None, "", "   ", "\u200b"])
def test_cccd_may_be_missing(value: str | None) -> None:
    assert check_cccd(value, sex="male", date_of_birth=date(1989, 1, 1)) == []


def test_cccd_matching_sex_and_year_is_fine() -> None:
    assert check_cccd("001089012345", sex="male", date_of_birth=date(1989, 7, 1)) == []


def test_cccd_with_separators_is_fine() -> None:
    assert check_cccd("001 089 012.345", sex="male", date_of_birth=date(1989, 7, 1)) == []
    assert normalise_cccd(" 001.089.012 345 ") == "001089012345"
    assert normalise_cccd("  ") is None


def test_cccd_sex_mismatch_is_only_a_warning() -> None:
    problems = check_cccd("001089012345", sex="female", date_of_birth=date(1989, 7, 1))
    assert codes(problems) == [("cccd_sex_mismatch", "warning")]
    assert_bilingual(problems, "cccd")
    assert "nữ" in problems[0].vi
    assert raise_if_errors(problems) == problems


def test_cccd_year_mismatch_is_only_a_warning() -> None:
    problems = check_cccd("001089012345", sex="male", date_of_birth=date(1990, 7, 1))
    assert codes(problems) == [("cccd_year_mismatch", "warning")]
    assert "1989" in problems[0].vi and "1990" in problems[0].en


@pytest.mark.parametrize(
    ("number", "sex", "year"),
    [
        ("001089012345", "male", 1989),
        ("001189012345", "female", 1989),
        ("001205012345", "male", 2005),
        ("001312012345", "female", 2012),
        ("001400012345", "male", 2100),
        ("001501012345", "female", 2101),
        ("001699012345", "male", 2299),
        ("001799012345", "female", 2299),
        ("001899012345", "male", 1899),
        ("001999012345", "female", 1899),
    ],
)
def test_cccd_sex_and_century_digit(number: str, sex: str, year: int) -> None:
    assert decode_cccd(number) == (sex, year)
    assert check_cccd(number, sex=sex, date_of_birth=date(year, 3, 1)) == []


def test_cccd_unknown_sex_or_date_is_not_checked() -> None:
    assert check_cccd("001189012345", sex=None, date_of_birth=None) == []
    assert check_cccd("001189012345", sex="other", date_of_birth=None) == []


@pytest.mark.parametrize(
    "value",
    ["12345", "00108901234a", "0010890123456", "00108901234", "001-089-01234x", "０01089012345"],
)
def test_cccd_malformed_is_an_error(value: str) -> None:
    problems = check_cccd(value, sex="male", date_of_birth=date(1989, 1, 1))
    assert codes(problems) == [("cccd_format", "error")]
    assert "12 chữ số" in problems[0].vi
    assert_bilingual(problems, "cccd")
    with pytest.raises(ValidationError):
        raise_if_errors(problems)


def test_cccd_unknown_province_is_a_warning() -> None:
    problems = check_cccd("003089012345", sex="male", date_of_birth=date(1989, 1, 1))
    assert codes(problems) == [("cccd_province_unknown", "warning")]
    assert "003" in problems[0].vi


def test_cccd_all_mismatches_together() -> None:
    problems = check_cccd(
        "099189012345", sex="male", date_of_birth=date(1970, 1, 1), field="member_cccd"
    )
    assert codes(problems) == [
        ("cccd_province_unknown", "warning"),
        ("cccd_sex_mismatch", "warning"),
        ("cccd_year_mismatch", "warning"),
    ]
    assert_bilingual(problems, "member_cccd")


def test_decode_cccd_refuses_malformed() -> None:
    with pytest.raises(ValueError):
        decode_cccd("12345")


# --- phone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "0912345678",
        "+84 912 345 678",
        "84912345678",
        "0084912345678",
        "091.234.5678",
        "0912-345-678",
        "(+84) 912 345 678",
        "0357 123 456",
    ],
)
def test_mobile_forms_normalise_to_national(value: str) -> None:
    assert check_phone(value) == []
    number = normalise_phone(value)
    assert number is not None and len(number) == 10 and number.startswith("0")


def test_normalise_phone_examples() -> None:
    assert normalise_phone("+84 912 345 678") == "0912345678"
    assert normalise_phone("84912345678") == "0912345678"
    assert normalise_phone("0912 345 678") == "0912345678"
    assert normalise_phone("+84 215 3826 123") == "02153826123"
    assert normalise_phone("") is None
    assert normalise_phone(None) is None


@pytest.mark.parametrize("value", ["02153826123", "0215 382 6123", "+84 24 3826 1234"])
def test_landline_is_accepted(value: str) -> None:
    assert check_phone(value) == []


@pytest.mark.parametrize("value", [None, "", "  "])
def test_phone_may_be_missing(value: str | None) -> None:
    assert check_phone(value) == []


@pytest.mark.parametrize(
    "value",
    [
        "912345678",  # leading 0 lost
        "091234567",
        "09123456789",
        "0112345678",  # no such mobile prefix
        "+1 212 555 0100",
        "0912abc678",
        "0212345678",  # landline one digit short
    ],
)
def test_bad_phone_is_an_error(value: str) -> None:
    problems = check_phone(value, field="head_phone")
    assert codes(problems) == [("phone_format", "error")]
    assert_bilingual(problems, "head_phone")


@given(st.from_regex(r"[35789][0-9]{8}", fullmatch=True), st.sampled_from(["0", "+84 ", "84"]))
def test_any_mobile_in_any_prefix_form_normalises_the_same(rest: str, prefix: str) -> None:
    spaced = f"{rest[:2]} {rest[2:5]} {rest[5:]}"
    assert normalise_phone(prefix + spaced) == "0" + rest
    assert check_phone(prefix + spaced) == []


# --- insurance numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "0112345678", "01 1234 5678"])
def test_bhxh_code_good(value: str | None) -> None:
    assert check_bhxh_code(value) == []


@pytest.mark.parametrize("value", ["011234567", "01123456789", "011234567x", "GD4011123456789"])
def test_bhxh_code_bad(value: str) -> None:
    problems = check_bhxh_code(value)
    assert codes(problems) == [("bhxh_code_format", "error")]
    assert_bilingual(problems, "bhxh_code")


@pytest.mark.parametrize(
    "value", [None, "", "GD4110112345678", "gd4110112345678", "HN 2 11 0112345678", "0112345678"]
)
def test_bhyt_card_good(value: str | None) -> None:
    assert check_bhyt_card(value) == []


def test_normalise_bhyt_card() -> None:
    assert normalise_bhyt_card("gd 4 11 0112345678") == "GD4110112345678"


@pytest.mark.parametrize(
    "value",
    [
        "GD411011234567",  # 14 characters
        "G44110112345678",
        "GD0110112345678",  # benefit level 0 does not exist
        "GD4110112345678X",
        "12345",
        "ĐT4110112345678",
    ],
)
def test_bhyt_card_bad(value: str) -> None:
    problems = check_bhyt_card(value)
    assert codes(problems) == [("bhyt_card_format", "error")]
    assert_bilingual(problems, "bhyt_card")


# --- dates ------------------------------------------------------------------------------------


def test_date_of_birth_limits() -> None:
    assert check_date_of_birth(None, today=TODAY) == []
    assert check_date_of_birth(TODAY, today=TODAY) == []
    assert check_date_of_birth(date(1906, 11, 15), today=TODAY) == []
    assert codes(check_date_of_birth(date(2026, 11, 16), today=TODAY)) == [("dob_future", "error")]
    too_old = check_date_of_birth(date(1906, 11, 14), today=TODAY, field="dob")
    assert codes(too_old) == [("dob_too_old", "error")]
    assert_bilingual(too_old, "dob")


def test_date_of_birth_limit_on_29_february() -> None:
    # 1900 was not a leap year, so 120 years before 29 February 2020 is taken as 28 February.
    assert check_date_of_birth(date(1900, 2, 28), today=date(2020, 2, 29)) == []
    assert codes(check_date_of_birth(date(1900, 2, 27), today=date(2020, 2, 29))) == [
        ("dob_too_old", "error")
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1975-03-05", date(1975, 3, 5)),
        ("05/03/1975", date(1975, 3, 5)),
        ("5/3/1975", date(1975, 3, 5)),
        ("05-03-1975", date(1975, 3, 5)),
        ("05.03.1975", date(1975, 3, 5)),
        (" 05/03/1975 ", date(1975, 3, 5)),
        ("1975-03-05 00:00:00", date(1975, 3, 5)),
        ("29/02/2000", date(2000, 2, 29)),
    ],
)
def test_parse_date_forms(text: str, expected: date) -> None:
    assert parse_date(text) == expected
    assert parse_date_loose(text) == (expected, False)


def test_bare_year_is_loose_only() -> None:
    assert parse_date_loose("1975") == (date(1975, 1, 1), True)
    with pytest.raises(DateParseError, match="1975"):
        parse_date("1975")


@pytest.mark.parametrize(
    "text",
    ["31/02/1990", "29/02/1900", "13/13/1990", "05/13/1990", "1990-02-30", "0000", "00/01/1990"],
)
def test_impossible_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_date_loose(text)
    assert isinstance(caught.value, DateParseError)
    assert "không tồn tại" in caught.value.vi
    assert "no such date" in caught.value.en


@pytest.mark.parametrize(
    "text", ["", "hôm qua", "05/03/75", "05/03-1975", "1975/3", "March 5, 1975", "12345"]
)
def test_unreadable_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date_loose(text)


def test_date_error_message_follows_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDAPP_LANG", "en")
    with pytest.raises(DateParseError, match="Cannot read the date"):
        parse_date("yesterday")
    monkeypatch.setenv("FIELDAPP_LANG", "vi")
    with pytest.raises(DateParseError, match="Không đọc được ngày"):
        parse_date("yesterday")


@given(st.dates())
def test_day_month_year_round_trips(day: date) -> None:
    assert parse_date(f"{day.day:02d}/{day.month:02d}/{day.year:04d}") == day
    assert parse_date(f"{day.day}/{day.month}/{day.year:04d}") == day
    assert parse_date(day.isoformat()) == day


# --- names and sex ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["Nguyễn Văn An", "Giàng A Páo", "  Lò   Thị  Mai ", "Hà Nhì", "ꪼꪕ ꪒꪾꪙ", "O'Brien"]
)
def test_names_good(value: str) -> None:
    assert check_required_name(value) == []


def test_name_in_nfd_is_fine() -> None:
    assert check_required_name(unicodedata.normalize("NFD", "Nguyễn Thị Hương")) == []


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "name_required"),
        ("", "name_required"),
        ("   \u200b ", "name_required"),
        ("A" * 101, "name_too_long"),
        ("---", "name_no_letter"),
        ("Nguyễn Văn 2", "name_has_digit"),
    ],
)
def test_names_bad(value: str | None, code: str) -> None:
    problems = check_required_name(value, field="head_name")
    assert (code, "error") in codes(problems)
    assert_bilingual(problems, "head_name")


def test_name_of_exactly_100_characters_is_fine() -> None:
    assert check_required_name("A" * 100) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Nam", "male"),
        ("nam", "male"),
        ("NAM", "male"),
        ("M", "male"),
        ("male", "male"),
        ("Nữ", "female"),
        (unicodedata.normalize("NFD", "Nữ"), "female"),
        ("nu", "female"),
        ("NỮ", "female"),
        ("F", "female"),
        ("female", "female"),
        (" Nữ. ", "female"),
        ("", None),
        (None, None),
        ("x", None),
        ("Nam/Nữ", None),
    ],
)
def test_parse_sex(text: str | None, expected: str | None) -> None:
    assert parse_sex(text) == expected
