"""Sample records the core's tests and the benchmarks share: a household, a receipt, a flyer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import resources
from fieldapp.demo import DEMO_COMMUNE, DEMO_PROVINCE
from fieldapp.documents import AUDIENCE_GROUPS, BhxhOption, FlyerData, ReceiptDocument
from fieldapp.model import Household
from fieldapp.workspace import Workspace
from sync.protocol.receipt_qr import parse_receipt_qr, receipt_qr_payload, verification_code

HOUSEHOLD: dict[str, Any] = {
    "province_code": DEMO_PROVINCE,
    "commune_code": DEMO_COMMUNE,
    "village": "Thôn Nậm Mòn",
    "head_name": "Lê Văn An",
    "phone": "0912345678",
    "groups": ["farmer"],
    "best_months": [7, 8],
}


def new_household(ws: Workspace, **overrides: Any) -> Household:
    """Add a household with sensible defaults; keyword arguments override."""
    return ws.households.add(**{**HOUSEHOLD, **overrides})


# -- a policy with provincial support lines ----------------------------------------------------

SHIPPED_POLICY = resources.path("policy", "vn-2026.12.json")


def shipped_policy_dict() -> dict[str, Any]:
    """The shipped policy file as a dict, for a test to change."""
    data: dict[str, Any] = json.loads(SHIPPED_POLICY.read_text(encoding="utf-8"))
    return data


def local_line(
    scheme: str, group: str, *, source: str, unconfirmed: bool, **terms: Any
) -> dict[str, Any]:
    """A provincial support line of province 04 from 1 January 2026; terms: share_pct or
    amount, and to."""
    return {
        "province": "04",
        "scheme": scheme,
        "group": group,
        "from": "2026-01-01",
        **terms,
        "source": source,
        "unconfirmed": unconfirmed,
    }


def with_local_lines(version: str, *lines: dict[str, Any]) -> dict[str, Any]:
    """The shipped tables under another version, with these provincial support lines."""
    data = shipped_policy_dict()
    data["version"] = version
    data["local_support"] = list(lines)
    return data


# -- a receipt ---------------------------------------------------------------------------------

DEVICE_KEY = bytes.fromhex("5f1c0e9a7b3d42c8a1e6f0b29d8c7a6e5f4b3a29180716253443526170819fae")
RECEIPT_ID = "0193a4b2-7c1e-7d2a-9f00-0123456789ab"
ISSUED_AT = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)  # 10:00 in Vietnam
# What the sample receipt's QR code signs.
RECEIPT_QR: dict[str, Any] = {
    "receipt_id": RECEIPT_ID,
    "series": "LC-NTA-24",
    "number": 123,
    "amount": 1_366_200,
    "issued_on": dt.date(2026, 11, 23),
    "device_key": DEVICE_KEY,
}


def qr_payload(**changes: Any) -> str:
    """The signed QR payload of the sample receipt; keyword arguments change what it signs."""
    return receipt_qr_payload(**{**RECEIPT_QR, **changes})


def make_receipt(**changes: object) -> ReceiptDocument:
    """Receipt LC-NTA-24 no. 123 for a household's 12-month BHYT; keyword arguments change it."""
    payload = qr_payload()
    doc = ReceiptDocument(
        bhxh_office="Bảo hiểm xã hội tỉnh Lào Cai",
        collector_org="Bưu điện xã Nậm Tha — được Bảo hiểm xã hội uỷ quyền thu",
        form_no="C45-BB",
        series=RECEIPT_QR["series"],
        number=RECEIPT_QR["number"],
        issued_at=ISSUED_AT,
        payer_name="Giàng Thị Mỷ",
        payer_bhxh_code="1523456789",
        payer_address="Thôn Nậm Tha, xã Nậm Tha, tỉnh Lào Cai",
        description=(
            "Tiền đóng BHYT hộ gia đình, phương thức đóng 12 tháng, "
            "từ ngày 01/12/2026 đến ngày 30/11/2027"
        ),
        period_from=dt.date(2026, 12, 1),
        period_to=dt.date(2027, 11, 30),
        amount=RECEIPT_QR["amount"],
        collector_name="Lò Văn Thắng",
        verification_code=verification_code(parse_receipt_qr(payload)["sig"]),
        qr_payload=payload,
        receipt_id=RECEIPT_ID,
    )
    return dataclasses.replace(doc, **changes)  # type: ignore[arg-type]


# -- a flyer -----------------------------------------------------------------------------------

# Amounts from DOMAIN.md worked examples; the flyer only prints what it is given.
BHYT_3_MEMBERS = {3: 785_565, 6: 1_571_130, 12: 3_142_260}
FLOOR = BhxhOption("Mức thấp nhất (1.500.000 đ/tháng)", 264_000, 3_168_000, 18_098_148)
HIGHER = BhxhOption("Mức 3.000.000 đ/tháng", 528_000, 6_336_000, 36_196_296)


def make_flyer(i: int = 0, **changes: object) -> FlyerData:
    """The flyer of household number i, its figures its own; keyword arguments change it."""
    flyer = FlyerData(
        household_head=f"Sùng A Páo {i}",
        village="Thôn Sín Chải",
        commune_name="xã Tả Van",
        group=AUDIENCE_GROUPS[i % len(AUDIENCE_GROUPS)],
        language="vi",
        members=["Sùng A Páo", "Giàng Thị Dợ", f"Sùng Thị Mỷ {i}"],
        # Each household gets amounts of its own, so a page can be matched to its household.
        bhyt_amounts={months: amount + i for months, amount in BHYT_3_MEMBERS.items()},
        bhxh_options=[FLOOR, dataclasses.replace(HIGHER, monthly_payable=528_000 + 1000 * i)],
        agent_name="Lò Văn Thắng",
        agent_phone="0912 345 678",
        next_visit=dt.date(2027, 1, 15),
        seasonal_income=False,
    )
    return dataclasses.replace(flyer, **changes)  # type: ignore[arg-type]
