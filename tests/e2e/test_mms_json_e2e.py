"""The MMS JSON API channel through the local stack: slides with fallback, templates, postbacks."""

import json
import time
from typing import Any

import urllib3

from devstack import aws
from tests.e2e.conftest import LocalStack, http

TO = "+12025550143"


def media(local: LocalStack, name: str) -> str:
    return f"{local.sinch_url}/_sim/media/{name}"


def slides_body(local: LocalStack, **changes: Any) -> dict[str, Any]:
    return {
        "to": TO,
        "subject": "Spring sale",
        "fallbackText": "Our spring sale is on",
        "slides": [
            {"text": "Spring is here"},
            {"text": "Half price", "mediaUrl": media(local, "sample.jpg")},
            {"mediaUrl": [media(local, "sample.png"), media(local, "sample.mp3")]},
        ],
        **changes,
    }


def mms_requests(local: LocalStack) -> list[dict[str, Any]]:
    return [r for r in local.sim("GET", "/_sim/requests") if r["path"].startswith("/ep/v2")]


def test_a_three_slide_mms_with_fallback_is_delivered(local: LocalStack) -> None:
    sent = local.api("POST", "/v1/messages", slides_body(local))
    assert sent.status == 202, sent.body
    assert (sent.body["channel"], sent.body["api"]) == ("mms", "mms-json")

    final = local.wait_final(sent.body["id"])

    assert final["status"] == "delivered", final
    assert [e.get("code") for e in final["events"][2:]] == ["N101", "N102"]
    ((request,),) = [mms_requests(local)]
    body = request["body"]
    assert (body["action"], body["client-reference"], body["fallback-sms-text"]) == (
        "sendmms",
        sent.body["id"],
        "Our spring sale is on",
    )
    assert [sorted(k for k in slide if k != "message-text") for slide in body["slide"]] == [
        [],
        ["image"],
        ["audio", "image"],
    ]


def test_a_handset_without_mms_gets_the_fallback_sms(local: LocalStack) -> None:
    local.sim("POST", "/_sim/handsets", {"number": "+12025550145", "mms": False})
    sent = local.api("POST", "/v1/messages", slides_body(local, to="+12025550145"))

    final = local.wait_final(sent.body["id"])

    assert (final["status"], final["deliveredAs"]) == ("delivered", "sms")
    assert final["events"][-1]["code"] == "N202"


def test_what_sinch_would_refuse_is_a_422_with_nothing_sent(local: LocalStack) -> None:
    nine = slides_body(local, slides=[{"text": str(n)} for n in range(9)])
    video_and_image = slides_body(
        local, slides=[{"mediaUrl": [media(local, "sample.mp4"), media(local, "sample.jpg")]}]
    )
    no_fallback = {k: v for k, v in slides_body(local).items() if k != "fallbackText"}
    for body, field in (
        (nine, "slides"),
        (video_and_image, "slides[0].mediaUrl"),
        (no_fallback, "fallbackText"),
    ):
        answer = local.api("POST", "/v1/messages", body)
        assert answer.status == 422, answer.body
        assert field in {e["field"] for e in answer.body["errors"]}
    assert mms_requests(local) == []


def test_a_template_is_saved_becomes_ready_by_postback_and_sends(local: LocalStack) -> None:
    saved = local.api(
        "POST",
        "/v1/mms-templates",
        {
            "name": "welcome",
            "subject": "Welcome",
            "fallbackText": "Welcome aboard",
            "slides": [{"text": "Hello", "mediaUrl": media(local, "sample.jpg")}, {"text": "See you"}],
        },
    )
    assert (saved.status, saved.body["status"]) == (202, "pending"), saved.body
    template = wait_template(local, saved.body["id"])
    assert template["status"] == "ready"

    sent = local.api(
        "POST",
        "/v1/messages",
        {"to": TO, "templateId": template["id"], "slideTexts": [{"slide": 2, "text": "Bye"}]},
    )
    assert sent.status == 202, sent.body
    assert local.wait_final(sent.body["id"])["status"] == "delivered"
    send = mms_requests(local)[-1]["body"]
    assert send["action"] == "sendsavedmms"
    assert send["custom-slides"] == [{"custom-slide": "2", "custom-message-text": "Bye"}]

    other = local.config["tenants"][1]["api_key"]
    assert local.api("GET", f"/v1/mms-templates/{template['id']}", key=other).status == 404
    theirs = local.api("POST", "/v1/messages", {"to": TO, "templateId": template["id"]}, key=other)
    assert theirs.status == 422


