"""Import of resident lists into the store: idempotent, all in one transaction, with a report."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any

from fieldapp.errors import Problem, ValidationError
from fieldapp.importfile import (
    REFUSED_DETAIL_LIMIT,
    ParsedHousehold,
    ParsedPerson,
    parse_resident_file,
)
from fieldapp.model import Member
from fieldapp.text import fold
from fieldapp.workspace import Workspace
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import kept_dataclass

# What a re-import may change on a person already in the store, with the words the summary
# uses for each (Vietnamese, English), in the order it lists them.
UPDATED_FIELDS: dict[str, tuple[str, str]] = {
    "bhyt_expiry": ("hạn thẻ", "card expiry"),
    "bhyt_valid_from": ("thẻ có giá trị từ", "card valid from"),
    "bhyt_card": ("mã thẻ BHYT", "BHYT card number"),
    "bhyt_group": ("đối tượng", "BHYT group"),
    "phone": ("số điện thoại", "phone"),
    "bhxh_code": ("mã số BHXH", "BHXH code"),
    "bhxh_participating": ("đang đóng BHXH", "paying BHXH"),
    "bhxh_income": ("thu nhập đóng BHXH", "BHXH income"),
    "bhxh_paid_through": ("đóng BHXH đến", "BHXH paid through"),
    "bhxh_supported_months": ("số tháng đã hỗ trợ", "supported months used"),
}


@kept_dataclass
class ImportReport:
    """What an import added, updated, found unchanged or kept, and which rows it refused and why.

    A person already in the store is counted once in members_existing and once in exactly one
    of members_updated (at least one value changed), members_kept_newer (nothing changed, and
    the store holds a newer card or payment than the list says) and members_unchanged.
    updated_fields and kept_newer_fields count the values by field (a person may count in
    both: a new phone taken while an older card expiry is not). kept_newer lists the first
    REFUSED_DETAIL_LIMIT values kept, with the list's and the store's value.
    refused lists the first REFUSED_DETAIL_LIMIT refused rows (by row number) with reasons;
    refused_count counts every refused row.
    """

    file: str
    total_rows: int = 0
    households_added: int = 0
    members_added: int = 0
    members_existing: int = 0
    members_updated: int = 0
    members_unchanged: int = 0
    members_kept_newer: int = 0
    updated_fields: dict[str, int] = field(default_factory=dict)
    kept_newer_fields: dict[str, int] = field(default_factory=dict)
    kept_newer: list[dict[str, Any]] = field(default_factory=list)
    warnings: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    refused_count: int = 0
    unknown_columns: list[str] = field(default_factory=list)

    def refuse(self, row: int, problems: list[Problem]) -> None:
        self.refused_count += 1
        if len(self.refused) < REFUSED_DETAIL_LIMIT:
            self.refused.append(_refusal(row, problems))

    def keep(self, row: int, name: str, listed: object, stored: object) -> None:
        self.kept_newer_fields[name] = self.kept_newer_fields.get(name, 0) + 1
        if len(self.kept_newer) < REFUSED_DETAIL_LIMIT:
            self.kept_newer.append(
                {"row": row, "field": name, "list_value": listed, "stored_value": stored}
            )

    @property
    def refused_not_listed(self) -> int:
        return self.refused_count - len(self.refused)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self, lang: str = "vi") -> str:
        """The counts in one paragraph, the changed values by field."""
        en = lang == "en"
        updated = _by_field(self.updated_fields, en)
        kept = _by_field(self.kept_newer_fields, en)
        if en:
            text = (
                f"{self.total_rows} rows read: {self.households_added} households and "
                f"{self.members_added} people added, {self.members_existing} already there"
            )
            if self.members_existing:
                text += (
                    f" ({self.members_updated} updated"
                    + (f": {updated}" if updated else "")
                    + f"; {self.members_kept_newer} kept as newer than the list"
                    + f"; {self.members_unchanged} unchanged)"
                )
            if kept:
                text += f"; values kept as newer than the list: {kept}"
            then = "; " if kept else ", "
            return text + f"{then}{self.refused_count} rows refused, {self.warnings} warnings."
        text = (
            f"Đã đọc {self.total_rows} dòng: thêm {self.households_added} hộ và "
            f"{self.members_added} người, {self.members_existing} người đã có"
        )
        if self.members_existing:
            text += (
                f" (cập nhật {self.members_updated} người"
                + (f": {updated}" if updated else "")
                + f"; {self.members_kept_newer} người giữ thông tin mới hơn danh sách"
                + f"; {self.members_unchanged} người không đổi)"
            )
        if kept:
            text += f"; giữ giá trị mới hơn danh sách: {kept}"
        then = "; " if kept else ", "
        return text + f"{then}{self.refused_count} dòng bị từ chối, {self.warnings} cảnh báo."

    def kept_lines(self, lang: str = "vi") -> list[str]:
        """One line per value kept because the store's is newer: row, field, both values."""
        en = lang == "en"
        lines = []
        for kept in self.kept_newer:
            vi_name, en_name = UPDATED_FIELDS[kept["field"]]
            listed, stored = _shown(kept["list_value"]), _shown(kept["stored_value"])
            if en:
                lines.append(
                    f"Row {kept['row']}: {en_name} {listed} in the list, {stored} kept (newer)"
                )
            else:
                lines.append(
                    f"Dòng {kept['row']}: {vi_name} {listed} trong danh sách, "
                    f"giữ {stored} (mới hơn)"
                )
        return lines


