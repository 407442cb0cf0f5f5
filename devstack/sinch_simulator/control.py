"""The /_sim/… control API: request log, reset, faults, config, callbacks, media list, the MMS
JSON API's handsets and templates, and inbound SMS on request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .common import Response, error_response
from .config import SimConfig
from .faults import FaultSet
from .inbound import InboundSender
from .media import SAMPLE_NAMES
from .mms_store import MmsStore
from .recorder import Log
from .validation import MSISDN


class Control:
    def __init__(
        self,
        config: SimConfig,
        requests: Log,
        callbacks: Log,
        faults: FaultSet,
        *,
        mms: MmsStore,
        inbound: InboundSender,
        media_fetches: Log,
        reset: Callable[[], None],
    ) -> None:
        self._config = config
        self._faults = faults
        self._mms = mms
        self._reset = reset

        self._routes: dict[tuple[str, str], Callable[[bytes], Any]] = {
            ("GET", "/_sim/requests"): lambda _: requests.snapshot(),
            ("GET", "/_sim/callbacks"): lambda _: callbacks.snapshot(),
            ("POST", "/_sim/reset"): self._do_reset,
            ("GET", "/_sim/faults"): lambda _: faults.as_json(),
            ("POST", "/_sim/faults"): self._set_faults,
            ("GET", "/_sim/config"): lambda _: config.as_json(),
            ("POST", "/_sim/config"): self._set_config,
            ("GET", "/_sim/media"): lambda _: list(SAMPLE_NAMES),
            ("GET", "/_sim/media-fetches"): lambda _: media_fetches.snapshot(),
            ("GET", "/_sim/handsets"): lambda _: mms.handsets(),
            ("POST", "/_sim/handsets"): self._set_handset,
            ("GET", "/_sim/mms-templates"): lambda _: mms.templates(),
            ("POST", "/_sim/inbound"): lambda body: inbound.deliver(_json(body)),
        }

    def handle(self, method: str, path: str, body: bytes) -> Response:
        route = path.rstrip("/")
        action = self._routes.get((method, route))
        if action is not None:
            try:
                result = action(body)
                return result if isinstance(result, Response) else Response(200, result)
            except ValueError as exc:
                return error_response(400, "invalid_request", str(exc))
        if any(known == route for _, known in self._routes):
            return error_response(405, "method_not_allowed", f"{method} is not allowed on {route}")
        return error_response(404, "not_found", f"No such control endpoint: {path}")

    def _do_reset(self, _: bytes) -> dict[str, Any]:
        self._reset()
        return {"reset": True}

    def _set_faults(self, body: bytes) -> dict[str, Any]:
        self._faults.replace(_json(body))
        return self._faults.as_json()

    def _set_config(self, body: bytes) -> dict[str, Any]:
        self._config.update(_json(body))
        return self._config.as_json()

    def _set_handset(self, body: bytes) -> list[dict[str, Any]]:
        """`{"number": "+1...", "mms": false}` marks a handset that takes no MMS; `true` undoes it."""
        handset = _json(body)
        if not isinstance(handset, dict) or set(handset) != {"number", "mms"}:
            raise ValueError('the body must be {"number": "+1...", "mms": true|false}')
        number, mms = handset["number"], handset["mms"]
        if not isinstance(number, str) or not MSISDN.match(number) or not isinstance(mms, bool):
            raise ValueError("number must be a phone number with its country code, mms true or false")
        self._mms.set_handset(number, mms)
        return self._mms.handsets()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise ValueError("the body is not valid JSON") from None
