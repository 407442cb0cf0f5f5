"""What the deploy promises, read from template.yaml itself."""

import json
import pathlib
import re
from typing import Any

from devstack.template import read_template

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE: dict[str, Any] = read_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}


def test_every_function_has_a_folder_with_a_handler() -> None:
    assert set(FUNCTIONS) == {"SendFunction", "QueueFunction", "WebhookFunction", "CallbackFunction"}
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
    (event,) = FUNCTIONS["QueueFunction"]["Properties"]["Events"].values()
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


WEBHOOKS = "/v1/webhooks/sinch/"


def test_every_route_without_a_key_has_a_method_throttle_or_the_webhooks_per_address_limit() -> None:
    settings = RESOURCES["Api"]["Properties"]["MethodSettings"]
    # /~1a~1b is /a/b (the leading / is a separator); the root is / itself.
    throttled = {(m["ResourcePath"][1:].replace("~1", "/") or "/", m["HttpMethod"]) for m in settings}
    webhooks = {route for route in keyless_routes() if route[0].startswith(WEBHOOKS)}
    assert len(webhooks) == 4
    assert keyless_routes() - webhooks <= throttled
    assert not webhooks & throttled, "a throttle shared by every caller lets one address refuse Sinch"
    for setting in settings:
        for limit in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
            assert set(setting[limit]) == {"Ref"} and setting[limit]["Ref"] in TEMPLATE["Parameters"]


def test_the_webhooks_are_limited_per_address_by_a_waf_rule_on_the_apis_stage() -> None:
    acl = RESOURCES["WebhookWebAcl"]["Properties"]
    assert (acl["Scope"], acl["DefaultAction"]) == ("REGIONAL", {"Allow": {}})
    (rule,) = acl["Rules"]
    rate = rule["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "IP"
    assert rate["Limit"] == {"Ref": "WebhookAddressLimit"}
    assert rate["EvaluationWindowSec"] == {"Ref": "WebhookAddressWindowSeconds"}
    scope = rate["ScopeDownStatement"]["ByteMatchStatement"]
    # The path WAF sees starts with the stage on the execute-api endpoint, not on a custom domain.
    assert (scope["FieldToMatch"], scope["PositionalConstraint"], scope["SearchString"]) == (
        {"UriPath": {}},
        "CONTAINS",
        WEBHOOKS,
    )
    assert all(route.startswith(WEBHOOKS) for route, _ in keyless_routes() if "webhooks" in route)
    custom = rule["Action"]["Block"]["CustomResponse"]
    assert custom["ResponseCode"] == 429
    assert acl["CustomResponseBodies"][custom["CustomResponseBodyKey"]]["ContentType"] == "APPLICATION_JSON"
    assert {h["Name"] for h in custom["ResponseHeaders"]} == {"Retry-After", "RateLimit-Policy", "RateLimit"}
    association = RESOURCES["WebhookWebAclAssociation"]
    assert association["DependsOn"] == "ApiStage", "SAM's stage for Api must exist before it is guarded"
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": ["WebhookWebAcl", "Arn"]}
    assert "/restapis/${Api}/stages/${StageName}" in association["Properties"]["ResourceArn"]["Fn::Sub"]
    limit = TEMPLATE["Parameters"]["WebhookAddressLimit"]
    assert limit["MinValue"] == 10, "WAF's lowest limit"
    assert TEMPLATE["Parameters"]["WebhookAddressWindowSeconds"]["AllowedValues"] == [60, 120, 300, 600]


def test_api_gateways_own_refusals_stay_403_and_name_the_key_header() -> None:
    responses = {
        kind: response
        for kind, response in RESOURCES["Api"]["Properties"]["GatewayResponses"].items()
        if response["StatusCode"] == 403
    }
    assert set(responses) == {"INVALID_API_KEY", "MISSING_AUTHENTICATION_TOKEN"}
    for response in responses.values():
        assert response["StatusCode"] == 403
        problem = json.loads(response["ResponseTemplates"]["application/json"])
        assert "x-api-key" in problem["detail"] and "x-api-key" in problem["message"]
        assert problem["status"] == 403 and problem["type"].startswith("/problems/")
        assert response["ResponseParameters"]["Headers"] == {"Content-Type": "'application/problem+json'"}
    missing = json.loads(responses["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"]["application/json"])
    assert "no such resource" in missing["message"]


def test_api_gateways_429s_say_when_to_come_back() -> None:
    responses = RESOURCES["Api"]["Properties"]["GatewayResponses"]
    for kind in ("THROTTLED", "QUOTA_EXCEEDED"):
        response = responses[kind]
        assert response["StatusCode"] == 429
        headers = response["ResponseParameters"]["Headers"]
        assert {"Retry-After", "RateLimit-Policy", "RateLimit"} <= set(headers), kind
        problem = json.loads(response["ResponseTemplates"]["application/json"])
        assert problem["status"] == 429 and problem["type"].startswith("/problems/")


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


def test_hand_entered_secrets_survive_stack_deletion_and_replacement() -> None:
    # Sinch's credentials and the webhook secrets are typed in (here and at Sinch) after the
    # first deploy: deleting or replacing the stack must not destroy them.
    for secret in ("SinchSecret", "WebhookSecret"):
        assert RESOURCES[secret].get("DeletionPolicy") == "Retain", secret
        assert RESOURCES[secret].get("UpdateReplacePolicy") == "Retain", secret


def test_the_senders_get_the_max_message_age_a_day_by_default() -> None:
    assert TEMPLATE["Parameters"]["MaxMessageAgeSeconds"]["Default"] == 86400
    for name in ("SendFunction", "QueueFunction"):
        variables = FUNCTIONS[name]["Properties"]["Environment"]["Variables"]
        assert variables["MAX_MESSAGE_AGE_S"] == {"Ref": "MaxMessageAgeSeconds"}, name


def test_the_senders_get_the_report_grace_fifteen_minutes_by_default() -> None:
    assert TEMPLATE["Parameters"]["ReportGraceSeconds"]["Default"] == 900
    for name in ("SendFunction", "QueueFunction"):
        variables = FUNCTIONS[name]["Properties"]["Environment"]["Variables"]
        assert variables["REPORT_GRACE_S"] == {"Ref": "ReportGraceSeconds"}, name
