"""The template as CloudFormation will see it: expanded offline by the SAM translator, then linted.

cfn-lint alone validates SAM resources only loosely (it misses a Ref to a missing resource), so the
expanded form is linted too, and the IAM it produces is checked for least privilege.
"""

import json
import os
import pathlib
from typing import Any

import cfnlint.api
import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = pathlib.Path(__file__).resolve().parents[2]


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def expand(text: str) -> dict[str, Any]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = yaml_parse(text)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):  # as `sam package` would rewrite them
                props[key] = f"s3://artifacts/{props[key].strip('/')}.zip"
    expanded: dict[str, Any] = transform(template, {}, _NoManagedPolicies())
    return expanded


EXPANDED = expand((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, Any] = EXPANDED["Resources"]


def lint_errors(template: dict[str, Any]) -> list[str]:
    matches = cfnlint.api.lint(json.dumps(template), config=cfnlint.api.ManualArgs(regions=["us-east-1"]))
    return [str(m) for m in matches if m.rule.id.startswith("E")]


def test_expanded_template_has_no_lint_errors() -> None:
    assert lint_errors(EXPANDED) == []


def test_the_check_catches_a_reference_to_a_missing_resource() -> None:
    broken = (
        (ROOT / "template.yaml").read_text().replace("DeliveryReportFunction}", "DeliveryReportFunctio}", 1)
    )
    assert lint_errors(expand(broken)), "a dangling reference must be reported"


def statements(role: str) -> list[dict[str, Any]]:
    policies = RESOURCES[role]["Properties"].get("Policies", [])
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


@pytest.mark.parametrize("role", ["SendFunctionRole", "RetryFunctionRole", "DeliveryReportFunctionRole"])
def test_no_statement_grants_every_resource(role: str) -> None:
    for statement in statements(role):
        assert statement["Resource"] != "*", statement


def test_only_the_senders_may_write_to_the_queue() -> None:
    def can_send(role: str) -> bool:
        return any("sqs:SendMessage*" in s["Action"] for s in statements(role))

    assert can_send("SendFunctionRole") and can_send("RetryFunctionRole")
    assert not can_send("DeliveryReportFunctionRole")


def test_the_queue_mapping_reports_partial_failures_and_bounds_concurrency() -> None:
    (mapping,) = [r for r in RESOURCES.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    props = mapping["Properties"]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ScalingConfig"]["MaximumConcurrency"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["SendQueue", "Arn"]}


def test_api_keys_are_enforced_with_a_usage_plan() -> None:
    types = {r["Type"] for r in RESOURCES.values()}
    assert {"AWS::ApiGateway::UsagePlan", "AWS::ApiGateway::ApiKey", "AWS::ApiGateway::UsagePlanKey"} <= types


def test_the_template_itself_has_no_lint_errors() -> None:
    assert lint_errors(yaml_parse((ROOT / "template.yaml").read_text())) == []
