"""Field validators and parsers for people's identifiers, phones, dates, names and sex."""

from __future__ import annotations

import re
from datetime import date

from fieldapp.errors import Problem
from fieldapp.text import clean, fold
from sync.protocol.i18n import language

__all__ = [
    "CCCD_PROVINCES",
    "DateParseError",
    "check_bhxh_code",
    "check_bhyt_card",
    "check_cccd",
    "check_date_of_birth",
    "check_phone",
    "check_required_name",
    "decode_cccd",
    "normalise_bhxh_code",
    "normalise_bhyt_card",
    "normalise_cccd",
    "normalise_phone",
    "parse_date",
    "parse_date_loose",
    "parse_sex",
]

# Province codes of birth registration in CCCD numbers (Thông tư 07/2016/TT-BCA, 63 provinces
# before the 2025 merger). Numbers issued after the merger keep using these codes.
CCCD_PROVINCES: dict[str, str] = {
    "001": "Hà Nội",
    "002": "Hà Giang",
    "004": "Cao Bằng",
    "006": "Bắc Kạn",
    "008": "Tuyên Quang",
    "010": "Lào Cai",
    "011": "Điện Biên",
    "012": "Lai Châu",
    "014": "Sơn La",
    "015": "Yên Bái",
    "017": "Hoà Bình",
    "019": "Thái Nguyên",
    "020": "Lạng Sơn",
    "022": "Quảng Ninh",
    "024": "Bắc Giang",
    "025": "Phú Thọ",
    "026": "Vĩnh Phúc",
    "027": "Bắc Ninh",
    "030": "Hải Dương",
    "031": "Hải Phòng",
    "033": "Hưng Yên",
    "034": "Thái Bình",
    "035": "Hà Nam",
    "036": "Nam Định",
    "037": "Ninh Bình",
    "038": "Thanh Hoá",
    "040": "Nghệ An",
    "042": "Hà Tĩnh",
    "044": "Quảng Bình",
    "045": "Quảng Trị",
    "046": "Thừa Thiên Huế",
    "048": "Đà Nẵng",
    "049": "Quảng Nam",
    "051": "Quảng Ngãi",
    "052": "Bình Định",
    "054": "Phú Yên",
    "056": "Khánh Hoà",
    "058": "Ninh Thuận",
    "060": "Bình Thuận",
    "062": "Kon Tum",
    "064": "Gia Lai",
    "066": "Đắk Lắk",
    "067": "Đắk Nông",
    "068": "Lâm Đồng",
    "070": "Bình Phước",
    "072": "Tây Ninh",
    "074": "Bình Dương",
    "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu",
    "079": "Hồ Chí Minh",
    "080": "Long An",
    "082": "Tiền Giang",
    "083": "Bến Tre",
    "084": "Trà Vinh",
    "086": "Vĩnh Long",
    "087": "Đồng Tháp",
    "089": "An Giang",
    "091": "Kiên Giang",
    "092": "Cần Thơ",
    "093": "Hậu Giang",
    "094": "Sóc Trăng",
    "095": "Bạc Liêu",
    "096": "Cà Mau",
}

# Fourth CCCD digit: even = male, odd = female; the pair gives the century of birth.
_CENTURY_BY_CODE = {0: 1900, 2: 2000, 4: 2100, 6: 2200, 8: 1800}

_SEX_VI = {"male": "nam", "female": "nữ"}

# Separators people type or print inside numbers ("001 089 012 345", "0912.345.678").
_SEPARATORS = re.compile(r"[\s.\-_/()]+")

# Mobile prefixes in use since the 2018 renumbering; 10-digit numbers with other prefixes are
# typos or old 11-digit mobiles cut short. Landlines are 02 + area code + number, 11 digits.
_MOBILE = re.compile(r"0[35789]\d{8}", re.ASCII)
_LANDLINE = re.compile(r"02\d{9}", re.ASCII)

