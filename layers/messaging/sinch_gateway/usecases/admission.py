"""What a message must pass before it is recorded, whichever way it came in (API, dry run, queue):
the tenant's policy first (cheap, and no media is fetched for a refused destination), then its media.
"""

from __future__ import annotations

from collections.abc import Callable

from sinch_gateway.api.models import SendMessageRequest
from sinch_gateway.domain.message import MessageDraft
from sinch_gateway.media.preflight import MediaInfo
from sinch_gateway.usecases.ports import TenantStore

MediaCheck = Callable[[str], MediaInfo]


class Admission:
    def __init__(self, tenants: TenantStore, check_media: MediaCheck) -> None:
        self._tenants = tenants
        self._check_media = check_media

    def admit(self, request: SendMessageRequest, tenant_id: str) -> MessageDraft:
        """The message as it will be stored; raises the InvalidRequest the caller should hear."""
        self._tenants.policy(tenant_id).check(request.to, request.channel)
        if request.media_url is not None:
            self._check_media(str(request.media_url))
        return request.draft()
