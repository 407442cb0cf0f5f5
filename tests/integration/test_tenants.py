"""Tenants through the handlers: each API key sees only its own messages and keeps to its policy."""

import json
import time
from typing import Any

from sinch_gateway.domain.tenants import TenantPolicy
from sinch_gateway.usecases.queue_intake import queued_message_id
from tests.integration.conftest import OTHER_TENANT, TENANT, Env

SMS = {"to": "+12025550143", "text": "Your table is ready"}
AU = "+61491570156"


def get(env: Env, message_id: str, tenant: str) -> tuple[int, Any]:
    return env.api(
        "SendFunction", "GET", path=f"/v1/messages/{message_id}", resource="/v1/messages/{id}", tenant=tenant
    )


def listing(env: Env, reference: str, tenant: str, **query: str) -> tuple[int, Any]:
    return env.api(
        "SendFunction",
        "GET",
        path="/v1/messages",
        query={"clientReference": reference, **query},
        tenant=tenant,
    )


def test_another_tenants_message_is_exactly_like_an_unknown_one(env: Env) -> None:
    status, sent = env.send(SMS)
    assert status == 202

    mine = get(env, sent["id"], TENANT)
    theirs = get(env, sent["id"], OTHER_TENANT)
    unknown = get(env, "3f2c1b1e-9d6a-4c1e-8f7e-2b1a0c9d8e7f", OTHER_TENANT)

    assert mine[0] == 200
    assert theirs[0] == unknown[0] == 404
    assert {k: v for k, v in theirs[1].items() if k != "detail"} == {
        k: v for k, v in unknown[1].items() if k != "detail"
    }
    assert "+1202555" not in json.dumps(theirs[1]), "nothing of the message shows"


def test_another_tenant_cannot_cancel_a_message(env: Env) -> None:
    env.faults({"match": "batches", "status": 503, "times": 1})
    _, sent = env.send(SMS)  # waiting for its retry: cancellable by its owner
    assert sent["status"] == "retrying"

    status, _ = env.api(
        "SendFunction",
        "DELETE",
        path=f"/v1/messages/{sent['id']}",
        resource="/v1/messages/{id}",
        tenant=OTHER_TENANT,
    )

    assert status == 404
    assert env.stored(sent["id"])["status"] == "retrying"
    status, cancelled = env.api(
        "SendFunction", "DELETE", path=f"/v1/messages/{sent['id']}", resource="/v1/messages/{id}"
    )
    assert (status, cancelled["status"]) == (200, "cancelled")


def test_a_listing_shows_only_the_callers_messages_even_with_the_same_reference(env: Env) -> None:
    reference = f"shared-{time.time()}"
    _, mine = env.send({**SMS, "clientReference": reference})
    status, theirs = env.api(
        "SendFunction",
        "POST",
        path="/v1/messages",
        body=json.dumps({**SMS, "clientReference": reference}),
        tenant=OTHER_TENANT,
    )
    assert status == 202

    assert [m["id"] for m in listing(env, reference, TENANT)[1]["items"]] == [mine["id"]]
    assert [m["id"] for m in listing(env, reference, OTHER_TENANT)[1]["items"]] == [theirs["id"]]


def test_a_listing_token_is_no_good_to_another_tenant(env: Env) -> None:
    reference = f"paged-{time.time()}"
    for _ in range(2):
        env.send({**SMS, "clientReference": reference})
    _, page = listing(env, reference, TENANT, limit="1")
    assert page["nextToken"]

    status, problem = listing(env, reference, OTHER_TENANT, limit="1", nextToken=page["nextToken"])

    assert status in (400, 422)
    assert problem["errors"][0]["field"] == "nextToken"


def test_the_same_idempotency_key_from_two_tenants_is_two_messages(env: Env) -> None:
    key = {"Idempotency-Key": f"order-{time.time()}"}
    answers = [
        env.api("SendFunction", "POST", path="/v1/messages", body=json.dumps(SMS), headers=key, tenant=t)
        for t in (TENANT, OTHER_TENANT)
    ]

    assert [status for status, _ in answers] == [202, 202]
    assert answers[0][1]["id"] != answers[1][1]["id"]
    assert len(env.batch_requests()) == 2


