"""The one table of what each Sinch answer means, for both APIs."""

import pytest

from sinch_gateway.domain.answers import Verdict, judge, refusal_problem
from sinch_gateway.domain.content import Api
from sinch_gateway.domain.errors import SinchForbidden, SinchMisconfigured, SinchRejected
from sinch_gateway.domain.outcomes import Refusal, Refused


@pytest.mark.parametrize(
    ("status", "code", "verdict", "problem", "rate_limited"),
    [
        (429, None, Verdict.RETRY, None, True),
        (500, None, Verdict.RETRY, None, False),
        (503, "x", Verdict.RETRY, None, False),
        (401, None, Verdict.FAIL, None, False),
        (400, "syntax_invalid_json", Verdict.REJECT, SinchRejected, False),
        (403, "unknown_campaign", Verdict.REJECT, SinchForbidden, False),
        (404, "not_found", Verdict.REJECT, SinchMisconfigured, False),
        (415, None, Verdict.REJECT, SinchMisconfigured, False),
    ],
)
def test_xms_answers(
    status: int, code: str | None, verdict: Verdict, problem: type | None, rate_limited: bool
) -> None:
    rule = judge(Api.XMS, status, code)
    assert (rule.verdict, rule.rate_limited) == (verdict, rate_limited)
    if problem is not None:
        assert isinstance(refusal_problem(Refused(status, code or "", "why", rule.refusal)), problem)


@pytest.mark.parametrize(
    ("status", "code", "verdict", "problem", "rate_limited"),
    [
        (200, "E106", Verdict.RETRY, None, True),  # calls too frequent
        (200, "E113", Verdict.RETRY, None, True),  # throughput exceeded
        (200, "E999", Verdict.RETRY, None, False),  # Sinch's queue trouble
        (503, None, Verdict.RETRY, None, False),
        (200, "E104", Verdict.FAIL, None, False),  # our API key
        (200, "E627", Verdict.REJECT, SinchMisconfigured, False),  # our service id
        (200, "E110", Verdict.REJECT, SinchRejected, False),  # the recipient
        (200, "E225", Verdict.REJECT, SinchRejected, False),  # too many slides
        (200, "E331", Verdict.REJECT, SinchRejected, False),  # media too big
        (200, "E622", Verdict.REJECT, SinchRejected, False),  # fallback text required
        (200, "E114", Verdict.REJECT, SinchForbidden, False),  # number blacklisted
        (200, "E777", Verdict.REJECT, SinchRejected, False),  # a code nobody documented
    ],
)
def test_mms_json_answers(
    status: int, code: str | None, verdict: Verdict, problem: type | None, rate_limited: bool
) -> None:
    rule = judge(Api.MMS_JSON, status, code)
    assert (rule.verdict, rule.rate_limited) == (verdict, rate_limited)
    if problem is not None:
        assert isinstance(refusal_problem(Refused(status, code or "", "why", rule.refusal)), problem)


def test_a_refusal_tells_the_client_sinchs_status_and_code() -> None:
    error = refusal_problem(Refused(200, "E110", "invalid to", Refusal.MESSAGE), messageId="m-1")
    assert isinstance(error, SinchRejected)
    assert error.extra == {"sinchStatus": 200, "sinchCode": "E110", "messageId": "m-1"}
    assert "E110" in error.detail


def test_the_client_hears_the_channels_verdict_not_a_second_judgement() -> None:
    # A 400 with a code the table would call the message's fault, judged by the channel as ours.
    error = refusal_problem(Refused(400, "syntax_invalid_json", "", Refusal.SETUP))
    assert isinstance(error, SinchMisconfigured)
