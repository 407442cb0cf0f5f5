"""The simulator's settings; some can be changed while it runs (POST /_sim/config)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Settings /_sim/config may change, with the check each value must pass.
_MUTABLE: dict[str, Callable[[Any], bool]] = {
    "rate_limit": lambda v: v is None or (_number(v) and v > 0),
    "callback_delay_s": lambda v: _number(v) and v >= 0,
    "callback_retry_base_s": lambda v: _number(v) and v >= 0,
    "media_max_bytes": lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
    "webhook_secret": lambda v: v is None or (isinstance(v, str) and v != ""),
    "token_ttl_s": lambda v: _number(v) and v > 0,  # for tokens issued from then on
}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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
            **shown,
            "signing": self.webhook_secret is not None,
        }
