"""The template as CloudFormation will see it: expanded offline by the SAM translator, then linted.

cfn-lint alone validates SAM resources only loosely (it misses a Ref to a missing resource), so the
expanded form is linted too, and the IAM it produces is checked against tests/least_privilege.py:
every role grants exactly what its function's code calls, on exactly its resources.
"""

import json
import os
import pathlib
from typing import Any

import cfnlint.api
import pytest
from samtranslator.translator.transform import transform

from devstack.template import inline_includes, parse_yaml, read_template
from tests.least_privilege import (
    EXPECTED,
    arn,
    canonical,
    function_roles,
    grants,
    ref,
    statement_grants,
    statements,
    violations,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def expand(text: str) -> dict[str, Any]:
    """The template's text as CloudFormation deploys it: observability.yaml inlined, then the SAM
    transform."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = inline_includes(parse_yaml(text), ROOT)
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


def test_the_api_carries_its_gateway_responses() -> None:
    body = RESOURCES["Api"]["Properties"]["Body"]
    responses = body["x-amazon-apigateway-gateway-responses"]
    assert {kind: r["statusCode"] for kind, r in responses.items()} == {
        "INVALID_API_KEY": "403",
        "MISSING_AUTHENTICATION_TOKEN": "403",
        "THROTTLED": "429",
        "QUOTA_EXCEEDED": "429",
    }
    for path in ("/v1/docs", "/v1/openapi.json"):
        assert body["paths"][path]["get"].get("security", []) == [], f"{path} needs no key"


def test_the_web_acl_guards_the_stage_sam_makes_for_the_api() -> None:
    association = RESOURCES["WebhookWebAclAssociation"]
    stage = RESOURCES[association["DependsOn"]]
    assert stage["Type"] == "AWS::ApiGateway::Stage"
    assert stage["Properties"]["RestApiId"] == {"Ref": "Api"}
    assert stage["Properties"]["StageName"] == {"Ref": "StageName"}


def test_the_check_catches_a_reference_to_a_missing_resource() -> None:
    broken = (ROOT / "template.yaml").read_text().replace("${ApiAccessLogGroup}", "${ApiAccessLogGroop}", 1)
    assert lint_errors(expand(broken)), "a dangling reference must be reported"


def expand_changed(*changes: tuple[str, str]) -> dict[str, Any]:
    """The expanded template after replacing, for each (old, new), the first `old` by `new`."""
    text = (ROOT / "template.yaml").read_text()
    for old, new in changes:
        assert old in text, f"the template no longer has {old!r}"
        text = text.replace(old, new, 1)
    resources: dict[str, Any] = expand(text)["Resources"]
    return resources


def test_every_role_grants_exactly_what_its_function_uses() -> None:
    assert violations(RESOURCES) == []


BROADENED: dict[str, list[tuple[str, str]]] = {
    "an action the code never calls": [
        (
            "Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:UpdateItem]",
            "Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:Scan]",
        )
    ],
    "a wildcard action": [("Action: dynamodb:Query", "Action: dynamodb:*")],
    "a wildcard resource": [("Resource: !GetAtt TenantsTable.Arn", 'Resource: "*"')],
    "every index instead of the one queried": [
        (
            "- !Sub ${MessagesTable.Arn}/index/byTenant",
            "- !Sub ${MessagesTable.Arn}/index/*",
        )
    ],
    "the webhook function reading Sinch's token": [
        ("Resource: !Ref WebhookSecret", "Resource: [!Ref WebhookSecret, !Ref SinchSecret]")
    ],
    "puts of any item from the webhook": [
        ('dynamodb:LeadingKeys: ["unmatched#*", "postback#*", "inbound#*"]', 'dynamodb:LeadingKeys: ["*"]')
    ],
    "a sender reading tenants' callback secrets": [
        (
            "                Condition:\n"
            "                  ForAllValues:StringEquals:\n"
            "                    dynamodb:Attributes:\n"
            "                      [tenantId, name, allowedCountries, mmsAllowed,"
            " publishers, senders, rateWeight, rateCapPerSecond, aliasOf]\n"
            "                  # IfExists, as in AWS's own example of attribute-limited reads.\n"
            "                  StringEqualsIfExists:\n"
            "                    dynamodb:Select: SPECIFIC_ATTRIBUTES\n",
            "",
        )
    ],
    "a tenant projection that may hold the secret": [
        ("[tenantId, name, allowedCountries", "[tenantId, callbackSecret, name, allowedCountries")
    ],
    "a tenant read that may skip the projection": [
        (
            "                  StringEqualsIfExists:\n"
            "                    dynamodb:Select: SPECIFIC_ATTRIBUTES\n",
            "",
        )
    ],
    "a sender making opt-outs": [("                Effect: Deny\n", "                Effect: Allow\n")],
    "the webhook updating a message's tenant": [
        ("[id, status, statusRank, updatedAt,", "[id, tenantId, status, statusRank, updatedAt,")
    ],
    "the webhook updating any item": [('["????????-????-????-????-????????????"]', '["*"]')],
    "the webhook updating unconditioned": [
        (
            "              - Sid: MessageReads\n                Effect: Allow\n"
            "                Action: dynamodb:GetItem\n",
            "              - Sid: MessageReads\n                Effect: Allow\n"
            "                Action: [dynamodb:GetItem, dynamodb:UpdateItem]\n",
        )
    ],
    "a managed policy": [
        (
            "  SendFunctionRole:\n    Type: AWS::IAM::Role\n    Properties:\n",
            "  SendFunctionRole:\n    Type: AWS::IAM::Role\n    Properties:\n"
            "      ManagedPolicyArns:\n"
            "        - arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole\n",
        )
    ],
    "a role SAM makes from policy templates": [
        (
            "      Role: !GetAtt WebhookFunctionRole.Arn\n",
            "      Policies:\n        - DynamoDBCrudPolicy:\n            TableName: !Ref MessagesTable\n",
        ),
        ("  WebhookFunctionRole:\n", "  UnusedRole:\n"),
    ],
}


@pytest.mark.parametrize("changes", BROADENED.values(), ids=BROADENED.keys())
def test_the_check_catches_a_broadened_policy(changes: list[tuple[str, str]]) -> None:
    assert violations(expand_changed(*changes))


def test_a_grant_the_code_needs_is_missed_too() -> None:
    assert violations(expand_changed(("sqs:ReceiveMessage, sqs:DeleteMessage, ", "sqs:ReceiveMessage, ")))


def test_the_webhook_function_cannot_read_sinchs_api_token() -> None:
    role = RESOURCES[function_roles(RESOURCES)["WebhookFunction"]]
    secrets = {
        r for s in statements(role) for (a, r, _) in statement_grants(s) if a.startswith("secretsmanager:")
    }
    assert secrets == {canonical(ref("WebhookSecret"))}
    environment = RESOURCES["WebhookFunction"]["Properties"]["Environment"]["Variables"]
    assert "SINCH_SECRET_ID" not in environment
    assert environment["WEBHOOK_SECRET_ID"] == ref("WebhookSecret")


@pytest.mark.parametrize("function", ["SendFunction", "QueueFunction"])
def test_the_senders_see_only_sinchs_secret(function: str) -> None:
    environment = RESOURCES[function]["Properties"]["Environment"]["Variables"]
    assert environment["SINCH_SECRET_ID"] == ref("SinchSecret")
    assert "WEBHOOK_SECRET_ID" not in environment


def test_only_the_senders_may_write_to_the_queue() -> None:
    def can_send(function: str) -> bool:
        return any(action == "sqs:SendMessage" for action, _, _ in EXPECTED[function])

    assert can_send("SendFunction") and can_send("QueueFunction")
    assert not can_send("WebhookFunction")


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_each_function_logs_to_its_own_group_with_retention(function: str) -> None:
    group = RESOURCES[function]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert RESOURCES[group]["Type"] == "AWS::Logs::LogGroup"
    assert RESOURCES[group]["Properties"]["RetentionInDays"]
    assert grants(["logs:PutLogEvents"], arn(group)) <= EXPECTED[function], (
        "the role writes to the group the function logs to"
    )


def _mappings() -> dict[str, dict[str, Any]]:
    """Each event source mapping's properties, by the logical id of what it reads."""
    return {
        r["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]: r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
    }


@pytest.mark.parametrize("queue", ["SendQueue", "CallbackQueue"])
def test_the_queue_mappings_report_partial_failures_and_bound_concurrency(queue: str) -> None:
    props = _mappings()[queue]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ScalingConfig"]["MaximumConcurrency"]


def test_status_changes_come_from_the_messages_stream_with_both_images() -> None:
    props = _mappings()["MessagesTable"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["MessagesTable", "StreamArn"]}
    assert props["FunctionName"] == {"Ref": "CallbackFunction"}
    stream = RESOURCES["MessagesTable"]["Properties"]["StreamSpecification"]
    assert stream == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_callbacks_wait_in_order_on_a_fifo_queue_with_its_own_dead_letters() -> None:
    queue = RESOURCES["CallbackQueue"]["Properties"]
    assert queue["FifoQueue"] is True
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == arn("CallbackDeadLetterQueue")
    assert RESOURCES["CallbackDeadLetterQueue"]["Properties"]["FifoQueue"] is True
    assert queue["MessageRetentionPeriod"] > 86400, "kept longer than the 24 h of retries"


def test_api_keys_are_enforced_with_a_usage_plan() -> None:
    types = {r["Type"] for r in RESOURCES.values()}
    assert {"AWS::ApiGateway::UsagePlan", "AWS::ApiGateway::ApiKey", "AWS::ApiGateway::UsagePlanKey"} <= types


def test_the_template_itself_has_no_lint_errors() -> None:
    assert lint_errors(read_template(ROOT / "template.yaml")) == []


# --- every event source mapping is bounded, and what still fails is parked with an alarm -----------

STREAM_RETENTION_S = 86_400  # DynamoDB Streams keeps a record 24 hours


def _depth_alarms(queue: str) -> list[dict[str, Any]]:
    """The alarms on a queue's visible messages that notify AlarmTopic."""
    return [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and r["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": [queue, "QueueName"]}
        and r["Properties"].get("AlarmActions") == [ref("AlarmTopic")]
    ]


def test_the_stream_mapping_bounds_retries_and_age_splits_batches_and_parks_what_fails() -> None:
    props = _mappings()["MessagesTable"]
    assert 0 <= props["MaximumRetryAttempts"] <= 10, "a bad record holds the shard for a few tries only"
    assert 60 <= props["MaximumRecordAgeInSeconds"] < STREAM_RETENTION_S
    assert props["BisectBatchOnFunctionError"] is True
    destination = props["DestinationConfig"]["OnFailure"]["Destination"]
    (queue,) = destination["Fn::GetAtt"][:1]
    assert RESOURCES[queue]["Type"] == "AWS::SQS::Queue" and "FifoQueue" not in RESOURCES[queue]["Properties"]
    # Lambda sends the on-failure record with the function's own role.
    assert grants(["sqs:SendMessage"], arn(queue)) <= EXPECTED["CallbackFunction"]
    assert _depth_alarms(queue), "someone is told when a change is skipped"


@pytest.mark.parametrize("queue", ["SendQueue", "CallbackQueue"])
def test_a_queue_mapping_parks_what_keeps_failing_before_its_retention_drops_it(queue: str) -> None:
    props = RESOURCES[queue]["Properties"]
    redrive = props["RedrivePolicy"]
    dead_letters = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    # A message that keeps failing comes back one visibility timeout later at the soonest.
    assert redrive["maxReceiveCount"] * props["VisibilityTimeout"] < props["MessageRetentionPeriod"]
    assert _mappings()[queue]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert _depth_alarms(dead_letters)


def test_the_callback_queue_lets_a_callback_live_out_its_retries_and_no_longer() -> None:
    from sinch_gateway.config import CallbackSettings
    from sinch_gateway.usecases.status_callbacks import Backoff

    template = read_template(ROOT / "template.yaml")
    parameters = template["Parameters"]
    max_age_s = parameters["CallbackMaxAgeSeconds"]["MaxValue"]
    max_delay_s = CallbackSettings.model_fields["callback_retry_max_delay_s"].default
    # The most receives a callback can take before its max age: the least base, every wait at
    # its least (half its ceiling, the jitter's floor).
    backoff = Backoff(parameters["CallbackRetryBaseSeconds"]["MinValue"], max_delay_s, max_age_s)
    waited, receives = 0.0, 1
    while waited < max_age_s:
        ceiling = min(backoff.max_delay_s, backoff.base_s * 2 ** (receives - 1))
        waited += max(1, ceiling / 2)
        receives += 1
    queue = RESOURCES["CallbackQueue"]["Properties"]
    assert receives < queue["RedrivePolicy"]["maxReceiveCount"], "the backstop never cuts retries short"
    assert max_age_s + max_delay_s < queue["MessageRetentionPeriod"], "retention never ends them silently"
