"""devstack.cost: what the web ACL on the API's stage adds to the cost model, and the settle checks."""

from pathlib import Path

import pytest

from devstack.cost import PRICES, cost_per_million, settle_cost_per_million, web_acl_cost_per_month
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


def test_a_settle_check_costs_a_round_of_sendqueue_per_15_minutes_of_grace_and_one_read() -> None:
    default = settle_cost_per_million(900)["usd_per_million"]
    assert settle_cost_per_million(900)["rounds"] == 1
    sqs, read, write = (PRICES[f"{k}_per_million"] for k in ("sqs_requests", "dynamodb_rru", "dynamodb_wru"))
    assert default["sqs"] == pytest.approx(3 * sqs)  # send, receive, delete
    assert default["dynamodb_reads"] == pytest.approx(read, abs=0.01)
    assert settle_cost_per_million(3600)["rounds"] == 4
    assert settle_cost_per_million(900, lookup_share=1.0)["usd_per_million"][
        "dynamodb_writes"
    ] == pytest.approx(write, abs=0.01)
    batched = settle_cost_per_million(900, messages_per_batch=10)["total_usd_per_million"]
    assert batched < settle_cost_per_million(900)["total_usd_per_million"]


def test_each_item_of_a_batch_write_is_a_write_unit() -> None:
    # devstack.aws_calls records a BatchWriteItem of n items as n records.
    figures = {**FIGURES, "aws_calls_per_delivered": {"QueueFunction": {"dynamodb:BatchWriteItem": 2.0}}}
    cost = cost_per_million(figures)
    assert cost["per_message"]["dynamodb_writes"] == 2.0
    assert cost["usd_per_million"]["dynamodb_writes"] == 2 * PRICES["dynamodb_wru_per_million"]