# Group code, benefit level (mức hưởng 1-5), province code, then the 10-digit BHXH code.
_BHYT_FULL = re.compile(r"[A-Z]{2}[1-5]\d{2}\d{10}", re.ASCII)
_TEN_DIGITS = re.compile(r"\d{10}", re.ASCII)

MAX_NAME_LENGTH = 100
MAX_AGE_YEARS = 120


def _compact(value: str | None) -> str | None:
    """Text with separators removed, or None when blank."""
    text = clean(value)
    if not text:
        return None
    return _SEPARATORS.sub("", text)


def normalise_cccd(value: str | None) -> str | None:
    """The CCCD number without spaces, dots or dashes; None when blank. Does not validate."""
    return _compact(value)


def is_old_id_number(number: str) -> bool:
    """A 9-digit CMND number (the identity card before the 12-digit CCCD)."""
    return len(number) == 9 and number.isascii() and number.isdigit()


def old_id_warning(number: str, field: str = "cccd") -> Problem:
    """The warning kept with a person whose only identity number is an old 9-digit CMND."""
    return Problem(
        field,
        "old_id_number",
        f"Số {number} là CMND 9 số cũ: đã lưu làm giấy tờ cũ; hãy hỏi số CCCD 12 số",
        f"{number} is an old 9-digit CMND: kept as the old ID; ask for the 12-digit CCCD",
        severity="warning",
    )


def normalise_phone(value: str | None) -> str | None:
    """A phone number in national form "0xxxxxxxxx"; None when blank. Does not validate.

    "+84 912 345 678", "84912345678" and "0084912345678" all become "0912345678".
    """
    text = _compact(value)
    if text is None:
        return None
    if text.startswith("+"):
        text = text[1:]
        if text.startswith("84"):
            return "0" + text[2:]
        return "+" + text
    if text.startswith("0084"):
        return "0" + text[4:]
    # 84 + 9 digits (mobile) or 84 + 10 digits (landline); a national number never starts 84.
    if text.startswith("84") and text.isdigit() and len(text) in (11, 12):
        return "0" + text[2:]
    return text


def normalise_bhxh_code(value: str | None) -> str | None:
    """The social-insurance code without separators; None when blank. Does not validate."""
    return _compact(value)


def normalise_bhyt_card(value: str | None) -> str | None:
    """The BHYT card number without separators, letters upper-cased; None when blank."""
    text = _compact(value)
    return text.upper() if text is not None else None


def decode_cccd(number: str) -> tuple[str, int]:
    """Sex ("male"/"female") and year of birth encoded in a 12-digit CCCD number."""
    if len(number) != 12 or not number.isascii() or not number.isdigit():
        raise ValueError(f"not a 12-digit CCCD number: {number!r}")
    code = int(number[3])
    sex = "female" if code % 2 else "male"
    return sex, _CENTURY_BY_CODE[code - code % 2] + int(number[4:6])


def check_cccd(
    value: str | None,
    *,
    sex: str | None,
    date_of_birth: date | None,
    field: str = "cccd",
) -> list[Problem]:
    """Errors for a malformed CCCD number; warnings when it disagrees with sex or birth year."""
    number = normalise_cccd(value)
    if number is None:
        return []
    if len(number) != 12 or not number.isascii() or not number.isdigit():
        return [
            Problem(
                field,
                "cccd_format",
                f"Số CCCD phải gồm đúng 12 chữ số (đang là “{clean(value)}”)",
                f"The CCCD number must have exactly 12 digits (got “{clean(value)}”)",
            )
        ]
    problems: list[Problem] = []
    province = number[:3]
    if province not in CCCD_PROVINCES:
        problems.append(
            Problem(
                field,
                "cccd_province_unknown",
                f"Mã tỉnh {province} ở đầu số CCCD không thuộc danh sách 63 tỉnh, thành phố",
                f"The province code {province} at the start of the CCCD number is not one of "
                "the 63 province codes",
                "warning",
            )
        )
    encoded_sex, encoded_year = decode_cccd(number)
    if sex in _SEX_VI and sex != encoded_sex:
        problems.append(
            Problem(
                field,
                "cccd_sex_mismatch",
                f"Số CCCD ghi giới tính {_SEX_VI[encoded_sex]}, khác giới tính đã nhập "
                f"({_SEX_VI[sex]})",
                f"The CCCD number says {encoded_sex}, but the recorded sex is {sex}",
                "warning",
            )
        )
    if date_of_birth is not None and date_of_birth.year != encoded_year:
        problems.append(
            Problem(
                field,
                "cccd_year_mismatch",
                f"Số CCCD ghi năm sinh {encoded_year}, khác năm sinh đã nhập "
                f"({date_of_birth.year})",
                f"The CCCD number says born in {encoded_year}, but the recorded year of birth "
                f"is {date_of_birth.year}",
                "warning",
            )
        )
    return problems


