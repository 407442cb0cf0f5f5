"""The local stack: moto, the Sinch simulator, the template's resources, the API and the pollers.

One job: start the parts in order, wire them together, describe the running stack in
``<state>/stack.json``, and stop everything again. Each function's log output also goes to
``<state>/logs/<LogicalId>.log``; with tracing on, a local X-Ray daemon keeps every segment the
functions send (and Lambda's own function segments) in ``<state>/traces.jsonl``.
``python -m devstack`` (``make run``) runs one in the foreground; tests can run one in-process.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack import aws
from devstack.console import print_line
from devstack.gateway import ApiGateway, UsagePlan
from devstack.iam_principals import function_credentials
from devstack.moto_server import MotoServer
from devstack.poller import DEFAULT_CONCURRENCY, SqsPoller, SqsSource
from devstack.resources import StackResources, create_resources
from devstack.runtime import DEFAULT_POOL_SIZE, LambdaRuntime
from devstack.sinch_process import SimulatorProcess
from devstack.state import REPO_ROOT
from devstack.stream_poller import DynamoDBStreamsClient, StreamPoller, StreamSource
from devstack.template import (
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    SECRET,
    SqsMapping,
    StreamMapping,
    Template,
    TemplateError,
)
from devstack.tenants import LocalTenant, UsagePlanKeys, create_local_tenants, create_usage_plan
from devstack.waf import web_acls
from devstack.xray_daemon import XRayDaemon
from gateway_admin.local_stack import DEFAULT_STATE_DIR, state_dir
from gateway_admin.tenants import Target

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

HOST = "127.0.0.1"
# Sinch calls back from its own addresses; the simulator from this one, so that the API's
# per-address limits and the postback source allowlist can tell it from the tests on HOST.
SINCH_SOURCE = "127.0.0.2"
SERVICE_PLAN_ID = "local-plan"
MMS_SERVICE_ID = "local-service"
FROM_NUMBER = "+12025550100"
SINCH_REGION = "us"

# Template parameters the local stack sets (a DEVSTACK_PARAM_<Name> variable still wins).
# Plus PublicBaseUrl (the local API's URL), MediaAllowedPrivateHosts (the simulator only) and
# CallbackAllowedPrivateHosts (own_services_excluded).
LOCAL_PARAMETERS = {
    "AllowHttpMedia": "true",
    "AllowHttpCallbacks": "true",
}


def sinch_source_address(log: Callable[[str], None]) -> str:
    """SINCH_SOURCE where it can be bound (Linux answers on all of 127.0.0.0/8 without setup);
    else HOST, and per-address limits then cannot tell the simulator from the tests."""
    try:
        with socket.socket() as probe:
            probe.bind((SINCH_SOURCE, 0))
    except OSError as exc:
        log(f"[devstack] {SINCH_SOURCE} cannot be bound here ({exc}): the simulator calls back from {HOST}")
        return HOST
    return SINCH_SOURCE


def own_services_excluded(*services: str) -> str:
    """Status callbacks may go to any receiver on this machine (tests run theirs on free ports),
    but never to the stack's own services: a callback URL must not reach the simulator's control
    API (POST /_sim/reset), moto's (POST /moto-api/reset) or the API itself."""
    return ",".join([f"{HOST}:*", *(f"!{url.removeprefix('http://')}" for url in services)])


