"""Pydantic descriptions of the wire messages, used only to document the API in OpenAPI."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_type_hints

from pydantic import BaseModel, Field, create_model

from sync.protocol import wire
from sync.protocol.hlc import HLC_PATTERN
from sync.protocol.ids import UUID_PATTERN

# What the wire's checks take, stated so that the description refuses what the server refuses:
# ids in their one 36-character form, clock stamps in theirs, whole numbers within 64 bits.
Uuid = Annotated[str, Field(pattern=UUID_PATTERN, description="a UUID, 8-4-4-4-12 hex digits")]
Stamp = Annotated[
    str, Field(pattern=HLC_PATTERN, description="wall_ms(15 digits)-counter(5 digits)-device_id")
]
Seq = Annotated[int, Field(ge=0, le=2**63 - 1)]


class ErrorBody(BaseModel):
    code: str = Field(description="machine-readable reason")
    vi: str = Field(description="message in Vietnamese")
    en: str = Field(description="message in English")


class Health(BaseModel):
    status: Literal["ok"]
    protocol: int
    server_time: str


# A laptop's name: at least one visible character and no control characters. The server
# checks names with this same pattern, so what the API description allows is what it takes
# (a name of only U+001E characters is blank to Python and visible to ECMA regexes).
# C0 and C1 control characters are refused. C1 matters beyond tidiness: Python's \s counts
# U+0085 as a space where a JSON-schema (ECMAScript) \s does not, so without it a name of one
# U+0085 would be valid by the published schema yet refused here.
DEVICE_NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"


class EnrolRequestModel(BaseModel):
    code: str = Field(description="the one-time enrolment code from the supervisor")
    device_name: str = Field(
        min_length=1,
        pattern=DEVICE_NAME_PATTERN,
        description="the laptop's name: not blank, no control characters",
    )
    device_id: Uuid | None = Field(
        None, description="the laptop's own device id (UUID), adopted when no device has it"
    )


class EnrolResponseModel(BaseModel):
    device_id: str
    token: str = Field(description="bearer token; the server keeps only its SHA-256")
    agent_id: str
    agent_name: str
    communes: list[str]
    device_key: str = Field(
        description="base64 HMAC-SHA256 key for signing batch files and receipt QR codes"
    )


class RecordModel(BaseModel):
    seq: Seq
    entity: Literal[
        "household",
        "member",
        "visit",
        "pledge",
        "pledge_event",
        "receipt",
        "receipt_void",
        "cash_handover",
        "receipt_book",
    ]
    id: Uuid
    op: Literal["insert", "update"]
    hlc: Stamp
    data: dict[str, Any]
    base: dict[str, Stamp | None] | None


class BatchModel(BaseModel):
    """A batch: seq_from <= seq_to, and the records' seq increase within that range."""

    protocol: Literal[1]
    device_id: Uuid
    batch_id: Uuid
    seq_from: Seq
    seq_to: Seq
    records: list[RecordModel] = Field(max_length=wire.MAX_BATCH_RECORDS)


def _described(message: type, name: str, **instead: Any) -> type[BaseModel]:
    """A model with a wire message's fields (all required), some of their types `instead`."""
    fields: dict[str, Any] = {
        key: (instead.get(key, hint), ...) for key, hint in get_type_hints(message).items()
    }
    return create_model(name, **fields)


RefusalModel = _described(wire.Refusal, "RefusalModel")
AckModel = _described(wire.Ack, "AckModel", refused=list[RefusalModel])


class ChangeModel(BaseModel):
    cursor: int
    entity: str
    id: str
    data: dict[str, Any]
    hlc: str
    field_hlc: dict[str, str] | None = Field(
        default=None, description="per-field HLC, for households and members"
    )


class ChangePageModel(BaseModel):
    protocol: int
    changes: list[ChangeModel]
    cursor: int = Field(description="pass as `since` on the next pull")
    more: bool


class ReceiptStatus(BaseModel):
    status: Literal["valid", "voided", "unknown"]
    series: str | None = None
    number: int | None = None
    amount: int | None = None
    issued_at: str | None = None
