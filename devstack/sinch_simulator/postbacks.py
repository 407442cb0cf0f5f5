"""After the MMS JSON API accepted a request: encoding, sending, delivery, and the postbacks that
report each step, POSTed to the account's postback URL."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import urllib3

from .callbacks import CallbackSender, RetryPolicy
from .common import utcnow
from .faults import CallbackEffects, FaultSet
from .mediatypes import looks_like
from .mms_requests import Message
from .mms_store import MmsStore, Template

log = logging.getLogger(__name__)

ORIGIN = "MMS_MT"
OPERATOR_ID = "310999"  # a made-up carrier
# Sinch tries a postback again about five minutes later; the XMS callbacks' first retry comes
# after 5 s. `callback_retry_base_s` stands for those 5 s, so 60 of it stand for five minutes.
RETRY_UNITS = 60
MAX_RETRIES = 5


def mms_policy(retry_base_s: Callable[[], float]) -> RetryPolicy:
    """Anything but a 200 within 10 s (another status, a timeout, no connection) is tried again,
    at most 5 times. Postbacks are not signed: Sinch's MMS platform relies on the secret in the
    provisioned URL and on its published source addresses."""
    return RetryPolicy(
        retries=MAX_RETRIES,
        delay_s=lambda _: RETRY_UNITS * retry_base_s(),
        retried=lambda status: status != 200,
        timeout=urllib3.Timeout(total=10.0),
        content_type="application/json; charset=utf-8",
        secret=lambda: None,
    )


@dataclass(frozen=True)
class MediaFile:
    """A slide's media as the simulator fetched it, kept until it has been "encoded"."""

    kind: str
    url: str
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Outcome:
    code: str
    status: str
    details: str


# What each step reports.
_SENT = {"MMS": Outcome("N101", "Sent", "Message sent"), "SMS": Outcome("N101", "Sent", "Fallback SMS sent")}
_DELIVERED = Outcome("N102", "Delivered", "Message delivered to the handset")
_FALLBACK_DELIVERED = Outcome("N202", "Delivered", "Delivered as fallback SMS: the handset takes no MMS")
_NOT_SUPPORTED = Outcome("E102", "Rejected", "The handset does not support MMS and fallback SMS is disabled")
_EXPIRED = Outcome("N103", "Expired", "Message expired before it could be delivered")
_FAILED = Outcome("E101", "Failed", "Message could not be sent")
_REJECTED = Outcome("E102", "Rejected", "Message rejected by the carrier")
_FALLBACK_FAILED = Outcome("E202", "Failed", "Fallback SMS delivery failed")

# The final report a `callbacks` rule's `final` stands for; None: the carrier gives no receipt.
MMS_FINALS: dict[str, Outcome | None] = {
    "Delivered": _DELIVERED,
    "Failed": _FAILED,
    "Expired": _EXPIRED,
    "Rejected": _REJECTED,
    "Aborted": _FAILED,
    "Cancelled": _FAILED,
    "Deleted": _FAILED,
    "Unknown": None,
}
SMS_FINALS: dict[str, Outcome | None] = {
    **dict.fromkeys(MMS_FINALS, _FALLBACK_FAILED),
    "Delivered": _FALLBACK_DELIVERED,
    "Expired": _EXPIRED,
    "Unknown": None,
}

# Content that does not decode as its type fails "encoding": sendmms and savemms say so differently.
SEND_CONTENT_FAILED = {"audio": "E012", "video": "E013"}  # anything else: E011
SAVE_CONTENT_FAILED = {"audio": "E002", "video": "E003", "image": "E004"}  # anything else: E011
_FAILED_NAME = {"audio": "audio-name", "video": "video-name", "image": "image-name"}
ENCODED = ("audio", "video")  # what a template takes time to encode


def timestamp() -> str:
    return utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")


def _unreadable(files: tuple[MediaFile, ...]) -> MediaFile | None:
    return next((f for f in files if not looks_like(f.content_type, f.body)), None)


