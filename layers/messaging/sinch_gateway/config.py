"""Settings, read from the function's environment (set by template.yaml) and validated once, at cold
start: a missing table name stops the function's init with the variable's name, instead of
becoming "" at the first request.

Each function has its own model: it is given only what it needs (the webhook function neither
Sinch's secret nor the queues), and it requires all of that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError


class SettingsError(Exception):
    """The environment lacks or garbles a setting; the message names the variables."""


def _host_list(value: object) -> object:
    if isinstance(value, str):
        return frozenset(h.strip().lower() for h in value.split(",") if h.strip())
    return value


def _no_trailing_slash(value: object) -> object:
    return value.strip().rstrip("/") if isinstance(value, str) else value


Name = Annotated[str, Field(min_length=1)]
Url = Annotated[str, BeforeValidator(_no_trailing_slash)]


class Settings(BaseModel):
    """What every function needs."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, hide_input_in_errors=True)

    messages_table: Name = Field(alias="MESSAGES_TABLE")
    public_base_url: Url = Field(default="", alias="PUBLIC_BASE_URL")
    secret_max_age_s: int = Field(default=300, ge=0, alias="SECRET_MAX_AGE_S")
    message_ttl_days: int = Field(default=90, ge=1, alias="MESSAGE_TTL_DAYS")


HostList = Annotated[frozenset[str], BeforeValidator(_host_list)]


def _id_list(value: object) -> object:
    if isinstance(value, str):
        return frozenset(i.strip() for i in value.split(",") if i.strip())
    return value


IdList = Annotated[frozenset[str], BeforeValidator(_id_list)]


class CallbackAddressSettings(BaseModel):
    """Which statusCallbackUrl addresses are allowed: the media rules, with their own switches."""

    allow_http_callbacks: bool = Field(default=False, alias="ALLOW_HTTP_CALLBACKS")
    # host:port (or host:* for any port, less each !host:port) allowed to be private (the local
    # stack: 127.0.0.1:* less its own services); empty in AWS
    callback_allowed_private_hosts: HostList = Field(
        default=frozenset(), alias="CALLBACK_ALLOWED_PRIVATE_HOSTS"
    )


class TenantSettings(BaseModel):
    """Where tenants are kept, and how long a function may use a policy it read."""

    tenants_table: Name = Field(alias="TENANTS_TABLE")
    tenant_policy_cache_s: float = Field(default=60.0, ge=0, alias="TENANT_POLICY_CACHE_S")


class SenderSettings(Settings, CallbackAddressSettings, TenantSettings):
    """What a function that sends needs (SendFunction, QueueFunction)."""

    send_queue_url: Name = Field(alias="SEND_QUEUE_URL")
    batches_table: Name = Field(alias="BATCHES_TABLE")
    dead_letter_queue_url: Name = Field(alias="DEAD_LETTER_QUEUE_URL")
    sinch_secret_id: Name = Field(alias="SINCH_SECRET_ID")
    allow_http_media: bool = Field(default=False, alias="ALLOW_HTTP_MEDIA")
    # host:port media servers allowed to be private (the local stack's simulator); empty in AWS
    media_allowed_private_hosts: Annotated[frozenset[str], BeforeValidator(_host_list)] = Field(
        default=frozenset(), alias="MEDIA_ALLOWED_PRIVATE_HOSTS"
    )
    media_max_bytes: int = Field(default=1_048_576, ge=1, alias="MEDIA_MAX_BYTES")
    # The S3 bucket where checked media is kept; Sinch gets presigned links to it, never the caller's URL.
    media_bucket: Name = Field(alias="MEDIA_BUCKET")
    # How long Sinch may take to fetch media once a message is due (it queues and retries on its
    # side): a link lives this long past sendAt, or past now for a message sent at once.
    media_fetch_window_s: float = Field(default=86_400.0, gt=0, alias="MEDIA_FETCH_WINDOW_S")
    max_send_attempts: int = Field(default=6, ge=1, alias="MAX_SEND_ATTEMPTS")
    retry_base_delay_s: float = Field(default=2.0, ge=0, alias="RETRY_BASE_DELAY_S")
    retry_max_delay_s: float = Field(default=900.0, gt=0, alias="RETRY_MAX_DELAY_S")
    sinch_connect_timeout_s: float = Field(default=2.0, gt=0, alias="SINCH_CONNECT_TIMEOUT_S")
    sinch_read_timeout_s: float = Field(default=5.0, gt=0, alias="SINCH_READ_TIMEOUT_S")
    # Longer than a send can take (connect + read timeouts, twice for a 401 refresh).
    send_lease_s: int = Field(default=30, ge=1, alias="SEND_LEASE_S")
    # After an MMS JSON API answer was lost: how long its postbacks (the API has no lookup) get to
    # show that Sinch took the message, before it is sent again. Sinch retries an unanswered
    # postback after about five minutes.
    mms_postback_grace_s: float = Field(default=900.0, ge=0, alias="MMS_POSTBACK_GRACE_S")
    # Calls per second Sinch allows the service plan (each API its own), shared by every sender
    # through DynamoDB; 0: not coordinated (Sinch's 429s are still retried).
    sinch_rate_per_s: float = Field(default=0.0, ge=0, alias="SINCH_RATE_PER_S")
    # How long a send may wait for its turn in that rate; past it, the message waits in SendQueue.
    sinch_rate_wait_s: float = Field(default=1.0, ge=0, alias="SINCH_RATE_WAIT_S")
    # A message not handed to Sinch this long after it was due (accepted, or its sendAt if later)
    # ends failed, too_old: a 429 or a wait for the shared rate uses up no attempt, so without this
    # a message could wait for ever.
    max_message_age_s: float = Field(default=86_400.0, gt=0, alias="MAX_MESSAGE_AGE_S")
    # How long after Sinch took a message its final delivery report may take before Sinch is asked
    # (usecases.settling); then again at growing intervals, until its expireAt.
    report_grace_s: float = Field(default=900.0, ge=1, le=86_400, alias="REPORT_GRACE_S")


