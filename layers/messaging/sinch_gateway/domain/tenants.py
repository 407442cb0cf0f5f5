"""Tenants: each API key is one client application, with its own messages and sending policy.

The tenant id is the API key's id as API Gateway passes it (requestContext.identity.apiKeyId).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from sinch_gateway.domain.content import Channel
from sinch_gateway.domain.errors import DestinationNotAllowed, MmsNotAllowed
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
        if channel is Channel.MMS and not self.mms_allowed:
            raise MmsNotAllowed(
                "MMS is not enabled for this API key.",
                errors=[("mediaUrl", "MMS is not enabled for this API key; send an SMS instead")],
            )
        if self.allowed_countries is None:
            return
        if region_of(to) not in self.allowed_countries:
            label = country_label(to)
            raise DestinationNotAllowed(
                f"This API key may not send to {label}.",
                errors=[("to", f"{label} is not among the destinations allowed for this API key")],
            )


class Tenant(BaseModel):
    """A tenant's item in TenantsTable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)

    tenant_id: str = Field(min_length=1, max_length=MAX_TENANT_ID_CHARS)
    name: str = Field(min_length=1, max_length=128)
    policy: TenantPolicy = Field(default_factory=TenantPolicy)
    callback_secret: str | None = Field(default=None, repr=False)
    created_at: str | None = None
