"""Tenants: each API key is one client application, with its own messages and sending policy.

The tenant id is the API key's id as API Gateway passes it (requestContext.identity.apiKeyId).
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from sinch_gateway.domain.content import Channel
from sinch_gateway.domain.errors import DestinationNotAllowed, MmsNotAllowed, SenderNotAllowed
from sinch_gateway.domain.phone import country_label, region_of
from sinch_gateway.domain.rate_share import RateShare

# The bound of an API key id in API Gateway is 10 characters; a little room for other stores.
MAX_TENANT_ID_CHARS = 64
# A weight is relative: bounds keep one tenant from being given all or nothing by a typo.
MIN_RATE_WEIGHT = 0.01
MAX_RATE_WEIGHT = 100.0


class TenantPolicy(BaseModel):
    """What a tenant may send. Kept in DynamoDB, so it is edited without a deploy."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)

    # None: every country. A set of ISO 3166 region codes ("US", "AU") otherwise: the guard
    # against SMS pumping to premium destinations nobody meant to text.
    allowed_countries: frozenset[str] | None = None
    mms_allowed: bool = True

    # Its share of Sinch's rate among the tenants sending at the moment (domain.rate_share):
    # a weight relative to theirs, and optionally a cap in calls per second, whatever is free.
    rate_weight: float = Field(default=1.0, ge=MIN_RATE_WEIGHT, le=MAX_RATE_WEIGHT, allow_inf_nan=False)
    rate_cap_per_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    def rate_share(self, tenant_id: str) -> RateShare:
        return RateShare(tenant_id, self.rate_weight, self.rate_cap_per_s)

    @field_validator("allowed_countries")
    @classmethod
    def _upper_case(cls, value: frozenset[str] | None) -> frozenset[str] | None:
        # Not refused here: a hand-edited item with a code no number has only allows less.
        return None if value is None else frozenset(code.strip().upper() for code in value)

    def check(self, to: str, channel: Channel) -> None:
        """Raise the problem the caller should hear when this policy refuses the message."""
        self.check_channel(channel)
        self.check_country(to)

    def check_channel(self, channel: Channel) -> None:
        if channel is Channel.MMS and not self.mms_allowed:
            raise MmsNotAllowed(
                "MMS is not enabled for this API key.",
                errors=[("mediaUrl", "MMS is not enabled for this API key; send an SMS instead")],
            )

    def check_country(self, to: str) -> None:
        """Raise DestinationNotAllowed unless the policy allows the country of `to` (E.164)."""
        if self.allowed_countries is None:
            return
        if region_of(to) not in self.allowed_countries:
            label = country_label(to)
            raise DestinationNotAllowed(
                f"This API key may not send to {label}.",
                errors=[("to", f"{label} is not among the destinations allowed for this API key")],
            )

    # --- identity: who publishes for the tenant, which senders it may show -------------------

    # SendQueue requests are taken as this tenant's only from these principals: IAM users' and
    # roles' unique ids (AIDA..., AROA...), as SQS's SenderId names the publisher. None by default.
    publishers: frozenset[str] = frozenset()
    # The sender ids the tenant may show (fromMask); none by default. Compared as written: a
    # handset shows the id exactly so.
    senders: frozenset[str] = frozenset()

    def publishes(self, sender_id: str | None) -> bool:
        """Whether SQS's SenderId of a request names one of this tenant's publishers."""
        return sender_id is not None and principal_of(sender_id) in self.publishers

    def check_sender(self, field: str, sender: str) -> None:
        """Raise the 422 on `field` unless the tenant may send as `sender`."""
        if sender not in self.senders:
            raise SenderNotAllowed(
                f"This API key may not send as {sender!r}.",
                errors=[(field, f"{sender!r} is not among the sender ids allowed for this API key")],
            )


# An IAM principal's unique id: a user's (AIDA...) or a role's (AROA...).
PRINCIPAL_ID = re.compile(r"A(?:IDA|ROA)[A-Z0-9]{12,124}")


def principal_of(sender_id: str) -> str:
    """The principal in SQS's SenderId: a role session's `AROA...:session-name` is its role's id."""
    return sender_id.split(":", 1)[0]


class Tenant(BaseModel):
    """A tenant's item in TenantsTable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)

    tenant_id: str = Field(min_length=1, max_length=MAX_TENANT_ID_CHARS)
    name: str = Field(min_length=1, max_length=128)
    policy: TenantPolicy = Field(default_factory=TenantPolicy)
    callback_secret: str | None = Field(default=None, repr=False)
    created_at: str | None = None

    # --- callback-secret rotation: the secret it replaced still signs until a grace ends ------
    previous_callback_secret: str | None = Field(default=None, repr=False)
    previous_callback_secret_until: AwareDatetime | None = None

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets a status callback is signed with now: the current one, and the one it
        replaced while its grace lasts (a receiver may still verify with it)."""
        secrets = [self.callback_secret] if self.callback_secret else []
        until = self.previous_callback_secret_until
        if self.previous_callback_secret and until is not None and now < until:
            secrets.append(self.previous_callback_secret)
        return secrets
