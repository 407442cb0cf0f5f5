"""Handlers called in this process against moto server and the Sinch simulator over HTTP.

The resources come from template.yaml (as the local stack creates them) and each handler sees
its function's environment from the template, so these tests exercise the deployed wiring.
"""

import importlib.util
import json
import os
import pathlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
import urllib3

from devstack import aws
from devstack.resources import create_resources
from devstack.runtime import function_environment
from devstack.sinch_simulator import SinchSimulator
from devstack.template import Template
from sinch_gateway.data.tenants import tenant_to_item
from sinch_gateway.domain.tenants import Tenant, TenantPolicy
from sinch_gateway.domain.webhook_auth import signature
from sinch_gateway.sinch import credentials
from tests.integration.raw_server import Behaviour, RawServer

ROOT = pathlib.Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "integration-webhook-secret"
API_TOKEN = "integration-token"
PROJECT = {
    "project_id": "integration-project",
    "key_id": "integration-key",
    "key_secret": "integration-key-secret",
}
SENDER = "+12025550100"
# The API key id of events/api-*.json: the tenant every handler call acts for.
TENANT = "k1l2m3n4o5"
OTHER_TENANT = "z9y8x7w6v5"
# The principal whose SendQueue requests each registered tenant takes (SQS's SenderId).
PUBLISHER = "AIDAEXAMPLEPUBLISHER1"
FUNCTION_DIRS = {
    "SendFunction": "send",
    "QueueFunction": "queue",
    "WebhookFunction": "webhook",
    "CallbackFunction": "callback",
}


@dataclass
class Context:
    function_name: str = "test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id: str = "req"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


