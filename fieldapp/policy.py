"""Versioned policy tables: dated rates, base figures and support shares read from JSON."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, NoReturn, TypeVar

import resources
from fieldapp.errors import NotFoundError, Problem, ValidationError
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen

FORMAT = 1
SCHEMES = ("bhyt_household", "bhxh_voluntary")
# A local support line for this group applies to every participant of its scheme.
ALL_GROUPS = "all"

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PCT = re.compile(r"\d{1,3}(\.\d{1,6})?")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PROVINCE = re.compile(r"\d{2}")


class PolicyFormatError(FieldappError):
    """A policy file or dict does not have the expected structure; names the offending key."""

    def __init__(self, key: str, vi_reason: str, en_reason: str, *, origin: str = "") -> None:
        self.key = key
        self.vi_reason = vi_reason
        self.en_reason = en_reason
        self.origin = origin
        where = f" ({origin})" if origin else ""
        super().__init__(
            f"Tệp chính sách không hợp lệ{where}: khóa '{key}' {vi_reason}",
            f"Invalid policy file{where}: key '{key}' {en_reason}",
            code="policy_invalid",
        )


def _vi_date(d: date) -> str:
    return d.strftime("%d/%m/%Y")


@frozen
class DatedValue(Generic[T_co]):
    """One value of a policy item, in force from `start` (and until `end` when given)."""

    start: date
    end: date | None
    value: T_co
    source: str
    unconfirmed: bool


@frozen
class Timeline(Generic[T_co]):
    """The history of one policy item, oldest first, without overlaps."""

    key: str
    version: str
    entries: tuple[DatedValue[T_co], ...]

    def at(self, on: date) -> DatedValue[T_co]:
        """The entry in force on a date; a date the history does not cover is refused."""
        chosen: DatedValue[T_co] | None = None
        for entry in self.entries:
            if entry.start <= on:
                chosen = entry
        if chosen is None or (chosen.end is not None and on > chosen.end):
            raise self._not_covered(on)
        return chosen

    def _not_covered(self, on: date) -> ValidationError:
        first, last = self.entries[0], self.entries[-1]
        vi_span = f"từ {_vi_date(first.start)}"
        en_span = f"from {first.start.isoformat()}"
        if last.end is not None:
            vi_span += f" đến {_vi_date(last.end)}"
            en_span += f" to {last.end.isoformat()}"
        return ValidationError(
            [
                Problem(
                    field="on",
                    code="policy_date_not_covered",
                    vi=(
                        f"Bảng chính sách {self.version} không có '{self.key}' cho ngày "
                        f"{_vi_date(on)}; dữ liệu có {vi_span}"
                    ),
                    en=(
                        f"Policy {self.version} has no '{self.key}' for {on.isoformat()}; "
                        f"it covers dates {en_span}"
                    ),
                )
            ]
        )


@frozen
class LocalSupportLine:
    """Support a province adds on top of the central one, per scheme and group, for a period.

    `share` is a fraction of the central-support base (rate × rural poverty line) for BHXH and
    of the member's own contribution for BHYT; `amount` is đồng per month (per member for BHYT).
    Exactly one of the two is set.
    """

    province: str
    scheme: str
    group: str
    start: date
    end: date | None
    share: Fraction | None
    amount: int | None
    source: str
    unconfirmed: bool

    def in_force(self, on: date) -> bool:
        return self.start <= on and (self.end is None or on <= self.end)

    def covers(self, groups: Iterable[str]) -> bool:
        return self.group == ALL_GROUPS or self.group in set(groups)


@frozen
class BhytRules:
    """BHYT hộ gia đình: rate of the base figure, household ladder, periods, support shares."""

    rate: Timeline[Fraction]
    ladder: Timeline[tuple[Fraction, ...]]
    periods: Timeline[tuple[int, ...]]
    support: Mapping[str, Timeline[Fraction]]
    covered_elsewhere_groups: tuple[str, ...]
    # The card rule (DOMAIN.md §2): a first-time member's card, or one after a gap of
    # card_gap_months or more, is valid card_wait_days after payment. Policies published
    # before the rule was modelled lack both; card dates are then not computed.
    card_wait_days: Timeline[int] | None = None
    card_gap_months: Timeline[int] | None = None


@frozen
class BhxhRules:
    """BHXH tự nguyện: rate, ceiling, central support, periods, lump sums and fund return."""

    rate: Timeline[Fraction]
    ceiling_base_multiple: Timeline[int]
    central_support: Mapping[str, Timeline[Fraction]]
    max_supported_months: Timeline[int]
    periods: Timeline[tuple[int, ...]]
    lump_sum_max_years: Timeline[int]
    back_payment_max_months: Timeline[int]
    monthly_return: Timeline[Fraction]


@frozen
class Policy:
    """One published version of the policy tables."""

    version: str
    published: date
    country: str
    base_figures: Timeline[int]
    rural_poverty_lines: Timeline[int]
    bhyt: BhytRules
    bhxh: BhxhRules
    local_support: tuple[LocalSupportLine, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """Build and validate a policy; a malformed structure raises PolicyFormatError."""
        return _parse_policy(data)

    @classmethod
    def from_json(cls, text: str, *, origin: str = "") -> Policy:
        """Parse JSON text; decimals written as JSON numbers are refused, not turned into floats."""
        try:
            data = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise PolicyFormatError(
                "(json)",
                f"không đọc được: dòng {exc.lineno}, cột {exc.colno}",
                f"cannot be parsed: line {exc.lineno}, column {exc.colno}",
                origin=origin,
            ) from exc
        try:
            return _parse_policy(data)
        except PolicyFormatError as exc:
            if not origin:
                raise
            raise PolicyFormatError(exc.key, exc.vi_reason, exc.en_reason, origin=origin) from exc

    # Base figures ---------------------------------------------------------------------------

    def base_figure(self, on: date) -> int:
        """Lương cơ sở / mức tham chiếu in force on a date, đồng per month."""
        return self.base_figures.at(on).value

    def rural_poverty_line(self, on: date) -> int:
        """Chuẩn hộ nghèo nông thôn on a date: the BHXH tự nguyện income floor."""
        return self.rural_poverty_lines.at(on).value

    # BHYT hộ gia đình -----------------------------------------------------------------------

    def bhyt_rate(self, on: date) -> Fraction:
        return self.bhyt.rate.at(on).value

    def bhyt_ladder(self, on: date) -> tuple[Fraction, ...]:
        """Share of the first member's amount by position; the last applies to later members."""
        return self.bhyt.ladder.at(on).value

    def bhyt_periods(self, on: date) -> tuple[int, ...]:
        return self.bhyt.periods.at(on).value

    def card_rule(self, on: date) -> tuple[int, int] | None:
        """(days a new card waits, months of gap after which a card counts as new), or None."""
        if self.bhyt.card_wait_days is None or self.bhyt.card_gap_months is None:
            return None
        return self.bhyt.card_wait_days.at(on).value, self.bhyt.card_gap_months.at(on).value

    def bhyt_support_groups(self) -> tuple[str, ...]:
        return tuple(self.bhyt.support)

    def bhyt_support_share(self, group: str, on: date) -> Fraction:
        """State support for a BHYT group, as a fraction of the contribution."""
        return _group_timeline(self.bhyt.support, group, "support_group").at(on).value

    # BHXH tự nguyện -------------------------------------------------------------------------

    def bhxh_rate(self, on: date) -> Fraction:
        return self.bhxh.rate.at(on).value

    def bhxh_ceiling(self, on: date) -> int:
        """Highest income one may declare: a multiple of the base figure."""
        return self.bhxh.ceiling_base_multiple.at(on).value * self.base_figure(on)

    def bhxh_periods(self, on: date) -> tuple[int, ...]:
        return self.bhxh.periods.at(on).value

    def central_support_groups(self) -> tuple[str, ...]:
        return tuple(self.bhxh.central_support)

    def central_support_share(self, group: str, on: date) -> Fraction:
        """Central support for a BHXH group, as a fraction of rate × rural poverty line."""
        return _group_timeline(self.bhxh.central_support, group, "groups").at(on).value

    def max_supported_months(self, on: date) -> int:
        return self.bhxh.max_supported_months.at(on).value

    def lump_sum_max_years(self, on: date) -> int:
        return self.bhxh.lump_sum_max_years.at(on).value

    def back_payment_max_months(self, on: date) -> int:
        return self.bhxh.back_payment_max_months.at(on).value

    def monthly_return_rate(self, on: date) -> Fraction:
        """The fund's monthly investment return r used to discount and surcharge lump sums."""
        return self.bhxh.monthly_return.at(on).value

    # Local support --------------------------------------------------------------------------

    def local_support_lines(
        self, province: str, scheme: str, on: date
    ) -> tuple[LocalSupportLine, ...]:
        """The province's own support lines for a scheme in force on a date."""
        return tuple(
            line
            for line in self.local_support
            if line.province == province and line.scheme == scheme and line.in_force(on)
        )

    # Provenance -----------------------------------------------------------------------------

    def item_keys(self) -> tuple[str, ...]:
        """Keys accepted by entry() and is_unconfirmed(), as written in the JSON file."""
        return tuple(self._items())

    def entry(self, key: str, on: date, group: str | None = None) -> DatedValue[object]:
        """The dated entry (value, source, unconfirmed flag) of an item in force on a date."""
        items = self._items()
        if key not in items:
            raise ValidationError(
                [
                    Problem(
                        field="key",
                        code="policy_unknown_item",
                        vi=f"Không có mục chính sách '{key}'; các mục: {', '.join(items)}",
                        en=f"No policy item '{key}'; items: {', '.join(items)}",
                    )
                ]
            )
        item = items[key]
        if isinstance(item, Timeline):
            return item.at(on)
        return _group_timeline(item, group or "", "group").at(on)

    def is_unconfirmed(self, key: str, on: date, group: str | None = None) -> bool:
        """Whether the figure in force was found only in secondary sources."""
        if key == "bhxh_voluntary.ceiling":
            return self.is_unconfirmed("base_figure", on) or self.is_unconfirmed(
                "bhxh_voluntary.ceiling_base_multiple", on
            )
        return self.entry(key, on, group).unconfirmed

    def unconfirmed_on(self, on: date) -> tuple[str, ...]:
        """Every item (with its group as "key.group") whose figure in force is unconfirmed."""
        found: list[str] = []
        for key, item in self._items().items():
            timelines = (
                {key: item}
                if isinstance(item, Timeline)
                else {f"{key}.{group}": timeline for group, timeline in item.items()}
            )
            for name, timeline in timelines.items():
                entry = _try_at(timeline, on)
                if entry is not None and entry.unconfirmed:
                    found.append(name)
        return tuple(found)

    def _items(self) -> dict[str, Timeline[object] | Mapping[str, Timeline[object]]]:
        cards: dict[str, Timeline[object] | Mapping[str, Timeline[object]]] = {}
        if self.bhyt.card_wait_days is not None and self.bhyt.card_gap_months is not None:
            cards["bhyt_household.card_wait_days"] = self.bhyt.card_wait_days
            cards["bhyt_household.card_gap_months"] = self.bhyt.card_gap_months
        return cards | {
            "base_figure": self.base_figures,
            "rural_poverty_line": self.rural_poverty_lines,
            "bhyt_household.rate_pct": self.bhyt.rate,
            "bhyt_household.ladder_pct": self.bhyt.ladder,
            "bhyt_household.periods_months": self.bhyt.periods,
            "bhyt_household.support_pct": self.bhyt.support,
            "bhxh_voluntary.rate_pct": self.bhxh.rate,
            "bhxh_voluntary.ceiling_base_multiple": self.bhxh.ceiling_base_multiple,
            "bhxh_voluntary.central_support_pct": self.bhxh.central_support,
            "bhxh_voluntary.max_supported_months": self.bhxh.max_supported_months,
            "bhxh_voluntary.periods_months": self.bhxh.periods,
            "bhxh_voluntary.lump_sum_max_years": self.bhxh.lump_sum_max_years,
            "bhxh_voluntary.back_payment_max_months": self.bhxh.back_payment_max_months,
            "bhxh_voluntary.monthly_return_pct": self.bhxh.monthly_return,
        }


