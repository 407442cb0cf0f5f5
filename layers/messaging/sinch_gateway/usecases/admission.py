"""What a message must pass before it is recorded, whichever way it came in (API, dry run, queue):
the tenant's policy first (cheap, and no media is fetched for a refused destination), then its media.
"""

from __future__ import annotations

from sinch_gateway.api.models import SendMessageRequest
from sinch_gateway.config import Settings
from sinch_gateway.data.tenants import TenantDirectory
from sinch_gateway.media.preflight import check_message_media


def admit(request: SendMessageRequest, tenant_id: str, tenants: TenantDirectory, settings: Settings) -> None:
    """Raise the InvalidRequest the caller should hear, or return when the message may go."""
    tenants.policy(tenant_id).check(request.to, request.channel)
    check_message_media(request.media_url, settings)
