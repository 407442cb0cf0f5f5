"""Sinch credentials from Secrets Manager, cached by Powertools Parameters."""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel, SecretStr

SinchRegion = Literal["us", "eu", "au", "br", "ca"]


class SinchCredentials(BaseModel):
    service_plan_id: str
    api_token: SecretStr
    region: SinchRegion = "us"
    # Overrides the regional host; the local stack points it at the simulator.
    base_url: str | None = None
    from_number: str
    webhook_secret: SecretStr | None = None

    @property
    def xms_base_url(self) -> str:
        host = self.base_url.rstrip("/") if self.base_url else f"https://{self.region}.sms.api.sinch.com"
        return f"{host}/xms/v1/{self.service_plan_id}"


class CredentialStore:
    def __init__(self, secret_id: str, max_age_s: int) -> None:
        self._secret_id = secret_id
        self._max_age_s = max_age_s

    def get(self, *, refresh: bool = False) -> SinchCredentials:
        """The cached secret; `refresh` fetches it anew (after Sinch answered 401: rotated?)."""
        raw: Any = parameters.get_secret(
            self._secret_id, transform="json", max_age=self._max_age_s, force_fetch=refresh
        )
        return SinchCredentials.model_validate(raw)
