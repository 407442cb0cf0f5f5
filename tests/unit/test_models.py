from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from sinch_gateway.api.models import SendMessageRequest, validation_message
from sinch_gateway.domain.content import Channel
from sinch_gateway.domain.message import storable


def test_sms_when_there_is_no_media() -> None:
    request = SendMessageRequest.model_validate({"to": "+1 202 555 0143", "text": "Hello"})
    assert request.command().channel is Channel.SMS
    assert request.to == "+12025550143"


def test_mms_when_there_is_media() -> None:
    request = SendMessageRequest.model_validate(
        {"to": "+12025550143", "mediaUrl": "https://cdn.example.com/a.jpg", "subject": "Hi"}
    )
    assert request.command().channel is Channel.MMS


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"text": "x"}, "to", "Field required"),
        ({"to": "+12025550143"}, "text", "is required for an SMS"),
        ({"to": "+12025550143", "text": "x" * 1601}, "text", "at most 1600"),
        ({"to": "+12025550143", "mediaUrl": "https://a.test/a.jpg", "text": "x" * 5001}, "text", "5000"),
        ({"to": "+12025550143", "text": "x", "subject": "s"}, "subject", "only allowed for an MMS"),
        ({"to": "+12025550143", "text": ""}, "text", "at least 1"),
        ({"to": "+12025550143", "mediaUrl": "https://a.test/a.jpg", "subject": "s" * 81}, "subject", "80"),
        ({"to": "+12025550143", "text": "x", "colour": "red"}, "colour", "Extra inputs"),
        ({"to": "12025550143", "text": "x"}, "to", "E.164"),
        ({"to": "+12025550143", "mediaUrl": "not a url"}, "mediaUrl", "URL"),
    ],
)
def test_invalid_requests_name_the_field(body: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        SendMessageRequest.model_validate(body)
    errors = info.value.errors()
    assert any(".".join(str(p) for p in e["loc"]) == field and message in e["msg"] for e in errors), errors


def test_an_invalid_media_url_is_reported_once_not_as_a_missing_sms_text() -> None:
    with pytest.raises(ValidationError) as info:
        SendMessageRequest.model_validate({"to": "+12025550143", "mediaUrl": "ftp://x"})
    assert [e["loc"] for e in info.value.errors()] == [("mediaUrl",)]


def test_mms_only_to_countries_sinch_serves_and_the_error_names_the_country() -> None:
    media = "https://cdn.example.com/a.jpg"
    for allowed in ("+12025550143", "+61491570156", "+17875550143"):  # US, AU, Puerto Rico
        assert (
            SendMessageRequest.model_validate({"to": allowed, "mediaUrl": media}).command().channel
            is Channel.MMS
        )
    with pytest.raises(ValidationError) as info:
        SendMessageRequest.model_validate({"to": "+18765550143", "mediaUrl": media})
    (error,) = info.value.errors()
    assert error["loc"] == ("to",)
    assert "Jamaica (JM)" in error["msg"]


def test_send_at_is_normalised_to_utc() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    local = (datetime.now(UTC) + timedelta(hours=1)).astimezone(timezone(timedelta(hours=-5)))
    request = SendMessageRequest.model_validate(
        {**{"to": "+12025550143", "text": "x"}, "sendAt": local.isoformat()}
    )
    assert request.send_at == local
    assert request.send_at is not None and request.send_at.utcoffset() == timedelta(0)


def test_python_field_names_are_not_accepted_as_aliases() -> None:
    with pytest.raises(ValidationError) as info:
        SendMessageRequest.model_validate({"to": "+12025550143", "text": "x", "client_reference": "r"})
    assert [e["loc"] for e in info.value.errors()] == [("client_reference",)]


# Characters that put nothing visible on a handset.
INVISIBLE = [
    *" \t\n\r\x0b\x0c",
    "\u00a0",  # no-break space
    "\u2003",  # em space
    "\u3000",  # ideographic space
    "\u2028",  # line separator
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\ufeff",  # byte order mark
    "\u200e",  # left-to-right mark
    "\u3164",  # Hangul filler
    "\u2800",  # braille blank
    "\ufe0f",  # variation selector
    "\x00",
]


@given(st.text(alphabet=st.sampled_from(INVISIBLE), min_size=1, max_size=40))
def test_a_text_or_subject_that_shows_nothing_is_refused(blank: str) -> None:
    for body, field in (
        ({"to": "+12025550143", "text": blank}, "text"),
        ({"to": "+12025550143", "mediaUrl": "https://a.test/a.jpg", "text": blank}, "text"),
        ({"to": "+12025550143", "mediaUrl": "https://a.test/a.jpg", "subject": blank}, "subject"),
    ):
        with pytest.raises(ValidationError) as info:
            SendMessageRequest.model_validate(body)
        assert [(e["loc"], validation_message(e)) for e in info.value.errors()] == [
            ((field,), "must contain something visible, not only spaces or invisible characters")
        ]


@pytest.mark.parametrize("text", [" Hi ", "\u200bHi", "\u00e9", "\U0001f600", "."])
def test_a_text_with_anything_visible_is_kept_as_written(text: str) -> None:
    assert SendMessageRequest.model_validate({"to": "+12025550143", "text": text}).text == text


@pytest.mark.parametrize("field", ["text", "clientReference"])
def test_a_lone_surrogate_is_refused_in_our_words(field: str) -> None:
    with pytest.raises(ValidationError) as info:
        SendMessageRequest.model_validate({"to": "+12025550143", "text": "x", field: "a\ud800b"})
    (error,) = info.value.errors()
    assert validation_message(error) == (
        "is not valid Unicode text: it contains a lone surrogate (\\ud800-\\udfff)"
    )


def test_storable_writes_lone_surrogates_out_and_keeps_everything_else() -> None:
    assert storable("a\ud800\u00e9\U0001f600") == "a\\ud800\u00e9\U0001f600"
    storable("\udfff").encode("utf-8")


@pytest.mark.parametrize(
    ("text", "max_parts", "needed"),
    [("x" * 161, 1, "needs 2 segments (GSM encoding)"), ("é€" + "ж" * 70, 1, "needs 2 segments (UNICODE")],
)
def test_a_text_longer_than_max_parts_is_refused_naming_the_segments_it_needs(
    text: str, max_parts: int, needed: str
) -> None:
    with pytest.raises(ValidationError) as info:
        SendMessageRequest.model_validate({"to": "+12025550143", "text": text, "maxParts": max_parts})
    [error] = info.value.errors()
    assert error["loc"] == ("maxParts",)
    assert needed in error["msg"]


def test_a_text_within_max_parts_passes() -> None:
    request = SendMessageRequest.model_validate({"to": "+12025550143", "text": "x" * 306, "maxParts": 2})
    assert request.max_parts == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"to": "+12025550143", "text": "x", "maxParts": 0}, "at least 1"),
        ({"to": "+12025550143", "mediaUrl": "https://a.test/a.jpg", "maxParts": 1}, "only used with an SMS"),
    ],
)
def test_max_parts_must_be_a_positive_count_on_an_sms(body: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        SendMessageRequest.model_validate(body)
    assert any(e["loc"] == ("maxParts",) and message in validation_message(e) for e in info.value.errors())


def _in(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"expireAt": _in(-1)}, "must be in the future"),
        ({"expireAt": _in(73)}, "at most 3 days after now"),
        ({"sendAt": _in(2), "expireAt": _in(1)}, "must be after sendAt"),
        ({"sendAt": _in(2), "expireAt": _in(2 + 72.5)}, "at most 3 days after sendAt"),
        ({"expireAt": "2026-12-01T10:00:00"}, "time zone"),
    ],
)
def test_expire_at_lies_after_now_or_send_at_and_within_sinchs_three_days(
    extra: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        SendMessageRequest.model_validate({"to": "+12025550143", "text": "x", **extra})
    [error] = info.value.errors()
    assert error["loc"] == ("expireAt",) and message in validation_message(error)


def test_expire_at_with_an_offset_is_kept_as_the_same_instant_in_utc() -> None:
    eastern = (datetime.now(UTC) + timedelta(hours=5)).astimezone(timezone(timedelta(hours=-5)))
    request = SendMessageRequest.model_validate(
        {"to": "+12025550143", "text": "x", "expireAt": eastern.isoformat()}
    )
    assert request.expire_at == eastern and request.expire_at.utcoffset() == timedelta(0)
    assert request.command().expire_at == request.expire_at