@dataclass
class StackConfig:
    template_path: Path = REPO_ROOT / "template.yaml"
    state_dir: Path | None = DEFAULT_STATE_DIR  # None: no stack.json
    api_port: int = 3000
    aws_port: int = 4566
    sinch_port: int = 4010
    stack_name: str = DEFAULT_STACK_NAME
    region: str = DEFAULT_REGION
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    pool_size: int = DEFAULT_POOL_SIZE
    log_prefix: bool = True
    report: bool = True  # Lambda's REPORT line per invocation
    access_log: bool = True
    usage_plan: bool = False  # throttle and quota per API key, from the Api's Auth.UsagePlan
    tracing: bool = True  # X-Ray for functions with Tracing: Active (needs a state_dir for its file)
    api_key: str | None = None  # the first tenant's key value; None: a new random one each start

    @classmethod
    def on_free_ports(cls, state_dir: Path | None, **changes: Any) -> StackConfig:
        """A stack for a test or a benchmark: free ports, no output of its own."""
        return cls(
            state_dir=state_dir,
            api_port=0,
            aws_port=0,
            sinch_port=0,
            log_prefix=False,
            report=False,
            access_log=False,
            **changes,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StackConfig:
        def flag(name: str, default: bool) -> bool:
            value = environ.get(name)
            return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")

        return cls(
            template_path=Path(environ.get("DEVSTACK_TEMPLATE", str(REPO_ROOT / "template.yaml"))),
            state_dir=state_dir(environ),
            api_port=int(environ.get("API_PORT", "3000")),
            aws_port=int(environ.get("AWS_PORT", "4566")),
            sinch_port=int(environ.get("SINCH_PORT", "4010")),
            stack_name=environ.get("DEVSTACK_STACK_NAME", DEFAULT_STACK_NAME),
            region=environ.get("DEVSTACK_REGION", DEFAULT_REGION),
            parameter_overrides={
                name.removeprefix("DEVSTACK_PARAM_"): value
                for name, value in environ.items()
                if name.startswith("DEVSTACK_PARAM_")
            },
            pool_size=int(environ.get("DEVSTACK_POOL_SIZE", str(DEFAULT_POOL_SIZE))),
            log_prefix=flag("DEVSTACK_LOG_PREFIX", True),
            report=flag("DEVSTACK_REPORT", True),
            access_log=flag("DEVSTACK_ACCESS_LOG", True),
            usage_plan=flag("DEVSTACK_USAGE_PLAN", False),
            tracing=flag("DEVSTACK_TRACING", True),
            api_key=environ.get("DEVSTACK_API_KEY") or None,
        )


def pool_sizes_for(sqs: list[SqsMapping], streams: list[StreamMapping], least: int) -> dict[str, int]:
    """Workers per function that event sources invoke. On Lambda, an SQS mapping's
    MaximumConcurrency caps that mapping alone, and a stream's invocations (one shard at a time
    here) come on top: sharing a pool of the queue's size, a stream would wait for the queue."""
    sizes: dict[str, int] = {}
    for mapping in sqs:
        sizes[mapping.function] = sizes.get(mapping.function, 0) + (
            mapping.maximum_concurrency or DEFAULT_CONCURRENCY
        )
    for stream in streams:
        sizes[stream.function] = sizes.get(stream.function, 0) + 1
    return {function: max(least, size) for function, size in sizes.items()}


def stream_source(template: Template, mapping: StreamMapping, resources: StackResources) -> StreamSource:
    """What the stream poller of `mapping` needs, with the template's bounds and destination."""
    destination = mapping.on_failure_queue
    return StreamSource(
        function=mapping.function,
        stream_arn=template.get_att(mapping.table, "StreamArn"),
        region=template.region,
        batch_size=mapping.batch_size,
        starting_position=mapping.starting_position,
        report_batch_item_failures=mapping.report_batch_item_failures,
        maximum_retry_attempts=mapping.maximum_retry_attempts,
        maximum_record_age_s=mapping.maximum_record_age_s,
        bisect_batch_on_function_error=mapping.bisect_batch_on_function_error,
        on_failure_queue_url=resources.queues[destination].url if destination is not None else None,
        function_arn=template.get_att(mapping.function, "Arn"),
    )


class LocalStack:
    def __init__(self, config: StackConfig, *, log: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.log = log or print_line
        self.tenants: list[LocalTenant] = []
        self.usage_plan_id = ""
        self.api_token = secrets.token_hex(16)
        self.webhook_secret = secrets.token_urlsafe(32)
        self.mms_api_key = secrets.token_hex(16)
        # The MMS JSON API's postback URL carries its proof: here a token in the path.
        self.postback_token = secrets.token_urlsafe(24)
        self.template: Template | None = None
        self.resources: StackResources | None = None
        self.aws_endpoint_url = ""
        self.sinch_url = ""
        self.sinch_source = HOST  # the address the simulator's callbacks come from
        self.api_url = ""
        self._moto: MotoServer | None = None
        self._simulator: SimulatorProcess | None = None
        self._gateway: ApiGateway | None = None
        self._runtime: LambdaRuntime | None = None
        self._pollers: list[SqsPoller | StreamPoller] = []
        self._xray: XRayDaemon | None = None
        self._state_lock = threading.Lock()
        self._stack_json: Path | None = None

    # --- start ----------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Start everything; on failure, stop what was started and raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        # moto, the gateway and the pollers share this process: what they built at start lives
        # as long as the stack, and a full garbage collection scanning it all paused every one of
        # them for half a second at a time (AWS's services do not pause together).
        gc.freeze()
        return self

    def _start(self) -> None:
        config = self.config
        template = Template(
            config.template_path,
            parameter_overrides=config.parameter_overrides,
            stack_name=config.stack_name,
            region=config.region,
        )
        self.template = template

        self.log(f"[devstack] starting moto (AWS emulation) on {HOST}:{config.aws_port}")
        self._moto = MotoServer(HOST, config.aws_port)
        self.aws_endpoint_url = self._moto.start()

        self.log(f"[devstack] starting the Sinch simulator on {HOST}:{config.sinch_port}")
        self.sinch_source = sinch_source_address(self.log)
        self._simulator = SimulatorProcess(
            self.log,
            host=HOST,
            port=config.sinch_port,
            service_plan_id=SERVICE_PLAN_ID,
            api_token=self.api_token,
            webhook_secret=self.webhook_secret,
            mms_api_key=self.mms_api_key,
            mms_service_id=MMS_SERVICE_ID,
            source_address=self.sinch_source,
        ).start()
        self.sinch_url = self._simulator.url

        # Bind the API's port first: its URL is a template parameter (PublicBaseUrl).
        self._gateway = ApiGateway(
            template.routes(),
            template.apis(),
            api_keys={},  # the usage plan's keys, once moto holds them (below)
            host=HOST,
            port=config.api_port,
            account_id=template.account_id,
            usage_plan=self._usage_plan(template) if config.usage_plan else None,
            access_log=config.access_log,
            log=self.log,
        )
        self.api_url = self._gateway.url
        # Provisioned on the "account", as Sinch does for the MMS JSON API's postbacks.
        self._simulator.update_config(
            {
                "postback_url": f"{self.api_url}/v1/webhooks/sinch/mms-postbacks/{self.postback_token}",
                # The service plan's inbound callback URL, as Sinch's dashboard sets it.
                "inbound_url": f"{self.api_url}/v1/webhooks/sinch/inbound",
            }
        )
        local = {
            **LOCAL_PARAMETERS,
            "PublicBaseUrl": self.api_url,
            "MediaAllowedPrivateHosts": self.sinch_url.removeprefix("http://"),
            "CallbackAllowedPrivateHosts": own_services_excluded(
                self.sinch_url, self.aws_endpoint_url, self.api_url
            ),
        }
        template.bind(
            {
                **{k: v for k, v in local.items() if template.declares_parameter(k)},
                **config.parameter_overrides,
            }
        )
        self._gateway.firewalls = web_acls(template, template.apis())

        self.log("[devstack] creating the template's tables, queues, secrets and buckets")
        self.resources = create_resources(template, self.aws_endpoint_url)
        self._put_sinch_credentials()
        self._create_tenants(template)

        log_dir = self._fresh_logs()
        if config.tracing and config.state_dir is not None:
            self._xray = XRayDaemon(config.state_dir / "traces.jsonl", host=HOST).start()
            self.log(f"[devstack] X-Ray daemon on {self._xray.address}, traces in {self._xray.path}")

        mappings = [m for m in template.sqs_mappings() if m.enabled]
        streams = [m for m in template.stream_mappings() if m.enabled]
        pool_sizes = pool_sizes_for(mappings, streams, config.pool_size)
        self._runtime = LambdaRuntime(
            template.functions(),
            aws_endpoint_url=self.aws_endpoint_url,
            region=template.region,
            pool_size=config.pool_size,
            pool_sizes=pool_sizes,
            log_prefix=config.log_prefix,
            report=config.report,
            on_cold_start=self._on_cold_start,
            log=self.log,
            xray=self._xray,
            log_dir=log_dir,
            credentials={
                function: session.environment()
                for function, session in function_credentials(template, self.aws_endpoint_url).items()
            },
        )
        self._gateway.invoker = self._runtime
        self._gateway.start()

        for mapping in mappings:
            queue = self.resources.queues[mapping.queue]
            source = SqsSource(
                function=mapping.function,
                queue_url=queue.url,
                queue_arn=queue.arn,
                region=template.region,
                batch_size=mapping.batch_size,
                maximum_batching_window=mapping.maximum_batching_window,
                report_batch_item_failures=mapping.report_batch_item_failures,
                concurrency=mapping.maximum_concurrency or DEFAULT_CONCURRENCY,
            )
            poller = SqsPoller(source, self._runtime, self._sqs_client, log=self.log)
            poller.start()
            self._pollers.append(poller)

        for stream in streams:
            stream_poller = StreamPoller(
                stream_source(template, stream, self.resources),
                self._runtime,
                self._streams_client,
                sqs_client_factory=self._sqs_client,
                log=self.log,
            )
            stream_poller.start()
            self._pollers.append(stream_poller)

        if config.state_dir is not None:
            self._stack_json = config.state_dir / "stack.json"
            self.write_state()

    def _create_tenants(self, template: Template) -> None:
        """The usage plan and the local tenants, made in moto the way an operator makes them."""
        assert self._gateway is not None and self.resources is not None
        if "TenantsTable" not in self.resources.tables:
            raise TemplateError("no TenantsTable in the template")
        apigateway = aws.client("apigateway", self.aws_endpoint_url, self.config.region)
        self.usage_plan_id = create_usage_plan(apigateway, f"{template.stack_name}-UsagePlan")
        target = Target(
            tenants_table=self.resources.tables["TenantsTable"].name,
            usage_plan_id=self.usage_plan_id,
            apigateway=apigateway,
            dynamodb=aws.client("dynamodb", self.aws_endpoint_url, self.config.region),
        )
        self.tenants = create_local_tenants(
            target,
            aws.client("iam", self.aws_endpoint_url, self.config.region),
            first_api_key=self.config.api_key,
            user_prefix=f"{template.stack_name}-",
        )
        self._gateway.api_keys = UsagePlanKeys(
            lambda: aws.client("apigateway", self.aws_endpoint_url, self.config.region), self.usage_plan_id
        )

    @property
    def api_key(self) -> str:
        """The first tenant's key: the one examples use."""
        return self.tenants[0].api_key

    def _fresh_logs(self) -> Path | None:
        """The functions' log directory, emptied (with the traces) of an earlier run's."""
        if self.config.state_dir is None:
            return None
        log_dir = self.config.state_dir / "logs"
        for old in [*log_dir.glob("*.log"), self.config.state_dir / "traces.jsonl"]:
            old.unlink(missing_ok=True)
        return log_dir

    def _sqs_client(self) -> SQSClient:
        return aws.client("sqs", self.aws_endpoint_url, self.config.region)

    def _streams_client(self) -> DynamoDBStreamsClient:
        return aws.client("dynamodbstreams", self.aws_endpoint_url, self.config.region)

    def _usage_plan(self, template: Template) -> UsagePlan | None:
        for api in template.apis():
            props = template.properties(api) if api in template.resources else {}
            plan = template.resolve((props.get("Auth") or {}).get("UsagePlan") or {})
            throttle = plan.get("Throttle") or {}
            quota = plan.get("Quota") or {}
            if throttle or quota:
                periods = {"DAY": 86400, "WEEK": 7 * 86400, "MONTH": 30 * 86400}
                return UsagePlan(
                    rate_limit=float(throttle.get("RateLimit", 10000)),
                    burst_limit=int(throttle.get("BurstLimit", 5000)),
                    quota_limit=int(quota["Limit"]) if "Limit" in quota else None,
                    quota_period_seconds=periods.get(str(quota.get("Period", "DAY")).upper(), 86400),
                )
        return None

    def sinch_secret_id(self) -> str | None:
        assert self.resources is not None
        if "SinchSecret" in self.resources.secrets:
            return self.resources.secrets["SinchSecret"].arn
        if len(self.resources.secrets) == 1:
            return next(iter(self.resources.secrets.values())).arn
        return None

    def webhook_secret_id(self) -> str | None:
        assert self.resources is not None
        secret = self.resources.secrets.get("WebhookSecret")
        return secret.arn if secret is not None else None

    def _put_sinch_credentials(self) -> None:
        """Point the template's Sinch secret at the simulator, with the simulator's credentials, and
        put the key the simulator signs callbacks with in the webhook secret (if there is one)."""
        assert self.template is not None
        secret_id = self.sinch_secret_id()
        if secret_id is None:
            kinds = sorted(self.template.resources_of_type(SECRET))
            raise TemplateError(f"no SinchSecret in the template (secrets: {kinds})")
        value = {
            "service_plan_id": SERVICE_PLAN_ID,
            "api_token": self.api_token,
            "region": SINCH_REGION,
            "base_url": self.sinch_url,
            "from_number": FROM_NUMBER,
            "mms_api_key": self.mms_api_key,
            "mms_service_id": MMS_SERVICE_ID,
            "mms_url": f"{self.sinch_url}/ep/v2/",
        }
        client = aws.client("secretsmanager", self.aws_endpoint_url, self.config.region)
        client.put_secret_value(SecretId=secret_id, SecretString=json.dumps(value))
        webhook_secret_id = self.webhook_secret_id()
        if webhook_secret_id is not None:
            webhook = {
                "webhook_secret": self.webhook_secret,
                "postback_token": self.postback_token,
                # As onboarding gives Sinch's addresses: the allowlist runs on every local postback.
                "postback_sources": [f"{self.sinch_source}/32"],
            }
            client.put_secret_value(SecretId=webhook_secret_id, SecretString=json.dumps(webhook))

    # --- state ----------------------------------------------------------------------------------

    def _on_cold_start(self, function: str, init_ms: float) -> None:
        if self._stack_json is not None:
            with contextlib.suppress(OSError):
                self.write_state()

    def state(self) -> dict[str, Any]:
        """What ``stack.json`` holds."""
        assert self.template is not None and self.resources is not None
        queues, tables = self.resources.queues, self.resources.tables
        state: dict[str, Any] = {
            "api_url": self.api_url,
            "api_key": self.api_key,
            "tenants": [tenant.as_json() for tenant in self.tenants],
            "aws_endpoint_url": self.aws_endpoint_url,
            "region": self.template.region,
            "sinch_url": self.sinch_url,
            "sinch_source_address": self.sinch_source,
            "send_queue_url": queues["SendQueue"].url if "SendQueue" in queues else None,
            "dead_letter_queue_url": queues["DeadLetterQueue"].url if "DeadLetterQueue" in queues else None,
            "messages_table": tables["MessagesTable"].name if "MessagesTable" in tables else None,
            "secret_id": self.sinch_secret_id(),
            "webhook_secret_id": self.webhook_secret_id(),
        }
        if "IdempotencyTable" in tables:
            state["idempotency_table"] = tables["IdempotencyTable"].name
        if "MediaBucket" in self.resources.buckets:
            state["media_bucket"] = self.resources.buckets["MediaBucket"].name
        state.update(
            {
                "stack_name": self.template.stack_name,
                "api_key_id": self.tenants[0].api_key_id,
                "usage_plan_id": self.usage_plan_id,
                "tenants_table": tables["TenantsTable"].name,
                "service_plan_id": SERVICE_PLAN_ID,
                "pid": os.getpid(),
                "queues": {lid: q.url for lid, q in queues.items()},
                "tables": {lid: t.name for lid, t in tables.items()},
                "functions": self._functions_state(),
            }
        )
        if self.config.state_dir is not None:
            state["logs_dir"] = str(self.config.state_dir / "logs")
        if self._xray is not None:
            state["traces_file"] = str(self._xray.path)
        return state

    def _functions_state(self) -> dict[str, Any]:
        if self._runtime is None:
            return {}
        stats = self._runtime.stats()
        return {
            spec.logical_id: {
                "name": spec.name,
                "handler": spec.handler,
                "codeUri": str(spec.code_dir),
                "timeout": spec.timeout,
                "memorySize": spec.memory_size,
                "coldStarts": stats[spec.logical_id]["coldStarts"],
                "initDurationsMs": stats[spec.logical_id]["initDurationsMs"],
            }
            for spec in self._runtime.functions()
        }

    def write_state(self) -> None:
        """Write stack.json atomically (a reader never sees half of it)."""
        assert self._stack_json is not None
        with self._state_lock:
            self._stack_json.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._stack_json.with_name(f".{self._stack_json.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.state(), indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, self._stack_json)

    # --- stop -----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop everything that was started (safe to call more than once)."""
        if self._stack_json is not None:
            with self._state_lock, contextlib.suppress(OSError):
                self._stack_json.unlink()
            self._stack_json = None
        if self._gateway is not None:
            self._quietly(self._gateway.stop)
            self._gateway = None
        for poller in self._pollers:
            poller.request_stop()
        if self._runtime is not None:  # ends invocations in flight, so the pollers stop at once
            self._quietly(self._runtime.close)
            self._runtime = None
        for poller in self._pollers:
            self._quietly(poller.stop)
        self._pollers = []
        if self._xray is not None:  # after the functions: their last segments still arrive
            self._quietly(self._xray.stop)
            self._xray = None
        if self._simulator is not None:
            self._quietly(self._simulator.stop)
            self._simulator = None
        if self._moto is not None:
            self._quietly(self._moto.stop)
            self._moto = None

    def _quietly(self, stop: Callable[[], None]) -> None:
        try:
            stop()
        except Exception as exc:
            self.log(f"[devstack] while stopping: {type(exc).__name__}: {exc}")

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
