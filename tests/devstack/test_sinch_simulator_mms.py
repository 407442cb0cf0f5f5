"""The simulator's MMS JSON API over real HTTP on 127.0.0.1: actions, error codes, media, postbacks,
handsets, templates and faults."""

from __future__ import annotations

import base64
import json
import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import urllib3

from devstack.sinch_simulator import SinchSimulator
from tests.conftest import control
from tests.devstack.test_sinch_simulator_http import Receiver, wait_until

KEY, SERVICE = "mms-test-key", "campaign-7"
TO, TO2, FROM = "+12025550143", "+12025550144", "12025550100"
DELAY_S = 0.03
RETRY_BASE_S = 0.001  # a postback retry comes 60 of these later
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(scope="module")
def sim() -> Iterator[SinchSimulator]:
    simulator = SinchSimulator(
        mms_api_key=KEY,
        mms_service_id=SERVICE,
        callback_delay_s=DELAY_S,
        callback_retry_base_s=RETRY_BASE_S,
    ).start()
    yield simulator
    simulator.stop()


@pytest.fixture(autouse=True)
def _fresh(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    assert control(sim, http, "POST", "/_sim/reset")[0] == 200
    config = {
        "rate_limit": None,
        "callback_delay_s": DELAY_S,
        "callback_retry_base_s": RETRY_BASE_S,
        "encoding_delay_s": 0.05,
        "postback_url": None,
    }
    assert control(sim, http, "POST", "/_sim/config", config)[0] == 200


@pytest.fixture
def receiver(sim: SinchSimulator, http: urllib3.PoolManager) -> Iterator[Receiver]:
    """A postback receiver, provisioned as the account's postback URL."""
    r = Receiver()
    assert control(sim, http, "POST", "/_sim/config", {"postback_url": r.url})[0] == 200
    yield r
    r.close()


def media(sim: SinchSimulator, name: str) -> dict[str, str]:
    return {"url": f"{sim.url}/_sim/media/{name}"}


def post(
    sim: SinchSimulator,
    http: urllib3.PoolManager,
    body: Any,
    *,
    key: str | None = KEY,
    path: str = "/ep/v2/",
    content_type: str = "application/json; charset=utf-8",
) -> urllib3.BaseHTTPResponse:
    headers = {"Content-Type": content_type} | ({"x-api-key": key} if key is not None else {})
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.request("POST", sim.url + path, body=data, headers=headers)


def call(sim: SinchSimulator, http: urllib3.PoolManager, body: Any, **options: Any) -> dict[str, Any]:
    """The answer's payload; the MMS JSON API answers everything with HTTP 200."""
    resp = post(sim, http, body, **options)
    assert resp.status == 200, resp.data
    assert resp.headers["Content-Type"] == "application/json"
    payload: dict[str, Any] = resp.json()
    return payload


def sendmms(sim: SinchSimulator, **fields: Any) -> dict[str, Any]:
    body = {
        "action": "sendmms",
        "service-id": SERVICE,
        "to": TO,
        "from": FROM,
        "message-subject": "Spring sale",
        "fallback-sms-text": "Our spring sale has started",
        "slide": [{"image": media(sim, "sample.jpg"), "message-text": "20% off"}],
        **fields,
    }
    return {k: v for k, v in body.items() if v is not None}


def savemms(sim: SinchSimulator, **fields: Any) -> dict[str, Any]:
    body = {
        "action": "savemms",
        "name": "spring",
        "message-subject": "Spring sale",
        "slide": [{"image": media(sim, "sample.jpg"), "message-text": "20% off"}],
        **fields,
    }
    return {k: v for k, v in body.items() if v is not None}


def sendsavedmms(mms_id: str, **fields: Any) -> dict[str, Any]:
    body = {
        "action": "sendsavedmms",
        "mms-id": mms_id,
        "service-id": SERVICE,
        "to": TO,
        "from": FROM,
        "fallback-sms-text": "Our spring sale has started",
        **fields,
    }
    return {k: v for k, v in body.items() if v is not None}


def failed(payload: dict[str, Any]) -> str:
    assert payload["status"] == "failure", payload
    assert set(payload) == {"status", "error-code", "error-info"} and payload["error-info"]
    code: str = payload["error-code"]
    return code


def accepted(payload: dict[str, Any]) -> str:
    assert payload["status"] == "success", payload
    assert UUID.match(payload["tracking-id"])
    tracking_id: str = payload["tracking-id"]
    return tracking_id


def codes(receiver: Receiver, count: int) -> list[str]:
    return [p["code"] for p in receiver.reports(count)]


def saved_template(sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver, **fields: Any) -> str:
    """A template that is ready, by its N003; the receiver's calls are cleared."""
    tracking_id = accepted(call(sim, http, savemms(sim, **fields)))
    (n003,) = receiver.reports(1)
    assert (n003["code"], n003["tracking-id"]) == ("N003", tracking_id)
    receiver.calls.clear()
    mms_id: str = n003["mms-id"]
    return mms_id


def set_faults(sim: SinchSimulator, http: urllib3.PoolManager, *rules: dict[str, Any]) -> None:
    status, answer = control(sim, http, "POST", "/_sim/faults", {"rules": list(rules)})
    assert status == 200, answer


def future(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the three actions --------------------------------------------------------------------------


def test_sendmms_is_accepted_and_reported_sent_then_delivered(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    answer = call(sim, http, sendmms(sim, **{"client-reference": "order-42"}))
    assert set(answer) == {"status", "to", "tracking-id", "status-details"}
    assert answer["to"] == TO and answer["status-details"]
    tracking_id = accepted(answer)
    sent, delivered = receiver.reports(2)
    assert {**sent, "timestamp": "T"} == {
        "origin": "MMS_MT",
        "code": "N101",
        "status": "Sent",
        "status-details": sent["status-details"],
        "sent-as": "MMS",
        "from": FROM,
        "to": TO,
        "tracking-id": tracking_id,
        "operator-id": sent["operator-id"],
        "timestamp": "T",
        "client-reference": "order-42",
    }
    assert (delivered["code"], delivered["status"], delivered["sent-as"]) == ("N102", "Delivered", "MMS")
    assert delivered["tracking-id"] == tracking_id and delivered["client-reference"] == "order-42"
    assert TIMESTAMP.match(sent["timestamp"]) and TIMESTAMP.match(delivered["timestamp"])
    assert "mms-id" not in sent


def test_savemms_then_sendsavedmms(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    answer = call(sim, http, savemms(sim, **{"client-reference": "tpl-1"}))
    assert set(answer) == {"status", "tracking-id", "status-details"}  # the mms-id comes by postback
    (n003,) = receiver.reports(1)
    assert {**n003, "timestamp": "T"} == {
        "origin": "MMS_MT",
        "code": "N003",
        "status": "Success",
        "status-details": n003["status-details"],
        "mms-id": n003["mms-id"],
        "tracking-id": accepted(answer),
        "timestamp": "T",
        "client-reference": "tpl-1",
    }
    receiver.calls.clear()
    sent = call(sim, http, sendsavedmms(n003["mms-id"], **{"client-reference": "msg-1"}))
    assert set(sent) == {"status", "mms-id", "tracking-id", "to", "from", "status-details"}
    assert (sent["mms-id"], sent["to"], sent["from"]) == (n003["mms-id"], TO, FROM)
    reports = receiver.reports(2)
    assert [(r["code"], r["mms-id"], r["client-reference"]) for r in reports] == [
        ("N101", n003["mms-id"], "msg-1"),
        ("N102", n003["mms-id"], "msg-1"),
    ]
    assert {r["tracking-id"] for r in reports} == {accepted(sent)}


def test_the_path_works_without_its_trailing_slash_and_takes_only_post(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    accepted(call(sim, http, sendmms(sim), path="/ep/v2"))
    resp = http.request("GET", sim.url + "/ep/v2/", headers={"x-api-key": KEY})
    assert resp.status == 405 and resp.headers["Allow"] == "POST"
    assert failed(resp.json()) == "E100"


def test_every_call_is_recorded_with_its_answer(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    answer = call(sim, http, sendmms(sim))
    call(sim, http, {"action": "sendmms"}, key="wrong")
    first, second = control(sim, http, "GET", "/_sim/requests")[1]
    assert (first["method"], first["path"], first["headers"]["x-api-key"]) == ("POST", "/ep/v2/", KEY)
    assert first["body"]["action"] == "sendmms" and first["body"]["to"] == TO
    assert first["response"] == {
        "status": 200,
        "headers": {"Content-Type": "application/json"},
        "body": answer,
    }
    assert second["response"]["body"]["error-code"] == "E104"


# --- request errors -----------------------------------------------------------------------------

MANY = [{"message-text": f"slide {n}"} for n in range(9)]
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("sendmms", {"service-id": "other"}, "E627"),
    ("sendmms", {"service-id": None}, "E627"),
    ("sendmms", {"to": "555"}, "E110"),
    ("sendmms", {"to": None}, "E110"),
    ("sendmms", {"to": ["+12025550143"]}, "E110"),
    ("sendmms", {"from": "not a number"}, "E111"),
    ("sendmms", {"from-mask": "far too long a mask"}, "E111"),
    ("sendmms", {"message-subject": "s" * 81}, "E314"),
    ("sendmms", {"message-subject": ""}, "E314"),
    ("sendmms", {"fallback-sms-text": None}, "E622"),
    ("sendmms", {"fallback-sms-text": ""}, "E622"),
    ("sendmms", {"disable-fallback-sms": "yes"}, "E100"),
    ("sendmms", {"client-reference": "r" * 65}, "E100"),
    ("sendmms", {"mms-expiry-timestamp": "soon"}, "E100"),
    ("sendmms", {"mms-expiry-timestamp": future(timedelta(days=4))}, "E100"),
    ("sendmms", {"fallback-sms-link-expiration": future(timedelta(days=-1))}, "E100"),
    ("sendmms", {"slide": None}, "E312"),
    ("sendmms", {"slide": []}, "E312"),
    ("sendmms", {"slide": MANY}, "E225"),
    ("sendmms", {"slide": [{}]}, "E313"),
    ("sendmms", {"slide": [{"message-text": ""}]}, "E313"),
    ("sendmms", {"slide": [{"message-text": "x" * 5001}]}, "E228"),
    ("sendmms", {"slide": [{"video": {"url": "v"}, "audio": {"url": "a"}}]}, "E226"),
    ("sendmms", {"slide": [{"video": {"url": "v"}, "image": {"url": "i"}}]}, "E227"),
    ("sendmms", {"slide": [{"image": {"url": "i"}, "pdf": {"url": "p"}}]}, "E224"),
    ("sendmms", {"slide": [{"contact": {"url": "c"}, "audio": {"url": "a"}}]}, "E224"),
    ("sendmms", {"slide": [{"vcard": {"url": "https://x.test/a.vcf"}}]}, "E100"),
    ("sendmms", {"slide": [{"image": {"url": "ftp://x.test/a.jpg"}}]}, "E100"),
    ("sendmms", {"slide": [{"image": {"url": "http://[::1"}}]}, "E100"),
    ("sendmms", {"slide": [{"image": {"url": "http://127.0.0.1:99999/a.jpg"}}]}, "E100"),
    ("sendmms", {"slide": [{"image": "https://x.test/a.jpg"}]}, "E100"),
    ("sendmms", {"slide": ["text"]}, "E100"),
    ("sendmms", {"message_subject": "snake case"}, "E100"),
    ("sendmms", {"action": "sendfax"}, "E100"),
    ("sendmms", {"action": ["sendmms"]}, "E100"),  # was a 500
    ("savemms", {"name": None}, "E311"),
    ("savemms", {"name": " "}, "E311"),
    ("savemms", {"to": TO}, "E100"),  # a template has no recipient
    ("savemms", {"slide": [{"image": {"url": "i"}, "video": {"url": "v"}}]}, "E227"),
    ("sendsavedmms", {"mms-id": None}, "E620"),
    ("sendsavedmms", {"mms-id": "999"}, "E241"),
    ("sendsavedmms", {"mms-id": 999}, "E241"),
    ("sendsavedmms", {"custom-slides": [{"custom-slide": 1, "custom-message-text": "x"}]}, "E100"),
    ("sendsavedmms", {"to": "+1"}, "E110"),
]


@pytest.mark.parametrize(
    ("kind", "change", "code"), CASES, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)]
)
def test_invalid_requests_get_their_error_code(
    sim: SinchSimulator, http: urllib3.PoolManager, kind: str, change: dict[str, Any], code: str
) -> None:
    builders = {"sendmms": sendmms, "savemms": savemms}
    body = builders[kind](sim, **change) if kind in builders else sendsavedmms("1", **change)
    assert failed(call(sim, http, body)) == code


@pytest.mark.parametrize("key", [None, "", "wrong"])
def test_a_missing_or_wrong_api_key_is_e104(
    sim: SinchSimulator, http: urllib3.PoolManager, key: str | None
) -> None:
    assert failed(call(sim, http, sendmms(sim), key=key)) == "E104"


def test_bodies_that_are_not_json_objects(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    assert failed(call(sim, http, b'{"action": "sendmms",')) == "E108"
    assert failed(call(sim, http, b"\xff\xfe{}")) == "E108"
    assert failed(call(sim, http, b"[" * 100_000)) == "E108"  # too deep for the parser: no 500
    assert failed(call(sim, http, b"[]")) == "E100"
    assert failed(call(sim, http, sendmms(sim), content_type="text/plain")) == "E100"


def test_a_field_or_slide_object_given_twice(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    jpg = json.dumps(media(sim, "sample.jpg"))
    body = json.dumps(sendmms(sim))
    twice_in_slide = body.replace('"slide": [{', f'"slide": [{{"image": {jpg}, ', 1)
    assert failed(call(sim, http, twice_in_slide.encode())) == "E223"
    text_twice = body.replace('"slide": [{', '"slide": [{"message-text": "a", ', 1)
    assert failed(call(sim, http, text_twice.encode())) == "E100"
    field_twice = body.replace('{"action"', '{"to": "+12025550144", "action"', 1)
    assert failed(call(sim, http, field_twice.encode())) == "E100"


def test_fallback_text_is_needed_only_while_fallback_is_on(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    accepted(call(sim, http, sendmms(sim, **{"fallback-sms-text": None, "disable-fallback-sms": True})))
    mms_id = saved_template(sim, http, receiver, **{"disable-fallback-sms": True})  # savemms: optional
    accepted(call(sim, http, sendsavedmms(mms_id, **{"fallback-sms-text": None})))  # the template's
    assert (
        failed(
            call(
                sim, http, sendsavedmms(mms_id, **{"fallback-sms-text": None, "disable-fallback-sms": False})
            )
        )
        == "E622"
    )


def test_custom_slides_must_name_a_slide_of_the_template(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    mms_id = saved_template(sim, http, receiver)
    custom = [{"custom-slide": "1", "custom-message-text": "30% off"}]
    accepted(call(sim, http, sendsavedmms(mms_id, **{"custom-slides": custom})))
    custom = [{"custom-slide": "2", "custom-message-text": "30% off"}]
    assert failed(call(sim, http, sendsavedmms(mms_id, **{"custom-slides": custom}))) == "E100"
    custom = [{"custom-slide": "1", "custom-message-text": "x" * 5001}]
    assert failed(call(sim, http, sendsavedmms(mms_id, **{"custom-slides": custom}))) == "E228"


def test_refused_requests_send_nothing_and_save_nothing(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    builders = {"sendmms": sendmms, "savemms": savemms}
    for kind, change, _ in CASES:
        if kind in builders:
            assert call(sim, http, builders[kind](sim, **change))["status"] == "failure"
    call(sim, http, sendmms(sim, slide=[{"image": media(sim, "too-large.jpg")}]))
    tracking_id = accepted(call(sim, http, sendmms(sim)))
    receiver.reports(2)
    time.sleep(DELAY_S * 3)  # anything else would have come by now
    assert {c.json["tracking-id"] for c in receiver.calls} == {tracking_id}
    assert control(sim, http, "GET", "/_sim/mms-templates")[1] == []


# --- media --------------------------------------------------------------------------------------


def test_every_kind_of_media_is_fetched_and_accepted(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    slides = [
        {"image": media(sim, "sample.png"), "audio": media(sim, "sample.mp3"), "message-text": "a"},
        {"video": media(sim, "sample.mp4")},
        {
            "contact": media(sim, "sample.vcf"),
            "calendar": media(sim, "sample.ics"),
            "pdf": media(sim, "sample.pdf"),
        },
        {"image": media(sim, "sample.gif")},
    ]
    accepted(call(sim, http, sendmms(sim, slide=slides)))
    assert codes(receiver, 2) == ["N101", "N102"]


@pytest.mark.parametrize(
    ("kind", "name", "code"),
    [
        ("image", "sample.mp3", "E629"),  # a type of another kind
        ("audio", "sample.jpg", "E629"),
        ("video", "sample.mp3", "E629"),
        ("pdf", "sample.vcf", "E629"),
        ("image", "wrong-type.jpg", "E629"),  # application/octet-stream
        ("image", "too-large.jpg", "E331"),
        ("audio", "too-large.mp3", "E332"),
        ("video", "too-large.mp4", "E333"),
        ("contact", "too-large.vcf", "E335"),
        ("calendar", "too-large.ics", "E336"),
        ("pdf", "too-large.pdf", "E337"),
        ("image", "missing.jpg", "E351"),  # 404
        ("image", "no-length.jpg", "E351"),  # chunked: Sinch needs a Content-Length
        ("audio", "missing.mp3", "E352"),
        ("video", "missing.mp4", "E353"),
        ("contact", "missing.vcf", "E355"),
        ("calendar", "missing.ics", "E356"),
        ("pdf", "missing.pdf", "E357"),
    ],
)
@pytest.mark.parametrize("action", ["sendmms", "savemms"])
def test_media_problems_are_answered_at_once_by_kind(
    sim: SinchSimulator, http: urllib3.PoolManager, action: str, kind: str, name: str, code: str
) -> None:
    slide = [{"message-text": "first"}, {kind: media(sim, name)}]
    body = sendmms(sim, slide=slide) if action == "sendmms" else savemms(sim, slide=slide)
    payload = call(sim, http, body)
    assert failed(payload) == code
    assert "slide 2" in payload["error-info"]


def test_an_unreachable_media_host_is_e35x(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    body = sendmms(sim, slide=[{"video": {"url": f"http://127.0.0.1:{port}/v.mp4"}}])
    assert failed(call(sim, http, body)) == "E353"


def test_media_faults_fail_the_fetch(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    set_faults(sim, http, {"match": "media", "status": 503, "times": 1})
    assert failed(call(sim, http, sendmms(sim))) == "E351"
    assert call(sim, http, sendmms(sim))["status"] == "success"


@pytest.mark.parametrize(
    ("name", "kind", "code"),
    [("corrupt.jpg", "image", "E011"), ("corrupt.mp3", "audio", "E012"), ("corrupt.mp4", "video", "E013")],
)
def test_sendmms_content_that_fails_encoding_is_reported_by_postback(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver, name: str, kind: str, code: str
) -> None:
    tracking_id = accepted(call(sim, http, sendmms(sim, slide=[{kind: media(sim, name)}])))
    (report,) = receiver.reports(1)
    assert (report["code"], report["status"], report["tracking-id"]) == (code, "Failed", tracking_id)
    assert media(sim, name)["url"] in report["status-details"]
    time.sleep(DELAY_S * 3)
    assert len(receiver.calls) == 1  # not sent: no N101, no N102


@pytest.mark.parametrize(
    ("name", "kind", "code"),
    [("corrupt.mp3", "audio", "E002"), ("corrupt.mp4", "video", "E003"), ("corrupt.jpg", "image", "E004")],
)
def test_a_template_that_fails_encoding_is_reported_and_cannot_be_sent(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver, name: str, kind: str, code: str
) -> None:
    tracking_id = accepted(call(sim, http, savemms(sim, slide=[{kind: media(sim, name)}])))
    (report,) = receiver.reports(1)
    assert (report["code"], report["status"], report["tracking-id"]) == (code, "Failed", tracking_id)
    assert report[f"{kind}-name"] == media(sim, name)["url"]
    (template,) = control(sim, http, "GET", "/_sim/mms-templates")[1]
    assert (template["mms-id"], template["state"]) == (report["mms-id"], "failed")
    assert failed(call(sim, http, sendsavedmms(report["mms-id"]))) == "E241"


# --- templates ----------------------------------------------------------------------------------


def test_a_template_with_audio_or_video_is_ready_only_after_encoding(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    control(sim, http, "POST", "/_sim/config", {"encoding_delay_s": 1.0})
    slides = [{"image": media(sim, "sample.jpg"), "audio": media(sim, "sample.mp3")}]
    started = time.monotonic()
    tracking_id = accepted(call(sim, http, savemms(sim, slide=slides)))
    (template,) = control(sim, http, "GET", "/_sim/mms-templates")[1]
    assert (template["state"], template["tracking-id"]) == ("encoding", tracking_id)
    assert failed(call(sim, http, sendsavedmms(template["mms-id"]))) == "E626"
    (n003,) = receiver.reports(1)
    assert time.monotonic() - started >= 1.0
    assert (n003["code"], n003["mms-id"]) == ("N003", template["mms-id"])
    accepted(call(sim, http, sendsavedmms(template["mms-id"])))


def test_a_template_without_audio_or_video_is_ready_before_the_answer(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    control(sim, http, "POST", "/_sim/config", {"encoding_delay_s": 5.0})  # not used for images
    accepted(call(sim, http, savemms(sim)))
    (template,) = control(sim, http, "GET", "/_sim/mms-templates")[1]
    assert template["state"] == "ready"
    assert {k: template[k] for k in ("name", "message-subject", "disable-fallback-sms", "slide")} == {
        "name": "spring",
        "message-subject": "Spring sale",
        "disable-fallback-sms": False,
        "slide": [{"image": media(sim, "sample.jpg"), "message-text": "20% off"}],
    }
    accepted(call(sim, http, sendsavedmms(template["mms-id"])))


# --- postbacks ----------------------------------------------------------------------------------


def test_postbacks_carry_basic_auth_from_the_url_userinfo(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    url = receiver.url.replace("http://", "http://sinch:s3cret@") + "/mms"
    assert control(sim, http, "POST", "/_sim/config", {"postback_url": url})[1]["postback_url"] == (
        receiver.url.replace("http://", "http://sinch:***@") + "/mms"
    )
    accepted(call(sim, http, sendmms(sim, **{"client-reference": "réf-ü"})))
    calls = receiver.wait(2)
    assert [c.json["code"] for c in calls] == ["N101", "N102"]
    for c in calls:
        assert c.path == "/cb/mms"
        assert c.headers["authorization"] == "Basic " + base64.b64encode(b"sinch:s3cret").decode()
        assert c.headers["content-type"] == "application/json; charset=utf-8"
        assert "réf-ü".encode() in c.raw  # UTF-8, not \u escapes
        assert not any(name.startswith("x-sinch-webhook") for name in c.headers)  # not HMAC-signed


def test_postbacks_to_a_path_token_url_carry_no_authorization(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    control(sim, http, "POST", "/_sim/config", {"postback_url": receiver.url + "/tok-9f8e7d"})
    accepted(call(sim, http, sendmms(sim)))
    calls = receiver.wait(2)
    assert [c.path for c in calls] == ["/cb/tok-9f8e7d"] * 2
    assert all("authorization" not in c.headers for c in calls)


def test_each_messages_postbacks_come_in_order(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    tracking = [accepted(call(sim, http, sendmms(sim, to=to))) for to in (TO, TO2, TO)]
    reports = receiver.reports(6)
    for tracking_id in tracking:
        assert [r["code"] for r in reports if r["tracking-id"] == tracking_id] == ["N101", "N102"]


def test_a_postback_not_answered_200_is_retried_later(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    control(sim, http, "POST", "/_sim/config", {"callback_retry_base_s": 0.005})  # retries 0.3 s later
    receiver.statuses.extend([503, 201])  # anything but 200 is not an answer
    accepted(call(sim, http, savemms(sim)))  # one postback: N003
    calls = receiver.wait(3)
    assert len(calls) == 3 and len({c.raw for c in calls}) == 1  # the same postback each time
    # An attempt is logged once its answer is in, just after the receiver counted it.
    log = wait_until(lambda: len(entries := control(sim, http, "GET", "/_sim/callbacks")[1]) == 3 and entries)
    assert [(e["attempt"], e["status"]) for e in log] == [(1, 503), (2, 201), (3, 200)]
    first, second = (datetime.fromisoformat(e["at"]) for e in log[:2])
    assert second - first >= timedelta(seconds=0.25)


def test_postbacks_are_retried_at_most_five_times(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    receiver.statuses.extend([500] * 20)
    accepted(call(sim, http, savemms(sim)))
    calls = receiver.wait(6)
    time.sleep(60 * RETRY_BASE_S * 4)  # a seventh attempt would have come by now
    assert len(receiver.calls) == len(calls) == 6
    log = control(sim, http, "GET", "/_sim/callbacks")[1]
    assert [(e["attempt"], e["status"]) for e in log] == [(n, 500) for n in range(1, 7)]


def test_an_unreachable_postback_url_is_retried(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    control(sim, http, "POST", "/_sim/config", {"postback_url": f"http://127.0.0.1:{port}/pb"})
    accepted(call(sim, http, savemms(sim)))
    log = wait_until(lambda: len(entries := control(sim, http, "GET", "/_sim/callbacks")[1]) == 6 and entries)
    assert [e["attempt"] for e in log] == [1, 2, 3, 4, 5, 6]
    assert all(e["status"] is None and e["error"] for e in log)


def test_without_a_postback_url_nothing_is_posted(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    accepted(call(sim, http, sendmms(sim)))
    time.sleep(DELAY_S * 4)
    assert control(sim, http, "GET", "/_sim/callbacks")[1] == []


def test_postback_urls_are_checked(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    for url in ["ftp://127.0.0.1/pb", "not a url", "http://127.0.0.1:0/pb", 7]:
        assert control(sim, http, "POST", "/_sim/config", {"postback_url": url})[0] == 400
    with pytest.raises(ValueError, match="postback_url"):
        SinchSimulator(postback_url="127.0.0.1/pb")


# --- handsets and fallback -----------------------------------------------------------------------


def test_a_handset_without_mms_gets_the_fallback_sms(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    status, handsets = control(sim, http, "POST", "/_sim/handsets", {"number": TO, "mms": False})
    assert (status, handsets) == (200, [{"number": TO, "mms": False}])
    accepted(call(sim, http, sendmms(sim, to=TO.removeprefix("+"))))  # the same handset
    sent, delivered = receiver.reports(2)
    assert [(r["code"], r["status"], r["sent-as"]) for r in (sent, delivered)] == [
        ("N101", "Sent", "SMS"),
        ("N202", "Delivered", "SMS"),
    ]
    receiver.calls.clear()
    accepted(call(sim, http, sendmms(sim, to=TO2)))  # other handsets still take MMS
    assert [(r["code"], r["sent-as"]) for r in receiver.reports(2)] == [("N101", "MMS"), ("N102", "MMS")]


def test_without_fallback_a_handset_without_mms_rejects_it(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    control(sim, http, "POST", "/_sim/handsets", {"number": TO, "mms": False})
    mms_id = saved_template(sim, http, receiver, **{"disable-fallback-sms": True})
    accepted(call(sim, http, sendsavedmms(mms_id, **{"fallback-sms-text": None})))
    sent, final = receiver.reports(2)
    assert [(r["code"], r["status"], r["sent-as"]) for r in (sent, final)] == [
        ("N101", "Sent", "MMS"),
        ("E102", "Rejected", "MMS"),
    ]
    assert final["mms-id"] == mms_id


def test_handsets_can_take_mms_again_and_reset_forgets_them(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    control(sim, http, "POST", "/_sim/handsets", {"number": TO, "mms": False})
    control(sim, http, "POST", "/_sim/handsets", {"number": TO2, "mms": False})
    assert control(sim, http, "POST", "/_sim/handsets", {"number": TO, "mms": True})[1] == [
        {"number": TO2, "mms": False}
    ]
    control(sim, http, "POST", "/_sim/reset")
    assert control(sim, http, "GET", "/_sim/handsets") == (200, [])


@pytest.mark.parametrize(
    "body",
    [
        {"number": TO},
        {"number": "555", "mms": False},
        {"number": TO, "mms": "no"},
        {"number": TO, "mms": False, "x": 1},
        [],
    ],
)
def test_bad_handset_calls_are_400(sim: SinchSimulator, http: urllib3.PoolManager, body: Any) -> None:
    status, answer = control(sim, http, "POST", "/_sim/handsets", body)
    assert status == 400 and answer["text"]
    assert control(sim, http, "GET", "/_sim/handsets")[1] == []


# --- faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["E106", "E113"])
def test_error_code_faults_answer_a_throttling_failure(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver, code: str
) -> None:
    set_faults(sim, http, {"match": "mms_api", "error_code": code, "times": 1})
    assert failed(call(sim, http, sendmms(sim))) == code
    tracking_id = accepted(call(sim, http, sendmms(sim)))
    receiver.reports(2)
    assert {c.json["tracking-id"] for c in receiver.calls} == {tracking_id}


def test_the_rate_limit_answers_e113_in_its_own_window(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    control(sim, http, "POST", "/_sim/config", {"rate_limit": 1})
    accepted(call(sim, http, sendmms(sim)))
    assert failed(call(sim, http, sendmms(sim))) == "E113"
    xms = http.request("GET", sim.url + "/xms/v1/local-plan/batches", headers={"Authorization": "Bearer tok"})
    assert xms.status == 200  # XMS counts its own requests


def test_status_faults_are_bare_http_errors(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    set_faults(sim, http, {"match": "mms_api", "status": 429, "retry_after": 3, "times": 1})
    resp = post(sim, http, sendmms(sim))
    assert (resp.status, resp.headers["Retry-After"]) == (429, "3")
    assert resp.headers["Content-Type"].startswith("text/plain") and b"429" in resp.data
    set_faults(sim, http, {"match": "mms_api", "status": 503, "times": 1})
    assert post(sim, http, sendmms(sim)).status == 503
    assert post(sim, http, sendmms(sim)).status == 200
    # The request log still serves as JSON, the raw answers shown as their text.
    logged = http.request("GET", f"{sim.url}/_sim/requests").json()
    assert [r["response"]["status"] for r in logged[-3:]] == [429, 503, 200]
    assert "fault injected" in logged[-2]["response"]["body"]


def test_xms_faults_do_not_touch_the_mms_api(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    set_faults(sim, http, {"match": "batches", "status": 503})
    accepted(call(sim, http, sendmms(sim)))


def test_delay_faults_answer_late(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    set_faults(sim, http, {"match": "mms_api", "delay_ms": 300, "times": 1})
    started = time.monotonic()
    accepted(call(sim, http, sendmms(sim)))
    assert time.monotonic() - started >= 0.3


def test_drop_connection_answers_nothing_and_sends_nothing(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    set_faults(sim, http, {"match": "mms_api", "drop_connection": True, "times": 1})
    with pytest.raises(urllib3.exceptions.ProtocolError):
        post(sim, http, sendmms(sim, **{"client-reference": "dropped"}))
    (entry,) = control(sim, http, "GET", "/_sim/requests")[1]
    assert entry["response"] is None and entry["body"]["client-reference"] == "dropped"
    tracking_id = accepted(call(sim, http, sendmms(sim)))
    receiver.reports(2)
    assert {c.json["tracking-id"] for c in receiver.calls} == {tracking_id}


def test_accept_then_drop_sends_the_mms_but_loses_the_answer(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    set_faults(sim, http, {"match": "mms_api", "accept_then_drop": True, "times": 1})
    with pytest.raises(urllib3.exceptions.ProtocolError):
        post(sim, http, sendmms(sim, **{"client-reference": "lost-1"}))
    (entry,) = control(sim, http, "GET", "/_sim/requests")[1]
    assert entry["dropped"] is True and entry["response"]["status"] == 200
    tracking_id = accepted(entry["response"]["body"])
    reports = receiver.reports(2)
    assert [(r["code"], r["tracking-id"], r["client-reference"]) for r in reports] == [
        ("N101", tracking_id, "lost-1"),
        ("N102", tracking_id, "lost-1"),
    ]


@pytest.mark.parametrize(
    ("final", "code", "status"),
    [("Failed", "E101", "Failed"), ("Expired", "N103", "Expired"), ("Rejected", "E102", "Rejected")],
)
def test_final_faults_change_the_outcome(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver, final: str, code: str, status: str
) -> None:
    set_faults(sim, http, {"match": "callbacks", "final": final, "times": 1})
    accepted(call(sim, http, sendmms(sim)))
    assert [(r["code"], r["status"]) for r in receiver.reports(2)] == [("N101", "Sent"), (code, status)]


def test_a_failed_fallback_sms_is_e202(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    control(sim, http, "POST", "/_sim/handsets", {"number": TO, "mms": False})
    set_faults(sim, http, {"match": "callbacks", "final": "Failed"})
    accepted(call(sim, http, sendmms(sim)))
    assert [(r["code"], r["sent-as"]) for r in receiver.reports(2)] == [("N101", "SMS"), ("E202", "SMS")]


def test_an_unknown_final_means_no_delivery_receipt(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    set_faults(sim, http, {"match": "callbacks", "final": "Unknown"})
    accepted(call(sim, http, sendmms(sim)))
    assert codes(receiver, 1) == ["N101"]
    time.sleep(DELAY_S * 4)
    assert len(receiver.calls) == 1


def test_duplicate_and_reorder_faults_apply_to_postbacks(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    set_faults(sim, http, {"match": "callbacks", "duplicate": 1, "times": 1})
    accepted(call(sim, http, sendmms(sim)))
    assert codes(receiver, 4) == ["N101", "N101", "N102", "N102"]
    receiver.calls.clear()
    set_faults(sim, http, {"match": "callbacks", "reorder": True, "times": 1})
    accepted(call(sim, http, sendmms(sim)))
    assert codes(receiver, 2) == ["N102", "N101"]


def test_delay_faults_hold_postbacks_back(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    set_faults(sim, http, {"match": "callbacks", "delay_ms": 400})
    started = time.monotonic()
    accepted(call(sim, http, savemms(sim)))
    (n003,) = receiver.reports(1)
    assert n003["code"] == "N003" and time.monotonic() - started >= 0.4


def test_error_code_is_only_for_mms_api_rules(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    for rule in [
        {"match": "batches", "error_code": "E113"},
        {"match": "mms_api", "error_code": "113"},
        {"match": "mms_api", "error_code": "E113", "status": 503},
    ]:
        assert control(sim, http, "POST", "/_sim/faults", {"rules": [rule]})[0] == 400


def test_reset_forgets_templates(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    accepted(call(sim, http, savemms(sim)))
    (template,) = control(sim, http, "GET", "/_sim/mms-templates")[1]
    control(sim, http, "POST", "/_sim/reset")
    assert control(sim, http, "GET", "/_sim/mms-templates")[1] == []
    assert failed(call(sim, http, sendsavedmms(template["mms-id"]))) == "E241"
