"""Inbound SMS on moto: the webhook's writes (the message, the opt-out, both or neither), the
opt-out check of a send through the API and through SendQueue, and GET /v1/inbound per tenant."""

import json
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest

from sinch_gateway.usecases import sending
from tests.integration.conftest import SENDER, TENANT, Env
from tests.integration.test_delivery_report_auth import basic, item, signed
from tests.integration.test_media_store import held_mms

INBOUND = "/v1/webhooks/sinch/inbound"


def mo(handset: str, body: str, *, reference: str | None = None, at: str | None = None) -> str:
    message = {
        "type": "mo_text",
        "id": uuid.uuid4().hex[:26].upper(),
        "from": handset,
        "to": SENDER.removeprefix("+"),
        "body": body,
        "received_at": at or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        **({"client_reference": reference} if reference else {}),
    }
    return json.dumps(message)


def receive(env: Env, raw: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    return env.api(
        "WebhookFunction",
        "POST",
        path=INBOUND,
        body=raw,
        headers=signed(raw) if headers is None else headers,
    )


def send(env: Env, to: str, tenant: str = TENANT) -> tuple[int, Any]:
    body = json.dumps({"to": to, "text": "Your order has shipped"})
    return env.api("SendFunction", "POST", path="/v1/messages", body=body, tenant=tenant)


def inbound(env: Env, tenant: str, **query: str) -> tuple[int, Any]:
    return env.api("SendFunction", "GET", path="/v1/inbound", query=query or None, tenant=tenant)


def opt_out_item(env: Env, handset: str) -> dict[str, Any] | None:
    return item(env, f"optout#{handset}")


def new_tenant(env: Env) -> str:
    tenant = f"t{uuid.uuid4().hex[:9]}"
    env.register(tenant)
    return tenant


def test_a_stop_refuses_the_next_send_with_422_and_nothing_reaches_sinch_until_start(env: Env) -> None:
    handset = "+12025550171"
    # Sinch's received times: a START counts only when received after the STOP it undoes.
    assert receive(env, mo(handset, " Stop ", at="2026-11-23T19:00:00.000Z"))[0] == 200

    status, problem = send(env, handset)

    assert (status, problem["type"]) == (422, "/problems/recipient-opted-out")
    assert env.batch_requests() == []
    assert receive(env, mo(handset, "START", at="2026-11-23T19:00:01.000Z"))[0] == 200
    status, accepted = send(env, handset)
    assert (status, accepted["status"]) == (202, "submitted")
    assert len(env.batch_requests()) == 1


def test_a_queued_request_to_an_opted_out_number_is_rejected_and_parked(env: Env) -> None:
    handset = "+12025550172"
    receive(env, mo(handset, "UNSUBSCRIBE"))

    outcome = env.consume(json.dumps({"to": handset, "text": "From another service"}))

    assert outcome["result"] == {"batchItemFailures": []}, "never retried"
    assert env.batch_requests() == []
    ((_, attributes),) = env.dead_letters()
    assert attributes["reason"].startswith("recipient_opted_out: ")
    stored = env.stored(attributes["messageId"])
    assert (stored["status"], stored["error"]["code"]) == ("rejected", "recipient_opted_out")


def test_a_held_mms_meets_a_stop_that_came_while_it_waited_and_is_not_sent(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    handset = "+12025550180"
    message_id, send_at = held_mms(env, handset, timedelta(hours=2))
    assert receive(env, mo(handset, "STOP"))[0] == 200
    monkeypatch.setattr(sending, "utcnow", lambda: send_at + timedelta(seconds=1))

    outcome = env.consume(json.dumps({"kind": "retry", "messageId": message_id}))

    assert outcome["result"] == {"batchItemFailures": []}
    assert env.batch_requests() == []
    stored = env.stored(message_id)
    assert (stored["status"], stored["error"]["code"]) == ("rejected", "recipient_opted_out")


def test_a_late_stop_does_not_undo_a_later_start(env: Env) -> None:
    handset = "+12025550173"
    receive(env, mo(handset, "START", at="2026-11-23T19:05:00Z"))
    late = mo(handset, "STOP", at="2026-11-23T19:00:00Z")

    assert receive(env, late)[0] == 200

    assert item(env, f"inbound#{json.loads(late)['id']}") is not None, "the message is kept"
    assert send(env, handset)[0] == 202


def test_keywords_at_the_calendars_edges_are_taken_and_ordered_by_their_time(env: Env) -> None:
    # Kept as written; in UTC the first is past year 9999 (converting it was a 500, which Sinch
    # retries), and year 999 was written "999" and sorted after 2026.
    handset = "+12025550186"
    assert receive(env, mo(handset, "STOP", at="2026-11-23T19:00:00Z"))[0] == 200
    assert receive(env, mo(handset, "START", at="0999-12-31T00:00:00Z"))[0] == 200  # older: no effect
    assert send(env, handset)[0] == 422
    assert receive(env, mo(handset, "START", at="9999-12-31T23:59:59-23:59"))[0] == 200
    assert send(env, handset)[0] == 202
    assert receive(env, mo(handset, "STOP", at="0001-01-01T00:00:00+23:59"))[0] == 200  # older still
    assert send(env, handset)[0] == 202


def test_a_replayed_stop_is_refused_and_writes_nothing(env: Env) -> None:
    handset = "+12025550174"
    start = mo(handset, "START", at="2026-11-23T19:05:00Z")
    stop = mo(handset, "STOP", at="2026-11-23T19:00:00Z")
    headers = signed(stop)
    receive(env, stop, headers)
    receive(env, start)
    before = opt_out_item(env, handset)

    status, problem = receive(env, stop, headers)

    assert (status, problem["type"]) == (401, "/problems/unauthenticated")
    assert opt_out_item(env, handset) == before


def test_sinchs_resend_under_a_new_signature_is_acknowledged_once(env: Env) -> None:
    raw = mo("+12025550175", "hello")
    assert receive(env, raw)[1] == {"result": "new"}

    assert receive(env, raw) == (200, {"result": "duplicate"})


@pytest.mark.parametrize(
    "headers",
    [{}, basic("nobody:nope"), {**signed("another body")}],
    ids=["unsigned", "wrong basic", "signature of another body"],
)
def test_an_unauthenticated_stop_is_a_401_and_writes_nothing(env: Env, headers: dict[str, str]) -> None:
    handset = "+12025550176"
    raw = mo(handset, "STOP")

    assert receive(env, raw, headers)[0] == 401

    assert opt_out_item(env, handset) is None
    assert item(env, f"inbound#{json.loads(raw)['id']}") is None


@pytest.mark.parametrize(
    "raw",
    ["{not json", json.dumps({"type": "mo_text"}), mo("+12025550177", "x" * 10_001), "\u0000" * 100],
    ids=["not json", "incomplete", "huge body", "nul bytes"],
)
def test_a_body_that_is_not_an_mo_is_a_400(env: Env, raw: str) -> None:
    status, problem = receive(env, raw)

    assert (status, problem["type"]) == (400, "/problems/invalid-inbound-message")
    assert opt_out_item(env, "+12025550177") is None


def test_inbound_messages_are_listed_newest_first_a_page_at_a_time_to_their_tenant_only(env: Env) -> None:
    tenant, other = new_tenant(env), new_tenant(env)
    handset = "+12025550178"
    status, sent = send(env, handset, tenant)
    assert status == 202
    for text in ("one", "two", "three"):
        receive(env, mo(handset, text, reference=sent["id"]))

    status, first = inbound(env, tenant, limit="2")
    assert status == 200
    assert [m["body"] for m in first["items"]] == ["three", "two"]
    assert first["items"][0]["from"] == handset and first["items"][0]["messageId"] == sent["id"]
    status, rest = inbound(env, tenant, limit="2", nextToken=first["nextToken"])
    assert [m["body"] for m in rest["items"]] == ["one"]

    assert inbound(env, other) == (200, {"items": [], "nextToken": None})
    status, problem = inbound(env, other, nextToken=first["nextToken"])
    assert (status, problem["type"]) == (400, "/problems/invalid-token"), "another tenant's token"


def test_an_inbound_message_answering_another_tenants_message_is_not_listed(env: Env) -> None:
    tenant = new_tenant(env)
    receive(env, mo("+12025550179", "hi", reference=str(uuid.uuid4())))

    assert inbound(env, tenant)[1]["items"] == []


def mms_answering(env: Env, handset: str, body: dict[str, Any]) -> tuple[str, str]:
    """A new tenant's message to `handset`, and the mo_media with `body` that answers it."""
    tenant = new_tenant(env)
    status, sent = send(env, handset, tenant)
    assert status == 202
    raw = {**json.loads(mo(handset, "unused", reference=sent["id"])), "type": "mo_media", "body": body}
    return tenant, json.dumps(raw, ensure_ascii=False)


def test_an_inbound_mms_is_kept_and_listed_with_its_files_and_its_stop_holds(env: Env) -> None:
    photo = {"url": "https://mms.example/1.jpg", "content_type": "image/jpeg", "status": "Uploaded"}
    tenant, raw = mms_answering(
        env, "+12025550181", {"subject": "Re: order", "message": "Stop", "media": [photo]}
    )

    assert receive(env, raw)[0] == 200

    [listed] = inbound(env, tenant)[1]["items"]
    assert (listed["body"], listed["subject"], listed["action"]) == ("Stop", "Re: order", "opted-out")
    assert listed["media"] == [{"url": photo["url"], "contentType": "image/jpeg", "status": "Uploaded"}]
    status, problem = send(env, "+12025550181", tenant)
    assert (status, problem["type"]) == (422, "/problems/recipient-opted-out")


def test_the_largest_inbound_mms_the_webhook_takes_is_stored_and_sinch_gets_its_200(env: Env) -> None:
    # At every limit of the parser, in four-byte characters: 560 KB, past DynamoDB's 400 KB (moto
    # refuses such an item as DynamoDB does): it was a 500, and Sinch retried it.
    wide = "\U0001f600"
    files = {"url": "https://mms.example/" + wide * 2028, "content_type": wide * 255, "status": wide * 64}
    body = {"subject": wide * 10_000, "message": "STOP", "media": [files] * 50}
    tenant, raw = mms_answering(env, "+12025550182", body)

    assert receive(env, raw)[0] == 200

    [listed] = inbound(env, tenant)[1]["items"]
    assert (listed["subject"], listed["action"]) == (wide * 10_000, "opted-out")
    assert len(listed["media"]) + listed["mediaOmitted"] == 50 and listed["mediaOmitted"] > 0
    assert send(env, "+12025550182", tenant)[0] == 422  # its STOP holds