def _by_field(counts: dict[str, int], en: bool) -> str:
    """ "hạn thẻ: 37, mã thẻ BHYT: 2" in UPDATED_FIELDS order."""
    return ", ".join(
        f"{labels[1] if en else labels[0]}: {counts[name]}"
        for name, labels in UPDATED_FIELDS.items()
        if counts.get(name)
    )


def _shown(value: object) -> str:
    """A value as the agent reads it: dates day first."""
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return dt.date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    return "—" if value is None else str(value)


def _refusal(row: int, problems: list[Problem]) -> dict[str, Any]:
    return {
        "row": row,
        "reason": "; ".join(p.message() for p in problems),
        "problems": [p.as_dict() for p in problems],
    }


def _household_key(household: ParsedHousehold, head: ParsedPerson) -> str:
    if household.household_code:
        return f"code:{fold(household.village or '')}|{household.household_code}"
    return f"head:{head.import_key}"


def import_residents(
    workspace: Workspace,
    path: Path,
    *,
    province_code: str | None = None,
    commune_code: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Add the households and people of a resident list, and update the people already there.

    People are recognised by their CCCD (or old CMND), or by name, date of birth and village
    when there is none; a CCCD also finds a person the agent added by hand. For a person already
    there, what the list says of the card (number, valid from, valid to, group), the BHXH
    payments, the BHXH code and the phone is taken where it differs, as an edit of the member
    (queued for sync with its field clocks); a blank cell changes nothing, and a card or payment
    the store knows to run later than the list says is kept (an older list cannot undo a
    renewed card). Importing the same file twice changes nothing the second time. Everything
    is written in one transaction, so an exception raised by progress (a cancel) leaves the
    store as it was.
    progress gets (steps done, steps): reading the rows is the first half, storing the second.
    """
    store = workspace.store
    province = province_code or store.meta("province_code")
    commune = commune_code or store.meta("commune_code")
    if not province or not commune:
        raise FieldappError(
            "Chưa biết xã của danh sách: hãy chọn mã tỉnh và mã xã (--province, --commune).",
            "The commune of the list is not known: give the province and commune codes "
            "(--province, --commune).",
            code="import_no_commune",
        )

    def reading(done: int, total: int) -> None:
        if progress is not None:
            progress(done, 2 * total)

    parsed = parse_resident_file(path, today=store.clock.today(), progress=reading)
    report = ImportReport(
        file=str(path),
        total_rows=parsed.total_rows,
        unknown_columns=parsed.unknown_columns,
        refused=[_refusal(r.row, r.problems) for r in parsed.refused],
        refused_count=parsed.refused_count,
    )
    households = parsed.households
    # People are added one by one through the household and member services, not in bulk with
    # sqlite-utils' insert_all: each add checks the person, stamps the fields' clocks and writes
    # the outbox and search rows, and the INSERT itself is a small part of that time.
    with store.transaction():
        for done, household in enumerate(households):
            if progress is not None and done % _PROGRESS_EVERY == 0:
                progress(len(households) + done, 2 * len(households))
            _import_household(workspace, household, province, commune, report)
        if progress is not None:  # still inside: a cancel here also leaves nothing stored
            progress(max(1, len(households)), max(1, len(households)))
    report.refused.sort(key=lambda r: int(r["row"]))
    return report


_PROGRESS_EVERY = 50


def _import_household(
    ws: Workspace,
    household: ParsedHousehold,
    province: str,
    commune: str,
    report: ImportReport,
) -> None:
    head = next((p for p in household.rows if p.is_head), household.rows[0])
    village = household.village or head.village
    if not village:
        for person in household.rows:
            report.refuse(
                person.row,
                [
                    Problem(
                        "village",
                        "village_required",
                        "Thiếu thôn/bản của hộ.",
                        "The household's village is missing.",
                    )
                ],
            )
        return
    key = _household_key(household, head)
    existing = ws.households.by_import_key(key)
    # Each new person is checked by the members service before anything of the household is
    # stored: a row it refuses is reported and leaves nothing behind, not even an empty
    # household (the store's transaction covers the whole file, not one household).
    accepted: list[tuple[ParsedPerson, dict[str, Any]]] = []
    for person in household.rows:
        member = _existing_member(ws, person)
        if member is not None:
            _update_member(ws, member, person, report)
            continue
        values = _member_values(person)
        errors = [p for p in ws.members.check(**values) if p.severity == "error"]
        if errors:
            report.refuse(person.row, errors)
            continue
        accepted.append((person, values))
    if not accepted:
        return
    if existing is None:
        try:
            existing = ws.households.add(
                province_code=province,
                commune_code=commune,
                village=village,
                head_name=household.head_name or head.full_name,
                phone=household.phone or head.phone,
                import_key=key,
            )
        except ValidationError as exc:
            for person, _ in accepted:
                report.refuse(person.row, exc.problems)
            return
        report.households_added += 1
    for person, values in accepted:
        try:
            member = ws.members.add(existing.id, **values, import_key=person.import_key)
        except ValidationError as exc:
            report.refuse(person.row, exc.problems)
            continue
        report.members_added += 1
        # The row's warnings include the member's (the same CCCD checks) and also the values
        # left out while reading, such as a bad phone number, which the member does not keep.
        report.warnings += max(len(person.warnings), len(member.warnings))


def _member_values(person: ParsedPerson) -> dict[str, Any]:
    """What the members service is given for one person of the list."""
    return {
        "full_name": person.full_name,
        "date_of_birth": person.date_of_birth,
        "sex": person.sex,
        "relation": person.relation or ("Chủ hộ" if person.is_head else ""),
        # An old 9-digit CMND goes in as the CCCD: the members service keeps it as the old ID
        # and stores its warning with the member, where the agent sees it at the visit.
        "cccd": person.cccd or person.old_id,
        "bhxh_code": person.bhxh_code,
        "phone": person.phone,
        "ethnicity": person.ethnicity or "",
        "bhyt_card": person.bhyt_card,
        "bhyt_group": person.bhyt_group,
        "bhyt_valid_from": person.bhyt_valid_from,
        "bhyt_expiry": person.bhyt_expiry,
        "bhxh_participating": person.bhxh_participating,
        "bhxh_income": person.bhxh_income,
        "bhxh_paid_through": person.bhxh_paid_through,
        "bhxh_supported_months": person.bhxh_supported_months or 0,
    }


def _existing_member(ws: Workspace, person: ParsedPerson) -> Member | None:
    """The person in the store: by the key of an earlier import, else by CCCD number."""
    member = ws.members.by_import_key(person.import_key)
    if member is None and person.cccd:
        member = ws.members.by_cccd(person.cccd)
    return member


def _iso(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _update_member(
    ws: Workspace, member: Member, person: ParsedPerson, report: ImportReport
) -> None:
    """Take what the list says newer of a person already there, as one edit of the member."""
    report.members_existing += 1
    if member.removed:
        # Taken out of the household by the agent (moved away, died): a list does not bring
        # them back or change them.
        report.members_unchanged += 1
        return
    changes, kept = _changes(member, person)
    if changes:
        errors = [p for p in ws.members.check(member.id, **changes) if p.severity == "error"]
        if errors:
            report.refuse(person.row, errors)
            return
        try:
            ws.members.update(member.id, **changes)
        except ValidationError as exc:
            report.refuse(person.row, exc.problems)
            return
    for name, listed, stored in kept:
        report.keep(person.row, name, listed, stored)
    if changes:
        report.members_updated += 1
        for name in changes:
            report.updated_fields[name] = report.updated_fields.get(name, 0) + 1
        report.warnings += len(person.warnings)
    elif kept:
        report.members_kept_newer += 1
    else:
        report.members_unchanged += 1


# A kept value: (field, the list's value, the store's value).
_Kept = tuple[str, Any, Any]


def _changes(member: Member, person: ParsedPerson) -> tuple[dict[str, Any], list[_Kept]]:
    """The member's values the list changes, and the values the store keeps as newer.

    A blank cell changes nothing. The card's fields (number, valid from, valid to, group) go
    together, judged by the card's expiry: a list whose card ends later than the stored one,
    or the same day, or a member with no expiry yet, changes them; a list whose card ends
    earlier changes none of them; a list with no expiry only fills the ones still blank. The
    BHXH payments go together in the same way, judged by the month paid through, and the
    supported months used never go down.
    """
    changes: dict[str, Any] = {}
    kept: list[_Kept] = []

    def take(names_values: dict[str, Any], newer: bool | None) -> None:
        """newer: True, the list is as new or newer; False, older; None, cannot tell."""
        for name, listed in names_values.items():
            stored = getattr(member, name)
            if listed is None or listed == stored:
                continue
            if newer or (newer is None and stored is None):
                changes[name] = listed
            else:
                kept.append((name, listed, stored))

    card = {
        "bhyt_card": person.bhyt_card,
        "bhyt_valid_from": _iso(person.bhyt_valid_from),
        "bhyt_expiry": _iso(person.bhyt_expiry),
        "bhyt_group": person.bhyt_group,
    }
    take(card, _is_newer(card["bhyt_expiry"], member.bhyt_expiry))

    paid_through = _iso(person.bhxh_paid_through)
    payments: dict[str, Any] = {
        "bhxh_income": person.bhxh_income,
        "bhxh_paid_through": paid_through,
        # A list gives an income only for people who pay; it never says someone stopped.
        "bhxh_participating": True if person.bhxh_participating else None,
    }
    take(payments, _is_newer(paid_through, member.bhxh_paid_through))
    months = person.bhxh_supported_months
    if months is not None and months != member.bhxh_supported_months:
        take({"bhxh_supported_months": months}, months > member.bhxh_supported_months)

    # Numbers that do not run out: the list's, when it gives one.
    take({"phone": person.phone, "bhxh_code": person.bhxh_code}, True)
    return changes, kept


def _is_newer(listed: str | None, stored: str | None) -> bool | None:
    """Whether the list's date (ISO) is as late as the store's; None when the list has none."""
    if stored is None:
        return True
    if listed is None:
        return None
    return listed >= stored
