"""What the deploy promises, read from template.yaml itself."""

import pathlib
import tomllib
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE: dict[str, Any] = yaml_parse((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}


def test_every_function_has_a_folder_with_a_handler() -> None:
    assert set(FUNCTIONS) == {"SendFunction", "RetryFunction", "DeliveryReportFunction"}
    for fn in FUNCTIONS.values():
        module, _, handler = fn["Properties"]["Handler"].partition(".")
        source = ROOT / fn["Properties"]["CodeUri"] / f"{module}.py"
        assert f"def {handler}(" in source.read_text()


def test_runtime_is_python_311_or_newer() -> None:
    runtime = TEMPLATE["Globals"]["Function"]["Runtime"]
    major, minor = runtime.removeprefix("python").split(".")
    assert (int(major), int(minor)) >= (3, 11)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_has_a_log_group_with_retention(name: str) -> None:
    groups = [
        r
        for r in RESOURCES.values()
        if r["Type"] == "AWS::Logs::LogGroup"
        and r["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{name}}}"}
    ]
    assert len(groups) == 1 and groups[0]["Properties"]["RetentionInDays"]


def test_policies_are_sam_templates_scoped_to_our_resources() -> None:
    for fn in FUNCTIONS.values():
        for policy in fn["Properties"]["Policies"]:
            assert isinstance(policy, dict) and len(policy) == 1, "only SAM policy templates"
            ((template_name, args),) = policy.items()
            assert template_name.endswith("Policy")
            assert all(isinstance(v, dict) for v in args.values()), (
                f"{template_name} must reference a resource"
            )


def test_the_delivery_report_function_cannot_send_to_the_queue() -> None:
    policies = FUNCTIONS["DeliveryReportFunction"]["Properties"]["Policies"]
    assert not any("SQSSendMessagePolicy" in p for p in policies)


def test_the_retry_function_reports_partial_batch_failures() -> None:
    (event,) = FUNCTIONS["RetryFunction"]["Properties"]["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_send_queue_redrives_to_the_dead_letter_queue() -> None:
    redrive = RESOURCES["SendQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] >= 1


def test_api_requires_a_key_except_for_health_and_sinch_callbacks() -> None:
    assert RESOURCES["Api"]["Properties"]["Auth"]["ApiKeyRequired"] is True
    keyless = {
        e["Properties"]["Path"]
        for fn in FUNCTIONS.values()
        for e in fn["Properties"].get("Events", {}).values()
        if e["Type"] == "Api" and e["Properties"].get("Auth", {}).get("ApiKeyRequired") is False
    }
    assert keyless == {"/health", "/v1/webhooks/sinch/delivery-reports"}


def test_messages_table_is_on_demand_with_ttl() -> None:
    table = RESOURCES["MessagesTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}


def test_no_secret_value_in_the_template() -> None:
    secret = RESOURCES["SinchSecret"]["Properties"]
    assert "SecretString" not in secret
    assert secret["GenerateSecretString"]["GenerateStringKey"] == "webhook_secret"


def test_layer_requirements_match_the_project_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = [
        line.strip()
        for line in (ROOT / "layers/messaging/requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # boto3 is provided by the Lambda runtime and deliberately not shipped in the layer.
    assert sorted(layer) == sorted(d for d in project if not d.startswith("boto3"))
