"""/v1/batches on moto: a batch taken (each recipient checked on its own, the refused ones listed),
recorded and queued in slices; its view, its messages and its cancel; another tenant's batch is a
404; hostile bodies are clear 4xx with nothing queued or recorded."""

import json
import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest

from sinch_gateway.data.messages import MessageRepository
from sinch_gateway.domain.batches import MAX_RECIPIENTS
from sinch_gateway.domain.content import SmsContent
from sinch_gateway.domain.message import MessageRecord
from sinch_gateway.domain.phone import InvalidPhoneNumber, normalize_e164
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.tenants import TenantPolicy
from tests.integration.conftest import SENDER, Env

ANN, BOB, CAROL = "+12025550143", "+12025550144", "+12025550145"
AUSTRALIAN = "+61491570156"
SQS_MAX_BODY_BYTES = 256 * 1024


@cache
def fictional_numbers(count: int) -> tuple[str, ...]:
    """`count` distinct valid numbers, each 555-01xx in some US area code (fictional ones), none in
    202 (the named numbers', some of which opt out)."""
    numbers: list[str] = []
    for area in range(203, 1000):
        try:
            normalize_e164(f"+1{area}5550100")
        except InvalidPhoneNumber:
            continue
        numbers.extend(f"+1{area}55501{n:02d}" for n in range(100))
        if len(numbers) >= count:
            return tuple(numbers[:count])
    raise AssertionError("not enough area codes")


def fresh_tenant(env: Env, policy: TenantPolicy | None = None) -> str:
    tenant = "bt" + uuid.uuid4().hex[:12]
    env.register(tenant, policy)
    return tenant


def post_batch(
    env: Env, tenant: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, Any]]:
    answer = env.call(
        "SendFunction",
        "POST",
        path="/v1/batches",
        body=body if isinstance(body, str) else json.dumps(body),
        headers=headers,
        tenant=tenant,
    )
    return answer["statusCode"], json.loads(answer["body"]), answer


def header(answer: dict[str, Any], name: str) -> str:
    """A header of an API Gateway proxy result (Powertools writes them multi-valued)."""
    multi = answer.get("multiValueHeaders") or {}
    headers = {**(answer.get("headers") or {}), **{k: v[0] for k, v in multi.items()}}
    return str(headers[name])


def get_batch(env: Env, tenant: str, batch_id: str, method: str = "GET") -> tuple[int, Any]:
    return env.api(
        "SendFunction", method, path=f"/v1/batches/{batch_id}", resource="/v1/batches/{id}", tenant=tenant
    )


def batch_messages(env: Env, tenant: str, batch_id: str, **query: str) -> tuple[int, Any]:
    return env.api(
        "SendFunction",
        "GET",
        path=f"/v1/batches/{batch_id}/messages",
        resource="/v1/batches/{id}/messages",
        query=query or None,
        tenant=tenant,
    )


