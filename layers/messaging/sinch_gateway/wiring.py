"""Composition root: each function's services, built from its settings once per container and
lazily (cold start matters: nothing is made before the first request that needs it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import cached_property

import urllib3

from sinch_gateway.api.batches import BatchesEndpoint
from sinch_gateway.api.messages import MessagesEndpoint
from sinch_gateway.config import (
    CallbackAddressSettings,
    CallbackSettings,
    QueueSettings,
    SenderSettings,
    SendSettings,
    Settings,
    TenantSettings,
    WebhookSettings,
)
from sinch_gateway.data import aws
from sinch_gateway.data.batches import BatchRepository
from sinch_gateway.data.callback_queue import CallbackQueue
from sinch_gateway.data.inbound import InboundRepository, OptOutRepository
from sinch_gateway.data.media import S3Media
from sinch_gateway.data.messages import MessageRepository
from sinch_gateway.data.rate_limit import SharedRate
from sinch_gateway.data.receiver_health import ReceiverHealthTable
from sinch_gateway.data.send_queue import SendQueue
from sinch_gateway.data.templates import TemplateRepository
from sinch_gateway.data.tenants import POLICY_ATTRIBUTES, TenantDirectory
from sinch_gateway.data.unmatched import UnmatchedReports
from sinch_gateway.domain.content import Api
from sinch_gateway.domain.errors import InvalidRequest
from sinch_gateway.domain.message import utcnow
from sinch_gateway.media.preflight import MediaInfo, MediaPolicy, preflight_all
from sinch_gateway.outbound.addresses import OutboundPolicy, check_address
from sinch_gateway.outbound.client import post
from sinch_gateway.sinch.credentials import (
    CredentialStore,
    SecretStore,
    SinchCredentials,
    WebhookSecrets,
    WebhookSecretStore,
    sender_number,
)
from sinch_gateway.sinch.mms_json import MmsJsonChannel
from sinch_gateway.sinch.xms import XmsChannel
from sinch_gateway.usecases.admission import Admission
from sinch_gateway.usecases.batch_intake import BatchIntake
from sinch_gateway.usecases.batch_progress import BatchProgressReader
from sinch_gateway.usecases.callback_breaker import ReceiverBreaker
from sinch_gateway.usecases.fan_out import FanOut
from sinch_gateway.usecases.inbound_intake import InboundIntake
from sinch_gateway.usecases.media import link_lifetime_s
from sinch_gateway.usecases.ports import SinchChannel
from sinch_gateway.usecases.queue_intake import QueueIntake
from sinch_gateway.usecases.report_intake import ReportIntake
from sinch_gateway.usecases.send_message import SendMessage
from sinch_gateway.usecases.sending import MessageSender
from sinch_gateway.usecases.settling import Settler
from sinch_gateway.usecases.status_callbacks import Backoff, CallbackDelivery, CallbackDispatch
from sinch_gateway.usecases.templates import Templates
from sinch_gateway.usecases.webhook_authenticator import WebhookAuthenticator


def callback_policy(settings: CallbackAddressSettings, timeout_s: float = 5.0) -> OutboundPolicy:
    """The guarded client's rules for status callbacks: their switches, and a callback's deadline."""
    return OutboundPolicy(
        allow_http=settings.allow_http_callbacks,
        allowed_private_hosts=settings.callback_allowed_private_hosts,
        timeout_s=min(3.0, timeout_s),
        total_timeout_s=timeout_s,
    )


def tenant_directory(settings: TenantSettings, attributes: Sequence[str] | None = None) -> TenantDirectory:
    return TenantDirectory(
        aws.dynamodb(), settings.tenants_table, settings.tenant_policy_cache_s, attributes=attributes
    )


class _Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def repository(self) -> MessageRepository:
        return MessageRepository(aws.dynamodb(), self.settings.messages_table)

    @cached_property
    def inbound(self) -> InboundRepository:
        settings = self.settings
        return InboundRepository(aws.dynamodb(), settings.messages_table, settings.message_ttl_days)


class _SenderServices(_Services):
    settings: SenderSettings

    def __init__(self, settings: SenderSettings) -> None:
        super().__init__(settings)

    @cached_property
    def credentials(self) -> CredentialStore:
        settings = self.settings
        return SecretStore(
            settings.sinch_secret_id,
            SinchCredentials,
            settings.secret_max_age_s,
            name="Sinch secret",
            client=aws.secretsmanager,
        )

    @cached_property
    def tenants(self) -> TenantDirectory:
        # Their policies only: a sender never reads a tenant's callback secrets (nor may its role).
        return tenant_directory(self.settings, POLICY_ATTRIBUTES)

    @cached_property
    def templates(self) -> TemplateRepository:
        return TemplateRepository(aws.dynamodb(), self.settings.messages_table)

    @cached_property
    def mms_json(self) -> MmsJsonChannel:
        settings = self.settings
        return MmsJsonChannel(
            self.credentials, self._http, self._timeout, settle_s=settings.mms_postback_grace_s
        )

    @cached_property
    def _http(self) -> urllib3.PoolManager:
        return urllib3.PoolManager(maxsize=10, retries=False)

    @cached_property
    def _timeout(self) -> urllib3.Timeout:
        settings = self.settings
        return urllib3.Timeout(connect=settings.sinch_connect_timeout_s, read=settings.sinch_read_timeout_s)

    @cached_property
    def send_queue(self) -> SendQueue:
        return SendQueue(aws.sqs(), self.settings.send_queue_url, self.settings.dead_letter_queue_url)

    @cached_property
    def admission(self) -> Admission:
        policy = MediaPolicy.from_settings(self.settings)

        def check_media(
            urls: Sequence[str], *, budget_s: float | None = None
        ) -> list[MediaInfo | InvalidRequest]:
            budget = policy if budget_s is None else replace(policy, total_timeout_s=budget_s)
            return preflight_all(urls, budget)

        callbacks = callback_policy(self.settings)

        def check_callback(url: str) -> None:
            check_address(url, callbacks, "statusCallbackUrl")

        return Admission(
            self.tenants,
            check_media,
            self.templates,
            opt_outs=self.opt_outs,
            sender_number=self.sending_number,
            check_callback=check_callback,
            media=self.media,
        )

    @cached_property
    def batch_store(self) -> BatchRepository:
        settings = self.settings
        return BatchRepository(aws.dynamodb(), settings.batches_table, settings.message_ttl_days)

    @cached_property
    def batch_intake(self) -> BatchIntake:
        return BatchIntake(self.admission, self.batch_store, self.send_queue)

    @cached_property
    def opt_outs(self) -> OptOutRepository:
        return OptOutRepository(aws.dynamodb(), self.settings.messages_table)

    def sending_number(self) -> str | None:
        return sender_number(self.credentials)

    @cached_property
    def media(self) -> S3Media:
        return S3Media(aws.s3(), self.settings.media_bucket)

    @cached_property
    def xms(self) -> XmsChannel:
        return XmsChannel(self.credentials, self._http, self._timeout)

    @cached_property
    def channels(self) -> dict[Api, SinchChannel]:
        return {Api.XMS: self.xms, Api.MMS_JSON: self.mms_json}

    @cached_property
    def rate(self) -> SharedRate | None:
        settings = self.settings
        if not settings.sinch_rate_per_s:
            return None
        return SharedRate(aws.dynamodb(), settings.messages_table, settings.sinch_rate_per_s)

    @cached_property
    def sender(self) -> MessageSender:
        return MessageSender(
            self.repository,
            self.channels,
            self.send_queue,
            self.settings,
            media=self.media,
            rate=self.rate,
            opt_outs=self.opt_outs,
            sender_number=self.sending_number,
            tenants=self.tenants,
        )


class SendServices(_SenderServices):
    settings: SendSettings

    def __init__(self, settings: SendSettings) -> None:
        super().__init__(settings)

    @cached_property
    def messages(self) -> MessagesEndpoint:
        send_message = SendMessage(self.sender, self.admission)
        return MessagesEndpoint(send_message, self.settings.idempotency_table)

    @cached_property
    def batches(self) -> BatchesEndpoint:
        return BatchesEndpoint(
            self.batch_intake,
            BatchProgressReader(self.batch_store, self.repository),
            self.repository,
            self.settings.idempotency_table,
        )

    @cached_property
    def mms_templates(self) -> Templates:
        return Templates(
            self.templates,
            self.mms_json,
            self.admission,
            media=self.media,
            link_s=link_lifetime_s(None, utcnow(), self.settings.media_fetch_window_s),
        )


class QueueServices(_SenderServices):
    settings: QueueSettings

    def __init__(self, settings: QueueSettings) -> None:
        super().__init__(settings)

    @cached_property
    def fan_out(self) -> FanOut:
        return FanOut(
            self.repository,
            self.batch_store,
            self.xms,
            self.sender,
            queue=self.send_queue,
            settings=self.settings,
            media=self.media,
            tenants=self.tenants,
            rate=self.rate,
        )

    @cached_property
    def queue_intake(self) -> QueueIntake:
        return QueueIntake(
            self.sender,
            self.repository,
            self.tenants,
            self.admission,
            self.send_queue,
            fan_out=self.fan_out,
            settler=Settler(
                self.repository,
                self.channels,
                self.send_queue,
                self.settings,
                rate=self.rate,
                tenants=self.tenants,
            ),
            settings=self.settings,
            batch_intake=self.batch_intake,
        )


class WebhookServices(_Services):
    settings: WebhookSettings

    def __init__(self, settings: WebhookSettings) -> None:
        super().__init__(settings)

    @cached_property
    def webhook_secrets(self) -> WebhookSecretStore:
        settings = self.settings
        return SecretStore(
            settings.webhook_secret_id,
            WebhookSecrets,
            settings.secret_max_age_s,
            name="webhook secret",
            client=aws.secretsmanager,
        )

    @cached_property
    def webhook_authenticator(self) -> WebhookAuthenticator:
        return WebhookAuthenticator(self.webhook_secrets, tolerance_s=self.settings.webhook_tolerance_s)

    @cached_property
    def report_intake(self) -> ReportIntake:
        settings = self.settings
        return ReportIntake(
            self.repository,
            UnmatchedReports(aws.dynamodb(), settings.messages_table, settings.unmatched_report_ttl_days),
            self.webhook_authenticator,
            TemplateRepository(aws.dynamodb(), settings.messages_table),
        )

    @cached_property
    def inbound_intake(self) -> InboundIntake:
        return InboundIntake(self.repository, self.inbound, self.webhook_authenticator)


class CallbackServices(_Services):
    settings: CallbackSettings

    def __init__(self, settings: CallbackSettings) -> None:
        super().__init__(settings)

    @cached_property
    def queue(self) -> CallbackQueue:
        settings = self.settings
        return CallbackQueue(aws.sqs(), settings.callback_queue_url, settings.callback_dead_letter_queue_url)

    @cached_property
    def dispatch(self) -> CallbackDispatch:
        return CallbackDispatch(self.queue)

    @cached_property
    def delivery(self) -> CallbackDelivery:
        settings = self.settings
        policy = callback_policy(settings, settings.callback_timeout_s)

        def post_callback(url: str, content: bytes, headers: Mapping[str, str]) -> int:
            return post(url, policy, content, headers)

        backoff = Backoff(
            settings.callback_retry_base_s,
            settings.callback_retry_max_delay_s,
            settings.callback_max_age_s,
        )
        # A failing receiver is held on its callbacks' own backoff schedule, counted in holds; a
        # probe's hold outlasts its POST, so a second probe only follows one that died.
        breaker = ReceiverBreaker(
            ReceiverHealthTable(aws.dynamodb(), settings.messages_table),
            backoff.delay,
            probe_s=2 * settings.callback_timeout_s,
        )
        return CallbackDelivery(
            tenant_directory(settings),
            self.queue,
            post_callback,
            backoff,
            breaker,
            slow_s=settings.callback_timeout_s / 2,
        )
