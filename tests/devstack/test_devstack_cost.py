"""devstack.cost: what the web ACL on the API's stage adds to the cost model."""

from pathlib import Path

from devstack.cost import PRICES, cost_per_million, web_acl_cost_per_month
from devstack.template import Template

REPO = Path(__file__).resolve().parents[2]
FIGURES = {
    "aws_calls_per_delivered": {},
    "invocations_per_delivered": {"SendFunction": 1.0, "WebhookFunction": 1.0},
    "lambda_ms_per_invocation": {},
    "log_bytes_per_delivered": {},
}


def test_every_api_request_of_a_message_is_inspected_by_waf() -> None:
    cost = cost_per_million(FIGURES)
    assert cost["usd_per_million"]["waf"] == 2 * PRICES["waf_requests_per_million"] == 1.2


def test_the_templates_web_acl_costs_its_acl_and_rules_a_month_and_a_flood_its_requests() -> None:
    acls = Template(REPO / "template.yaml").resources_of_type("AWS::WAFv2::WebACL")
    rules = sum(len(acl["Properties"]["Rules"]) for acl in acls.values())
    assert (len(acls), rules) == (1, 1)
    assert web_acl_cost_per_month(rules) == 6.0
    # 30 clients at ~600 requests a second for an hour, as `make bench` floods the local stack:
    assert round(web_acl_cost_per_month(rules, junk_millions=600 * 3600 / 1e6), 2) == 7.3
