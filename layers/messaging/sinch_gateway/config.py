"""Settings read once per container from the function's environment (set by template.yaml)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


def _flag(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes"}


def _host_list(name: str) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in os.environ.get(name, "").split(",") if h.strip())


@dataclass(frozen=True)
class Settings:
    messages_table: str
    tenants_table: str
    idempotency_table: str
    send_queue_url: str
    dead_letter_queue_url: str
    api_base_url: str
    # Each function is given only the secret it needs (the webhook function not Sinch's).
    sinch_secret_id: str
    webhook_secret_id: str
    public_base_url: str
    allow_http_media: bool
    max_send_attempts: int
    retry_base_delay_s: float
    retry_max_delay_s: float
    sinch_connect_timeout_s: float
    sinch_read_timeout_s: float
    secret_max_age_s: int
    send_lease_s: int
    message_ttl_days: int
    webhook_tolerance_s: int
    # host:port media servers allowed to be private (the local stack's simulator); empty in AWS
    media_allowed_private_hosts: frozenset[str] = frozenset()
    media_max_bytes: int = 1_048_576
    unmatched_report_ttl_days: int = 7
    # Tenant for SendQueue requests without a `tenant` attribute; empty: such requests are refused.
    default_queue_tenant: str = ""
    tenant_policy_cache_s: float = 60.0

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            messages_table=env.get("MESSAGES_TABLE", ""),
            tenants_table=env.get("TENANTS_TABLE", ""),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            send_queue_url=env.get("SEND_QUEUE_URL", ""),
            dead_letter_queue_url=env.get("DEAD_LETTER_QUEUE_URL", ""),
            api_base_url=env.get("API_BASE_URL", "").rstrip("/"),
            sinch_secret_id=env.get("SINCH_SECRET_ID", ""),
            webhook_secret_id=env.get("WEBHOOK_SECRET_ID", ""),
            public_base_url=env.get("PUBLIC_BASE_URL", "").rstrip("/"),
            allow_http_media=_flag("ALLOW_HTTP_MEDIA"),
            max_send_attempts=int(env.get("MAX_SEND_ATTEMPTS", "6")),
            retry_base_delay_s=float(env.get("RETRY_BASE_DELAY_S", "2")),
            retry_max_delay_s=float(env.get("RETRY_MAX_DELAY_S", "900")),
            sinch_connect_timeout_s=float(env.get("SINCH_CONNECT_TIMEOUT_S", "2")),
            sinch_read_timeout_s=float(env.get("SINCH_READ_TIMEOUT_S", "5")),
            secret_max_age_s=int(env.get("SECRET_MAX_AGE_S", "300")),
            # longer than a send can take (connect + read timeouts, twice for a 401 refresh)
            send_lease_s=int(env.get("SEND_LEASE_S", "30")),
            message_ttl_days=int(env.get("MESSAGE_TTL_DAYS", "90")),
            webhook_tolerance_s=int(env.get("WEBHOOK_TOLERANCE_S", "300")),
            media_allowed_private_hosts=_host_list("MEDIA_ALLOWED_PRIVATE_HOSTS"),
            media_max_bytes=int(env.get("MEDIA_MAX_BYTES", "1048576")),
            unmatched_report_ttl_days=int(env.get("UNMATCHED_REPORT_TTL_DAYS", "7")),
            default_queue_tenant=env.get("DEFAULT_QUEUE_TENANT", "").strip(),
            tenant_policy_cache_s=float(env.get("TENANT_POLICY_CACHE_S", "60")),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
