"""Composition root: builds the services once per container, lazily (cold start matters)."""

from __future__ import annotations

from functools import lru_cache

import urllib3

from sinch_gateway.config import get_settings
from sinch_gateway.data import aws
from sinch_gateway.data.messages import MessageRepository
from sinch_gateway.data.nonces import NonceStore
from sinch_gateway.data.send_queue import SendQueue
from sinch_gateway.data.tenants import TenantDirectory
from sinch_gateway.data.unmatched import UnmatchedReports
from sinch_gateway.domain.content import Api
from sinch_gateway.sinch.credentials import (
    CredentialStore,
    SecretStore,
    SinchCredentials,
    WebhookSecrets,
    WebhookSecretStore,
)
from sinch_gateway.sinch.xms import XmsChannel
from sinch_gateway.usecases.queue_intake import QueueIntake
from sinch_gateway.usecases.sending import MessageSender


@lru_cache(maxsize=1)
def credentials() -> CredentialStore:
    settings = get_settings()
    return SecretStore(
        settings.sinch_secret_id, SinchCredentials, settings.secret_max_age_s, name="Sinch secret"
    )


@lru_cache(maxsize=1)
def webhook_secrets() -> WebhookSecretStore:
    settings = get_settings()
    return SecretStore(
        settings.webhook_secret_id, WebhookSecrets, settings.secret_max_age_s, name="webhook secret"
    )


@lru_cache(maxsize=1)
def repository() -> MessageRepository:
    return MessageRepository(aws.dynamodb(), get_settings().messages_table)


@lru_cache(maxsize=1)
def tenants() -> TenantDirectory:
    settings = get_settings()
    return TenantDirectory(aws.dynamodb(), settings.tenants_table, settings.tenant_policy_cache_s)


@lru_cache(maxsize=1)
def nonces() -> NonceStore:
    return NonceStore(aws.dynamodb(), get_settings().messages_table)


@lru_cache(maxsize=1)
def unmatched_reports() -> UnmatchedReports:
    settings = get_settings()
    return UnmatchedReports(aws.dynamodb(), settings.messages_table, settings.unmatched_report_ttl_days)


@lru_cache(maxsize=1)
def send_queue() -> SendQueue:
    settings = get_settings()
    return SendQueue(aws.sqs(), settings.send_queue_url, settings.dead_letter_queue_url)


@lru_cache(maxsize=1)
def queue_intake() -> QueueIntake:
    return QueueIntake(sender(), repository(), tenants(), send_queue(), get_settings())


@lru_cache(maxsize=1)
def sender() -> MessageSender:
    settings = get_settings()
    xms = XmsChannel(
        credentials(),
        urllib3.PoolManager(maxsize=10, retries=False),
        urllib3.Timeout(connect=settings.sinch_connect_timeout_s, read=settings.sinch_read_timeout_s),
    )
    return MessageSender(repository(), {Api.XMS: xms}, send_queue(), settings)
