"""Sinch's MMS JSON API: `POST /ep/v2/` with header `x-api-key`, the action in the body.

Every answer is HTTP 200 with a `responsePayload` object as the body (not wrapped in anything):
`{"status": "success", ...}` or `{"status": "failure", "error-code", "error-info"}`. The
simulator fetches every slide's media while it answers `sendmms` and `savemms` (a media problem
is a failure answer); encoding, sending and delivery are reported later by postbacks.
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Callable
from typing import Any

from .common import ApiRequest, Response, utcnow
from .config import SimConfig
from .faults import FaultSet
from .media import MediaFetcher, MediaProblem
from .mediatypes import MMS_KIND_TYPES
from .mms_requests import (
    TOO_LARGE,
    UNREACHABLE,
    Message,
    MmsError,
    Slide,
    action,
    json_object,
    parse_savemms,
    parse_sendmms,
    parse_sendsavedmms,
)
from .mms_store import MmsStore, TemplateState
from .postbacks import MediaFile, MmsDelivery
from .ratelimit import RateLimiter

PATHS = frozenset({"/ep/v2/", "/ep/v2"})
# The rate limiter's key: no XMS path id (a single path segment) can look like it.
LIMIT_KEY = "/ep/v2/"
ACCEPTED = "MMS request accepted and queued for processing and delivery."
SAVED = "Save MMS request accepted and queued for processing."


def failure(code: str, info: str) -> dict[str, str]:
    return {"status": "failure", "error-code": code, "error-info": info}


class MmsApi:
    def __init__(
        self,
        *,
        config: SimConfig,
        store: MmsStore,
        delivery: MmsDelivery,
        media: MediaFetcher,
        faults: FaultSet,
        limiter: RateLimiter,
    ) -> None:
        self._config = config
        self._store = store
        self._delivery = delivery
        self._media = media
        self._faults = faults
        self._limiter = limiter
        self._actions: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "sendmms": self._sendmms,
            "savemms": self._savemms,
            "sendsavedmms": self._sendsavedmms,
        }

    def handle(self, req: ApiRequest) -> Response:
        if req.method != "POST":
            return Response(405, failure("E100", "The MMS JSON API takes POST only"), {"Allow": "POST"})
        try:
            self._authorize(req.headers.get("x-api-key") or "")
            if not self._limiter.allow(LIMIT_KEY, self._config.rate_limit):
                raise MmsError("E113", "too many requests per second for this account")
            data = _json(req)
            answer = self._actions[action(data)](data)
        except MmsError as exc:
            return Response(200, failure(exc.code, exc.info))
        return Response(200, {"status": "success", **answer})

    def _authorize(self, key: str) -> None:
        if not hmac.compare_digest(key.encode(), self._config.mms_api_key.encode()):
            raise MmsError("E104")

    def _sendmms(self, data: dict[str, Any]) -> dict[str, Any]:
        message = parse_sendmms(data, self._config.mms_service_id, utcnow())
        files = self._fetch(message.content.slides)
        tracking_id = _tracking_id()
        self._delivery.send(message, tracking_id, files)
        return {"to": message.to, "tracking-id": tracking_id, "status-details": ACCEPTED}

    def _savemms(self, data: dict[str, Any]) -> dict[str, Any]:
        request = parse_savemms(data, utcnow())
        files = self._fetch(request.content.slides)
        tracking_id = _tracking_id()
        self._delivery.save(self._store.add_template(request, tracking_id), files)
        # The template's mms-id comes with its N003 postback, not in this answer.
        return {"tracking-id": tracking_id, "status-details": SAVED}

    def _sendsavedmms(self, data: dict[str, Any]) -> dict[str, Any]:
        request = parse_sendsavedmms(data, self._config.mms_service_id, utcnow())
        found = self._store.template(request.mms_id)
        if found is None or found[0] is TemplateState.FAILED:
            raise MmsError("E241", f"no template {request.mms_id!r}")
        state, content = found
        if state is TemplateState.ENCODING:
            raise MmsError("E626", f"template {request.mms_id} is not ready yet")
        message: Message = request.apply(content)
        tracking_id = _tracking_id()
        self._delivery.send(message, tracking_id)
        return {
            "mms-id": request.mms_id,
            "tracking-id": tracking_id,
            "to": message.to,
            "from": message.sender,
            "status-details": ACCEPTED,
        }

    def _fetch(self, slides: tuple[Slide, ...]) -> tuple[MediaFile, ...]:
        """Each slide's media, fetched as Sinch does before it accepts the request."""
        files = []
        max_bytes = self._config.media_max_bytes
        for number, slide in enumerate(slides, 1):
            for media in slide.media:
                fetched = self._media.fetch(
                    media.url, max_bytes, MMS_KIND_TYPES[media.kind], self._faults.pick("media")
                )
                where = f"slide {number} {media.kind} {media.url}: {fetched.detail}"
                if fetched.problem is MediaProblem.UNREACHABLE:
                    raise MmsError(UNREACHABLE[media.kind], where)
                if fetched.problem is MediaProblem.WRONG_TYPE:
                    raise MmsError("E629", where)
                if fetched.problem is MediaProblem.TOO_LARGE:
                    raise MmsError(TOO_LARGE[media.kind], where)
                files.append(MediaFile(media.kind, media.url, fetched.content_type, fetched.body))
        return tuple(files)


def _json(req: ApiRequest) -> Any:
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise MmsError("E100", "Content-Type must be application/json")
    try:
        return json.loads(req.body.decode("utf-8"), object_pairs_hook=json_object)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; RecursionError: too deep
        raise MmsError("E108", "the body is not UTF-8 JSON") from None


def _tracking_id() -> str:
    return str(uuid.uuid4())