def check_phone(value: str | None, field: str = "phone") -> list[Problem]:
    """An error unless blank, a Vietnamese mobile (10 digits) or landline (11 digits)."""
    number = normalise_phone(value)
    if number is None or _MOBILE.fullmatch(number) or _LANDLINE.fullmatch(number):
        return []
    return [
        Problem(
            field,
            "phone_format",
            f"Số điện thoại “{clean(value)}” không hợp lệ: di động gồm 10 chữ số bắt đầu bằng "
            "03, 05, 07, 08 hoặc 09; máy bàn gồm 11 chữ số bắt đầu bằng 02",
            f"The phone number “{clean(value)}” is not valid: mobiles have 10 digits starting "
            "with 03, 05, 07, 08 or 09; landlines have 11 digits starting with 02",
        )
    ]


def check_bhxh_code(value: str | None, field: str = "bhxh_code") -> list[Problem]:
    """An error unless blank or exactly 10 digits."""
    code = normalise_bhxh_code(value)
    if code is None or _TEN_DIGITS.fullmatch(code):
        return []
    return [
        Problem(
            field,
            "bhxh_code_format",
            f"Mã số BHXH phải gồm đúng 10 chữ số (đang là “{clean(value)}”)",
            f"The social-insurance code must have exactly 10 digits (got “{clean(value)}”)",
        )
    ]


def check_bhyt_card(value: str | None, field: str = "bhyt_card") -> list[Problem]:
    """An error unless blank, a 15-character BHYT card number or just its 10 final digits."""
    card = normalise_bhyt_card(value)
    if card is None or (_BHYT_FULL.fullmatch(card) or _TEN_DIGITS.fullmatch(card)):
        return []
    return [
        Problem(
            field,
            "bhyt_card_format",
            f"Số thẻ BHYT “{clean(value)}” không hợp lệ: cần 15 ký tự (2 chữ cái mã đối tượng, "
            "1 chữ số mức hưởng, 2 chữ số mã tỉnh, 10 chữ số mã BHXH) hoặc chỉ 10 chữ số",
            f"The BHYT card number “{clean(value)}” is not valid: expected 15 characters "
            "(2-letter group, benefit digit, 2-digit province code, 10-digit social-insurance "
            "code) or just the 10 digits",
        )
    ]


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def check_date_of_birth(
    value: date | None, *, today: date, field: str = "date_of_birth"
) -> list[Problem]:
    """An error for a date of birth in the future or more than 120 years ago."""
    if value is None:
        return []
    if value > today:
        return [
            Problem(
                field,
                "dob_future",
                f"Ngày sinh {value:%d/%m/%Y} ở tương lai",
                f"The date of birth {value:%d/%m/%Y} is in the future",
            )
        ]
    if value < _years_before(today, MAX_AGE_YEARS):
        return [
            Problem(
                field,
                "dob_too_old",
                f"Ngày sinh {value:%d/%m/%Y} cách đây hơn {MAX_AGE_YEARS} năm",
                f"The date of birth {value:%d/%m/%Y} is more than {MAX_AGE_YEARS} years ago",
            )
        ]
    return []


