"""What the deploy promises, read from template.yaml itself."""

import json
import pathlib
import re
from typing import Any

from samtranslator.yaml_helper import yaml_parse

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE: dict[str, Any] = yaml_parse((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}


def test_every_function_has_a_folder_with_a_handler() -> None:
    assert set(FUNCTIONS) == {"SendFunction", "RetryFunction", "DeliveryReportFunction", "CallbackFunction"}
    for fn in FUNCTIONS.values():
        module, _, handler = fn["Properties"]["Handler"].partition(".")
        source = ROOT / fn["Properties"]["CodeUri"] / f"{module}.py"
        assert f"def {handler}(" in source.read_text()


def test_runtime_is_python_311_or_newer() -> None:
    runtime = TEMPLATE["Globals"]["Function"]["Runtime"]
    major, minor = runtime.removeprefix("python").split(".")
    assert (int(major), int(minor)) >= (3, 11)


def test_every_function_has_its_own_role_and_no_sam_policies() -> None:
    for name, fn in FUNCTIONS.items():
        assert fn["Properties"]["Role"] == {"Fn::GetAtt": [f"{name}Role", "Arn"]}
        assert "Policies" not in fn["Properties"]


def test_the_retry_function_reports_partial_batch_failures() -> None:
    (event,) = FUNCTIONS["RetryFunction"]["Properties"]["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_send_queue_redrives_to_the_dead_letter_queue() -> None:
    redrive = RESOURCES["SendQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] >= 1


def keyless_routes() -> set[tuple[str, str]]:
    return {
        (e["Properties"]["Path"], e["Properties"]["Method"].upper())
        for fn in FUNCTIONS.values()
        for e in fn["Properties"].get("Events", {}).values()
        if e["Type"] == "Api" and e["Properties"].get("Auth", {}).get("ApiKeyRequired") is False
    }


def test_api_requires_a_key_except_for_health_docs_the_web_page_and_sinch_callbacks() -> None:
    assert RESOURCES["Api"]["Properties"]["Auth"]["ApiKeyRequired"] is True
    assert keyless_routes() == {
        ("/health", "GET"),
        ("/v1/docs", "GET"),  # a browser opens Swagger UI; its Authorize takes the key
        ("/v1/openapi.json", "GET"),
        ("/", "GET"),
        ("/web/{asset}", "GET"),
        ("/v1/webhooks/sinch/delivery-reports", "POST"),
        ("/v1/webhooks/sinch/inbound", "POST"),
        ("/v1/webhooks/sinch/mms-postbacks", "POST"),
        ("/v1/webhooks/sinch/mms-postbacks/{token}", "POST"),
    }


def test_every_route_without_a_key_has_a_method_throttle_from_parameters() -> None:
    settings = RESOURCES["Api"]["Properties"]["MethodSettings"]
    # /~1a~1b is /a/b (the leading / is a separator); the root is / itself.
    throttled = {(m["ResourcePath"][1:].replace("~1", "/") or "/", m["HttpMethod"]) for m in settings}
    assert keyless_routes() <= throttled
    for setting in settings:
        for limit in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
            assert set(setting[limit]) == {"Ref"} and setting[limit]["Ref"] in TEMPLATE["Parameters"]


def test_api_gateways_own_refusals_stay_403_and_name_the_key_header() -> None:
    responses = RESOURCES["Api"]["Properties"]["GatewayResponses"]
    assert set(responses) == {"INVALID_API_KEY", "MISSING_AUTHENTICATION_TOKEN"}
    for response in responses.values():
        assert response["StatusCode"] == 403
        problem = json.loads(response["ResponseTemplates"]["application/json"])
        assert "x-api-key" in problem["detail"] and "x-api-key" in problem["message"]
        assert problem["status"] == 403 and problem["type"].startswith("/problems/")
        assert response["ResponseParameters"]["Headers"] == {"Content-Type": "'application/problem+json'"}
    missing = json.loads(responses["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"]["application/json"])
    assert "no such resource" in missing["message"]


def test_access_logs_are_json_with_the_api_key_id() -> None:
    setting = RESOURCES["Api"]["Properties"]["AccessLogSetting"]
    fields = json.loads(setting["Format"])
    assert fields["apiKeyId"] == "$context.identity.apiKeyId"
    for variable in ("requestId", "identity.sourceIp", "httpMethod", "resourcePath", "status"):
        assert f"$context.{variable}" in fields.values()
    assert "${ApiAccessLogGroup}" in setting["DestinationArn"]["Fn::Sub"]
    assert RESOURCES["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_send_concurrency_is_reserved_only_when_asked() -> None:
    parameter = TEMPLATE["Parameters"]["SendReservedConcurrency"]
    assert parameter["Default"] == "none", "a new account (10 in all) cannot reserve any"
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.match("none") and pattern.match("25")
    assert not pattern.match("0"), "0 would stop SendFunction altogether"
    assert FUNCTIONS["SendFunction"]["Properties"]["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasSendReservedConcurrency", {"Ref": "SendReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }


def test_messages_table_is_on_demand_with_ttl() -> None:
    table = RESOURCES["MessagesTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}


def test_no_secret_value_in_the_template() -> None:
    sinch = json.loads(RESOURCES["SinchSecret"]["Properties"]["SecretString"])
    assert all(value == "" for key, value in sinch.items() if key != "region"), "placeholders only"
    webhook = RESOURCES["WebhookSecret"]["Properties"]
    assert "SecretString" not in webhook
    assert webhook["GenerateSecretString"]["GenerateStringKey"] == "webhook_secret"


def test_the_senders_get_the_max_message_age_a_day_by_default() -> None:
    assert TEMPLATE["Parameters"]["MaxMessageAgeSeconds"]["Default"] == 86400
    for name in ("SendFunction", "RetryFunction"):
        variables = FUNCTIONS[name]["Properties"]["Environment"]["Variables"]
        assert variables["MAX_MESSAGE_AGE_S"] == {"Ref": "MaxMessageAgeSeconds"}, name