class MmsDelivery:
    def __init__(
        self,
        *,
        store: MmsStore,
        scheduler_call_later: Callable[..., None],
        sender: CallbackSender,
        faults: FaultSet,
        postback_url: Callable[[], str | None],
        delay_s: Callable[[], float],
        encoding_delay_s: Callable[[], float],
    ) -> None:
        self._store = store
        self._later = scheduler_call_later
        self._sender = sender
        self._faults = faults
        self._postback_url = postback_url  # read when used: /_sim/config may change them
        self._delay_s = delay_s
        self._encoding_delay_s = encoding_delay_s

    # --- sendmms, sendsavedmms -----------------------------------------------------------------------

    def send(self, message: Message, tracking_id: str, files: tuple[MediaFile, ...] = ()) -> None:
        """N101 after `callback_delay_s`, the final report one more `callback_delay_s` later."""
        self._later(self._delay_s(), self._process, message, tracking_id, files)

    def _process(self, message: Message, tracking_id: str, files: tuple[MediaFile, ...]) -> None:
        effects = CallbackEffects.of(self._faults.pick("callbacks", "mms"))
        bad = _unreadable(files)
        if bad is not None:
            code = SEND_CONTENT_FAILED.get(bad.kind, "E011")
            failed = Outcome(code, "Failed", f"The {bad.kind} could not be encoded: {bad.url}")
            self._post([self._report(message, tracking_id, failed, "MMS", sent=False)], effects)
            return
        takes_mms = self._store.takes_mms(message.to)
        sent_as = "MMS" if takes_mms or not message.content.fallback else "SMS"
        if not takes_mms and not message.content.fallback:
            outcome: Outcome | None = _NOT_SUPPORTED  # whatever a rule says: there is no handset for it
        else:
            finals = MMS_FINALS if sent_as == "MMS" else SMS_FINALS
            outcome = finals[effects.final] if effects.final else finals["Delivered"]
        sent = self._report(message, tracking_id, _SENT[sent_as], sent_as)
        held: list[dict[str, Any]] = []
        if effects.reorder and outcome is not None:
            held = [sent]  # posted after the final report, by _finish
        else:
            self._post([sent], effects)
        if outcome is not None:  # built when it is due: its timestamp is the delivery time
            final = partial(self._report, message, tracking_id, outcome, sent_as)
            self._later(self._delay_s(), self._finish, final, effects, held)

    def _finish(
        self, final: Callable[[], dict[str, Any]], effects: CallbackEffects, held: list[dict[str, Any]]
    ) -> None:
        self._post([final(), *held], effects)

    @staticmethod
    def _report(
        message: Message, tracking_id: str, outcome: Outcome, sent_as: str, *, sent: bool = True
    ) -> dict[str, Any]:
        report: dict[str, Any] = {
            "origin": ORIGIN,
            "code": outcome.code,
            "status": outcome.status,
            "status-details": outcome.details,
            "sent-as": sent_as,
            "from": message.sender,
            "to": message.to,
            "tracking-id": tracking_id,
        }
        if sent:
            report["operator-id"] = OPERATOR_ID
        report["timestamp"] = timestamp()
        if message.client_reference is not None:
            report["client-reference"] = message.client_reference
        if message.mms_id is not None:
            report["mms-id"] = message.mms_id
        return report

    # --- savemms ------------------------------------------------------------------------------------

    def save(self, template: Template, files: tuple[MediaFile, ...]) -> None:
        """Audio and video take `encoding_delay_s` to encode; a template without is ready at once
        (before the request is answered), and only its N003 is posted from the background."""
        if any(f.kind in ENCODED for f in files):
            self._later(self._encoding_delay_s(), self._encode_and_post, template, files)
            return
        report = self._encode(template, files)
        if report is not None:
            self._later(0, self._post, [report], self._effects())

    def _encode_and_post(self, template: Template, files: tuple[MediaFile, ...]) -> None:
        report = self._encode(template, files)
        if report is not None:
            self._post([report], self._effects())

    def _encode(self, template: Template, files: tuple[MediaFile, ...]) -> dict[str, Any] | None:
        """Marks the template ready or failed and returns its report; None when it is gone (reset)."""
        bad = _unreadable(files)
        if not self._store.finish_template(template.mms_id, ready=bad is None):
            return None
        report: dict[str, Any] = {"origin": ORIGIN}
        if bad is None:
            report |= {"code": "N003", "status": "Success", "status-details": "Template saved and encoded"}
        else:
            report |= {
                "code": SAVE_CONTENT_FAILED.get(bad.kind, "E011"),
                "status": "Failed",
                "status-details": f"The {bad.kind} could not be encoded: {bad.url}",
            }
            if bad.kind in _FAILED_NAME:
                report[_FAILED_NAME[bad.kind]] = bad.url
        report |= {"mms-id": template.mms_id, "tracking-id": template.tracking_id, "timestamp": timestamp()}
        if template.client_reference is not None:
            report["client-reference"] = template.client_reference
        return report

    def _effects(self) -> CallbackEffects:
        return CallbackEffects.of(self._faults.pick("callbacks", "mms"))

    # --- posting ------------------------------------------------------------------------------------

    def _post(self, reports: list[dict[str, Any]], effects: CallbackEffects) -> None:
        if effects.drop:
            log.info("%d postbacks dropped by a fault rule", len(reports))
            return
        url = self._postback_url()
        if url is None:
            log.info("no postback URL is provisioned: %d postbacks not sent", len(reports))
            return
        self._sender.send(url, reports, copies=effects.copies, delay_s=effects.delay_s)