def test_a_destination_the_policy_does_not_allow_is_refused_and_nothing_is_sent(env: Env) -> None:
    env.register(TENANT, TenantPolicy(allowed_countries=frozenset({"US"})))

    status, problem = env.send({**SMS, "to": AU})

    assert status == 422
    assert problem["type"] == "/problems/destination-not-allowed"
    assert problem["errors"][0]["field"] == "to"
    assert "Australia (AU)" in problem["errors"][0]["message"]
    assert "messageId" not in problem, "nothing was recorded"
    assert env.batch_requests() == []
    assert env.send(SMS)[0] == 202, "an allowed country still goes"


def test_a_dry_run_keeps_to_the_policy_too(env: Env) -> None:
    env.register(TENANT, TenantPolicy(allowed_countries=frozenset({"US"})))

    status, problem = env.api(
        "SendFunction",
        "POST",
        path="/v1/messages",
        body=json.dumps({**SMS, "to": AU}),
        headers={"X-Dry-Run": "true"},
    )

    assert (status, problem["type"]) == (422, "/problems/destination-not-allowed")
    assert env.sim_call("GET", "/_sim/requests") == []


def test_mms_refused_by_policy_fetches_no_media_and_sends_nothing(env: Env) -> None:
    env.register(TENANT, TenantPolicy(mms_allowed=False))

    status, problem = env.send({**SMS, "mediaUrl": f"{env.sim.url}/_sim/media/sample.jpg"})

    assert (status, problem["type"]) == (422, "/problems/mms-not-allowed")
    assert env.sim_call("GET", "/_sim/requests") == []


def test_a_queued_request_belongs_to_the_tenant_its_attribute_names(env: Env) -> None:
    outcome = env.consume(json.dumps({**SMS, "clientReference": "q-tenant"}), tenant=OTHER_TENANT)

    assert outcome["result"] == {"batchItemFailures": []}
    message_id = queued_message_id(OTHER_TENANT, outcome["ids"][0], None)
    assert get(env, message_id, OTHER_TENANT)[0] == 200
    assert get(env, message_id, TENANT)[0] == 404


def test_a_queued_request_without_a_tenant_is_parked_with_why_and_nothing_sent(env: Env) -> None:
    outcome = env.consume(json.dumps(SMS), tenant=None)

    assert outcome["result"] == {"batchItemFailures": []}
    ((body, attributes),) = env.dead_letters()
    assert json.loads(body) == SMS
    assert attributes["reason"].startswith("missing_tenant")
    assert env.batch_requests() == []


def test_a_queued_request_naming_an_unregistered_tenant_is_parked(env: Env) -> None:
    outcome = env.consume(json.dumps(SMS), tenant="nosuchkey1")

    assert outcome["result"] == {"batchItemFailures": []}
    ((_, attributes),) = env.dead_letters()
    assert attributes["reason"].startswith("unknown_tenant")
    assert env.batch_requests() == []


def test_a_queued_request_the_policy_refuses_is_rejected_recorded_and_parked(env: Env) -> None:
    env.register(TENANT, TenantPolicy(allowed_countries=frozenset({"US"})))

    outcome = env.consume(json.dumps({**SMS, "to": AU}))

    message_id = queued_message_id(TENANT, outcome["ids"][0], None)
    stored = env.stored(message_id)
    assert (stored["status"], stored["error"]["code"]) == ("rejected", "destination_not_allowed")
    ((_, attributes),) = env.dead_letters()
    assert attributes["reason"].startswith("destination_not_allowed: to: Australia (AU)")
    assert env.batch_requests() == []


def test_two_tenants_publishing_the_same_idempotency_key_get_two_messages(env: Env) -> None:
    body = json.dumps({**SMS, "idempotencyKey": f"shared-{time.time()}"})
    env.consume(body, tenant=TENANT)
    env.consume(body, tenant=OTHER_TENANT)

    assert len(env.batch_requests()) == 2


def test_a_route_reached_without_an_api_key_id_answers_403_not_someone_elses_data(env: Env) -> None:
    _, sent = env.send(SMS)

    status, problem = env.api(
        "SendFunction", "GET", path=f"/v1/messages/{sent['id']}", resource="/v1/messages/{id}", tenant=""
    )

    assert (status, problem["type"]) == (403, "/problems/no-api-key")