def _try_at(timeline: Timeline[T], on: date) -> DatedValue[T] | None:
    try:
        return timeline.at(on)
    except ValidationError:
        return None


def _group_timeline(timelines: Mapping[str, Timeline[T]], group: str, field: str) -> Timeline[T]:
    if group not in timelines:
        allowed = ", ".join(timelines)
        raise ValidationError(
            [
                Problem(
                    field=field,
                    code="unknown_group",
                    vi=f"Nhóm '{group}' không hợp lệ; các nhóm được phép: {allowed}",
                    en=f"Unknown group '{group}'; allowed groups: {allowed}",
                )
            ]
        )
    return timelines[group]


@frozen
class PolicySet:
    """Several policy versions e.g. the shipped one and a newer one from the server."""

    policies: tuple[Policy, ...]

    def __post_init__(self) -> None:
        if not self.policies:
            raise FieldappError(
                "Không có bảng chính sách nào", "No policy version available", code="policy_none"
            )
        by_version: dict[str, Policy] = {}
        for policy in self.policies:
            if policy.version in by_version:
                raise FieldappError(
                    f"Bảng chính sách {policy.version} xuất hiện hai lần",
                    f"Policy version {policy.version} appears twice",
                    code="policy_duplicate",
                )
            by_version[policy.version] = policy
        ordered = tuple(sorted(self.policies, key=_version_key))
        object.__setattr__(self, "policies", ordered)

    @classmethod
    def from_directory(cls, directory: Path | None = None) -> PolicySet:
        """Every *.json file in a folder (by default the shipped resources/policy)."""
        folder = directory if directory is not None else resources.path("policy")
        files = sorted(folder.glob("*.json"))
        return cls(tuple(_load_file(f) for f in files))

    def latest(self) -> Policy:
        """The most recently published version."""
        return self.policies[-1]

    def get(self, version: str) -> Policy:
        for policy in self.policies:
            if policy.version == version:
                return policy
        raise NotFoundError("bảng chính sách", "policy version", version)

    def versions(self) -> tuple[str, ...]:
        return tuple(p.version for p in self.policies)

    def with_policy(self, policy: Policy) -> PolicySet:
        """A set that also holds `policy`, replacing a version of the same name."""
        kept = tuple(p for p in self.policies if p.version != policy.version)
        return PolicySet((*kept, policy))


