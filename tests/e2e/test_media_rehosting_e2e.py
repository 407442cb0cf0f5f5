"""Media that cannot change after the check, through the local stack: the gateway fetches an MMS's
media once, keeps it in the stack's S3 bucket (moto), and Sinch (the simulator) is given a presigned
link to those bytes, whatever the caller's host answers later."""

from __future__ import annotations

import hashlib
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from devstack import aws
from tests.e2e.conftest import LocalStack

TO = "+12025550146"


def media(local: LocalStack, name: str) -> str:
    return f"{local.sinch_url}/_sim/media/{name}"


def raw_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:
        data: bytes = answer.read()
    return data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def kept_objects(local: LocalStack) -> int:
    s3 = aws.client("s3", local.config["aws_endpoint_url"], local.config["region"])
    return int(s3.list_objects_v2(Bucket=local.config["media_bucket"]).get("KeyCount", 0))


def assert_a_presigned_link(local: LocalStack, url: str) -> dict[str, list[str]]:
    """`url` is a SigV4 presigned GET of an object under media/ in the stack's bucket."""
    bucket_url = f"{local.config['aws_endpoint_url']}/{local.config['media_bucket']}/media/"
    assert url.startswith(bucket_url), url
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Signature"]
    return query


def fetches_of(local: LocalStack, url: str) -> list[dict[str, Any]]:
    return [f for f in local.sim("GET", "/_sim/media-fetches") if f["url"] == url]


def test_an_mms_reaches_sinch_as_a_link_to_exactly_the_checked_bytes(local: LocalStack) -> None:
    checked = raw_get(media(local, "sample.jpg"))  # what changing.jpg answers first
    sent = local.api(
        "POST", "/v1/messages", {"to": TO, "subject": "Sale", "mediaUrl": media(local, "changing.jpg")}
    )
    assert sent.status == 202, sent.body

    # The host changes its answer after the check...
    later = raw_get(media(local, "changing.jpg"))
    assert later != checked

    # ...and Sinch still gets, and sends, what was checked.
    assert local.wait_final(sent.body["id"])["status"] == "delivered"
    (request,) = local.sinch_requests()
    url = request["body"]["body"]["url"]
    query = assert_a_presigned_link(local, url)
    assert query["X-Amz-Expires"] == ["86400"]  # now plus MediaFetchWindowSeconds
    [fetch] = fetches_of(local, url)
    assert (fetch["problem"], fetch["contentType"], fetch["sha256"]) == (None, "image/jpeg", sha256(checked))
    assert raw_get(url) == checked
    # The caller sees nothing of the copy: neither its key nor its link.
    view = local.api("GET", f"/v1/messages/{sent.body['id']}")
    assert "media/" not in str(view.body) and "X-Amz" not in str(view.body)


def test_slides_reach_sinch_as_links_to_their_checked_bytes(local: LocalStack) -> None:
    checked = raw_get(media(local, "sample.jpg"))
    body = {
        "to": TO,
        "subject": "Sale",
        "fallbackText": "Our sale is on",
        "slides": [{"text": "Half price", "mediaUrl": media(local, "changing.jpg")}],
    }
    sent = local.api("POST", "/v1/messages", body)
    assert sent.status == 202, sent.body
    assert raw_get(media(local, "changing.jpg")) != checked
    assert local.wait_final(sent.body["id"])["status"] == "delivered"

    [request] = [r for r in local.sim("GET", "/_sim/requests") if r["path"].startswith("/ep/v2")]
    url = request["body"]["slide"][0]["image"]["url"]
    assert_a_presigned_link(local, url)
    [fetch] = fetches_of(local, url)
    assert fetch["sha256"] == sha256(checked)


