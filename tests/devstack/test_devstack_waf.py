"""devstack.waf: the template's web ACL, applied by the local gateway as WAF applies it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.gateway import ApiGateway, Request, Response
from devstack.template import Template, TemplateError
from devstack.waf import web_acl, web_acls
from tests.devstack.test_devstack_gateway import KEY, FakeInvoker, ok

REPO = Path(__file__).resolve().parents[2]
REPORTS = "/v1/webhooks/sinch/delivery-reports"


def header(response: Response, name: str) -> str | None:
    return next((v for k, v in response.headers if k.lower() == name.lower()), None)


def post(gateway: ApiGateway, path: str, source: str = "127.0.0.1") -> Response:
    request = Request("POST", path, [("Host", "h")], b"{}", source)
    return gateway.handle(request)[0]


@pytest.fixture
def guarded() -> Iterator[ApiGateway]:
    """The local gateway with the template's routes, gateway responses and web ACL, the limit at
    WAF's lowest (10 requests a minute from one address)."""
    template = Template(REPO / "template.yaml", parameter_overrides={"WebhookAddressLimit": "10"})
    apis = template.apis()
    gateway = ApiGateway(
        template.routes(),
        apis,
        api_keys={KEY: "keyid12345"},
        invoker=FakeInvoker(ok),
        firewalls=web_acls(template, apis),
    )
    yield gateway
    gateway.stop()


def test_one_address_over_the_limit_is_refused_and_no_other_address_is(guarded: ApiGateway) -> None:
    answers = [post(guarded, REPORTS).status for _ in range(12)]
    assert answers == [200] * 10 + [429] * 2
    assert post(guarded, REPORTS, source="127.0.0.2").status == 200, "another address has its own count"
    other_webhook = post(guarded, "/v1/webhooks/sinch/inbound")
    assert other_webhook.status == 429, "every webhook path counts for the address"
    health = guarded.handle(Request("GET", "/health", [("Host", "h")], b"", "127.0.0.1"))[0]
    assert health.status == 200, "the scope-down statement leaves other routes alone"
    assert len(guarded.invoker.events) == 12, "nothing WAF refused reached the function"  # type: ignore[union-attr]


def test_the_refusal_is_the_rules_custom_429_with_retry_after_and_ratelimit_fields(
    guarded: ApiGateway,
) -> None:
    for _ in range(10):
        post(guarded, REPORTS)
    refused = post(guarded, REPORTS)
    assert refused.status == 429
    assert header(refused, "Retry-After") == "60"
    assert header(refused, "RateLimit-Policy") == '"webhooks-per-address";q=10;w=60'
    assert header(refused, "RateLimit") == '"webhooks-per-address";r=0;t=60'
    assert header(refused, "Content-Type") == "application/json"
    problem = json.loads(refused.body)
    assert (problem["status"], problem["type"]) == (429, "/problems/too-many-requests")


def rate_rule(**statement: Any) -> dict[str, Any]:
    return {
        "Name": "PerAddress",
        "Priority": 0,
        "Action": {"Block": {}},
        "Statement": {"RateBasedStatement": {"AggregateKeyType": "IP", "Limit": 2, **statement}},
        "VisibilityConfig": {},
    }


def acl(*rules: dict[str, Any], clock: list[float] | None = None) -> Any:
    now = clock if clock is not None else [0.0]
    return web_acl(
        {"Scope": "REGIONAL", "DefaultAction": {"Allow": {}}, "Rules": list(rules)}, clock=lambda: now[0]
    )


def inspect(firewall: Any, path: str = "/prod/v1/x", source: str = "192.0.2.1") -> int | None:
    answer = firewall.inspect(Request("POST", "/", [], b"", source), path)
    return None if answer is None else int(answer.status)


def test_an_address_stays_blocked_while_it_floods_and_is_let_back_once_its_window_is_quiet() -> None:
    clock = [1000.0]
    firewall = acl(rate_rule(EvaluationWindowSec=60), clock=clock)
    assert [inspect(firewall) for _ in range(3)] == [None, None, 403], "a block without a custom response"
    for _ in range(30):  # a request a second: each blocked one counts, so the block holds
        clock[0] += 1
        assert inspect(firewall) == 403
    clock[0] += 61
    assert inspect(firewall) is None


def test_without_a_custom_response_the_block_is_api_gateways_waf_filtered_403(guarded: ApiGateway) -> None:
    firewall = acl(rate_rule())
    guarded.firewalls = {"Api": firewall}
    answers = [post(guarded, REPORTS) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 403]
    assert (json.loads(answers[2].body), header(answers[2], "x-amzn-ErrorType")) == (
        {"message": "Forbidden"},
        "ForbiddenException",
    )


def by_path(search: str, position: str = "STARTS_WITH") -> dict[str, Any]:
    return {
        "ByteMatchStatement": {
            "FieldToMatch": {"UriPath": {}},
            "PositionalConstraint": position,
            "SearchString": search,
            "TextTransformations": [
                {"Priority": 0, "Type": "URL_DECODE"},
                {"Priority": 1, "Type": "NORMALIZE_PATH"},
            ],
        }
    }


def test_the_path_waf_sees_starts_with_the_stage(guarded: ApiGateway) -> None:
    """On a REST API's stage WAF sees /prod/v1/...: a scope-down written /v1/... never matches."""
    guarded.firewalls = {"Api": acl(rate_rule(ScopeDownStatement=by_path("/v1/webhooks/")))}
    assert {post(guarded, REPORTS).status for _ in range(5)} == {200}
    guarded.firewalls = {"Api": acl(rate_rule(ScopeDownStatement=by_path("/prod/v1/webhooks/")))}
    assert [post(guarded, REPORTS).status for _ in range(3)] == [200, 200, 403]


@pytest.mark.parametrize(
    "path", ["/prod/v1/webhooks/sinch/x", "/prod/v1/%77ebhooks/sinch/x", "/prod//v1/./webhooks/sinch/x"]
)
def test_the_scope_down_reads_the_path_decoded_and_normalised(path: str) -> None:
    firewall = acl(rate_rule(ScopeDownStatement=by_path("/v1/webhooks/sinch/", "CONTAINS")))
    assert [inspect(firewall, path) for _ in range(3)] == [None, None, 403]
    assert inspect(firewall, "/prod/v1/messages") is None


def test_constant_aggregation_counts_every_address_together() -> None:
    firewall = acl(rate_rule(AggregateKeyType="CONSTANT"))
    answers = [inspect(firewall, source=f"192.0.2.{n}") for n in range(3)]
    assert answers == [None, None, 403]


def on_query_string() -> dict[str, Any]:
    statement = by_path("/x")
    statement["ByteMatchStatement"]["FieldToMatch"] = {"QueryString": {}}
    return statement


@pytest.mark.parametrize(
    "rule",
    [
        rate_rule(AggregateKeyType="FORWARDED_IP"),
        rate_rule(ScopeDownStatement={"GeoMatchStatement": {"CountryCodes": ["US"]}}),
        rate_rule(ScopeDownStatement=on_query_string()),
        {**rate_rule(), "Action": {"Captcha": {}}},
    ],
)
def test_a_rule_the_local_waf_cannot_apply_is_refused_not_left_out(rule: dict[str, Any]) -> None:
    with pytest.raises(TemplateError):
        acl(rule)
