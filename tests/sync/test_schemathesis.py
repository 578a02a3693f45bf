"""schemathesis on the real server: every endpoint answers as sync/server/openapi.json says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import negated_parameters

from sync.protocol import wire
from sync.protocol.clock import FixedClock
from sync.server.app import OPENAPI_PATH, create_app
from sync.server.ratelimit import RateLimiter
from sync.server.schema import open_engine
from tests.sync.conftest import START, Laptop, serving

# Examples per endpoint, valid and invalid, with schemathesis' own boundary cases: about 800
# generated requests per database, a minute for both on two cores.
MAX_EXAMPLES = 100

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            # The wire refuses NUL anywhere in a body (tests/trials/test_bad_input.py sends
            # it); JSON Schema cannot say "no NUL at any depth" of a record's free-form data.
            "allow-x00": False,
            # Unknown query parameters are ignored on purpose: a receipt's link shared in a
            # chat app comes back with fbclid and the like. Repeated ones are refused.
            "allow-extra-parameters": False,
        },
        "checks": {
            # A batch past MAX_BATCH_RECORDS is refused as too large (413), and a batch whose
            # protocol is not the server's as needing an update (426), as documented.
            "negative_data_rejection": {
                "expected-statuses": [
                    400,
                    401,
                    403,
                    404,
                    405,
                    406,
                    409,
                    413,
                    415,
                    422,
                    426,
                    428,
                    429,
                ]
            }
        },
    }
)
schema = schemathesis.openapi.from_dict(
    json.loads(OPENAPI_PATH.read_text(encoding="utf-8")), config=CONFIG
)


@pytest.fixture
def laptop(database_url: str) -> Iterator[Laptop]:
    """An enrolled laptop of the real server on a loopback port, with no rate limit: the
    requests come faster than any laptop's."""
    engine = open_engine(database_url)
    clock = FixedClock(START)
    app = create_app(engine, clock=clock, rate_limit=RateLimiter(0, 1))
    with serving(app, engine, clock, database_url) as running:
        yield running.laptop(running.add_agent("Lò Thị Hương", ["04001"]))


def _coherent(batch: dict[str, Any], device_id: str) -> None:
    """Make a valid batch meet what JSON Schema cannot state: it is the sending device's,
    seq_from <= seq_to, its records' seq increase inside that range, and these numbers are
    written as integers (JSON Schema counts 5.0 as an integer; the wire takes only 5)."""
    start = int(min(batch["seq_from"], 2**62))
    batch["device_id"] = device_id
    batch["seq_from"] = start
    for offset, record in enumerate(batch["records"]):
        record["seq"] = start + offset
    batch["seq_to"] = int(max(batch["seq_to"], start + len(batch["records"])))


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_server_answers_as_its_api_description_says(case: Any, laptop: Laptop) -> None:
    """Any 5xx, a valid request refused, an invalid one taken or an answer the document does
    not describe fails, with the request to reproduce it."""
    mode = case.meta.generation.mode if case.meta is not None else None
    valid = mode is not None and mode.is_positive
    if valid and case.path == wire.BATCHES_PATH and isinstance(case.body, dict):
        _coherent(case.body, laptop.device_id)
    # The laptop's real token replaces whatever token was generated, except when the token
    # itself is what an invalid case got wrong: replacing it would make the case valid.
    bad_token = any(
        name.lower() == "authorization" and where == ParameterLocation.HEADER
        for name, where in negated_parameters(case.meta)
    )
    case.call_and_validate(
        base_url=laptop.server.base_url,
        headers={} if bad_token else {"Authorization": f"Bearer {laptop.token}"},
    )
