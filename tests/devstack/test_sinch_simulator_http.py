"""The Sinch simulator over real HTTP on 127.0.0.1: XMS API, callbacks, media, faults, control."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3

from devstack.fictional import fictional_numbers
from devstack.sinch_simulator import SinchSimulator
from tests.conftest import control

PLAN, TOKEN, SECRET = "local-plan", "tok", "whsec"
TO, TO2, FROM = "+12025550143", "+12025550144", "+12025550100"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DELAY_S = 0.03


@dataclass
class Call:
    path: str
    headers: dict[str, str]  # lower-case names
    raw: bytes
    source: str  # the address it came from

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


class Receiver:
    """A callback endpoint: records every POST and answers the scripted statuses, then 200."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.statuses: deque[int] = deque()
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._cond:
                    receiver.calls.append(
                        Call(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            raw,
                            self.client_address[0],
                        )
                    )
                    status = receiver.statuses.popleft() if receiver.statuses else 200
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/cb"

    def wait(self, count: int, timeout: float = 5.0) -> list[Call]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.calls) >= count, timeout)
            return list(self.calls)

    def reports(self, count: int) -> list[dict[str, Any]]:
        calls = self.wait(count)
        assert len(calls) >= count, f"got {len(calls)} callbacks, want {count}"
        return [c.json for c in calls]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def sim() -> Iterator[SinchSimulator]:
    simulator = SinchSimulator(
        service_plan_id=PLAN,
        api_token=TOKEN,
        webhook_secret=SECRET,
        callback_delay_s=DELAY_S,
        callback_retry_base_s=0.02,
    ).start()
    yield simulator
    simulator.stop()


@pytest.fixture(autouse=True)
def _fresh(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    assert control(sim, http, "POST", "/_sim/reset")[0] == 200
    config = {"rate_limit": None, "callback_delay_s": DELAY_S, "webhook_secret": SECRET}
    assert control(sim, http, "POST", "/_sim/config", config)[0] == 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def xms(
    sim: SinchSimulator,
    http: urllib3.PoolManager,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
) -> urllib3.BaseHTTPResponse:
    sent = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", **(headers or {})}
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    return http.request(method, f"{sim.url}/xms/v1/{PLAN}{path}", body=data, headers=sent)


def send(sim: SinchSimulator, http: urllib3.PoolManager, **fields: Any) -> dict[str, Any]:
    resp = xms(sim, http, "POST", "/batches", {"to": [TO], "from": FROM, "body": "Hello", **fields})
    assert resp.status == 201, resp.data
    batch: dict[str, Any] = resp.json()
    return batch


def wait_until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def recipient_status(sim: SinchSimulator, http: urllib3.PoolManager, batch_id: str, msisdn: str = TO) -> Any:
    return xms(sim, http, "GET", f"/batches/{batch_id}/delivery_report/{msisdn}").json()


def valid_signature(call: Call, secret: str = SECRET) -> bool:
    nonce, ts = (
        call.headers["x-sinch-webhook-signature-nonce"],
        call.headers["x-sinch-webhook-signature-timestamp"],
    )
    signed = call.raw + f".{nonce}.{ts}".encode()
    expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, call.headers["x-sinch-webhook-signature"])


def set_faults(
    sim: SinchSimulator, http: urllib3.PoolManager, *rules: dict[str, Any], seed: int | None = None
) -> None:
    body: dict[str, Any] = {"rules": list(rules)}
    if seed is not None:
        body["seed"] = seed
    status, answer = control(sim, http, "POST", "/_sim/faults", body)
    assert status == 200, answer


# --- auth, content type, JSON, routing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "authorization"),
    [
        (f"/xms/v1/{PLAN}/batches", None),
        (f"/xms/v1/{PLAN}/batches", "Bearer wrong"),
        (f"/xms/v1/{PLAN}/batches", f"Basic {TOKEN}"),
        ("/xms/v1/other-plan/batches", f"Bearer {TOKEN}"),
    ],
)
def test_bad_credentials_are_401_with_a_json_error(
    sim: SinchSimulator, http: urllib3.PoolManager, path: str, authorization: str | None
) -> None:
    headers = {"Content-Type": "application/json"} | (
        {"Authorization": authorization} if authorization else {}
    )
    resp = http.request("POST", sim.url + path, body=b"{}", headers=headers)
    assert resp.status == 401
    assert resp.json()["code"] == "unauthorized" and resp.json()["text"]


