"""The two secrets, read from Secrets Manager and cached for a while.

- The Sinch secret: what it takes to call Sinch. Two auth styles, as Sinch offers them: a service
  plan id with its API token, or a project id with OAuth2 client credentials (key id and secret)
  exchanged for short-lived access tokens.
- The webhook secret: what Sinch's webhooks must prove they know. It lives apart so that the
  function taking webhooks from the internet cannot read the API token.

A secret that does not hold what its model needs is a `SecretInvalid` naming the fields, never
their values: the error reaches logs and X-Ray traces. One that cannot be read is a
`SecretUnavailable`.

Read with the botocore client the composition root gives, not Powertools Parameters: its module
imports boto3 (and with it s3transfer) and builds a second botocore session, which together cost
every cold start about as much as the rest of the first request (docs/performance.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

SinchRegion = Literal["us", "eu", "au", "br", "ca"]
DEFAULT_AUTH_URL = "https://auth.sinch.com/oauth2/token"
DEFAULT_MMS_URL = "https://api.ci.mblox.com/ep/v2/"


class SecretError(Exception):
    """A secret the function cannot use now."""


class SecretInvalid(SecretError):
    """A secret that cannot be used as it is: its message names fields, never values."""


class SecretUnavailable(SecretError):
    """A secret that could not be read (missing, no permission, Secrets Manager unreachable)."""


# Secret id -> (when read, its text): per container, shared by every store of that secret.
_cache: dict[str, tuple[float, str]] = {}


def forget_cached_secrets() -> None:
    _cache.clear()


class _SecretModel(BaseModel):
    # A validation error must never echo what the secret holds.
    model_config = ConfigDict(hide_input_in_errors=True)


class SinchCredentials(_SecretModel):
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
    # The MMS JSON API (slides, templates): its own key and service (campaign) id.
    mms_api_key: SecretStr | None = None
    mms_service_id: str | None = None
    mms_url: str = DEFAULT_MMS_URL

    @model_validator(mode="after")
    def _complete_for_its_auth_style(self) -> SinchCredentials:
        needed = (
            ("project_id", "key_id", "key_secret")
            if self.auth == "oauth"
            else ("service_plan_id", "api_token")
        )
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"lacks {', '.join(missing)} for auth {self.auth}")
        return self

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


class WebhookSecrets(_SecretModel):
    webhook_secret: SecretStr | None = None
    # "user:password" that Sinch sends as Basic auth on webhooks, if it is set up that way.
    webhook_basic_auth: SecretStr | None = None
    # MMS JSON API postbacks go to a URL provisioned once on the account: it carries its proof,
    # as Basic userinfo ("user:password") or a token in the path, or both.
    postback_basic_auth: SecretStr | None = None
    postback_token: SecretStr | None = None
    # Source addresses (CIDR) postbacks may come from, as given at onboarding; empty: any.
    postback_sources: tuple[str, ...] = ()

    @property
    def postback_basic_credentials(self) -> str | None:
        value = self.postback_basic_auth.get_secret_value() if self.postback_basic_auth else ""
        user, colon, _ = value.partition(":")
        return value if user and colon else None

    @property
    def postback_path_token(self) -> str | None:
        return (self.postback_token.get_secret_value() if self.postback_token else "") or None

    @property
    def webhook_hmac_secret(self) -> str | None:
        """The HMAC key for webhooks; None when unset or empty (an empty key signs nothing)."""
        value = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
        return value or None

    @property
    def webhook_basic_credentials(self) -> str | None:
        """`user:password` for Basic-authenticated webhooks; None unless set in that shape.

        Not a validation error: a malformed value simply turns Basic auth off.
        """
        value = self.webhook_basic_auth.get_secret_value() if self.webhook_basic_auth else ""
        user, colon, _ = value.partition(":")
        return value if user and colon else None


SecretModel = TypeVar("SecretModel", bound=_SecretModel)


def describe_invalid(name: str, exc: ValidationError) -> str:
    """What is wrong with a secret, by field and error type only (never an input)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        field = ".".join(str(part) for part in error["loc"])
        if field:
            problems.append(f"{field}: {error['type']}")
        elif error["type"] == "value_error":  # our own model-level check: it names fields only
            problems.append(error["msg"].removeprefix("Value error, "))
        else:
            problems.append(error["type"])
    return f"the {name} is not valid: {'; '.join(problems)}"


class SecretStore(Generic[SecretModel]):
    """One secret as `model`: cached for `max_age_s`, re-read on demand."""

    def __init__(
        self,
        secret_id: str,
        model: type[SecretModel],
        max_age_s: int,
        *,
        name: str,
        client: Callable[[], SecretsManagerClient],
    ) -> None:
        self._secret_id = secret_id
        self._model = model
        self._max_age_s = max_age_s
        self._name = name
        self._client = client

    def get(self, *, refresh: bool = False) -> SecretModel:
        """The cached secret; `refresh` fetches it anew (after Sinch answered 401: rotated?)."""
        try:
            raw: Any = json.loads(self._text(refresh))
        except ValueError:
            # Never chained: a JSON decoding error carries the whole text.
            raise SecretInvalid(f"the {self._name} is not a JSON object") from None
        try:
            return self._model.model_validate(raw)
        except ValidationError as exc:
            raise SecretInvalid(describe_invalid(self._name, exc)) from None

    def _text(self, refresh: bool) -> str:
        cached = _cache.get(self._secret_id)
        now = time.monotonic()
        if cached is not None and not refresh and now - cached[0] < self._max_age_s:
            return cached[1]
        try:
            text = self._client().get_secret_value(SecretId=self._secret_id).get("SecretString")
        except (BotoCoreError, ClientError) as exc:
            raise SecretUnavailable(f"the {self._name} could not be read: {type(exc).__name__}") from exc
        if text is None:
            raise SecretInvalid(f"the {self._name} is not a JSON object")
        _cache[self._secret_id] = (now, text)
        return text


CredentialStore = SecretStore[SinchCredentials]


def sender_number(store: CredentialStore) -> str | None:
    """The number every message is sent from; None while the Sinch secret cannot be used."""
    try:
        return store.get().from_number
    except SecretError:
        return None


WebhookSecretStore = SecretStore[WebhookSecrets]