def _version_key(policy: Policy) -> tuple[date, tuple[int, ...], str]:
    numbers = tuple(int(n) for n in re.findall(r"\d+", policy.version))
    return (policy.published, numbers, policy.version)


def load_policy(path: Path | None = None) -> Policy:
    """Load one policy file, or the newest version in a folder (default: the shipped tables)."""
    if path is None or path.is_dir():
        return PolicySet.from_directory(path).latest()
    return _load_file(path)


def _load_file(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFormatError(
            "(file)", f"không đọc được tệp: {exc}", f"cannot read the file: {exc}", origin=path.name
        ) from exc
    return Policy.from_json(text, origin=path.name)


# Parsing ------------------------------------------------------------------------------------

Parser = Callable[[object, str], T]


def _fail(key: str, vi: str, en: str) -> NoReturn:
    raise PolicyFormatError(key, vi, en)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _object(value: object, key: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        _fail(key, "phải là một đối tượng JSON", "must be a JSON object")
    return value


def _get(data: Mapping[str, object], name: str, path: str) -> object:
    if name not in data:
        _fail(_join(path, name), "bị thiếu", "is missing")
    return data[name]


def _only_keys(data: Mapping[str, object], allowed: Iterable[str], path: str) -> None:
    # A misspelt optional key ("form" for "from") would otherwise be ignored silently.
    allowed = set(allowed)
    for name in data:
        if name not in allowed:
            _fail(_join(path, name), "không được biết", "is not a known key")


def _text(value: object, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(key, "phải là một chuỗi không rỗng", "must be a non-empty string")
    return value


def _bool(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        _fail(key, "phải là true hoặc false", "must be true or false")
    return value


def _iso_date(value: object, key: str) -> date:
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    _fail(key, "phải là một ngày dạng YYYY-MM-DD", "must be a date written YYYY-MM-DD")


def _whole(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(key, "phải là một số nguyên dương", "must be a positive whole number")
    return value


def _pct(value: object, key: str) -> Fraction:
    """A percentage written as a decimal string ("4.5"), kept exact as a fraction of one."""
    if not isinstance(value, str) or not _PCT.fullmatch(value):
        _fail(
            key,
            'phải là một chuỗi phần trăm như "4.5" (không dùng số thực)',
            'must be a percentage string like "4.5" (no binary floats)',
        )
    share = Fraction(value) / 100
    if share > 1:
        _fail(key, "không được lớn hơn 100%", "must not exceed 100%")
    return share


def _list_of(parser: Parser[T]) -> Parser[tuple[T, ...]]:
    def parse(value: object, key: str) -> tuple[T, ...]:
        if not isinstance(value, list) or not value:
            _fail(key, "phải là một danh sách không rỗng", "must be a non-empty list")
        return tuple(parser(item, f"{key}[{i}]") for i, item in enumerate(value))

    return parse


_ENTRY_KEYS = ("from", "to", "value", "source", "unconfirmed")


def _timeline(value: object, key: str, parser: Parser[T], version: str) -> Timeline[T]:
    if not isinstance(value, list) or not value:
        _fail(key, "phải là một danh sách mốc thời gian không rỗng", "must be a non-empty list")
    entries: list[DatedValue[T]] = []
    for i, raw in enumerate(value):
        path = f"{key}[{i}]"
        item = _object(raw, path)
        _only_keys(item, _ENTRY_KEYS, path)
        start = _iso_date(_get(item, "from", path), f"{path}.from")
        end = _iso_date(item["to"], f"{path}.to") if "to" in item else None
        if end is not None and end < start:
            _fail(f"{path}.to", "đứng trước ngày bắt đầu", "is before the start date")
        if entries:
            previous = entries[-1]
            if start <= previous.start or (previous.end is not None and start <= previous.end):
                _fail(
                    f"{path}.from",
                    "phải sau mốc trước đó (xếp theo thời gian, không chồng lấn)",
                    "must come after the previous entry (in date order, no overlap)",
                )
        entries.append(
            DatedValue(
                start=start,
                end=end,
                value=parser(_get(item, "value", path), f"{path}.value"),
                source=_text(_get(item, "source", path), f"{path}.source"),
                unconfirmed=_bool(_get(item, "unconfirmed", path), f"{path}.unconfirmed"),
            )
        )
    return Timeline(key=key, version=version, entries=tuple(entries))


def _group_timelines(
    value: object, key: str, parser: Parser[T], version: str
) -> Mapping[str, Timeline[T]]:
    groups = _object(value, key)
    if not groups:
        _fail(key, "phải có ít nhất một nhóm", "must list at least one group")
    result: dict[str, Timeline[T]] = {}
    for group, raw in groups.items():
        if not _NAME.fullmatch(group) or group == ALL_GROUPS:
            _fail(f"{key}.{group}", "không phải tên nhóm hợp lệ", "is not a valid group name")
        result[group] = _timeline(raw, f"{key}.{group}", parser, version)
    return MappingProxyType(result)


def _non_increasing(ladder: tuple[Fraction, ...], key: str) -> tuple[Fraction, ...]:
    if any(later > earlier for earlier, later in itertools.pairwise(ladder)):
        _fail(key, "không được tăng theo thứ tự thành viên", "must not increase with position")
    return ladder


def _parse_policy(data: object) -> Policy:
    root = _object(data, "(root)")
    _only_keys(
        root,
        (
            "format",
            "version",
            "published",
            "country",
            "base_figure",
            "rural_poverty_line",
            "bhyt_household",
            "bhxh_voluntary",
            "local_support",
        ),
        "",
    )
    fmt = _get(root, "format", "")
    if fmt != FORMAT:
        _fail(
            "format",
            f"phải là {FORMAT}; tệp có thể thuộc một phiên bản ứng dụng mới hơn",
            f"must be {FORMAT}; the file may be meant for a newer version of the app",
        )
    version = _text(_get(root, "version", ""), "version")
    if not _VERSION.fullmatch(version):
        _fail("version", "chỉ được gồm chữ, số, '.', '-', '_'", "may hold only a-z, 0-9, . - _")
    published = _iso_date(_get(root, "published", ""), "published")
    country = _text(_get(root, "country", ""), "country")

    def timeline(raw: object, key: str, parser: Parser[T]) -> Timeline[T]:
        return _timeline(raw, key, parser, version)

    bhyt_raw = _object(_get(root, "bhyt_household", ""), "bhyt_household")
    bhyt_keys = ("rate_pct", "ladder_pct", "periods_months", "support_pct")
    card_keys = ("card_wait_days", "card_gap_months")
    _only_keys(bhyt_raw, (*bhyt_keys, *card_keys, "covered_elsewhere_groups"), "bhyt_household")
    if sum(k in bhyt_raw for k in card_keys) == 1:
        _fail(
            f"bhyt_household.{card_keys[0]}",
            "card_wait_days và card_gap_months phải có cùng nhau",
            "card_wait_days and card_gap_months go together",
        )
    b = "bhyt_household"
    ladder = timeline(_get(bhyt_raw, "ladder_pct", b), f"{b}.ladder_pct", _list_of(_pct))
    for i, entry in enumerate(ladder.entries):
        _non_increasing(entry.value, f"{b}.ladder_pct[{i}].value")
    covered = _list_of(_text)(
        _get(bhyt_raw, "covered_elsewhere_groups", b), f"{b}.covered_elsewhere_groups"
    )
    bhyt = BhytRules(
        rate=timeline(_get(bhyt_raw, "rate_pct", b), f"{b}.rate_pct", _pct),
        ladder=ladder,
        periods=timeline(
            _get(bhyt_raw, "periods_months", b), f"{b}.periods_months", _list_of(_whole)
        ),
        support=_group_timelines(
            _get(bhyt_raw, "support_pct", b), f"{b}.support_pct", _pct, version
        ),
        covered_elsewhere_groups=covered,
        card_wait_days=(
            timeline(bhyt_raw["card_wait_days"], f"{b}.card_wait_days", _whole)
            if "card_wait_days" in bhyt_raw
            else None
        ),
        card_gap_months=(
            timeline(bhyt_raw["card_gap_months"], f"{b}.card_gap_months", _whole)
            if "card_gap_months" in bhyt_raw
            else None
        ),
    )

    x = "bhxh_voluntary"
    bhxh_raw = _object(_get(root, x, ""), x)
    bhxh_fields: dict[str, Parser[Any]] = {
        "rate_pct": _pct,
        "ceiling_base_multiple": _whole,
        "max_supported_months": _whole,
        "periods_months": _list_of(_whole),
        "lump_sum_max_years": _whole,
        "back_payment_max_months": _whole,
        "monthly_return_pct": _pct,
    }
    _only_keys(bhxh_raw, (*bhxh_fields, "central_support_pct"), x)
    parsed = {
        name: timeline(_get(bhxh_raw, name, x), f"{x}.{name}", parser)
        for name, parser in bhxh_fields.items()
    }
    bhxh = BhxhRules(
        rate=parsed["rate_pct"],
        ceiling_base_multiple=parsed["ceiling_base_multiple"],
        central_support=_group_timelines(
            _get(bhxh_raw, "central_support_pct", x), f"{x}.central_support_pct", _pct, version
        ),
        max_supported_months=parsed["max_supported_months"],
        periods=parsed["periods_months"],
        lump_sum_max_years=parsed["lump_sum_max_years"],
        back_payment_max_months=parsed["back_payment_max_months"],
        monthly_return=parsed["monthly_return_pct"],
    )
    groups_by_scheme = {
        # A province may support the household group too, not only the individual ones.
        "bhyt_household": {*bhyt.support, "household"},
        "bhxh_voluntary": set(bhxh.central_support),
    }
    return Policy(
        version=version,
        published=published,
        country=country,
        base_figures=timeline(_get(root, "base_figure", ""), "base_figure", _whole),
        rural_poverty_lines=timeline(
            _get(root, "rural_poverty_line", ""), "rural_poverty_line", _whole
        ),
        bhyt=bhyt,
        bhxh=bhxh,
        local_support=_local_lines(_get(root, "local_support", ""), groups_by_scheme),
    )


_LOCAL_KEYS = (
    "province",
    "scheme",
    "group",
    "from",
    "to",
    "share_pct",
    "amount",
    "source",
    "unconfirmed",
)


def _local_lines(
    value: object, groups_by_scheme: Mapping[str, set[str]]
) -> tuple[LocalSupportLine, ...]:
    if not isinstance(value, list):
        _fail("local_support", "phải là một danh sách", "must be a list")
    lines: list[LocalSupportLine] = []
    for i, raw in enumerate(value):
        path = f"local_support[{i}]"
        item = _object(raw, path)
        _only_keys(item, _LOCAL_KEYS, path)
        province = _text(_get(item, "province", path), f"{path}.province")
        if not _PROVINCE.fullmatch(province):
            _fail(f"{path}.province", "phải là mã tỉnh 2 chữ số", "must be a 2-digit province code")
        scheme = _text(_get(item, "scheme", path), f"{path}.scheme")
        if scheme not in SCHEMES:
            _fail(
                f"{path}.scheme",
                f"phải là một trong: {', '.join(SCHEMES)}",
                f"must be one of: {', '.join(SCHEMES)}",
            )
        group = _text(_get(item, "group", path), f"{path}.group")
        allowed = [*sorted(groups_by_scheme[scheme]), ALL_GROUPS]
        if group not in allowed:
            _fail(
                f"{path}.group",
                f"phải là một trong: {', '.join(allowed)}",
                f"must be one of: {', '.join(allowed)}",
            )
        start = _iso_date(_get(item, "from", path), f"{path}.from")
        end = _iso_date(item["to"], f"{path}.to") if "to" in item else None
        if end is not None and end < start:
            _fail(f"{path}.to", "đứng trước ngày bắt đầu", "is before the start date")
        if ("share_pct" in item) == ("amount" in item):
            _fail(
                f"{path}.share_pct",
                "cần đúng một trong hai khóa share_pct hoặc amount",
                "exactly one of share_pct or amount is needed",
            )
        share = _pct(item["share_pct"], f"{path}.share_pct") if "share_pct" in item else None
        amount = _whole(item["amount"], f"{path}.amount") if "amount" in item else None
        lines.append(
            LocalSupportLine(
                province=province,
                scheme=scheme,
                group=group,
                start=start,
                end=end,
                share=share,
                amount=amount,
                source=_text(_get(item, "source", path), f"{path}.source"),
                unconfirmed=_bool(_get(item, "unconfirmed", path), f"{path}.unconfirmed"),
            )
        )
    return tuple(lines)
