"""schemathesis against the served OpenAPI document, in process (ASGI), a bounded number of examples
per operation: no 5xx, and no status, content type or body that contradicts the schema."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from soc_api.identity.actors import Actor
from soc_api.identity.roles import Permission
from tests.soc_api.webapi.conftest import build

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("DATASOC_SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schemathesis.serializer("application/zip")
def _zip_body(ctx: schemathesis.SerializationContext, value: object) -> bytes:
    """The bundle verifier's body is raw bytes (any bytes: it must answer a problem, never a 5xx)."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


def test_the_api_conforms_to_its_own_schema(tmp_path: Path) -> None:
    harness = build(tmp_path)
    env = harness.env
    scopes = [p for p in Permission if p is not Permission.INGEST]
    token = env.identity.tokens.create(
        Actor.cli("schemathesis"), name="fuzz", kind="api", scopes=scopes, now=env.clock()
    )
    headers = {"Authorization": f"Bearer {token.secret}"}
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", harness.app, headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        run()
    assert harness.services.events is not None
    harness.services.events.close()
    env.close()