def test_a_scheduled_mms_waits_in_the_gateway_and_reaches_sinch_when_due_with_a_fresh_link(
    local: LocalStack,
) -> None:
    """A link signed at the request could die with the signer's temporary credentials before a
    scheduled MMS is due: the gateway keeps it until then, and links it as it hands it over."""
    checked = raw_get(media(local, "sample.png"))
    send_at = datetime.now(UTC) + timedelta(seconds=65)  # a minute ahead and more is held
    body = {
        "to": TO,
        "subject": "Sale",
        "mediaUrl": media(local, "sample.png"),
        "sendAt": send_at.isoformat(),
    }
    kept = local.api("POST", "/v1/messages", body)
    cancelled = local.api("POST", "/v1/messages", {**body, "clientReference": "changed-my-mind"})
    assert kept.status == cancelled.status == 202, (kept.body, cancelled.body)
    assert kept.body["status"] == "accepted", "held: Sinch does not have it yet"
    assert local.api("DELETE", f"/v1/messages/{cancelled.body['id']}").body["status"] == "cancelled"
    assert local.sinch_requests() == [], "nothing reaches Sinch before it is due"
    assert local.api("GET", f"/v1/messages/{kept.body['id']}").body["status"] == "accepted"

    deadline = time.monotonic() + 65 + 60
    while not (requests := local.sinch_requests()) and time.monotonic() < deadline:
        time.sleep(0.5)
    [request] = requests
    handed_over = datetime.fromisoformat(request["at"].replace("Z", "+00:00"))
    assert handed_over >= send_at - timedelta(seconds=2), "handed to Sinch when due, not before"
    print(f"handed to Sinch {(handed_over - send_at).total_seconds():+.2f} s from sendAt")
    assert request["body"]["client_reference"] == kept.body["id"]
    query = assert_a_presigned_link(local, request["body"]["body"]["url"])
    assert query["X-Amz-Expires"] == ["86400"], "made when due: it need live only the fetch window"
    assert local.wait_final(kept.body["id"])["status"] == "delivered"
    [fetch] = fetches_of(local, request["body"]["body"]["url"])
    assert fetch["sha256"] == sha256(checked)
    assert len(local.sinch_requests()) == 1, "the cancelled one never went"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("wrong-type.jpg", "has an unsupported Content-Type application/octet-stream"),
        ("too-large.jpg", "bytes; the limit is 1048576 bytes"),
        ("no-length.jpg", "has no Content-Length"),
        ("missing.jpg", "answered HTTP 404"),
    ],
)
def test_media_that_fails_its_check_is_a_422_and_nothing_is_kept_or_sent(
    name: str, reason: str, local: LocalStack
) -> None:
    before = kept_objects(local)
    answer = local.api("POST", "/v1/messages", {"to": TO, "subject": "Sale", "mediaUrl": media(local, name)})
    assert answer.status == 422, answer.body
    [error] = answer.body["errors"]
    assert error["field"] == "mediaUrl" and reason in error["message"], error
    assert local.sinch_requests() == [] and local.sim("GET", "/_sim/media-fetches") == []
    assert kept_objects(local) == before


def test_kept_media_is_private_and_named_by_nothing_of_the_tenant(local: LocalStack) -> None:
    sent = local.api(
        "POST", "/v1/messages", {"to": TO, "subject": "Sale", "mediaUrl": media(local, "sample.gif")}
    )
    assert sent.status == 202, sent.body
    (request,) = local.sinch_requests()
    url = request["body"]["body"]["url"]
    s3 = aws.client("s3", local.config["aws_endpoint_url"], local.config["region"])
    blocked = s3.get_public_access_block(Bucket=local.config["media_bucket"])[
        "PublicAccessBlockConfiguration"
    ]
    assert all(blocked.values())
    # The key alone (no signature) is 256 random bits: nothing to guess, nothing naming the tenant.
    key = urlsplit(url).path.rsplit("/", 1)[1]
    assert len(key) >= 43 and local.config["tenants"][0]["api_key_id"] not in url
    # (moto serves an unsigned GET too: it checks no signature, so S3's refusal is not testable here.)
