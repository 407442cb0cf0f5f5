"""Schemathesis over the local stack: no 5xx, and every answer is the one docs/openapi.json documents."""

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.e2e.conftest import ROOT, LocalStack

DOCUMENT = ROOT / "docs" / "openapi.json"
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="session")
def api_schema(stack: LocalStack) -> Any:
    config = SchemathesisConfig.from_dict(
        {
            "seed": 20260601,
            "base-url": stack.api_url,
            "headers": {"x-api-key": stack.config["api_key"]},
            "generation": {"max-examples": 30, "database": "none"},
        }
    )
    return schemathesis.openapi.from_path(DOCUMENT, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_documented(case: Any, stack: LocalStack) -> None:
    if isinstance(case.body, dict) and isinstance(case.body.get("mediaUrl"), str):
        case.body["mediaUrl"] = f"{stack.sinch_url}/_sim/media/sample.jpg"
    case.call_and_validate(checks=CHECKS)
