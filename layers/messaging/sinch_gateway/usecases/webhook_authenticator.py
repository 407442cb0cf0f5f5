"""Whether a webhook call is Sinch's: the proof it offers judged against the webhook secret at the
clock's time, and each refusal counted. Delivery reports, postbacks and inbound messages share it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sinch_gateway.domain.errors import Unauthenticated
from sinch_gateway.domain.webhook_auth import Verified, WebhookProof, authenticate, authenticate_postback
from sinch_gateway.sinch.credentials import WebhookSecrets

metrics = Metrics()


class SecretSource(Protocol):
    def get(self, *, refresh: bool = False) -> WebhookSecrets: ...


@contextmanager
def counted_refusals() -> Iterator[None]:
    """Count a webhook call refused for its proof: a wave of them is a rotated secret or a prober."""
    try:
        yield
    except Unauthenticated:
        metrics.add_metric(name="WebhookAuthFailures", unit=MetricUnit.Count, value=1)
        raise


class WebhookAuthenticator:
    def __init__(
        self, secrets: SecretSource, *, tolerance_s: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._secrets = secrets
        self._tolerance_s = tolerance_s
        self._clock = clock

    def signed_call(self, raw: str, proof: WebhookProof) -> Verified:
        """An XMS webhook call's proof (a fresh HMAC signature over `raw`, or Basic):
        Unauthenticated otherwise."""
        now = self._clock()
        secret = self._secrets.get()
        with counted_refusals():
            return authenticate(
                raw,
                proof,
                hmac_secret=secret.webhook_hmac_secret,
                basic_credentials=secret.webhook_basic_credentials,
                now=now,
                tolerance_s=self._tolerance_s,
            )

    def postback(self, proof: WebhookProof, *, path_token: str | None, source_ip: str | None) -> Verified:
        """An MMS JSON API postback's proof (its URL's token or Basic, from an allowed address):
        Unauthenticated otherwise."""
        secrets = self._secrets.get()
        with counted_refusals():
            return authenticate_postback(
                proof,
                path_token=path_token,
                source_ip=source_ip,
                basic_credentials=secrets.postback_basic_credentials,
                token=secrets.postback_path_token,
                sources=secrets.postback_sources,
            )
