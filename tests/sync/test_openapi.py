"""The committed API description: every reference resolves, and each endpoint lists the errors
it can answer with (and none it cannot)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sync.protocol import wire
from sync.server.app import OPENAPI_PATH, openapi_text


def _document() -> dict[str, Any]:
    document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolves(document: dict[str, Any], ref: str) -> bool:
    if not ref.startswith("#/"):
        return False
    node: Any = document
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_committed_spec_is_the_generated_one() -> None:
    assert OPENAPI_PATH.read_text(encoding="utf-8") == openapi_text()


def test_every_reference_resolves_and_request_bodies_are_components() -> None:
    document = _document()
    refs = set(_refs(document))
    assert refs and [r for r in refs if not _resolves(document, r)] == []
    assert "$defs" not in json.dumps(document)
    schemas = document["components"]["schemas"]
    assert {"BatchModel", "RecordModel", "EnrolRequestModel"} <= set(schemas)
    body = document["paths"][wire.BATCHES_PATH]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BatchModel"
    }


def _statuses(document: dict[str, Any], path: str, method: str) -> set[str]:
    return set(document["paths"][path][method]["responses"])


def test_each_endpoint_documents_the_errors_it_answers() -> None:
    """429 where the per-device rate limit applies, 413 where a body is size-limited, 400
    everywhere a request can be malformed; never FastAPI's 422 (bad parameters answer 400)."""
    document = _document()
    upload = _statuses(document, wire.BATCHES_PATH, "post")
    assert {"400", "401", "403", "413", "415", "426", "429"} <= upload
    # A batch id another device used is that device's own batch: uploads never answer 409.
    assert "409" not in upload
    assert {"400", "401", "429"} <= _statuses(document, wire.CHANGES_PATH, "get")
    enrol = _statuses(document, wire.ENROL_PATH, "post")
    assert {"400", "413", "415"} <= enrol and "429" not in enrol and "401" not in enrol
    assert "400" in _statuses(document, wire.RECEIPT_VERIFY_PATH, "get")
    assert _statuses(document, wire.HEALTH_PATH, "get") == {"200"}
    for operations in document["paths"].values():
        for operation in operations.values():
            assert "422" not in operation["responses"]
    limited = document["paths"][wire.BATCHES_PATH]["post"]["responses"]["429"]
    assert "Retry-After" in limited["headers"]
    assert limited["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }


def test_the_described_record_kinds_are_the_wire_formats() -> None:
    """A new record kind in the wire format shows in the API description too."""
    record = _document()["components"]["schemas"]["RecordModel"]
    assert record["properties"]["entity"]["enum"] == list(wire.ENTITIES)
    assert record["properties"]["op"]["enum"] == ["insert", "update"]
