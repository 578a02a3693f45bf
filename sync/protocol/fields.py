"""Each synced entity's fields, described once: name, type check and, for text, the longest value.

The wire checks records against these; the laptop takes its field lists from them and the
server sizes its columns by them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, Literal, cast

from sync.protocol.frozen import kept_dataclass
from sync.protocol.ids import is_uuid

HOUSEHOLD = "household"
MEMBER = "member"
VISIT = "visit"
PLEDGE = "pledge"
PLEDGE_EVENT = "pledge_event"
RECEIPT = "receipt"
RECEIPT_VOID = "receipt_void"
# Cash an agent handed over at the end of a day against what that day's receipts say is due.
CASH_HANDOVER = "cash_handover"
# A receipt book: allocated by the province (sent to laptops in the change feed), or entered
# by hand on a laptop (sent up like a receipt, and kept as the sending device's agent's book).
RECEIPT_BOOK = "receipt_book"

SCHEMES = ("bhyt_household", "bhxh_voluntary")
# A person's BHYT participation group (DOMAIN.md §2): the household group pays on the ladder,
# the next three pay individually with state support, the rest are covered elsewhere.
BHYT_PAYING_GROUPS = ("household", "near_poor", "student", "agri_average")
BHYT_COVERED_GROUPS = (
    "poor",
    "ethnic_minority",
    "child_under_6",
    "pensioner",
    "employee",
    "social_aid",
    "merit",
    "other_covered",
)
BHYT_GROUPS = BHYT_PAYING_GROUPS + BHYT_COVERED_GROUPS
# Supported BHXH months a person may have used, as the field bounds them (the policy's cap is
# 120; a generous bound lets a later law raise it without refusing records).
MAX_SUPPORTED_MONTHS_FIELD = 1200
# What a cash handover covers: the whole day, or one scheme's receipts.
HANDOVER_SCOPES = ("all", *SCHEMES)

# The longest text a field holds, in characters: generous, so no real value is refused, yet
# bounded, so no record carries megabytes in one note.
# Codes: CCCD, social-insurance and card numbers, phone numbers, receipt series (the server's
# series columns are this wide).
CODE_LENGTH = 32
# A policy table's version; the server keys published policies by it in a column this wide.
VERSION_LENGTH = 64
NAME_LENGTH = 200
ADDRESS_LENGTH = 500
NOTE_LENGTH = 2000
# A choice is a short code of at most this many characters (it sizes the server's columns).
CHOICE_LENGTH = 16
# Printed receipt numbers have at most 7 digits, and one book holds at most this many numbers:
# the laptop, the supervisor's page and the wire all take a book's range by these.
MAX_RECEIPT_NUMBER = 9_999_999
MAX_BOOK_SIZE = 100_000
# A timestamp's text ("2026-11-23T08:00:00.000+07:00" is 29): the server's columns are this wide.
STAMP_LENGTH = 32

# When something happened (a visit, a payment, a receipt, a handover): not before 2000, and not
# more than FUTURE_TOLERANCE past the receiver's clock. Dates (birth, card expiry, next visit,
# a period) lie between 1900 and 2100. Outside these, a value is a forgery or a typo, and year
# 9999 or 0001 breaks every page and sum that touches it.
EARLIEST_MOMENT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST_MOMENT = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
FUTURE_TOLERANCE = dt.timedelta(days=2)
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)

# A field check returns None when the value is fine, else (vi, en) describing what is expected.
Problem = tuple[str, str] | None
FieldCheck = Callable[[object], Problem]
# What a value is, as far as storing it goes: a column type on the server, a conversion of the
# laptop's SQLite row (json: lists and objects kept as JSON text).
Kind = Literal[
    "id", "digits", "text", "date", "timestamp", "choice", "money", "count", "flag", "json"
]


@kept_dataclass(frozen=True, slots=True)
class Field:
    """One field of a synced record: what its value must be and how long its text may run."""

    name: str
    kind: Kind
    check: FieldCheck
    # The values a choice may take.
    choices: tuple[str, ...] = ()
    # Characters at most (text and choices), or exactly (digits); None for other kinds.
    max_length: int | None = None
    # Whether a new record must carry it. Fields added after laptops were in the field are
    # not: an older laptop's new member lacks them, and the receiver keeps their defaults.
    on_insert: bool = True


def is_int(value: object) -> bool:
    """A JSON integer that fits 64 bits (larger ones overflow the databases' integer columns)."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _field(
    name: str,
    kind: Kind,
    ok: Callable[[object], bool],
    vi: str,
    en: str,
    *,
    optional: bool = False,
    **more: Any,
) -> Field:
    """A field whose value is fine when `ok` says so (or when None, if optional)."""

    problem = (vi, en)

    def check(value: object) -> Problem:
        if ok(value) or (value is None and optional):
            return None
        return problem

    return Field(name, kind, check, **more)


