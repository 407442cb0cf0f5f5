"""Every 422 says what is wrong in our words: no pydantic phrasing reaches a client."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sinch_gateway.api.models import SendMessageRequest, TemplateRequest, error_field, validation_message
from tests.strategies import json_values

PYDANTIC_PHRASES = (
    "Input should",
    "String should",
    "Value error",
    "unable to",
    "Field required",
    "Extra inputs",
    "URL input",
    "[",
    "function-",
)
TO = "+12025550143"
BODIES: list[dict[str, Any]] = [
    {"to": 5},
    {"to": TO, "text": 5},
    {"to": TO, "text": ""},
    {"to": TO, "text": "x", "sendAt": "tomorrow"},
    {"to": TO, "text": "x", "sendAt": "2026-12-01T10:00:00"},
    {"to": TO, "mediaUrl": "ftp://x"},
    {"to": TO, "mediaUrl": "not a url"},
    {"to": TO, "text": "x", "clientReference": "x" * 200},
    {"to": TO, "slides": "x", "subject": "s"},
    {"to": TO, "slides": [{"text": "a", "mediaUrl": 5}], "subject": "s", "fallbackText": "f"},
    {"to": TO, "slides": [{"text": "a"}], "subject": "s", "fallbackText": "f", "fromMask": "!!"},
    {"to": TO, "slides": [{"text": "a"}], "subject": "s", "disableFallbackSms": "maybe"},
    {"to": TO, "templateId": "t", "slideTexts": [{"slide": "x", "text": "y"}]},
    {"to": TO, "templateId": "t", "slideTexts": [{"slide": 0, "text": "y"}]},
    {"to": TO, "text": "x", "media_url": "https://a.example/b.jpg"},
]


def messages(model: type[SendMessageRequest | TemplateRequest], body: Any) -> list[tuple[str, str]]:
    try:
        model.model_validate(body)
    except ValidationError as exc:
        return [(error_field(e), validation_message(e)) for e in exc.errors()]
    return []


@pytest.mark.parametrize("body", BODIES, ids=lambda b: str(b)[:40])
def test_each_error_names_its_field_in_our_words(body: dict[str, Any]) -> None:
    found = messages(SendMessageRequest, body)
    assert found, "each of these is invalid"
    for field, message in found:
        assert not any(p in field + " " + message for p in PYDANTIC_PHRASES), (field, message)


def test_an_unknown_key_is_named_as_sent_and_patterns_are_explained() -> None:
    assert ("media_url", "is not a known field") in messages(SendMessageRequest, BODIES[-1])
    ((field, message),) = messages(SendMessageRequest, BODIES[10])
    assert (field, message) == ("fromMask", "must be 1 to 11 letters, digits or spaces")


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {"to": st.just(TO)},
        optional={
            name: json_values(max_leaves=4, max_items=3)
            for name in ("text", "mediaUrl", "slides", "subject", "fallbackText", "sendAt", "templateId")
        },
    )
)
def test_no_body_gets_pydantic_words(body: dict[str, Any]) -> None:
    for field, message in messages(SendMessageRequest, body) + messages(TemplateRequest, body):
        assert not any(p in field + " " + message for p in PYDANTIC_PHRASES), (field, message)
