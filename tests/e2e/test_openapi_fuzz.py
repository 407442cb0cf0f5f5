"""Schemathesis over the local stack: no 5xx, and every answer is the one docs/openapi.json documents.

One pytest item per operation, each running schemathesis' examples, coverage and fuzzing phases
(positive and negative data) with a fixed seed and a bounded number of fuzzed examples. Checked on
every answer: not a 5xx, its Content-Type and its body as documented for its status.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.e2e.conftest import ROOT, LocalStack

DOCUMENT = ROOT / "docs" / "openapi.json"
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
# mediaUrl makes the server fetch the URL; media_url too, should field names ever be accepted again.
MEDIA_URL_KEYS = ("mediaUrl", "media_url")
# A generated `to` is almost never a valid number, nor a generated `sendAt` within the next 3 days:
# left alone, hardly a request would get as far as a 202.
VALID_TO = "+12025550143"
# Ids of real messages, for GET and DELETE /v1/messages/{id}: a generated id only ever finds a 404.
KNOWN_IDS: list[str] = []

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20260601,
        # Every request carries the API key: the fuzzing budget goes to the function, not to
        # API Gateway's 403 for a missing key.
        "generation": {"max-examples": 40, "database": "none", "with-security-parameters": False},
    }
)
# Loaded at import from the committed document; the stack's URL and key are given on each call.
# (Not `schemathesis.pytest.from_fixture`: with pytest 9.2 it fails on `Function._nodeid`.)
schema = schemathesis.openapi.from_path(DOCUMENT, config=CONFIG)


@pytest.fixture
def known_ids(local: LocalStack) -> Iterator[list[str]]:
    """A sent message and a scheduled one (cancellable), made after the simulator's reset."""
    send_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for body in ({"to": VALID_TO, "text": "sent"}, {"to": VALID_TO, "text": "later", "sendAt": send_at}):
        answer = local.api("POST", "/v1/messages", body)
        assert answer.status == 202, answer.body
        KNOWN_IDS.append(answer.body["id"])
    yield KNOWN_IDS
    KNOWN_IDS.clear()


def keep_media_local(body: object, media_url: str) -> None:
    """The server fetches mediaUrl (a preflight): never let it reach for a generated host."""
    if isinstance(body, dict):
        for key in MEDIA_URL_KEYS:
            if isinstance(body.get(key), str):
                body[key] = media_url


def flatmap_body(context: Any, body: object) -> st.SearchStrategy[object]:
    """A generated JSON object as it is, with a valid `to`, or also sendable now (text, no sendAt)."""
    if not isinstance(body, dict):
        return st.just(body)
    sendable = {**body, "to": VALID_TO, "text": body.get("text") or "Hello", "sendAt": None}
    return st.sampled_from([body, {**body, "to": VALID_TO}, sendable, sendable])


def flatmap_path_parameters(context: Any, path_parameters: object) -> st.SearchStrategy[object]:
    """The generated id, or one of a real message."""
    if not isinstance(path_parameters, dict) or "id" not in path_parameters:
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, *({**path_parameters, "id": id_} for id_ in KNOWN_IDS)])


@schema.hooks.apply(flatmap_body)
@schema.hooks.apply(flatmap_path_parameters)
@schema.parametrize()
@settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_every_answer_is_documented(case: Any, local: LocalStack, known_ids: list[str]) -> None:
    keep_media_local(case.body, f"{local.sinch_url}/_sim/media/sample.jpg")
    case.call_and_validate(
        base_url=local.api_url, headers={"x-api-key": local.config["api_key"]}, checks=CHECKS
    )