def uuid(name: str, *, optional: bool = False) -> Field:
    return _field(name, "id", is_uuid, "phải là UUID", "must be a UUID", optional=optional)


def digits(name: str, count: int) -> Field:
    """A code of exactly `count` ASCII digits (province 2, commune 5)."""

    def ok(value: object) -> bool:
        return (
            isinstance(value, str) and len(value) == count and value.isascii() and value.isdigit()
        )

    return _field(
        name, "digits", ok, f"phải gồm {count} chữ số", f"must be {count} digits", max_length=count
    )


def text(name: str, max_length: int, *, required: bool = False, optional: bool = False) -> Field:
    """Text of at most max_length characters; `required` text must not be blank."""

    def check(value: object) -> Problem:
        if value is None and optional:
            return None
        if required and not (isinstance(value, str) and value.strip()):
            return ("không được để trống", "must not be empty")
        if not isinstance(value, str):
            return ("phải là chuỗi", "must be a string")
        if len(value) > max_length:
            return (f"dài quá {max_length} ký tự", f"is longer than {max_length} characters")
        return None

    return Field(name, "text", check, max_length=max_length)


def _iso_date(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return False
    return EARLIEST_DATE <= day <= LATEST_DATE


def date(name: str, *, optional: bool = False) -> Field:
    vi = "phải là ngày dạng YYYY-MM-DD, từ năm 1900 đến 2100"
    en = "must be a YYYY-MM-DD date from 1900 to 2100"
    return _field(name, "date", _iso_date, vi, en, optional=optional)


def moment(value: object) -> dt.datetime | None:
    """A timestamp with a time zone, parsed; None when it is not one or lies outside
    EARLIEST_MOMENT to LATEST_MOMENT."""
    if not isinstance(value, str) or "T" not in value or len(value) > STAMP_LENGTH:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        inside = EARLIEST_MOMENT <= parsed < LATEST_MOMENT
    except OverflowError:  # year 1 or 9999 with an offset that takes it past the calendar
        return None
    return parsed if inside else None


def timestamp(name: str) -> Field:
    vi = "phải là thời điểm ISO có múi giờ, từ năm 2000 đến nay"
    en = "must be an ISO timestamp with a time zone, from 2000 until now"
    return _field(
        name, "timestamp", lambda v: moment(v) is not None, vi, en, max_length=STAMP_LENGTH
    )


def in_future(data: dict[str, Any], late_after: dt.datetime, names: Iterable[str]) -> str | None:
    """The first of the named timestamp fields of a record, whose values have passed their
    field checks, that lies past late_after (the receiver's clock + FUTURE_TOLERANCE)."""
    for name in names:
        value = data.get(name)
        if value is not None and dt.datetime.fromisoformat(value) > late_after:
            return name
    return None


def choice(name: str, *choices: str, optional: bool = False) -> Field:
    assert all(len(c) <= CHOICE_LENGTH for c in choices), choices
    allowed = ", ".join(choices) + (", null" if optional else "")
    return _field(
        name,
        "choice",
        lambda value: value in choices,
        f"phải là một trong: {allowed}",
        f"must be one of {allowed}",
        optional=optional,
        choices=choices,
        max_length=CHOICE_LENGTH,
    )


def added_later(field: Field) -> Field:
    """A field that older laptops do not send with a new record."""
    return dataclasses.replace(field, on_insert=False)


def whole(name: str, low: int, high: int, *, optional: bool = False) -> Field:
    """A whole number from low to high (a count of months)."""
    return _field(
        name,
        "count",
        lambda v: is_int(v) and low <= cast(int, v) <= high,
        f"phải là số nguyên từ {low} đến {high}",
        f"must be a whole number from {low} to {high}",
        optional=optional,
    )


def _is(kind: type) -> Callable[[object], bool]:
    return lambda value: isinstance(value, kind)


def _at_least(minimum: int) -> Callable[[object], bool]:
    # is_int inlined (this runs for every amount of every record a server takes): JSON's true
    # is an int to Python, not a number.
    return lambda value: (
        isinstance(value, int) and not isinstance(value, bool) and minimum <= value < 2**63
    )


def _list_of(item: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: isinstance(value, list) and all(item(v) for v in value)


def money(name: str, *, signed: bool = False, optional: bool = False) -> Field:
    """Whole đồng; negative only where `signed` (a difference)."""
    if signed:
        vi, en = "phải là số nguyên đồng", "must be a whole number of đồng"
        return _field(name, "money", is_int, vi, en, optional=optional)
    vi, en = "phải là số nguyên đồng không âm", "must be a non-negative whole number of đồng"
    return _field(name, "money", _at_least(0), vi, en, optional=optional)


def count(name: str) -> Field:
    """A whole number from 1 (a receipt's number in its book)."""
    return _field(name, "count", _at_least(1), "phải là số nguyên dương", "must be an int >= 1")


def flag(name: str) -> Field:
    return _field(name, "flag", _is(bool), "phải là true/false", "must be true or false")


def strings(name: str) -> Field:
    ok = _list_of(_is(str))
    return _field(name, "json", ok, "phải là danh sách chuỗi", "must be strings")


def months(name: str) -> Field:
    ok = _list_of(lambda v: is_int(v) and 1 <= cast(int, v) <= 12)
    return _field(name, "json", ok, "phải là danh sách tháng 1–12", "must be a list of months 1-12")


def uuids(name: str) -> Field:
    ok = _list_of(is_uuid)
    return _field(name, "json", ok, "phải là danh sách UUID", "must be a list of UUIDs")


def objects(name: str) -> Field:
    ok = _list_of(_is(dict))
    return _field(name, "json", ok, "phải là danh sách đối tượng", "must be a list of objects")


def json_object(name: str) -> Field:
    return _field(name, "json", _is(dict), "phải là đối tượng JSON", "must be a JSON object")


def _entity(*fields: Field) -> dict[str, Field]:
    return {f.name: f for f in fields}


FIELDS: dict[str, dict[str, Field]] = {
    HOUSEHOLD: _entity(
        uuid("id"),
        digits("province_code", 2),
        digits("commune_code", 5),
        text("village", NAME_LENGTH, optional=True),
        text("head_name", NAME_LENGTH, required=True),
        text("address", ADDRESS_LENGTH, optional=True),
        text("phone", CODE_LENGTH, optional=True),
        strings("groups"),
        months("best_months"),
        text("notes", NOTE_LENGTH, optional=True),
    ),
    MEMBER: _entity(
        uuid("id"),
        uuid("household_id"),
        text("full_name", NAME_LENGTH, required=True),
        date("date_of_birth", optional=True),
        choice("sex", "male", "female", optional=True),
        text("relation", NAME_LENGTH, optional=True),
        text("cccd", CODE_LENGTH, optional=True),
        text("bhxh_code", CODE_LENGTH, optional=True),
        text("ethnicity", NAME_LENGTH, optional=True),
        text("bhyt_card", CODE_LENGTH, optional=True),
        date("bhyt_expiry", optional=True),
        text("covered_by", NAME_LENGTH, optional=True),
        text("bhxh_status", NAME_LENGTH, optional=True),
        flag("removed"),
        objects("warnings"),
        # The person's participation (DOMAIN.md §2-§3), added with the per-person rules: the
        # BHYT group (None: unknown, read from the card's prefix), the card's first valid day
        # (bhyt_expiry is its last), and the BHXH state.
        added_later(choice("bhyt_group", *BHYT_GROUPS, optional=True)),
        added_later(date("bhyt_valid_from", optional=True)),
        added_later(flag("bhxh_participating")),
        added_later(money("bhxh_income", optional=True)),
        added_later(date("bhxh_paid_through", optional=True)),
        added_later(whole("bhxh_supported_months", 0, MAX_SUPPORTED_MONTHS_FIELD)),
        # A 9-digit CMND from before the CCCD, kept as it was written.
        added_later(text("old_id", CODE_LENGTH, optional=True)),
        # The person's own phone number (the household's is on the household).
        added_later(text("phone", CODE_LENGTH, optional=True)),
    ),
    VISIT: _entity(
        uuid("id"),
        uuid("household_id"),
        uuid("agent_id"),
        timestamp("at"),
        choice("outcome", "not_home", "consulted", "pledged", "refused", "paid", "follow_up"),
        strings("topics"),
        strings("materials"),
        date("next_visit", optional=True),
        text("notes", NOTE_LENGTH, optional=True),
    ),
    PLEDGE: _entity(
        uuid("id"),
        uuid("household_id"),
        uuid("member_id"),
        choice("scheme", *SCHEMES),
        json_object("params"),
        money("gross"),
        money("central_support"),
        money("local_support"),
        money("payable"),
        text("policy_version", VERSION_LENGTH, required=True),
        date("start_date"),
        date("due_date"),
        timestamp("created_at"),
    ),
    PLEDGE_EVENT: _entity(
        uuid("id"),
        uuid("pledge_id"),
        # superseded: re-quoted under the rules in force at payment; a new pledge replaces it.
        choice("status", "pledged", "paid", "cancelled", "superseded"),
        timestamp("at"),
        text("reason", NOTE_LENGTH, optional=True),
        uuid("receipt_id", optional=True),
    ),
    RECEIPT: _entity(
        uuid("id"),
        uuid("book_id"),
        text("series", CODE_LENGTH, required=True),
        count("number"),
        text("payer_name", NAME_LENGTH, required=True),
        text("payer_bhxh_code", CODE_LENGTH, optional=True),
        text("payer_address", ADDRESS_LENGTH, optional=True),
        uuid("household_id"),
        uuids("pledge_ids"),
        money("amount"),
        text("description", NOTE_LENGTH),
        date("period_from", optional=True),
        date("period_to", optional=True),
        timestamp("issued_at"),
        text("issued_by", NAME_LENGTH, required=True),
        text("verification_code", CODE_LENGTH, optional=True),
    ),
    RECEIPT_VOID: _entity(
        uuid("id"),
        uuid("receipt_id"),
        text("reason", NOTE_LENGTH, required=True),
        timestamp("at"),
    ),
    CASH_HANDOVER: _entity(
        uuid("id"),
        date("day"),
        choice("scheme", *HANDOVER_SCOPES),
        money("expected"),
        money("handed_over"),
        # handed_over - expected: negative when the agent handed over less than was due.
        money("difference", signed=True),
        # Required when there is a difference (checked with the amounts by the wire).
        text("reason", NOTE_LENGTH),
        timestamp("at"),
    ),
    # Only a book entered by hand travels up; its agent is the sending device's, never named in
    # the record. first <= last and the book's size are checked with both numbers by the wire.
    RECEIPT_BOOK: _entity(
        uuid("id"),
        text("series", CODE_LENGTH, required=True),
        whole("first", 1, MAX_RECEIPT_NUMBER),
        whole("last", 1, MAX_RECEIPT_NUMBER),
    ),
}


def synced_fields(entity: str) -> tuple[str, ...]:
    """The names of the fields an entity's records carry, besides their id, in order."""
    return tuple(name for name in FIELDS[entity] if name != "id")
