"""Where Sinch sends delivery reports for our batches."""

from __future__ import annotations

DELIVERY_REPORT_PATH = "/v1/webhooks/sinch/delivery-reports"
MMS_POSTBACK_PATH = "/v1/webhooks/sinch/mms-postbacks"
INBOUND_PATH = "/v1/webhooks/sinch/inbound"


def delivery_report_url(public_base_url: str, domain_name: str | None, stage: str | None) -> str:
    """The configured public URL, else the one API Gateway was called on (domain + stage)."""
    base = public_base_url or f"https://{domain_name}/{stage}"
    return base.rstrip("/") + DELIVERY_REPORT_PATH