def test_a_template_not_ready_yet_is_a_409(local: LocalStack) -> None:
    local.sim("POST", "/_sim/config", {"encoding_delay_s": 30})  # video is encoded for a while
    try:
        saved = local.api(
            "POST",
            "/v1/mms-templates",
            {
                "name": "clip",
                "subject": "Clip",
                "fallbackText": "A clip",
                "slides": [{"mediaUrl": media(local, "sample.mp4")}],
            },
        )
        assert saved.status == 202, saved.body
        early = local.api("POST", "/v1/messages", {"to": TO, "templateId": saved.body["id"]})
        assert early.status == 409, early.body
    finally:
        local.sim("POST", "/_sim/config", {"encoding_delay_s": 0.5})


def wait_template(local: LocalStack, template_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        answer = local.api("GET", f"/v1/mms-templates/{template_id}")
        assert answer.status == 200, answer.body
        if answer.body["status"] != "pending" or time.monotonic() > deadline:
            return dict(answer.body)
        time.sleep(0.2)


def test_postbacks_twice_and_out_of_order_change_nothing(local: LocalStack) -> None:
    local.sim("POST", "/_sim/faults", {"rules": [{"match": "callbacks", "duplicate": 2, "reorder": True}]})
    sent = local.api("POST", "/v1/messages", slides_body(local))

    final = local.wait_final(sent.body["id"])
    # Every copy has arrived: the first of them and its duplicates, the late N101 among them.
    deadline = time.monotonic() + 15
    while len(final["events"]) < 2 + 6 and time.monotonic() < deadline:
        time.sleep(0.2)
        final = local.api("GET", f"/v1/messages/{sent.body['id']}").body

    assert final["status"] == "delivered"
    moved = [e for e in final["events"] if not e.get("stale")]
    assert [e["status"] for e in moved] == ["accepted", "submitted", "delivered"]
    assert all(e.get("stale") for e in final["events"][3:])


def test_an_unauthenticated_postback_is_a_401_and_writes_nothing(local: LocalStack) -> None:
    sent = local.api("POST", "/v1/messages", slides_body(local))
    local.wait_final(sent.body["id"])
    forged = json.dumps({"origin": "MMS_MT", "code": "E101", "client-reference": sent.body["id"]}).encode()
    for path in ("/v1/webhooks/sinch/mms-postbacks", "/v1/webhooks/sinch/mms-postbacks/not-the-token"):
        answer = http("POST", local.api_url + path, forged, {"content-type": "application/json"})
        assert answer.status == 401, answer.body
    assert local.api("GET", f"/v1/messages/{sent.body['id']}").body["status"] == "delivered"


def test_a_postback_with_the_token_is_taken_only_from_sinchs_address(local: LocalStack) -> None:
    """The local stack allowlists the simulator's source address (127.0.0.2) for postbacks, as a
    deployment allowlists the addresses Sinch gives at onboarding."""
    sent = local.api("POST", "/v1/messages", slides_body(local))
    local.wait_final(sent.body["id"])
    postback_url = local.sim("GET", "/_sim/config")["postback_url"]  # the path token is in it
    forged = json.dumps({"origin": "MMS_MT", "code": "E101", "client-reference": sent.body["id"]}).encode()
    answer = http("POST", postback_url, forged, {"content-type": "application/json"})  # from 127.0.0.1
    assert (answer.status, answer.body["detail"]) == (401, "Postbacks are not accepted from this address.")
    assert local.api("GET", f"/v1/messages/{sent.body['id']}").body["status"] == "delivered"
    logged = [
        json.loads(line.removeprefix("[api] "))
        for line in (local.state_dir / "stack.log").read_text().splitlines()
        if line.startswith("[api] {") and "mms-postbacks/{token}" in line
    ]
    sources = {(entry["ip"], entry["status"]) for entry in logged}
    assert (local.config["sinch_source_address"], "200") in sources, sources
    assert ("127.0.0.1", "401") in sources, sources


def test_sinch_throttling_is_retried_and_a_refusal_ends_rejected_with_its_code(local: LocalStack) -> None:
    local.sim("POST", "/_sim/faults", {"rules": [{"match": "mms_api", "error_code": "E113", "times": 2}]})
    throttled = local.api("POST", "/v1/messages", slides_body(local))
    assert (throttled.status, throttled.body["status"]) == (202, "retrying")
    assert local.wait_final(throttled.body["id"])["status"] == "delivered"
    assert local.api("GET", f"/v1/messages/{throttled.body['id']}").body["attempts"] == 1, (
        "429s use no attempt"
    )

    local.sim("POST", "/_sim/faults", {"rules": [{"match": "mms_api", "error_code": "E110", "times": 1}]})
    refused = local.api("POST", "/v1/messages", slides_body(local))
    assert refused.status == 422, refused.body
    assert (refused.body["sinchCode"], refused.body["type"]) == ("E110", "/problems/sinch-rejected")
    stored = local.api("GET", f"/v1/messages/{refused.body['messageId']}").body
    assert (stored["status"], stored["error"]["code"]) == ("rejected", "E110")


def test_a_lost_answer_is_never_a_second_send(local: LocalStack) -> None:
    local.sim("POST", "/_sim/faults", {"rules": [{"match": "mms_api", "accept_then_drop": True, "times": 1}]})
    sent = local.api("POST", "/v1/messages", slides_body(local))
    assert (sent.status, sent.body["status"]) == (202, "retrying")

    final = local.wait_final(sent.body["id"])

    assert final["status"] == "delivered"
    assert len(mms_requests(local)) == 1, "Sinch's postbacks showed it had the message: no resend"


def test_a_lost_answer_with_no_postback_in_time_ends_failed_and_is_never_resent(local: LocalStack) -> None:
    local.sim(
        "POST",
        "/_sim/faults",
        {
            "rules": [
                {"match": "mms_api", "accept_then_drop": True, "times": 1},
                {"match": "callbacks", "delay_ms": 8000},  # past the stack's 3 s wait for them
            ]
        },
    )
    sent = local.api("POST", "/v1/messages", slides_body(local))

    final = local.wait_final(sent.body["id"])

    assert (final["status"], final["error"]["code"]) == ("failed", "sinch_outcome_unknown"), final
    assert "not sent again" in final["error"]["text"]
    assert len(mms_requests(local)) == 1


def test_a_template_failure_with_a_text_past_400_kb_is_taken_and_kept_short(local: LocalStack) -> None:
    # Sinch's postback text was stored whole on the template: past DynamoDB's 400 KB, a 500 that
    # Sinch retries. The simulator encodes the audio slowly, so the template waits for this postback.
    delay = local.sim("GET", "/_sim/config")["encoding_delay_s"]
    local.sim("POST", "/_sim/config", {"encoding_delay_s": 60})
    try:
        body = {"name": "jingle", "subject": "Hear it", "slides": [{"mediaUrl": media(local, "sample.mp3")}]}
        saved = local.api("POST", "/v1/mms-templates", {**body, "fallbackText": "Hear it"})
        assert (saved.status, saved.body["status"]) == (202, "pending"), saved.body
        secrets = aws.client("secretsmanager", local.config["aws_endpoint_url"], local.config["region"])
        token = json.loads(
            secrets.get_secret_value(SecretId=local.config["webhook_secret_id"])["SecretString"]
        )["postback_token"]
        failure = {"origin": "MMS_MT", "code": "E003", "client-reference": saved.body["id"]}
        raw = json.dumps({**failure, "status-details": "\U0001f600" * 120_000}, ensure_ascii=False).encode()

        # From Sinch's address: the local stack takes postbacks from the simulator's only.
        sinch = urllib3.PoolManager(source_address=(local.config["sinch_source_address"], 0))
        answer = sinch.request(
            "POST",
            f"{local.api_url}/v1/webhooks/sinch/mms-postbacks/{token}",
            body=raw,
            headers={"content-type": "application/json"},
        )

        assert answer.status == 200, answer.data[:500]
        template = local.api("GET", f"/v1/mms-templates/{saved.body['id']}").body
        assert template["status"] == "failed"
        assert template["error"] == {"code": "E003", "text": "\U0001f600" * 500}
    finally:
        local.sim("POST", "/_sim/config", {"encoding_delay_s": delay})