class DateParseError(ValueError):
    """A date that could not be read; carries the reason in Vietnamese and English."""

    def __init__(self, vi: str, en: str) -> None:
        self.vi = vi
        self.en = en
        super().__init__(self.message())

    def message(self, lang: str | None = None) -> str:
        return self.en if (lang or language()) == "en" else self.vi


# Day first, as Vietnamese write dates; ISO (year first) is what spreadsheets export.
_DAY_FIRST = re.compile(r"(\d{1,2})([/.\-])(\d{1,2})\2(\d{4})", re.ASCII)
_YEAR_FIRST = re.compile(r"(\d{4})([/.\-])(\d{1,2})\2(\d{1,2})(?:[ T]00:00(?::00)?)?", re.ASCII)
_YEAR_ONLY = re.compile(r"\d{4}", re.ASCII)


def _make_date(text: str, year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise DateParseError(
            f"Ngày “{text}” không tồn tại", f"There is no such date as “{text}”"
        ) from None


def parse_date_loose(text: str) -> tuple[date, bool]:
    """A date from the ways people write them, and whether only the year was given.

    "1975" gives (1975-01-01, True); "5/3/1975", "05-03-1975", "05.03.1975" and "1975-03-05"
    give (1975-03-05, False).
    """
    value = clean(text)
    if _YEAR_ONLY.fullmatch(value):
        return _make_date(value, int(value), 1, 1), True
    if match := _DAY_FIRST.fullmatch(value):
        day, _, month, year = match.groups()
        return _make_date(value, int(year), int(month), int(day)), False
    if match := _YEAR_FIRST.fullmatch(value):
        year, _, month, day = match.groups()
        return _make_date(value, int(year), int(month), int(day)), False
    if not value:
        raise DateParseError("Chưa nhập ngày", "The date is empty")
    raise DateParseError(
        f"Không đọc được ngày “{value}”: hãy viết dạng ngày/tháng/năm, ví dụ 05/03/1975",
        f"Cannot read the date “{value}”: write it as day/month/year, e.g. 05/03/1975",
    )


def parse_date(text: str) -> date:
    """A full date (day, month and year) in any of the forms parse_date_loose reads."""
    value, year_only = parse_date_loose(text)
    if year_only:
        raise DateParseError(
            f"“{clean(text)}” chỉ có năm, cần đủ ngày/tháng/năm",
            f"“{clean(text)}” is only a year; a full day/month/year is needed",
        )
    return value


def check_required_name(value: str | None, field: str = "full_name") -> list[Problem]:
    """An error unless the name is present, at most 100 characters, with letters and no digits."""
    name = clean(value)
    if not name:
        return [Problem(field, "name_required", "Chưa nhập họ và tên", "The full name is missing")]
    problems: list[Problem] = []
    if len(name) > MAX_NAME_LENGTH:
        problems.append(
            Problem(
                field,
                "name_too_long",
                f"Họ và tên dài quá {MAX_NAME_LENGTH} ký tự",
                f"The full name is longer than {MAX_NAME_LENGTH} characters",
            )
        )
    if not any(ch.isalpha() for ch in name):
        problems.append(
            Problem(
                field,
                "name_no_letter",
                f"Họ và tên “{name}” không có chữ cái nào",
                f"The full name “{name}” has no letters",
            )
        )
    if any(ch.isdigit() for ch in name):
        problems.append(
            Problem(
                field,
                "name_has_digit",
                f"Họ và tên “{name}” không được chứa chữ số",
                f"The full name “{name}” must not contain digits",
            )
        )
    return problems


_SEX_WORDS = {
    "nam": "male",
    "m": "male",
    "male": "male",
    "man": "male",
    "nu": "female",
    "f": "female",
    "female": "female",
    "woman": "female",
}


def parse_sex(text: str | None) -> str | None:
    """Sex read from "Nam", "Nữ", "nu", "M", "F", "male" or "female"; None if unclear."""
    if text is None:
        return None
    return _SEX_WORDS.get(re.sub(r"[^a-z]", "", fold(text)))
