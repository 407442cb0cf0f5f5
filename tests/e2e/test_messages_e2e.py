"""End to end over HTTP: client -> local API Gateway -> handlers -> simulator -> webhooks -> status."""

import json

from tests.e2e.conftest import LocalStack

SMS = {"to": "+12025550143", "text": "Your order 1234 has shipped", "clientReference": "order-1234"}


def mms(local: LocalStack, media: str) -> dict[str, str]:
    return {
        "to": "+12025550144",
        "text": "Spring sale",
        "subject": "Sale",
        "mediaUrl": f"{local.sinch_url}/_sim/media/{media}",
    }


def test_an_sms_is_sent_once_and_reaches_delivered(local: LocalStack) -> None:
    answer = local.api("POST", "/v1/messages", SMS)

    assert answer.status == 202, answer.body
    message = answer.body
    assert message["status"] == "submitted"
    assert message["channel"] == "sms"
    assert message["to"] == "+12025550143"
    assert message["clientReference"] == "order-1234"
    assert (message["segments"], message["encoding"]) == (1, "GSM")
    assert answer.headers["location"] == f"/v1/messages/{message['id']}"

    final = local.wait_final(message["id"])
    assert final["status"] == "delivered"
    # Sinch reports only the final status (per_recipient_final): no Dispatched in between.
    assert [e["status"] for e in final["events"]] == ["accepted", "submitted", "delivered"]
    (sent,) = local.sinch_requests()
    assert sent["body"]["type"] == "mt_text"
    assert sent["body"]["to"] == ["+12025550143"]
    assert sent["body"]["client_reference"] == message["id"]
    assert sent["body"]["callback_url"].endswith("/v1/webhooks/sinch/delivery-reports")
    assert sent["headers"]["Authorization"].startswith("Bearer ") or sent["headers"].get(
        "authorization", ""
    ).startswith("Bearer ")
    assert final["sinchId"] == sent["response"]["body"]["id"]
    assert final["attempts"] == 1 and final["error"] is None


def test_an_mms_reaches_delivered(local: LocalStack) -> None:
    answer = local.api("POST", "/v1/messages", mms(local, "sample.jpg"))

    assert answer.status == 202, answer.body
    assert answer.body["channel"] == "mms"
    assert answer.body["segments"] is None
    final = local.wait_final(answer.body["id"])
    assert final["status"] == "delivered"
    (sent,) = local.sinch_requests()
    assert sent["body"]["type"] == "mt_media"
    body = sent["body"]["body"]
    assert (body["message"], body["subject"]) == ("Spring sale", "Sale")
    # Sinch gets a link to the gateway's copy of what was checked (test_media_rehosting_e2e).
    assert body["url"].startswith(f"{local.config['aws_endpoint_url']}/{local.config['media_bucket']}/media/")


def test_an_mms_whose_media_sinch_cannot_fetch_ends_failed(local: LocalStack) -> None:
    # Our preflight sees the media fine; Sinch's own fetch of it then fails.
    local.sim("POST", "/_sim/faults", {"rules": [{"match": "media", "status": 404}]})

    answer = local.api("POST", "/v1/messages", mms(local, "sample.jpg"))

    assert answer.status == 202, answer.body
    final = local.wait_final(answer.body["id"])
    assert final["status"] == "failed"
    assert final["events"][-1]["code"] == 414


def test_without_an_api_key_nothing_is_sent(local: LocalStack) -> None:
    for key in (None, "not-the-key"):
        answer = local.api("POST", "/v1/messages", SMS, key=key)
        assert (answer.status, answer.headers["content-type"]) == (403, "application/problem+json")
        assert answer.body["type"] == "/problems/api-key-required"
        assert [e["field"] for e in answer.body["errors"]] == ["x-api-key"]
    assert local.sinch_requests() == []


def test_invalid_json_is_a_400_problem_and_nothing_is_sent(local: LocalStack) -> None:
    answer = local.api("POST", "/v1/messages", raw=b'{"to": "+12025550143", "text": ')

    assert answer.status == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.body["status"] == 400 and answer.body["title"]
    assert local.sinch_requests() == []


def test_a_bad_phone_number_is_a_422_naming_the_field_and_nothing_is_sent(local: LocalStack) -> None:
    answer = local.api("POST", "/v1/messages", {"to": "+15551234567", "text": "hi"})

    assert answer.status == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.body["errors"]] == ["to"]
    assert "Traceback" not in json.dumps(answer.body)
    assert local.sinch_requests() == []


def test_a_sinch_503_is_retried_through_the_queue_and_still_delivered(local: LocalStack) -> None:
    local.sim("POST", "/_sim/faults", {"rules": [{"match": "batches", "status": 503, "times": 1}]})

    answer = local.api("POST", "/v1/messages", SMS)

    assert answer.status == 202, answer.body
    assert answer.body["status"] == "retrying"
    final = local.wait_final(answer.body["id"])
    assert final["status"] == "delivered"
    assert final["attempts"] == 2
    calls = [(r["method"], r["response"]["status"]) for r in local.sinch_requests()]
    # Before sending again it asks Sinch whether the first try got through after all.
    assert calls == [("POST", 503), ("GET", 200), ("POST", 201)]
    statuses = [e["status"] for e in final["events"]]
    assert statuses[:3] == ["accepted", "retrying", "submitted"] and statuses[-1] == "delivered"


def test_sinch_refusing_a_message_is_a_422_with_sinchs_code(local: LocalStack) -> None:
    local.sim("POST", "/_sim/faults", {"rules": [{"match": "batches", "status": 400, "times": 1}]})

    answer = local.api("POST", "/v1/messages", SMS)

    assert answer.status == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.body["sinchCode"]
    stored = local.api("GET", f"/v1/messages/{answer.body['messageId']}").body
    assert stored["status"] == "rejected"
    assert stored["error"]["code"] == answer.body["sinchCode"]
    assert len(local.sinch_requests()) == 1  # refused for good: never retried


def test_an_unknown_message_is_a_404_problem(local: LocalStack) -> None:
    answer = local.api("GET", "/v1/messages/does-not-exist")

    assert answer.status == 404
    assert answer.headers["content-type"] == "application/problem+json"


def test_health_needs_no_key(local: LocalStack) -> None:
    assert local.api("GET", "/health", key=None).status == 200


def test_an_unsigned_delivery_report_is_refused_and_changes_nothing(local: LocalStack) -> None:
    sent = local.api("POST", "/v1/messages", SMS).body
    final = local.wait_final(sent["id"])
    forged = {
        "type": "recipient_delivery_report_sms",
        "batch_id": final["sinchId"],
        "recipient": "+12025550143",
        "code": 402,
        "status": "Failed",
        "at": "2026-11-23T19:00:00Z",
        "client_reference": sent["id"],
    }

    answer = local.api("POST", "/v1/webhooks/sinch/delivery-reports", forged, key=None)

    assert answer.status == 401
    after = local.api("GET", f"/v1/messages/{sent['id']}").body
    assert after["status"] == "delivered" and after["events"] == final["events"]
