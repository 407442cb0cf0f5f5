"""Sinch credentials from Secrets Manager, cached by Powertools Parameters.

Two auth styles, as Sinch offers them: a service plan id with its API token, or a project id
with OAuth2 client credentials (key id and secret) exchanged for short-lived access tokens.
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel, SecretStr, model_validator

SinchRegion = Literal["us", "eu", "au", "br", "ca"]
DEFAULT_AUTH_URL = "https://auth.sinch.com/oauth2/token"


class SinchCredentials(BaseModel):
    auth: Literal["service_plan", "oauth"] = "service_plan"
    service_plan_id: str | None = None
    api_token: SecretStr | None = None
    project_id: str | None = None
    key_id: str | None = None
    key_secret: SecretStr | None = None
    auth_url: str = DEFAULT_AUTH_URL
    region: SinchRegion = "us"
    # Overrides the regional host; the local stack points it at the simulator.
    base_url: str | None = None
    from_number: str
    webhook_secret: SecretStr | None = None
    # "user:password" that Sinch sends as Basic auth on callbacks, if it is set up that way.
    webhook_basic_auth: SecretStr | None = None

    @model_validator(mode="after")
    def _complete_for_its_auth_style(self) -> SinchCredentials:
        needed = (
            ("project_id", "key_id", "key_secret")
            if self.auth == "oauth"
            else ("service_plan_id", "api_token")
        )
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"the Sinch secret lacks {', '.join(missing)} for auth {self.auth}")
        return self

    @property
    def webhook_hmac_secret(self) -> str | None:
        """The HMAC key for callbacks; None when unset or empty (an empty key signs nothing)."""
        value = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
        return value or None

    @property
    def webhook_basic_credentials(self) -> str | None:
        """`user:password` for Basic-authenticated callbacks; None unless set in that shape.

        Not a validation error: a bad webhook setting must not stop sending, and an error would
        echo the value.
        """
        value = self.webhook_basic_auth.get_secret_value() if self.webhook_basic_auth else ""
        user, colon, _ = value.partition(":")
        return value if user and colon else None

    @property
    def xms_base_url(self) -> str:
        if self.base_url:
            host = self.base_url.rstrip("/")
        elif self.auth == "oauth":
            host = f"https://zt.{self.region}.sms.api.sinch.com"
        else:
            host = f"https://{self.region}.sms.api.sinch.com"
        account = self.project_id if self.auth == "oauth" else self.service_plan_id
        return f"{host}/xms/v1/{account}"


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
