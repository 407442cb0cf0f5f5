"""Rules for the media URL of an MMS."""

from __future__ import annotations

from sinch_gateway.errors import InvalidRequest


def check_media_url(url: str, *, allow_http: bool) -> None:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "https" or (scheme == "http" and allow_http):
        return
    raise InvalidRequest("The media URL is not allowed.", errors=[("mediaUrl", "must use https")])