def queued_slices(env: Env) -> list[tuple[dict[str, Any], int]]:
    """Every slice on SendQueue now (taken off it), with its body's size in bytes."""
    found: list[tuple[dict[str, Any], int]] = []
    while messages := env.sqs.receive_message(QueueUrl=env.queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for message in messages:
            body = json.loads(message["Body"])
            if body.get("kind") == "slice":
                found.append((body, len(message["Body"].encode())))
            env.sqs.delete_message(QueueUrl=env.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(found, key=lambda s: s[0]["index"])


def batches_of(env: Env, tenant: str) -> list[dict[str, Any]]:
    table = env.template.table_name("BatchesTable")
    items = env.ddb.scan(TableName=table)["Items"]
    return [i for i in items if i["tenantId"]["S"] == tenant]


def opt_out(env: Env, number: str) -> None:
    sender = SENDER.removeprefix("+")
    env.ddb.put_item(
        TableName=env.table,
        Item={
            "id": {"S": f"optout#{number}"},
            f"sender#{sender}": {"M": {"optedOut": {"BOOL": True}, "at": {"S": "2026-01-01T00:00:00Z"}}},
        },
    )


def seed_message(env: Env, tenant: str, batch_id: str, to: str, status: Status) -> str:
    """A recipient's message as the fan-out makes it."""
    record = MessageRecord(
        tenant_id=tenant, to=to, content=SmsContent(text="Hello"), status=status, batch_id=batch_id
    )
    assert MessageRepository(env.ddb, env.table).create(record)
    return record.id


@pytest.fixture
def tenant(env: Env) -> Iterator[str]:
    yield fresh_tenant(env)


# --- POST ------------------------------------------------------------------------------------------


def test_ten_thousand_recipients_are_taken_and_queued_in_slices_sqs_takes(env: Env, tenant: str) -> None:
    numbers = fictional_numbers(MAX_RECIPIENTS)

    status, body, answer = post_batch(env, tenant, {"to": list(numbers), "text": "Sale today"})

    assert status == 202, body
    assert body == {"id": body["id"], "status": "accepted", "recipients": MAX_RECIPIENTS, "refused": []}
    assert header(answer, "Location") == f"/v1/batches/{body['id']}"
    slices = queued_slices(env)
    assert [s["index"] for s, _ in slices] == list(range(10))
    assert all(len(s["recipients"]) == 1000 and size < SQS_MAX_BODY_BYTES for s, size in slices)
    assert [r["to"] for s, _ in slices for r in s["recipients"]] == list(numbers)
    assert {(s["batchId"], s["tenant"]) for s, _ in slices} == {(body["id"], tenant)}
    status, view = get_batch(env, tenant, body["id"])
    assert status == 200, view
    assert (view["status"], view["recipients"], view["counts"]) == ("accepted", 10_000, {"accepted": 10_000})


def test_long_parameter_values_make_more_slices_each_under_sqs_limit(env: Env, tenant: str) -> None:
    numbers = fictional_numbers(3000)
    parameters = {
        "a": {n: "é" * 160 for n in numbers},  # json.dumps writes each as \\u00e9: 6 bytes
        "b": {"default": "x"},
    }

    status, body, _ = post_batch(
        env, tenant, {"to": list(numbers), "text": "${a} ${b}", "parameters": parameters}
    )

    assert status == 202, body
    slices = queued_slices(env)
    assert len(slices) > 3
    assert all(size < SQS_MAX_BODY_BYTES for _, size in slices)
    assert sum(len(s["recipients"]) for s, _ in slices) == 3000
    assert slices[0][0]["recipients"][0] == {"to": numbers[0], "values": {"a": "é" * 160}}


def test_each_refusal_is_listed_and_the_rest_still_go(env: Env) -> None:
    tenant = fresh_tenant(env, TenantPolicy(allowed_countries=frozenset({"US"})))
    opted_out = "+12025550146"
    opt_out(env, opted_out)
    to = [
        ANN,
        "202-555-0147",  # no country code
        "+1 (202) 555-0143",  # Ann again
        AUSTRALIAN,
        opted_out,
        BOB,
        CAROL,  # no value for ${code}
        "+12025550148",  # a value that makes the text 2 parts
    ]
    parameters = {
        "name": {ANN: "Ann", "default": "customer"},
        "code": {ANN: "A1", BOB: "B2", opted_out: "C3", AUSTRALIAN: "D4", "+12025550148": "x" * 150},
    }

    status, body, _ = post_batch(
        env, tenant, {"to": to, "text": "Hi ${name}, ${code}", "parameters": parameters, "maxParts": 1}
    )

    assert status == 202, body
    assert body["recipients"] == 2
    assert [(r["to"], r["type"]) for r in body["refused"]] == [
        ("202-555-0147", "malformed"),
        ("+1 (202) 555-0143", "duplicate"),
        (AUSTRALIAN, "not_allowed"),
        (opted_out, "opted_out"),
        (CAROL, "missing_parameter"),
        ("+12025550148", "too_many_parts"),
    ]
    assert all(r["detail"] for r in body["refused"])
    [(queued, _)] = queued_slices(env)
    assert queued["recipients"] == [
        {"to": ANN, "values": {"name": "Ann", "code": "A1"}},
        {"to": BOB, "values": {"code": "B2"}},
    ]
    [item] = batches_of(env, tenant)
    assert item["defaults"] == {"M": {"name": {"S": "customer"}}}
    assert (item["recipients"]["N"], item["refused"]["N"]) == ("2", "6")


def test_all_refused_is_a_422_listing_them_with_nothing_recorded_or_queued(env: Env, tenant: str) -> None:
    opt_out(env, "+12025550149")

    status, body, answer = post_batch(env, tenant, {"to": ["nope", "+12025550149"], "text": "Hi"})

    assert status == 422, body
    assert header(answer, "Content-Type") == "application/problem+json"
    assert body["type"] == "/problems/all-recipients-refused"
    assert [(r["to"], r["type"]) for r in body["refused"]] == [
        ("nope", "malformed"),
        ("+12025550149", "opted_out"),
    ]
    assert queued_slices(env) == []
    assert batches_of(env, tenant) == []


def test_a_replay_with_the_same_key_is_the_same_answer_and_one_batch(env: Env, tenant: str) -> None:
    request = {"to": [ANN, BOB], "text": "Hi"}
    key = {"Idempotency-Key": "batch-" + uuid.uuid4().hex}

    first = post_batch(env, tenant, request, key)
    again = post_batch(env, tenant, request, key)
    other = post_batch(env, tenant, {**request, "text": "Bye"}, key)

    assert first[0] == again[0] == 202
    assert again[2]["body"] == first[2]["body"]
    assert len(batches_of(env, tenant)) == 1
    assert len(queued_slices(env)) == 1
    assert other[0] == 409, other[1]


def test_the_same_key_on_messages_and_batches_are_two_requests(env: Env, tenant: str) -> None:
    key = {"Idempotency-Key": "shared-" + uuid.uuid4().hex}
    message = env.api(
        "SendFunction",
        "POST",
        path="/v1/messages",
        body=json.dumps({"to": ANN, "text": "Hi"}),
        headers=key,
        tenant=tenant,
    )
    status, body, _ = post_batch(env, tenant, {"to": [ANN], "text": "Hi"}, key)
    assert message[0] == 202
    assert status == 202, body
    assert body["id"] != message[1]["id"]


# --- GET, DELETE, messages ------------------------------------------------------------------------


def test_counts_come_from_the_recipients_messages_and_the_status_follows(env: Env, tenant: str) -> None:
    _, body, _ = post_batch(env, tenant, {"to": [ANN, BOB, CAROL], "text": "Hi"})
    batch_id = body["id"]
    seed_message(env, tenant, batch_id, ANN, Status.SUBMITTED)

    status, view = get_batch(env, tenant, batch_id)

    assert status == 200, view
    assert view["status"] == "sending"
    assert view["counts"] == {"submitted": 1, "accepted": 2}
    assert set(view) == {"id", "status", "recipients", "counts", "createdAt", "updatedAt"}
    seed_message(env, tenant, batch_id, BOB, Status.DELIVERED)
    seed_message(env, tenant, batch_id, CAROL, Status.FAILED)
    _, view = get_batch(env, tenant, batch_id)
    assert view["status"] == "done"
    assert view["counts"] == {"submitted": 1, "delivered": 1, "failed": 1}


def test_delete_cancels_for_good_and_again_is_the_same(env: Env, tenant: str) -> None:
    _, body, _ = post_batch(env, tenant, {"to": [ANN, BOB], "text": "Hi"})

    status, view = get_batch(env, tenant, body["id"], "DELETE")
    again_status, again = get_batch(env, tenant, body["id"], "DELETE")

    assert status == again_status == 200, view
    assert view["status"] == again["status"] == "cancelled"
    [item] = batches_of(env, tenant)
    assert item["status"]["S"] == "cancelled"
    _, read = get_batch(env, tenant, body["id"])
    assert read["status"] == "cancelled"


def test_another_tenants_batch_is_a_404_like_an_unknown_one(env: Env, tenant: str) -> None:
    _, body, _ = post_batch(env, tenant, {"to": [ANN], "text": "Hi"})
    seed_message(env, tenant, body["id"], ANN, Status.SUBMITTED)
    stranger = fresh_tenant(env)

    answers = [
        get_batch(env, stranger, body["id"]),
        get_batch(env, stranger, body["id"], "DELETE"),
        batch_messages(env, stranger, body["id"]),
    ]
    unknown = get_batch(env, stranger, str(uuid.uuid4()))

    assert [a[0] for a in answers] == [404, 404, 404]
    assert answers[0][1] == {**unknown[1], "detail": answers[0][1]["detail"]}
    assert batches_of(env, tenant)[0]["status"]["S"] == "accepted"
    status, page = env.api(
        "SendFunction", "GET", path="/v1/messages", query={"batchId": body["id"]}, tenant=stranger
    )
    assert (status, page["items"]) == (200, [])


@pytest.mark.parametrize("batch_id", ["x" * 5000, "../../etc", "%00", "é" * 600])
def test_a_hostile_batch_id_is_a_404(env: Env, tenant: str, batch_id: str) -> None:
    assert get_batch(env, tenant, batch_id)[0] == 404
    assert get_batch(env, tenant, batch_id, "DELETE")[0] == 404
    assert batch_messages(env, tenant, batch_id)[0] == 404


def test_a_batchs_messages_page_newest_first_with_a_status_filter(env: Env, tenant: str) -> None:
    numbers = fictional_numbers(5)
    _, body, _ = post_batch(env, tenant, {"to": list(numbers), "text": "Hi"})
    batch_id = body["id"]
    ids = [
        seed_message(env, tenant, batch_id, n, Status.DELIVERED if i % 2 else Status.SUBMITTED)
        for i, n in enumerate(numbers)
    ]
    send_alone = env.api(
        "SendFunction", "POST", path="/v1/messages", body=json.dumps({"to": ANN, "text": "x"}), tenant=tenant
    )
    assert send_alone[0] == 202

    seen: list[str] = []
    token = None
    while True:
        more: dict[str, str] = {"nextToken": token} if token else {}
        status, page = batch_messages(env, tenant, batch_id, limit="2", **more)
        assert status == 200, page
        seen += [m["id"] for m in page["items"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == ids[::-1]
    _, delivered = batch_messages(env, tenant, batch_id, status="delivered")
    assert [m["id"] for m in delivered["items"]] == [ids[3], ids[1]]
    _, listed = env.api(
        "SendFunction", "GET", path="/v1/messages", query={"batchId": batch_id}, tenant=tenant
    )
    assert [m["id"] for m in listed["items"]] == ids[::-1]


def test_a_forged_or_foreign_token_is_a_400(env: Env, tenant: str) -> None:
    numbers = fictional_numbers(3)
    _, first, _ = post_batch(env, tenant, {"to": list(numbers), "text": "Hi"})
    _, second, _ = post_batch(env, tenant, {"to": list(numbers), "text": "Hi"})
    for n in numbers:
        seed_message(env, tenant, first["id"], n, Status.SUBMITTED)
    _, page = batch_messages(env, tenant, first["id"], limit="1")
    token = page["nextToken"]

    status, other = batch_messages(env, tenant, second["id"], nextToken=token)
    forged_status, forged = batch_messages(env, tenant, first["id"], nextToken="eyJpZCI6eyJTIjoiYSJ9fQ==")

    assert (status, other["type"]) == (400, "/problems/invalid-token")
    assert (forged_status, forged["type"]) == (400, "/problems/invalid-token")


# --- hostile bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": ANN, "text": "Hi"}, "to"),
        ({"to": [], "text": "Hi"}, "to"),
        ({"to": [ANN], "text": "Hi", "parameters": {"bad name!": {"default": "x"}}}, "parameters.bad name!"),
        ({"to": [ANN], "text": "Hi", "parameters": {"n": {"default": "x" * 161}}}, "parameters.n.default"),
        ({"to": [ANN], "text": "Hi", "parameters": {"n": {"not a number": "x"}}}, "parameters"),
        ({"to": [ANN], "text": "Hi", "parameters": {"n": "x"}}, "parameters.n"),
        ({"to": [12025550143], "text": "Hi"}, "to.0"),
        ({"to": [10**300], "text": "Hi"}, "to.0"),
        ({"to": [1e308], "text": "Hi"}, "to.0"),
        ({"to": ["+1" + "2" * 5000], "text": "Hi"}, "to.0"),
        ({"to": [ANN]}, "text"),
        (
            {"to": [ANN], "slides": [{"text": "a"}], "subject": "s", "fallbackText": "a", "parameters": {}},
            "parameters",
        ),
    ],
)
def test_a_bad_batch_is_a_422_naming_the_field_with_nothing_queued(
    env: Env, tenant: str, body: dict[str, Any], field: str
) -> None:
    status, problem, _ = post_batch(env, tenant, body)

    assert status == 422, problem
    assert field in [e["field"] for e in problem["errors"]], problem
    assert queued_slices(env) == []
    assert batches_of(env, tenant) == []


def test_too_many_recipients_is_a_422_listing_one_error(env: Env, tenant: str) -> None:
    numbers = [*fictional_numbers(MAX_RECIPIENTS), "+12025550143"]

    status, problem, _ = post_batch(env, tenant, {"to": numbers, "text": "Hi"})

    assert status == 422, problem
    assert problem["errors"] == [{"field": "to", "message": f"must have at most {MAX_RECIPIENTS} items"}]
    assert queued_slices(env) == []


def test_thousands_of_bad_numbers_list_a_bounded_number_of_errors(env: Env, tenant: str) -> None:
    status, problem, _ = post_batch(env, tenant, {"to": [7] * 5000, "text": "Hi"})

    assert status == 422
    assert len(problem["errors"]) == 100
    assert "4900 more" in problem["detail"]


def test_a_body_past_the_batch_limit_is_a_413_and_a_message_keeps_its_own(env: Env, tenant: str) -> None:
    huge = json.dumps({"to": [ANN], "text": "Hi", "clientReference": "x" * (6 * 1024 * 1024)})
    assert post_batch(env, tenant, huge)[0] == 413
    message = env.call(
        "SendFunction",
        "POST",
        path="/v1/messages",
        body=json.dumps({"to": ANN, "text": "x" * 70_000}),
        tenant=tenant,
    )
    assert message["statusCode"] == 413


# --- published on SendQueue -------------------------------------------------------------------------


def test_a_batch_published_on_sendqueue_is_recorded_and_queued_in_slices(env: Env, tenant: str) -> None:
    body = json.dumps({"to": [ANN, BOB, "junk"], "text": "Hi", "idempotencyKey": "k-" + uuid.uuid4().hex})

    result = env.consume(body, tenant=tenant)

    assert result["result"] == {"batchItemFailures": []}
    [item] = batches_of(env, tenant)
    assert (item["recipients"]["N"], item["refused"]["N"]) == ("2", "1")
    [(queued, _)] = queued_slices(env)
    assert [r["to"] for r in queued["recipients"]] == [ANN, BOB]
    assert env.dead_letters() == []


def test_a_published_batch_with_all_refused_goes_to_the_dlq_with_why(env: Env, tenant: str) -> None:
    body = json.dumps({"to": ["junk", "+1"], "text": "Hi"})

    env.consume(body, tenant=tenant)

    [(parked, attributes)] = env.dead_letters()
    assert parked == body
    assert attributes["reason"].startswith("all_recipients_refused")
    assert batches_of(env, tenant) == []
    assert queued_slices(env) == []


def test_thousands_of_refusals_under_a_key_are_answered_and_replayed_never_a_5xx(
    env: Env, tenant: str
) -> None:
    good = fictional_numbers(5000)
    junk = [f"+{uuid.uuid4().hex[:30]}" for _ in range(5000)]  # each its own: the answer compresses badly
    key = {"Idempotency-Key": "many-refused-" + uuid.uuid4().hex}
    request = {"to": [*good, *junk], "text": "Hi"}

    first = post_batch(env, tenant, request, key)
    again = post_batch(env, tenant, request, key)

    assert first[0] == 202, first[1]
    assert len(first[1]["refused"]) == 5000
    assert again[2]["body"] == first[2]["body"]
    assert len(batches_of(env, tenant)) == 1


def test_ten_thousand_refusals_are_a_422_listing_each(env: Env, tenant: str) -> None:
    junk = [f"+{uuid.uuid4().hex[:30]}" for _ in range(MAX_RECIPIENTS)]
    key = {"Idempotency-Key": "all-refused-" + uuid.uuid4().hex}

    status, problem, _ = post_batch(env, tenant, {"to": junk, "text": "Hi"}, key)
    again = post_batch(env, tenant, {"to": junk, "text": "Hi"}, key)

    assert status == again[0] == 422
    assert len(problem["refused"]) == MAX_RECIPIENTS
    assert (batches_of(env, tenant), queued_slices(env)) == ([], [])