def test_wrong_content_type_is_415_and_bad_json_is_400(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    resp = xms(
        sim, http, "POST", "/batches", b"to=1", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert resp.status == 415
    resp = xms(
        sim,
        http,
        "POST",
        "/batches",
        b'{"to": [',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert (resp.status, resp.json()["code"]) == (400, "syntax_invalid_json")


def test_unknown_paths_are_404_and_unsupported_methods_405(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    assert xms(sim, http, "GET", "/groups").status == 404
    assert http.request("GET", sim.url + "/nothing").status == 404
    batch = send(sim, http)
    assert xms(sim, http, "PUT", f"/batches/{batch['id']}", {"to": [TO]}).status == 405


def test_validation_errors_come_back_as_sinch_error_bodies(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    resp = xms(sim, http, "POST", "/batches", {"from": FROM, "body": "Hi"})
    assert (resp.status, resp.json()["code"]) == (400, "syntax_constraint_violation")
    resp = xms(sim, http, "POST", "/batches", {"to": ["555"], "from": FROM, "body": "Hi"})
    assert (resp.status, resp.json()["code"]) == (400, "syntax_invalid_parameter_format")
    resp = xms(
        sim, http, "POST", "/batches", {"to": [TO], "from": FROM, "body": "Hi", "delivery_report": "full"}
    )
    assert (resp.status, resp.json()["code"]) == (403, "missing_callback_url")
    assert set(resp.json()) == {"code", "text"}


# --- batches ---------------------------------------------------------------------------------------


def test_a_created_batch_is_201_with_sinchs_shape(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    batch = send(sim, http, client_reference="order-1")
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", batch["id"])
    assert batch["to"] == [TO] and batch["from"] == FROM and batch["body"] == "Hello"
    assert batch["type"] == "mt_text" and batch["canceled"] is False
    assert batch["delivery_report"] == "none" and batch["client_reference"] == "order-1"
    for name in ("created_at", "modified_at", "expire_at"):
        assert ISO_MS.match(batch[name]), batch[name]
    created = datetime.fromisoformat(batch["created_at"])
    assert datetime.fromisoformat(batch["expire_at"]) - created == timedelta(days=3)
    got = xms(sim, http, "GET", f"/batches/{batch['id']}")
    assert got.status == 200 and got.json() == batch


def test_unknown_batches_are_404_not_found(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    for method, path in [
        ("GET", "/batches/01ABCDEFGHJKMNPQRSTVWXYZ00"),
        ("DELETE", "/batches/01ABCDEFGHJKMNPQRSTVWXYZ00"),
        ("GET", "/batches/01ABCDEFGHJKMNPQRSTVWXYZ00/delivery_report"),
        ("GET", f"/batches/01ABCDEFGHJKMNPQRSTVWXYZ00/delivery_report/{TO}"),
    ]:
        resp = xms(sim, http, method, path)
        assert (resp.status, resp.json()["code"]) == (404, "not_found"), path
    batch = send(sim, http)
    assert xms(sim, http, "GET", f"/batches/{batch['id']}/delivery_report/{TO2}").status == 404
    assert xms(sim, http, "GET", f"/batches/{batch['id']}/delivery_report?type=odd").status == 404


def test_list_filters_by_client_reference_newest_first_and_pages(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    first = send(sim, http, client_reference="a")
    send(sim, http, client_reference="b")
    last = send(sim, http, client_reference="a")
    listed = xms(sim, http, "GET", "/batches?client_reference=a").json()
    assert listed["count"] == 2 and listed["page"] == 0 and listed["page_size"] == 2
    assert [b["id"] for b in listed["batches"]] == [last["id"], first["id"]]
    paged = xms(sim, http, "GET", "/batches?client_reference=a&page=1&page_size=1").json()
    assert (paged["count"], paged["page"], paged["page_size"]) == (2, 1, 1)
    assert paged["batches"][0]["id"] == first["id"]
    assert xms(sim, http, "GET", "/batches").json()["count"] == 3
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert xms(sim, http, "GET", f"/batches?start_date={future.replace('+', '%2B')}").json()["count"] == 0
    assert xms(sim, http, "GET", "/batches?page_size=0").status == 400


def test_dry_run_counts_gsm_and_unicode_parts(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    body = {"to": [TO, TO2], "from": FROM, "body": "a" * 161}
    resp = xms(sim, http, "POST", "/batches/dry_run?per_recipient=true&number_of_recipients=1", body)
    assert resp.status == 200
    assert resp.json() == {
        "number_of_recipients": 2,
        "number_of_messages": 4,
        "per_recipient": [{"recipient": TO, "body": "a" * 161, "number_of_parts": 2, "encoding": "GSM"}],
    }
    unicode = xms(sim, http, "POST", "/batches/dry_run", {"to": [TO], "from": FROM, "body": "ï" * 71}).json()
    assert unicode == {"number_of_recipients": 1, "number_of_messages": 2}
    assert xms(sim, http, "GET", "/batches").json()["count"] == 0  # nothing was sent


# --- delivery and callbacks ------------------------------------------------------------------------


def test_per_recipient_callbacks_are_signed_and_go_dispatched_then_delivered(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    batch = send(
        sim, http, delivery_report="per_recipient", callback_url=receiver.url, client_reference="c-1"
    )
    calls = receiver.wait(2)
    assert [(c.json["status"], c.json["code"]) for c in calls] == [("Dispatched", 401), ("Delivered", 0)]
    for call in calls:
        assert call.headers["content-type"] == "application/json"
        assert call.headers["x-sinch-webhook-signature-algorithm"] == "HmacSHA256"
        assert valid_signature(call)
        report = call.json
        assert report["type"] == "recipient_delivery_report_sms"
        assert (report["batch_id"], report["recipient"], report["client_reference"]) == (
            batch["id"],
            TO,
            "c-1",
        )
        assert ISO_MS.match(report["at"])
    assert (
        calls[0].headers["x-sinch-webhook-signature-nonce"]
        != calls[1].headers["x-sinch-webhook-signature-nonce"]
    )
    assert "operator_status_at" in calls[1].json
    assert recipient_status(sim, http, batch["id"])["status"] == "Delivered"


def test_callbacks_and_inbound_come_from_the_source_address_it_was_given(
    http: urllib3.PoolManager, receiver: Receiver
) -> None:
    with SinchSimulator(
        service_plan_id=PLAN, api_token=TOKEN, callback_delay_s=DELAY_S, source_address="127.0.0.2"
    ) as other:
        send(other, http, delivery_report="per_recipient_final", callback_url=receiver.url)
        control(other, http, "POST", "/_sim/config", {"inbound_url": receiver.url})
        inbound = {"from": TO, "to": FROM.removeprefix("+"), "body": "STOP"}
        assert control(other, http, "POST", "/_sim/inbound", inbound)[0] == 202
        calls = receiver.wait(2)
    assert sorted(c.json["type"] for c in calls) == ["mo_text", "recipient_delivery_report_sms"]
    assert {c.source for c in calls} == {"127.0.0.2"}


def test_per_recipient_final_sends_only_the_final_report(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    send(sim, http, to=[TO, TO2], delivery_report="per_recipient_final", callback_url=receiver.url)
    reports = receiver.reports(2)
    time.sleep(DELAY_S * 3)
    assert len(receiver.calls) == 2
    assert sorted(r["recipient"] for r in reports) == [TO, TO2]
    assert {r["status"] for r in reports} == {"Delivered"}


@pytest.mark.parametrize("mode", ["summary", "full"])
def test_summary_and_full_send_one_batch_report_when_all_are_final(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver, mode: str
) -> None:
    batch = send(
        sim, http, to=[TO, TO2], delivery_report=mode, callback_url=receiver.url, client_reference="s"
    )
    (report,) = receiver.reports(1)
    time.sleep(DELAY_S * 3)
    assert len(receiver.calls) == 1
    status: dict[str, Any] = {"code": 0, "status": "Delivered", "count": 2}
    if mode == "full":
        status["recipients"] = [TO, TO2]
    assert report == {
        "type": "delivery_report_sms",
        "batch_id": batch["id"],
        "total_message_count": 2,
        "statuses": [status],
        "client_reference": "s",
    }
    got = xms(sim, http, "GET", f"/batches/{batch['id']}/delivery_report?type={mode}").json()
    assert got == report


def test_no_callbacks_without_delivery_report_but_the_report_can_be_polled(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    batch = send(sim, http, callback_url=receiver.url)
    assert wait_until(lambda: recipient_status(sim, http, batch["id"])["status"] == "Delivered")
    assert receiver.calls == []


def test_callback_url_userinfo_becomes_basic_auth(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    url = receiver.url.replace("http://", "http://hook:s3cret@")
    send(sim, http, delivery_report="per_recipient_final", callback_url=url)
    (call,) = receiver.wait(1)
    assert call.headers["authorization"] == "Basic " + base64.b64encode(b"hook:s3cret").decode()
    assert call.path == "/cb"


def test_callbacks_are_unsigned_without_a_webhook_secret(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    control(sim, http, "POST", "/_sim/config", {"webhook_secret": None})
    send(sim, http, delivery_report="per_recipient_final", callback_url=receiver.url)
    (call,) = receiver.wait(1)
    assert not any(name.startswith("x-sinch-webhook") for name in call.headers)


def test_callbacks_are_retried_on_503_with_fresh_signatures(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    receiver.statuses.extend([503, 429])
    send(sim, http, delivery_report="per_recipient_final", callback_url=receiver.url)
    calls = receiver.wait(3)
    assert len(calls) == 3
    assert len({c.raw for c in calls}) == 1  # the same report...
    assert len({c.headers["x-sinch-webhook-signature-nonce"] for c in calls}) == 3  # ...signed anew
    assert all(valid_signature(c) for c in calls)
    log = wait_until(
        lambda: (
            len(control(sim, http, "GET", "/_sim/callbacks")[1]) == 3
            and control(sim, http, "GET", "/_sim/callbacks")[1]
        )
    )
    assert [(e["attempt"], e["status"]) for e in log] == [(1, 503), (2, 429), (3, 200)]
    assert log[0]["body"]["status"] == "Delivered" and log[0]["url"] == receiver.url
    assert all(0 < e["elapsed_ms"] < 5000 for e in log), "how long each attempt waited for its answer"


def test_other_4xx_answers_are_not_retried(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    receiver.statuses.append(400)
    send(sim, http, delivery_report="per_recipient_final", callback_url=receiver.url)
    receiver.wait(1)
    time.sleep(0.2)  # retries would come after 0.02, 0.04, 0.08 s
    assert len(receiver.calls) == 1


def test_unreachable_callback_urls_are_retried(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    send(sim, http, delivery_report="per_recipient_final", callback_url=f"http://127.0.0.1:{port}/cb")
    log = wait_until(
        lambda: (entries := control(sim, http, "GET", "/_sim/callbacks")[1]) and len(entries) >= 3 and entries
    )
    assert [e["attempt"] for e in log[:3]] == [1, 2, 3]
    assert all(e["status"] is None and e["error"] for e in log)


def test_a_scheduled_batch_canceled_before_sending_gets_cancelled_reports(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    send_at = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    batch = send(sim, http, send_at=send_at, delivery_report="per_recipient", callback_url=receiver.url)
    assert batch["send_at"] == send_at
    assert recipient_status(sim, http, batch["id"])["status"] == "Queued"
    resp = xms(sim, http, "DELETE", f"/batches/{batch['id']}")
    assert resp.status == 200 and resp.json()["canceled"] is True
    (report,) = receiver.reports(1)
    assert (report["status"], report["code"]) == ("Cancelled", 407)
    assert xms(sim, http, "GET", f"/batches/{batch['id']}").json()["canceled"] is True
    assert recipient_status(sim, http, batch["id"])["status"] == "Cancelled"


def test_canceling_a_delivered_batch_leaves_its_report(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    batch = send(sim, http)
    assert wait_until(lambda: recipient_status(sim, http, batch["id"])["status"] == "Delivered")
    assert xms(sim, http, "DELETE", f"/batches/{batch['id']}").json()["canceled"] is True
    assert recipient_status(sim, http, batch["id"])["status"] == "Delivered"


def test_unmatched_parameters_abort_the_message(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    send(
        sim,
        http,
        body="Hi ${name}",
        parameters={"name": {TO2: "Bo"}},
        delivery_report="per_recipient",
        callback_url=receiver.url,
    )
    (report,) = receiver.reports(1)
    assert (report["status"], report["code"]) == ("Aborted", 405)


# --- MMS and media ---------------------------------------------------------------------------------


def test_mms_with_good_media_is_delivered_with_mms_report_types(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    body = {"url": f"{sim.url}/_sim/media/sample.jpg", "message": "Look", "subject": "Spring"}
    batch = send(
        sim, http, type="mt_media", body=body, delivery_report="per_recipient", callback_url=receiver.url
    )
    assert batch["body"] == body and batch["type"] == "mt_media" and "flash_message" not in batch
    reports = receiver.reports(2)
    assert [(r["type"], r["status"]) for r in reports] == [
        ("recipient_delivery_report_mms", "Dispatched"),
        ("recipient_delivery_report_mms", "Delivered"),
    ]
    # The simulator's own media fetch is not a request to the Sinch API.
    assert [r["path"] for r in control(sim, http, "GET", "/_sim/requests")[1]] == [f"/xms/v1/{PLAN}/batches"]


@pytest.mark.parametrize("name", ["too-large.jpg", "no-length.jpg", "wrong-type.jpg", "missing.jpg"])
def test_bad_media_fails_the_message_with_414(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver, name: str
) -> None:
    body = {"url": f"{sim.url}/_sim/media/{name}"}
    send(sim, http, type="mt_media", body=body, delivery_report="per_recipient", callback_url=receiver.url)
    (report,) = receiver.reports(1)
    assert (report["type"], report["status"], report["code"]) == (
        "recipient_delivery_report_mms",
        "Failed",
        414,
    )


@pytest.mark.parametrize(
    ("name", "content_type", "magic"),
    [
        ("sample.jpg", "image/jpeg", b"\xff\xd8\xff"),
        ("sample.png", "image/png", b"\x89PNG\r\n\x1a\n"),
        ("sample.gif", "image/gif", b"GIF89a"),
        ("sample.mp4", "video/mp4", b"\x00\x00\x00\x1cftyp"),
        ("sample.mp3", "audio/mpeg", b"ID3"),
        ("wrong-type.jpg", "application/octet-stream", b"\xff\xd8\xff"),
    ],
)
def test_sample_media_have_type_length_and_answer_head(
    sim: SinchSimulator, http: urllib3.PoolManager, name: str, content_type: str, magic: bytes
) -> None:
    resp = http.request("GET", f"{sim.url}/_sim/media/{name}")
    assert resp.status == 200 and resp.headers["Content-Type"] == content_type
    assert resp.data.startswith(magic) and int(resp.headers["Content-Length"]) == len(resp.data)
    assert len(resp.data) < 1_048_576
    head = http.request("HEAD", f"{sim.url}/_sim/media/{name}")
    assert head.status == 200 and head.headers["Content-Length"] == resp.headers["Content-Length"]
    assert head.data == b""


def test_special_media_and_the_media_list(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    large = http.request("HEAD", f"{sim.url}/_sim/media/too-large.jpg")
    assert large.headers["Content-Type"] == "image/jpeg" and int(large.headers["Content-Length"]) > 1_048_576
    chunked = http.request("GET", f"{sim.url}/_sim/media/no-length.jpg")
    assert chunked.status == 200 and "Content-Length" not in chunked.headers
    assert chunked.headers["Transfer-Encoding"] == "chunked" and chunked.data.startswith(b"\xff\xd8")
    assert http.request("GET", f"{sim.url}/_sim/media/other.jpg").status == 404
    names = control(sim, http, "GET", "/_sim/media")[1]
    assert set(names) >= {
        "sample.jpg",
        "sample.png",
        "sample.gif",
        "sample.mp4",
        "sample.mp3",
        "too-large.jpg",
        "no-length.jpg",
        "wrong-type.jpg",
    }
    assert control(sim, http, "GET", "/_sim/requests")[1] == []  # tests' media fetches are not recorded


def test_a_media_host_can_be_slow_or_fail_first_then_serve_the_file(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    started = time.monotonic()
    slow = http.request("GET", f"{sim.url}/_sim/media/sample.png?delay_ms=300")
    assert time.monotonic() - started >= 0.3
    assert (slow.status, slow.headers["Content-Type"]) == (200, "image/png")
    flaky = f"{sim.url}/_sim/media/sample.jpg?fail_first=2&status=502"
    assert [http.request("GET", flaky).status for _ in range(3)] == [502, 502, 200]
    assert http.request("GET", f"{sim.url}/_sim/media/sample.jpg?fail_first=1").status == 503  # its own URL
    for bad in ("delay_ms=-1", "delay_ms=x", "fail_first=1&status=200", "delay_ms=60001"):
        assert http.request("GET", f"{sim.url}/_sim/media/sample.jpg?{bad}").status == 400
    control(sim, http, "POST", "/_sim/reset")
    assert http.request("GET", flaky).status == 502  # counted again from the reset


# --- request faults --------------------------------------------------------------------------------


def test_status_faults_answer_sinch_errors_for_the_next_n_matches(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    set_faults(sim, http, {"match": "batches", "status": 503, "times": 2})
    body = {"to": [TO], "from": FROM, "body": "Hi"}
    first = xms(sim, http, "POST", "/batches", body)
    assert first.status == 503 and set(first.json()) == {"code", "text"}
    assert xms(sim, http, "GET", "/batches").status == 200  # another match: untouched
    assert xms(sim, http, "POST", "/batches", body).status == 503
    assert control(sim, http, "GET", "/_sim/faults")[1]["rules"] == [
        {"match": "batches", "status": 503, "times": 0}
    ]
    assert xms(sim, http, "POST", "/batches", body).status == 201


def test_429_faults_carry_retry_after(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    set_faults(sim, http, {"match": "dry_run", "status": 429, "retry_after": 2})
    resp = xms(sim, http, "POST", "/batches/dry_run", {"to": [TO], "from": FROM, "body": "Hi"})
    assert (resp.status, resp.headers["Retry-After"], resp.json()["code"]) == (429, "2", "too_many_requests")


def test_batch_lookup_faults_hit_get_batch_and_list(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    batch = send(sim, http)
    set_faults(sim, http, {"match": "batch_lookup", "status": 500, "times": 2})
    assert xms(sim, http, "GET", f"/batches/{batch['id']}").status == 500
    assert xms(sim, http, "GET", "/batches").status == 500
    assert xms(sim, http, "GET", f"/batches/{batch['id']}").status == 200


def test_delay_faults_answer_late(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    set_faults(sim, http, {"match": "batches", "delay_ms": 300, "times": 1})
    start = time.monotonic()
    batch = send(sim, http)
    assert time.monotonic() - start >= 0.3 and batch["id"]


def test_drop_connection_answers_nothing_and_creates_nothing(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    set_faults(sim, http, {"match": "batches", "drop_connection": True, "times": 1})
    with pytest.raises(urllib3.exceptions.ProtocolError):
        xms(sim, http, "POST", "/batches", {"to": [TO], "from": FROM, "body": "Hi", "client_reference": "d"})
    (entry,) = control(sim, http, "GET", "/_sim/requests")[1]
    assert entry["response"] is None and entry["body"]["client_reference"] == "d"
    assert xms(sim, http, "GET", "/batches?client_reference=d").json()["count"] == 0


def test_accept_then_drop_creates_and_delivers_the_batch_but_loses_the_answer(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    set_faults(sim, http, {"match": "batches", "accept_then_drop": True, "times": 1})
    body = {
        "to": [TO],
        "from": FROM,
        "body": "Hi",
        "client_reference": "lost-1",
        "delivery_report": "per_recipient_final",
        "callback_url": receiver.url,
    }
    with pytest.raises(urllib3.exceptions.ProtocolError):
        xms(sim, http, "POST", "/batches", body)
    (entry,) = control(sim, http, "GET", "/_sim/requests")[1]
    assert entry["dropped"] is True and entry["response"]["status"] == 201
    listed = xms(sim, http, "GET", "/batches?client_reference=lost-1").json()
    assert listed["count"] == 1 and listed["batches"][0]["id"] == entry["response"]["body"]["id"]
    (report,) = receiver.reports(1)
    assert report["status"] == "Delivered" and report["client_reference"] == "lost-1"


def test_probability_with_a_seed_repeats(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    def run() -> list[int]:
        set_faults(sim, http, {"match": "batch_lookup", "status": 503, "probability": 0.5}, seed=7)
        return [xms(sim, http, "GET", "/batches").status for _ in range(12)]

    first = run()
    assert first == run()
    assert set(first) == {200, 503}


def test_invalid_fault_rules_are_400_and_keep_the_old_ones(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    set_faults(sim, http, {"match": "batches", "status": 503})
    status, body = control(
        sim, http, "POST", "/_sim/faults", {"rules": [{"match": "batches", "colour": "red"}]}
    )
    assert status == 400 and body["text"]
    assert control(sim, http, "GET", "/_sim/faults")[1]["rules"] == [{"match": "batches", "status": 503}]


# --- callback and media faults ---------------------------------------------------------------------


@pytest.mark.parametrize(("final", "code"), [("Failed", 402), ("Expired", 406), ("Rejected", 408)])
def test_final_faults_change_the_outcome(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver, final: str, code: int
) -> None:
    set_faults(sim, http, {"match": "callbacks", "final": final})
    batch = send(sim, http, delivery_report="per_recipient", callback_url=receiver.url)
    reports = receiver.reports(2)
    assert [(r["status"], r["code"]) for r in reports] == [("Dispatched", 401), (final, code)]
    assert recipient_status(sim, http, batch["id"])["status"] == final


def test_duplicate_faults_send_each_report_again(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    set_faults(sim, http, {"match": "callbacks", "duplicate": 1})
    send(sim, http, delivery_report="per_recipient", callback_url=receiver.url)
    reports = receiver.reports(4)
    assert [r["status"] for r in reports] == ["Dispatched", "Dispatched", "Delivered", "Delivered"]


def test_reorder_faults_send_the_final_report_first(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    set_faults(sim, http, {"match": "callbacks", "reorder": True, "times": 1})
    send(sim, http, delivery_report="per_recipient", callback_url=receiver.url)
    assert [r["status"] for r in receiver.reports(2)] == ["Delivered", "Dispatched"]


def test_callback_delay_faults_hold_reports_back(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    set_faults(sim, http, {"match": "callbacks", "delay_ms": 400})
    batch = send(sim, http, delivery_report="per_recipient_final", callback_url=receiver.url)
    assert wait_until(lambda: recipient_status(sim, http, batch["id"])["status"] == "Delivered")
    assert receiver.calls == []  # delivered, but the report is still held
    assert receiver.reports(1)[0]["status"] == "Delivered"


def test_drop_faults_send_no_report_yet_the_recipients_report_can_be_looked_up(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    set_faults(sim, http, {"match": "callbacks", "drop": True, "times": 1})
    dropped = send(sim, http, delivery_report="per_recipient", callback_url=receiver.url)
    found = wait_until(
        lambda: (r := recipient_status(sim, http, dropped["id"]))["status"] == "Delivered" and r
    )
    assert (found["type"], found["batch_id"], found["code"]) == (
        "recipient_delivery_report_sms",
        dropped["id"],
        0,
    )
    later = send(sim, http, delivery_report="per_recipient", callback_url=receiver.url)

    reports = receiver.reports(2)  # the later batch's, sent after the dropped ones would have been
    assert {r["batch_id"] for r in reports} == {later["id"]}


def test_a_recipient_lookup_of_an_unknown_batch_or_recipient_is_404_and_can_be_failed_by_a_rule(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    batch = send(sim, http)
    for path in (
        f"/batches/{batch['id']}/delivery_report/15550009999",
        "/batches/NOPE/delivery_report/" + TO,
    ):
        resp = xms(sim, http, "GET", path)
        assert (resp.status, resp.json()["code"]) == (404, "not_found")
    set_faults(sim, http, {"match": "batch_lookup", "status": 503, "times": 1})
    assert xms(sim, http, "GET", f"/batches/{batch['id']}/delivery_report/{TO}").status == 503


@pytest.mark.parametrize("rule", [{"status": 503}, {"drop_connection": True}])
def test_media_faults_fail_the_mms(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver, rule: dict[str, Any]
) -> None:
    set_faults(sim, http, {"match": "media", **rule})
    body = {"url": f"{sim.url}/_sim/media/sample.jpg"}
    send(sim, http, type="mt_media", body=body, delivery_report="per_recipient", callback_url=receiver.url)
    (report,) = receiver.reports(1)
    assert (report["status"], report["code"]) == ("Failed", 414)


# --- rate limit, control --------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    assert control(sim, http, "POST", "/_sim/config", {"rate_limit": 2})[1]["rate_limit"] == 2
    statuses = [xms(sim, http, "GET", "/batches") for _ in range(3)]
    assert [r.status for r in statuses] == [200, 200, 429]
    assert statuses[2].headers["Retry-After"] == "1" and statuses[2].json()["code"] == "too_many_requests"


def test_requests_are_recorded_oldest_first_and_reset_forgets(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    batch = send(sim, http)
    xms(sim, http, "GET", f"/batches/{batch['id']}?x=1")
    entries = control(sim, http, "GET", "/_sim/requests")[1]
    assert [(e["method"], e["path"]) for e in entries] == [
        ("POST", f"/xms/v1/{PLAN}/batches"),
        ("GET", f"/xms/v1/{PLAN}/batches/{batch['id']}"),
    ]
    first = entries[0]
    assert set(first) >= {"at", "method", "path", "query", "headers", "body", "response"}
    assert first["body"]["to"] == [TO] and first["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert first["response"]["status"] == 201 and first["response"]["body"]["id"] == batch["id"]
    assert entries[1]["query"] == {"x": "1"}
    set_faults(sim, http, {"match": "batches", "status": 500})
    control(sim, http, "POST", "/_sim/reset")
    assert control(sim, http, "GET", "/_sim/requests")[1] == []
    assert control(sim, http, "GET", "/_sim/faults")[1]["rules"] == []
    assert xms(sim, http, "GET", f"/batches/{batch['id']}").status == 404


def test_bad_control_calls(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    assert control(sim, http, "POST", "/_sim/config", {"colour": 1})[0] == 400
    assert control(sim, http, "POST", "/_sim/config", {"rate_limit": -1})[0] == 400
    assert control(sim, http, "POST", "/_sim/config", {"rate_limit": float("inf")})[0] == 400  # was 200
    assert control(sim, http, "DELETE", "/_sim/requests")[0] == 405
    assert control(sim, http, "GET", "/_sim/other")[0] == 404


def test_runs_alone_from_the_command_line() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "SIM_RATE_LIMIT": "5", "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack.sinch_simulator", "--port", "0", "--api-token", "t2"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=root,
    )
    try:
        assert proc.stdout is not None
        url = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline())
        assert url, "no URL printed"
        pool = urllib3.PoolManager(retries=False, timeout=5)
        assert pool.request("GET", url.group(0) + "/_sim/config").json()["rate_limit"] == 5.0
        resp = pool.request(
            "GET", url.group(0) + "/xms/v1/local-plan/batches", headers={"Authorization": "Bearer t2"}
        )
        assert resp.status == 200
        pool.clear()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        if proc.stdout is not None:
            proc.stdout.close()


def test_an_inbound_sms_on_request_is_a_signed_mo_text_naming_the_batch_it_answers(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    send(sim, http, client_reference="our-message-id")
    control(sim, http, "POST", "/_sim/config", {"inbound_url": receiver.url})
    try:
        status, mo = control(sim, http, "POST", "/_sim/inbound", {"from": TO, "to": FROM, "body": "STOP"})
    finally:
        control(sim, http, "POST", "/_sim/config", {"inbound_url": None})

    assert status == 202
    assert (mo["type"], mo["body"], mo["client_reference"]) == ("mo_text", "STOP", "our-message-id")
    assert mo["from"] == "+" + TO.removeprefix("+") and mo["to"] == FROM.removeprefix("+")
    call = next(c for c in receiver.wait(5) if c.json.get("type") == "mo_text")
    assert call.json == mo and valid_signature(call)


def test_an_inbound_mms_on_request_is_a_signed_mo_media_with_its_files(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    control(sim, http, "POST", "/_sim/config", {"inbound_url": receiver.url})
    body = {"from": TO, "to": FROM, "body": "STOP", "media": ["https://mms.example/a.jpg"]}
    try:
        status, mo = control(sim, http, "POST", "/_sim/inbound", body)
    finally:
        control(sim, http, "POST", "/_sim/config", {"inbound_url": None})

    assert (status, mo["type"]) == (202, "mo_media")
    [photo] = mo["body"]["media"]
    assert mo["body"]["message"] == "STOP" and photo["url"] == "https://mms.example/a.jpg"
    assert (photo["content_type"], photo["status"], photo["code"]) == ("image/jpeg", "Uploaded", 0)
    call = next(c for c in receiver.wait(5) if c.json.get("type") == "mo_media")
    assert call.json == mo and valid_signature(call)


@pytest.mark.parametrize(
    "body",
    [
        {"from": "+12025550143", "to": "12025550100"},
        {"from": "+12025550143", "to": "12025550100", "body": "hi", "media": []},
        {"from": "+12025550143", "to": "12025550100", "body": "hi", "media": ["ftp://x/a.jpg"]},
        {"from": "+12025550143", "to": "12025550100", "body": "hi", "extra": 1},
        {"from": "not a number", "to": "12025550100", "body": "STOP"},
        {"from": "+12025550143", "to": "OurBrand", "body": "STOP"},
        {"from": "+12025550143", "to": "12025550100", "body": ""},
        {"from": "+12025550143", "to": "12025550100", "body": "x" * 2001},
        ["STOP"],
    ],
)
def test_a_bad_inbound_request_is_a_400(sim: SinchSimulator, http: urllib3.PoolManager, body: Any) -> None:
    control(sim, http, "POST", "/_sim/config", {"inbound_url": "http://127.0.0.1:9/cb"})
    try:
        assert control(sim, http, "POST", "/_sim/inbound", body)[0] == 400
    finally:
        control(sim, http, "POST", "/_sim/config", {"inbound_url": None})


def test_an_inbound_sms_without_an_inbound_url_is_a_400(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    status, error = control(
        sim, http, "POST", "/_sim/inbound", {"from": "+12025550143", "to": "12025550100", "body": "STOP"}
    )
    assert status == 400 and "inbound_url" in error["text"]


# --- batches of many recipients --------------------------------------------------------------------


def test_a_batch_of_1000_gets_one_final_report_per_recipient_with_its_reference(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    numbers = fictional_numbers(1000)
    batch = send(
        sim,
        http,
        to=numbers,
        delivery_report="per_recipient_final",
        callback_url=receiver.url,
        client_reference="b-7",
    )
    calls = receiver.wait(1000, timeout=60)
    reports = [c.json for c in calls]
    assert sorted(r["recipient"] for r in reports) == sorted(numbers)  # each exactly once
    assert {(r["batch_id"], r["client_reference"], r["status"], r["code"]) for r in reports} == {
        (batch["id"], "b-7", "Delivered", 0)
    }
    assert all(valid_signature(c) for c in calls)


def test_more_than_1000_recipients_or_one_bad_number_is_a_400_and_sends_nothing(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    too_many = xms(sim, http, "POST", "/batches", {"to": fictional_numbers(1001), "from": FROM, "body": "Hi"})
    assert (too_many.status, too_many.json()["code"]) == (400, "syntax_constraint_violation")
    bad = [*fictional_numbers(10), "+1202555014x"]
    one_bad = xms(sim, http, "POST", "/batches", {"to": bad, "from": FROM, "body": "Hi"})
    assert (one_bad.status, one_bad.json()["code"]) == (400, "syntax_invalid_parameter_format")
    assert "+1202555014x" in one_bad.json()["text"]
    assert xms(sim, http, "GET", "/batches").json()["count"] == 0


def test_each_recipient_gets_its_own_value_else_the_default_else_is_aborted_405(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    ann, bo, carl = fictional_numbers(3)
    body = {
        "to": [ann, bo, carl],
        "from": FROM,
        "body": "Hi ${name}, code ${code}",
        "parameters": {"name": {ann: "Ann", "default": "there"}, "code": {ann: "A1", bo: "B2"}},
    }
    dry = xms(sim, http, "POST", "/batches/dry_run?per_recipient=true", body).json()
    assert {d["recipient"]: d["body"] for d in dry["per_recipient"]} == {
        ann: "Hi Ann, code A1",
        bo: "Hi there, code B2",
        carl: "Hi there, code ${code}",  # unmatched: Sinch will not send it
    }
    sent = send(sim, http, **body, delivery_report="per_recipient", callback_url=receiver.url)
    reports = receiver.reports(5)  # Dispatched + Delivered for two, Aborted for one
    assert {(r["recipient"], r["status"], r["code"]) for r in reports} == {
        (ann, "Dispatched", 401),
        (ann, "Delivered", 0),
        (bo, "Dispatched", 401),
        (bo, "Delivered", 0),
        (carl, "Aborted", 405),
    }
    assert recipient_status(sim, http, sent["id"], carl)["code"] == 405


def test_a_number_listed_twice_is_one_recipient_with_one_report(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    batch = send(
        sim,
        http,
        to=[TO, TO.removeprefix("+"), TO, TO2],
        delivery_report="per_recipient_final",
        callback_url=receiver.url,
    )
    receiver.reports(2)
    time.sleep(DELAY_S * 3)
    assert sorted(c.json["recipient"] for c in receiver.calls) == [TO, TO2]
    report = xms(sim, http, "GET", f"/batches/{batch['id']}/delivery_report").json()
    assert report["total_message_count"] == 2


def test_the_rate_limit_counts_recipients(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    assert control(sim, http, "POST", "/_sim/config", {"rate_limit": 500})[0] == 200
    assert (
        xms(sim, http, "POST", "/batches", {"to": fictional_numbers(499), "from": FROM, "body": "Hi"}).status
        == 201
    )
    over = xms(
        sim, http, "POST", "/batches", {"to": fictional_numbers(2, start=499), "from": FROM, "body": "Hi"}
    )
    assert (over.status, over.json()["code"], over.headers["Retry-After"]) == (429, "too_many_requests", "1")
    assert xms(sim, http, "POST", "/batches", {"to": [TO], "from": FROM, "body": "Hi"}).status == 201
    assert xms(sim, http, "GET", "/batches").status == 429  # 500 messages this second: nothing more
    bad = xms(sim, http, "POST", "/batches", {"to": ["nope"], "from": FROM, "body": "Hi"})
    assert bad.status == 400  # checked before it is counted


def test_every_recipient_of_a_batch_can_be_looked_up(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    numbers = fictional_numbers(50, start=120)
    batch = send(sim, http, to=numbers, client_reference="look")

    def all_delivered() -> bool:
        return all(recipient_status(sim, http, batch["id"], n)["status"] == "Delivered" for n in numbers)

    assert wait_until(all_delivered)
    for number in (numbers[0], numbers[-1]):
        for spelt in (number, number.removeprefix("+"), number.replace("+", "%2B")):
            report = recipient_status(sim, http, batch["id"], spelt)
            assert (report["batch_id"], report["recipient"], report["client_reference"]) == (
                batch["id"],
                number,
                "look",
            )


def test_drop_faults_lose_some_recipients_reports_while_every_one_can_be_looked_up(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    set_faults(sim, http, {"match": "callbacks", "drop": True, "probability": 0.3}, seed=11)
    numbers = fictional_numbers(60)
    batch = send(sim, http, to=numbers, delivery_report="per_recipient", callback_url=receiver.url)

    def all_final() -> bool:
        return all(recipient_status(sim, http, batch["id"], n)["status"] == "Delivered" for n in numbers)

    assert wait_until(all_final)

    def reported() -> dict[str, list[str]]:
        seen: dict[str, list[str]] = {}
        for call in receiver.calls:
            seen.setdefault(call.json["recipient"], []).append(call.json["status"])
        return seen

    # A recipient's Dispatched report goes out before its final status is set, its final report after.
    assert wait_until(lambda: all(len(v) == 2 for v in reported().values()))
    got = reported()
    assert 0 < len(got) < len(numbers)  # some recipients' reports lost, not the whole batch's
    assert all(v == ["Dispatched", "Delivered"] for v in got.values())


def test_a_callbacks_rule_for_the_mms_api_leaves_xms_reports_alone(
    sim: SinchSimulator, http: urllib3.PoolManager, receiver: Receiver
) -> None:
    set_faults(sim, http, {"match": "callbacks", "drop": True, "api": "mms"})
    send(sim, http, delivery_report="per_recipient_final", callback_url=receiver.url)
    assert receiver.reports(1)[0]["status"] == "Delivered"
    set_faults(sim, http, {"match": "callbacks", "drop": True, "api": "xms"})
    dropped = send(sim, http, delivery_report="per_recipient_final", callback_url=receiver.url)
    assert wait_until(lambda: recipient_status(sim, http, dropped["id"])["status"] == "Delivered")
    time.sleep(DELAY_S * 3)
    assert len(receiver.calls) == 1
