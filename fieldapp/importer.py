"""Import of resident lists into the store: idempotent, all in one transaction, with a report."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldapp.errors import Problem, ValidationError
from fieldapp.importfile import (
    REFUSED_DETAIL_LIMIT,
    ParsedHousehold,
    ParsedPerson,
    parse_resident_file,
)
from fieldapp.text import fold
from fieldapp.workspace import Workspace
from sync.protocol.errors import FieldappError


@dataclass
class ImportReport:
    """What an import added, what it found already there, and which rows it refused and why.

    refused lists the first REFUSED_DETAIL_LIMIT refused rows (by row number) with reasons;
    refused_count counts every refused row.
    """

    file: str
    total_rows: int = 0
    households_added: int = 0
    members_added: int = 0
    members_existing: int = 0
    warnings: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    refused_count: int = 0
    unknown_columns: list[str] = field(default_factory=list)

    def refuse(self, row: int, problems: list[Problem]) -> None:
        self.refused_count += 1
        if len(self.refused) < REFUSED_DETAIL_LIMIT:
            self.refused.append(_refusal(row, problems))

    @property
    def refused_not_listed(self) -> int:
        return self.refused_count - len(self.refused)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self, lang: str = "vi") -> str:
        if lang == "en":
            return (
                f"{self.total_rows} rows read: {self.households_added} households and "
                f"{self.members_added} people added, {self.members_existing} already there, "
                f"{self.refused_count} rows refused, {self.warnings} warnings."
            )
        return (
            f"Đã đọc {self.total_rows} dòng: thêm {self.households_added} hộ và "
            f"{self.members_added} người, {self.members_existing} người đã có, "
            f"{self.refused_count} dòng bị từ chối, {self.warnings} cảnh báo."
        )


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
    """Add the households and people of a resident list that the store does not have yet.

    Importing the same file twice adds nothing the second time: people are recognised by their
    CCCD (or old CMND), or by name, date of birth and village when there is none. People already
    there are counted and left as they are: a newer list does not update them. Everything is
    added in one transaction, so an exception raised by progress (a cancel) leaves the store as
    it was.
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
        if ws.members.by_import_key(person.import_key) is not None:
            # Already there: nothing is updated, even when the list now says more (a newer
            # card expiry); updating people from a newer list is a separate change.
            report.members_existing += 1
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
