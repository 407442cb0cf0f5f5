"""What each Sinch answer means, for both APIs, in one table: try again, the message is refused
for good (and why), or our own setup is wrong; and which problem a refusal is for an API client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from sinch_gateway.domain.content import Api
from sinch_gateway.domain.errors import GatewayError, SinchForbidden, SinchMisconfigured, SinchRejected
from sinch_gateway.domain.outcomes import Refusal, Refused


class Verdict(StrEnum):
    RETRY = "retry"  # transient: the queue tries again later
    REJECT = "reject"  # Sinch refused this message for good: it ends rejected
    FAIL = "fail"  # Sinch refused our credentials (after re-reading them): it ends failed


@dataclass(frozen=True)
class Rule:
    api: Api
    verdict: Verdict
    http: range = range(100, 600)
    code: re.Pattern[str] | None = None  # Sinch's error code, when the rule depends on it
    refusal: Refusal = Refusal.SETUP  # what a REJECT says is wrong
    rate_limited: bool = False  # "slower", not "broken": waiting uses up no attempt


def _codes(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


ANY_4XX = range(400, 500)
ANY_5XX = range(500, 600)

# First match wins. XMS speaks HTTP statuses (https://developers.sinch.com/docs/sms/api-reference/status-codes/);
# the MMS JSON API answers HTTP 200 with an E-code for everything it refuses, so its rules read the code.
ANSWERS: tuple[Rule, ...] = (
    Rule(Api.XMS, Verdict.RETRY, http=range(429, 430), rate_limited=True),
    Rule(Api.XMS, Verdict.RETRY, http=ANY_5XX),
    Rule(Api.XMS, Verdict.FAIL, http=range(401, 402)),
    Rule(Api.XMS, Verdict.REJECT, http=range(400, 401), refusal=Refusal.MESSAGE),
    Rule(Api.XMS, Verdict.REJECT, http=range(403, 404), refusal=Refusal.FORBIDDEN),
    # 404, 405, 415...: Sinch does not know our plan, path or format.
    Rule(Api.XMS, Verdict.REJECT, http=ANY_4XX, refusal=Refusal.SETUP),
    # E106 calls too frequent, E113 throughput exceeded: Sinch's rate limit.
    Rule(Api.MMS_JSON, Verdict.RETRY, code=_codes(r"E10[6]|E113"), rate_limited=True),
    Rule(Api.MMS_JSON, Verdict.RETRY, http=range(429, 430), rate_limited=True),
    Rule(Api.MMS_JSON, Verdict.RETRY, http=ANY_5XX),
    # E999 queue processing error: Sinch's own trouble.
    Rule(Api.MMS_JSON, Verdict.RETRY, code=_codes(r"E999")),
    # E104 bad API key, E105 no API access: after re-reading the secret, our setup.
    Rule(Api.MMS_JSON, Verdict.FAIL, code=_codes(r"E10[45]")),
    Rule(Api.MMS_JSON, Verdict.FAIL, http=range(401, 402)),
    # E107 action not allowed, E112 IP not allowed, E619/E627/E650/E651 service or carrier setup.
    Rule(Api.MMS_JSON, Verdict.REJECT, code=_codes(r"E107|E112|E619|E627|E65[01]")),
    Rule(Api.MMS_JSON, Verdict.REJECT, code=_codes(r"E114"), refusal=Refusal.FORBIDDEN),
    # Request errors: the message itself (its numbers, slides, media, text).
    Rule(Api.MMS_JSON, Verdict.REJECT, code=_codes(r"E[1236][0-9]{2}"), refusal=Refusal.MESSAGE),
    Rule(Api.MMS_JSON, Verdict.REJECT, http=ANY_4XX),
    # An E-code we do not know: refused all the same, and it says which.
    Rule(Api.MMS_JSON, Verdict.REJECT, code=_codes(r".*"), refusal=Refusal.MESSAGE),
)


def judge(api: Api, http_status: int, code: str | None = None) -> Rule:
    """The rule for one answer that was not a success."""
    for rule in ANSWERS:
        if rule.api is not api or http_status not in rule.http:
            continue
        if rule.code is not None and (code is None or not rule.code.fullmatch(code)):
            continue
        return rule
    return Rule(api, Verdict.REJECT)


_PROBLEMS: dict[Refusal, type[GatewayError]] = {
    Refusal.MESSAGE: SinchRejected,
    Refusal.FORBIDDEN: SinchForbidden,
    Refusal.SETUP: SinchMisconfigured,
}


def refusal_problem(refused: Refused, **extra: object) -> GatewayError:
    """What an API client hears when Sinch refused its request at once: the channel's verdict,
    not judged again."""
    http_status, code = refused.http_status, refused.code
    detail = f"Sinch answered {http_status} {code}: {refused.text}".rstrip(": ")
    return _PROBLEMS[refused.refusal](detail, extra={"sinchStatus": http_status, "sinchCode": code, **extra})