class SendSettings(SenderSettings):
    """SendFunction: the public API."""

    idempotency_table: Name = Field(alias="IDEMPOTENCY_TABLE")


class QueueSettings(SenderSettings):
    """QueueFunction: SendQueue."""

    # Where Sinch reports on messages that came through the queue (no API request to derive it from).
    api_base_url: Url = Field(alias="API_BASE_URL")
    # Tenant for queued requests without a `tenant` attribute; empty: such requests are refused.
    default_queue_tenant: str = Field(default="", alias="DEFAULT_QUEUE_TENANT")
    # The unique ids of the gateway's own roles (SendFunction's, QueueFunction's): the only
    # principals whose retries (`kind: retry`) are taken from SendQueue.
    gateway_role_ids: IdList = Field(min_length=1, alias="GATEWAY_ROLE_IDS")

    @property
    def webhook_base_url(self) -> str:
        return self.public_base_url or self.api_base_url


class WebhookSettings(Settings):
    """WebhookFunction: Sinch's webhooks (delivery reports, MMS postbacks, inbound messages)."""

    webhook_secret_id: Name = Field(alias="WEBHOOK_SECRET_ID")
    webhook_tolerance_s: int = Field(default=300, ge=1, alias="WEBHOOK_TOLERANCE_S")
    unmatched_report_ttl_days: int = Field(default=7, ge=1, alias="UNMATCHED_REPORT_TTL_DAYS")


class CallbackSettings(Settings, CallbackAddressSettings, TenantSettings):
    """CallbackFunction: MessagesTable's stream in, status callbacks out."""

    callback_queue_url: Name = Field(alias="CALLBACK_QUEUE_URL")
    callback_dead_letter_queue_url: Name = Field(alias="CALLBACK_DEAD_LETTER_QUEUE_URL")
    # One POST, lookup to the answer's last header; the function's timeout allows a batch of them.
    callback_timeout_s: float = Field(default=5.0, gt=0, alias="CALLBACK_TIMEOUT_S")
    callback_retry_base_s: float = Field(default=10.0, gt=0, alias="CALLBACK_RETRY_BASE_S")
    callback_retry_max_delay_s: float = Field(
        default=3600.0, gt=0, le=43200, alias="CALLBACK_RETRY_MAX_DELAY_S"
    )
    # How long a callback is retried, from when its status change was queued; then its DLQ.
    callback_max_age_s: float = Field(default=86400.0, gt=0, alias="CALLBACK_MAX_AGE_S")


AnySettings = TypeVar("AnySettings", bound=Settings)


def load(model: type[AnySettings], environ: Mapping[str, str] | None = None) -> AnySettings:
    """`model` from the environment; SettingsError naming each variable that is wrong."""
    env = os.environ if environ is None else environ
    names = {field.alias for field in model.model_fields.values() if field.alias}
    try:
        return model.model_validate({k: v.strip() for k, v in env.items() if k in names})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise SettingsError(f"{model.__name__} cannot be read from the environment: {problems}") from None