class Env:
    """What a test needs: the handlers, the simulator, and AWS clients on moto."""

    def __init__(
        self, template: Template, endpoint: str, sim: SinchSimulator, secret_id: str, webhook_secret_id: str
    ) -> None:
        self.template = template
        self.endpoint = endpoint
        self.sim = sim
        self.secret_id = secret_id
        self.webhook_secret_id = webhook_secret_id
        self.http = urllib3.PoolManager()
        self.ddb = aws.client("dynamodb", endpoint, template.region)
        self.sqs = aws.client("sqs", endpoint, template.region)
        self.secrets = aws.client("secretsmanager", endpoint, template.region)
        self.table = template.table_name("MessagesTable")
        self.tenants_table = template.table_name("TenantsTable")
        self.queue_url = self.sqs.get_queue_url(QueueName=template.queue_name("SendQueue"))["QueueUrl"]
        self.dlq_url = self.sqs.get_queue_url(QueueName=template.queue_name("DeadLetterQueue"))["QueueUrl"]
        self.modules: dict[str, ModuleType] = {}

    # --- handlers ------------------------------------------------------------------------------
    def handler(self, function: str) -> Callable[[dict[str, Any]], Any]:
        if function not in self.modules:
            path = ROOT / "functions" / FUNCTION_DIRS[function] / "app.py"
            spec = importlib.util.spec_from_file_location(f"handler_{FUNCTION_DIRS[function]}", path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self.modules[function] = module
        module = self.modules[function]
        return lambda event: module.lambda_handler(event, Context())

    def call(
        self,
        function: str,
        method: str,
        *,
        path: str,
        body: str | None = None,
        headers: dict[str, str] | None = None,
        resource: str | None = None,
        query: dict[str, str] | None = None,
        tenant: str = TENANT,
    ) -> dict[str, Any]:
        """The raw proxy result of one API Gateway REST event, made with `tenant`'s API key."""
        hdrs = {"content-type": "application/json", **(headers or {})}
        event = json.loads((ROOT / "events" / "api-send-sms.json").read_text())
        event["requestContext"]["identity"]["apiKeyId"] = tenant
        event.update(
            httpMethod=method,
            path=path,
            resource=resource or path,
            body=body,
            headers=hdrs,
            multiValueHeaders={k: [v] for k, v in hdrs.items()},
            queryStringParameters=query,
            multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
        )
        result: dict[str, Any] = self.handler(function)(event)
        return result

    def api(self, function: str, method: str, **kwargs: Any) -> tuple[int, Any]:
        answer = self.call(function, method, **kwargs)
        return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None

    def send(self, body: dict[str, Any]) -> tuple[int, Any]:
        return self.api("SendFunction", "POST", path="/v1/messages", body=json.dumps(body))

    def report(
        self, report: dict[str, Any], *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
    ) -> tuple[int, Any]:
        body = json.dumps(report)
        nonce, ts = uuid.uuid4().hex, str(timestamp if timestamp is not None else int(time.time()))
        headers = {
            "x-sinch-webhook-signature": signature(secret, body, nonce, ts),
            "x-sinch-webhook-signature-nonce": nonce,
            "x-sinch-webhook-signature-timestamp": ts,
        }
        return self.api(
            "WebhookFunction",
            "POST",
            path="/v1/webhooks/sinch/delivery-reports",
            body=body,
            headers=headers,
        )

    def consume(self, *bodies: str, tenant: str | None = TENANT, sender: str | None = None) -> dict[str, Any]:
        """QueueFunction on SendQueue records with these bodies, naming `tenant`, each sent by
        `sender` (SQS's SenderId): by default a retry by the gateway's QueueFunction, a request by
        the tenants' PUBLISHER."""
        template = json.loads((ROOT / "events" / "sqs-retry.json").read_text())["Records"][0]
        attributes = {} if tenant is None else {"tenant": {"stringValue": tenant, "dataType": "String"}}
        records = [
            {
                **template,
                "messageId": str(uuid.uuid4()),
                "body": b,
                "messageAttributes": attributes,
                "attributes": {**template["attributes"], "SenderId": sender or self.sender_of(b)},
            }
            for b in bodies
        ]
        result: dict[str, Any] = self.handler("QueueFunction")({"Records": records})
        return {"result": result, "ids": [r["messageId"] for r in records]}

    def sender_of(self, body: str) -> str:
        if '"kind": "retry"' in body or '"kind": "settle"' in body:
            role = self.template.get_att("QueueFunctionRole", "RoleId")
            return f"{role}:{self.template.function_name('QueueFunction')}"
        return PUBLISHER

    def forget_rate(self) -> None:
        """Drop the shared Sinch rate's items: their turns and any hold-off a 429 left."""
        for api in ("xms", "mms-json"):
            self.ddb.delete_item(TableName=self.table, Key={"id": {"S": f"rate#{api}"}})

    # --- the world -----------------------------------------------------------------------------
    def sim_call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(
            method,
            self.sim.url + path,
            body=json.dumps(body).encode() if body is not None else None,
            headers={"content-type": "application/json"},
        )
        return json.loads(response.data) if response.data else None

    def faults(self, *rules: dict[str, Any]) -> None:
        self.sim_call("POST", "/_sim/faults", {"rules": list(rules)})

    def batch_requests(self) -> list[dict[str, Any]]:
        return [
            r
            for r in self.sim_call("GET", "/_sim/requests")
            if r["method"] == "POST" and r["path"].endswith("/batches")
        ]

    def register(self, tenant_id: str, policy: TenantPolicy | None = None) -> None:
        """Put a tenant's item (its policy, PUBLISHER among its publishers) in TenantsTable."""
        policy = policy or TenantPolicy()
        policy = policy.model_copy(update={"publishers": policy.publishers | {PUBLISHER}})
        tenant = Tenant(tenant_id=tenant_id, name=tenant_id, policy=policy)
        self.ddb.put_item(TableName=self.tenants_table, Item=tenant_to_item(tenant))

    def stored(self, message_id: str) -> dict[str, Any]:
        status, body = self.api(
            "SendFunction", "GET", path=f"/v1/messages/{message_id}", resource="/v1/messages/{id}"
        )
        assert status == 200, body
        return dict(body)

    def retry_queued(self, message_id: str, wait_s: float = 0, kind: str = "retry") -> dict[str, Any] | None:
        """The retry (or other `kind` of record: "settle") of `message_id` waiting on SendQueue
        (taken off it), if it shows within wait_s.

        Other tests' delayed retries may surface meanwhile: they are left alone.
        """
        deadline = time.monotonic() + wait_s
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
            )
            for message in answer.get("Messages", []):
                body: dict[str, Any] = json.loads(message["Body"])
                if body.get("messageId") == message_id and body.get("kind") == kind:
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                    return body
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)

    def scan(self, **query: Any) -> list[dict[str, Any]]:
        """Every item of MessagesTable that `query` (Scan's parameters) lets through, page after
        page: the session's table holds more than the 1 MB one page reads (a batch's thousands of
        messages)."""
        items: list[dict[str, Any]] = []
        page: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True, **query}
        while True:
            answer = self.ddb.scan(**page)
            items.extend(answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return items
            page["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def dead_letters(self) -> list[tuple[str, dict[str, str]]]:
        """Everything on the DeadLetterQueue now (taken off it): body and attributes."""
        found: list[tuple[str, dict[str, str]]] = []
        while messages := self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            for m in messages:
                attributes = {k: v.get("StringValue", "") for k, v in m.get("MessageAttributes", {}).items()}
                found.append((m["Body"], attributes))
                self.sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=m["ReceiptHandle"])
        return found

    def drain(self) -> None:
        """Empty SendQueue (PurgeQueue is allowed once a minute, in moto as in SQS)."""
        while messages := self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in messages:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def use_oauth(self, **changes: str) -> None:
        """Switch the secret to project (OAuth2) auth against the simulator's token endpoint."""
        self.set_secret(auth="oauth", auth_url=f"{self.sim.url}/oauth2/token", **{**PROJECT, **changes})
        forget_cached_secrets()

    def set_secret(self, **changes: str) -> None:
        """Both secrets as the local stack sets them, with `changes` to either (by field name)."""
        sinch = {
            "service_plan_id": "local-plan",
            "api_token": API_TOKEN,
            "region": "us",
            "base_url": self.sim.url,
            "from_number": SENDER,
        }
        webhook = {"webhook_secret": WEBHOOK_SECRET}
        for name, value in changes.items():
            (webhook if name.startswith("webhook_") else sinch)[name] = value
        self.secrets.put_secret_value(SecretId=self.secret_id, SecretString=json.dumps(sinch))
        self.secrets.put_secret_value(SecretId=self.webhook_secret_id, SecretString=json.dumps(webhook))


def forget_cached_secrets() -> None:
    credentials.forget_cached_secrets()


@pytest.fixture(scope="session")
def world(endpoint: str) -> Iterator[Env]:
    sim = SinchSimulator(
        port=0,
        service_plan_id="local-plan",
        api_token=API_TOKEN,
        webhook_secret=WEBHOOK_SECRET,
        callback_delay_s=60,
        project_id=PROJECT["project_id"],
        key_id=PROJECT["key_id"],
        key_secret=PROJECT["key_secret"],
    )
    sim.start()
    template = Template(
        ROOT / "template.yaml",
        stack_name=f"it-{uuid.uuid4().hex[:8]}",
        parameter_overrides={
            "PublicBaseUrl": "http://127.0.0.1:9",
            "AllowHttpMedia": "true",
            "MediaAllowedPrivateHosts": sim.url.removeprefix("http://"),
            "MaxSendAttempts": "3",
            "AllowHttpCallbacks": "true",
            "CallbackAllowedPrivateHosts": "127.0.0.1:*",
        },
    )
    resources = create_resources(template, endpoint)
    spec = template.function("SendFunction")
    saved = dict(os.environ)
    os.environ.update(function_environment(spec, aws_endpoint_url=endpoint, region=template.region))
    # Every handler runs in this process: each one's own variables too (the webhook secret's id,
    # the queue function's API URL).
    for function in ("QueueFunction", "WebhookFunction", "CallbackFunction"):
        os.environ.update(template.function(function).environment)
    # Short enough that a simulated slow Sinch is a timeout without slowing the suite.
    os.environ.update(
        SINCH_READ_TIMEOUT_S="0.5",
        SINCH_CONNECT_TIMEOUT_S="0.5",
        RETRY_BASE_DELAY_S="0",
        SEND_LEASE_S="3",
        TENANT_POLICY_CACHE_S="0",  # a policy a test sets applies at once
        REPORT_GRACE_S="2",  # a message's settle check shows on SendQueue within a test
    )
    env = Env(
        template, endpoint, sim, resources.secrets["SinchSecret"].arn, resources.secrets["WebhookSecret"].arn
    )
    env.set_secret()
    try:
        yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sim.stop()


@pytest.fixture
def env(world: Env) -> Iterator[Env]:
    world.sim_call("POST", "/_sim/reset")
    world.set_secret()
    forget_cached_secrets()
    world.drain()
    world.dead_letters()
    world.forget_rate()  # a test's 429 must not hold the next test's sends off
    for tenant in (TENANT, OTHER_TENANT):
        world.register(tenant)
    yield world


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], RawServer]]:
    """Starts raw servers with the behaviours a test gives; all stop when it ends."""
    servers: list[RawServer] = []

    def start(behaviour: Behaviour) -> RawServer:
        server = RawServer(behaviour).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()
