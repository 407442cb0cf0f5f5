"""Slides, templates and their options on POST /v1/messages: each rule a 422 on its field."""

from typing import Any

import pytest
from pydantic import ValidationError

from sinch_gateway.api.models import SendMessageRequest, TemplateRequest, field_path, validation_message
from sinch_gateway.domain.commands import AskedSlides, AskedTemplate

TO = "+12025550143"
IMG = "https://cdn.example.com/a.jpg"
SLIDES = {
    "to": TO,
    "subject": "Sale",
    "fallbackText": "See our sale",
    "slides": [{"text": "Hi", "mediaUrl": IMG}],
}


def errors(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        SendMessageRequest.model_validate(body)
    return {field_path(e["loc"]): validation_message(e) for e in info.value.errors()}


def test_a_three_slide_mms_with_fallback_is_one_request() -> None:
    body = {**SLIDES, "slides": [{"text": "one"}, {"mediaUrl": IMG}, {"text": "three", "mediaUrl": [IMG]}]}
    request = SendMessageRequest.model_validate(body)
    content = request.command().content
    assert isinstance(content, AskedSlides)
    assert [s.media_urls for s in content.slides] == [(), (IMG,), (IMG,)]


def test_nine_slides_are_refused() -> None:
    assert "slides" in errors({**SLIDES, "slides": [{"text": str(n)} for n in range(9)]})


def test_an_empty_slide_is_refused() -> None:
    assert "empty" in errors({**SLIDES, "slides": [{"text": "x"}, {}]})["slides"]


def test_slides_need_a_subject_and_a_fallback_text_unless_fallback_is_off() -> None:
    found = errors({"to": TO, "slides": [{"text": "x"}]})
    assert set(found) == {"subject", "fallbackText"}
    assert "disableFallbackSms" in found["fallbackText"]
    ok = {"to": TO, "subject": "S", "disableFallbackSms": True, "slides": [{"text": "x"}]}
    assert SendMessageRequest.model_validate(ok).fallback_text is None


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"mediaUrl": IMG}, "slides"),
        ({"text": "loose text"}, "text"),
        ({"sendAt": "2099-01-01T00:00:00Z"}, "sendAt"),
        ({"templateId": "3f1c2a8e-5b7d-4c9e-8a6f-2d4b1e0c9a7b"}, "templateId"),
        ({"slideTexts": [{"slide": 1, "text": "x"}]}, "slideTexts"),
        ({"fromMask": "Not a mask!"}, "fromMask"),
    ],
)
def test_what_does_not_go_with_slides(extra: dict[str, Any], field: str) -> None:
    assert field in errors({**SLIDES, **extra})


@pytest.mark.parametrize(
    "field", ["fallbackText", "fromMask", "disableFallbackSms", "disableFallbackSmsLink"]
)
def test_mms_json_options_are_refused_on_an_sms(field: str) -> None:
    value: Any = True if field.startswith("disable") else "Acme"
    assert field in errors({"to": TO, "text": "hi", field: value})


def test_a_template_send_takes_slide_texts_and_no_content_of_its_own() -> None:
    request = SendMessageRequest.model_validate(
        {"to": TO, "templateId": "t-1", "slideTexts": [{"slide": 2, "text": "Hello Ann"}]}
    )
    assert isinstance(request.command().content, AskedTemplate)
    assert "slideTexts.0.slide" in errors(
        {"to": TO, "templateId": "t", "slideTexts": [{"slide": 9, "text": "x"}]}
    )
    assert "text" in errors({"to": TO, "templateId": "t", "text": "x"})


def test_mms_of_any_kind_goes_only_where_sinch_offers_mms() -> None:
    found = errors({**SLIDES, "to": "+18765550123"})
    assert "Jamaica" in found["to"]


def test_a_slide_may_hold_an_image_with_audio_but_not_four_files() -> None:
    assert "slides.0.mediaUrl" in errors({**SLIDES, "slides": [{"mediaUrl": [IMG] * 4}]})


def test_a_template_request_has_a_name_subject_and_slides() -> None:
    with pytest.raises(ValidationError) as info:
        TemplateRequest.model_validate({"slides": []})
    assert {e["loc"][0] for e in info.value.errors()} == {"name", "subject", "slides"}
    saved = TemplateRequest.model_validate({"name": "n", "subject": "s", "slides": [{"text": "x"}]})
    assert saved.fallback_text is None
