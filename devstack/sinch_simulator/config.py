"""The simulator's settings; some can be changed while it runs (POST /_sim/config)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .common import is_http_url, is_number

# Settings /_sim/config may change, with the check each value must pass.
_MUTABLE: dict[str, Callable[[Any], bool]] = {
    "rate_limit": lambda v: v is None or (is_number(v) and v > 0),
    "callback_delay_s": lambda v: is_number(v) and v >= 0,
    "callback_retry_base_s": lambda v: is_number(v) and v >= 0,
    "media_max_bytes": lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
    "webhook_secret": lambda v: v is None or (isinstance(v, str) and v != ""),
    "token_ttl_s": lambda v: is_number(v) and v > 0,  # for tokens issued from then on
    "postback_url": lambda v: v is None or is_http_url(v),  # the MMS JSON API's, provisioned per account
    "inbound_url": lambda v: v is None or is_http_url(v),  # where MO SMS go, set per service plan
    "encoding_delay_s": lambda v: is_number(v) and v >= 0,  # how long a template with audio/video encodes
}


def shown_url(url: str | None) -> str | None:
    """The URL without the password of its userinfo (a path token cannot be told from a path)."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


@dataclass
class SimConfig:
    service_plan_id: str
    api_token: str
    webhook_secret: str | None
    callback_delay_s: float
    callback_retry_base_s: float
    rate_limit: float | None
    media_max_bytes: int
    project_id: str | None = None  # set when project (OAuth2) authentication is on
    token_ttl_s: float = 3600
    mms_api_key: str = "mms-key"
    mms_service_id: str = "local-service"
    postback_url: str | None = None
    inbound_url: str | None = None
    encoding_delay_s: float = 0.5

    def update(self, changes: Any) -> None:
        """Apply a JSON object of changes, all or nothing; ValueError names what is wrong."""
        if not isinstance(changes, dict):
            raise ValueError("the body must be a JSON object")
        for name, value in changes.items():
            check = _MUTABLE.get(name)
            if check is None:
                raise ValueError(f"{name} cannot be changed; settable: {', '.join(_MUTABLE)}")
            if not check(value):
                raise ValueError(f"invalid {name}: {value!r}")
        for name, value in changes.items():
            setattr(self, name, value)

    def as_json(self) -> dict[str, Any]:
        """What /_sim/config shows: the settable values (the secrets stay out)."""
        shown = {name: getattr(self, name) for name in _MUTABLE if name != "webhook_secret"}
        return {
            "service_plan_id": self.service_plan_id,
            "project_id": self.project_id,
            "mms_service_id": self.mms_service_id,
            **shown,
            "postback_url": shown_url(self.postback_url),
            "inbound_url": shown_url(self.inbound_url),
            "signing": self.webhook_secret is not None,
        }
