"""Kept media in moto's S3: the adapter on its own, and the send handler keeping an MMS's media and
handing Sinch a presigned link to it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3

from sinch_gateway.data import aws as product_aws
from sinch_gateway.data.media import S3Media
from sinch_gateway.usecases import sending
from tests.integration.conftest import Env

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 3 + b"\xff\xd9"


def kept(env: Env) -> S3Media:
    return S3Media(product_aws.s3(), env.template.bucket_name("MediaBucket"))


def test_a_kept_file_is_served_by_its_link_with_its_type(env: Env) -> None:
    store = kept(env)
    key = store.keep(JPEG, "image/jpeg")
    link = store.link(key, 600)

    answer = urllib3.request("GET", link, timeout=5)
    assert (answer.status, answer.headers["Content-Type"], answer.data) == (200, "image/jpeg", JPEG)
    assert parse_qs(urlsplit(link).query)["X-Amz-Expires"] == ["600"]


def test_keys_are_random_and_say_nothing(env: Env) -> None:
    store = kept(env)
    keys = {store.keep(JPEG, "image/jpeg") for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        prefix, name = key.split("/")
        assert prefix == "media" and len(name) == 43  # 32 random bytes, base64url


def test_a_sent_mms_links_sinch_to_the_kept_copy(env: Env) -> None:
    status, body = env.send(
        {"to": "+12025550143", "subject": "Sale", "mediaUrl": f"{env.sim.url}/_sim/media/sample.png"}
    )
    assert status == 202, body

    (request,) = env.batch_requests()
    url = request["body"]["body"]["url"]
    assert url.startswith(f"{env.endpoint}/{env.template.bucket_name('MediaBucket')}/media/")
    original = urllib3.request("GET", f"{env.sim.url}/_sim/media/sample.png", timeout=5)
    copy = urllib3.request("GET", url, timeout=5)
    assert (copy.headers["Content-Type"], copy.data) == ("image/png", original.data)


def held_mms(env: Env, to: str, ahead: timedelta) -> tuple[str, datetime]:
    """A scheduled MMS through SendFunction: held in the gateway, nothing at Sinch yet."""
    send_at = datetime.now(UTC) + ahead
    status, body = env.send(
        {
            "to": to,
            "subject": "Sale",
            "mediaUrl": f"{env.sim.url}/_sim/media/sample.png",
            "sendAt": send_at.isoformat(),
        }
    )
    assert (status, body["status"]) == (202, "accepted"), body
    assert env.batch_requests() == []
    return body["id"], send_at


def test_a_held_mms_is_sent_by_the_queue_when_due_with_a_link_made_then(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id, send_at = held_mms(env, "+12025550143", timedelta(hours=2))
    monkeypatch.setattr(sending, "utcnow", lambda: send_at + timedelta(seconds=1))

    outcome = env.consume(json.dumps({"kind": "retry", "messageId": message_id}))

    assert outcome["result"] == {"batchItemFailures": []}
    (request,) = env.batch_requests()
    assert parse_qs(urlsplit(request["body"]["body"]["url"]).query)["X-Amz-Expires"] == ["86400"]
    assert env.stored(message_id)["status"] == "submitted"
