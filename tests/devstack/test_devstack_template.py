"""devstack.template against the real template.yaml (and a few small ones)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.template import (
    Template,
    TemplateError,
    merge_globals,
    parse_yaml,
)

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"


@pytest.fixture
def template() -> Template:
    return Template(TEMPLATE)


def register_created(template: Template) -> None:
    """What devstack.resources registers after creating the resources."""
    base = "http://127.0.0.1:4566/123456789012"
    for queue in ("SendQueue", "DeadLetterQueue", "CallbackQueue", "CallbackDeadLetterQueue"):
        name = template.queue_name(queue)
        template.register(
            queue,
            f"{base}/{name}",
            Arn=f"arn:aws:sqs:us-east-1:123456789012:{name}",
            QueueName=name,
            QueueUrl=f"{base}/{name}",
        )
    for secret in ("SinchSecret", "WebhookSecret"):
        template.register(secret, f"arn:aws:secretsmanager:us-east-1:123456789012:secret:x-{secret}-AbCdEf")
    bucket = template.bucket_name("MediaBucket")
    template.register("MediaBucket", bucket, Arn=f"arn:aws:s3:::{bucket}")
    for number, role in enumerate(("SendFunctionRole", "QueueFunctionRole")):
        name = template.physical_name(role)
        arn = f"arn:aws:iam::123456789012:role/{name}"
        template.register(role, name, Arn=arn, RoleId=f"AROAEXAMPLEROLE{number:06d}")


def test_short_form_tags_become_long_form() -> None:
    doc = parse_yaml(
        "A: !Ref X\nB: !GetAtt Q.Arn\nC: !Sub 'a-${X}'\nD: !Join [',', [a, !Ref X]]\nE: !GetAtt [Q, Arn]\n"
    )
    assert doc == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["Q", "Arn"]},
        "C": {"Fn::Sub": "a-${X}"},
        "D": {"Fn::Join": [",", ["a", {"Ref": "X"}]]},
        "E": {"Fn::GetAtt": ["Q", "Arn"]},
    }


def test_parameters_have_their_defaults_as_strings(template: Template) -> None:
    assert template.parameters["StageName"] == "prod"
    assert template.parameters["MaxSendAttempts"] == "6"
    assert template.parameters["AllowHttpMedia"] == "false"
    assert template.parameters["PublicBaseUrl"] == ""


def test_parameter_overrides_and_their_checks() -> None:
    template = Template(TEMPLATE, parameter_overrides={"AllowHttpMedia": "true", "PublicBaseUrl": "http://x"})
    assert template.parameters["AllowHttpMedia"] == "true"
    assert template.ref("PublicBaseUrl") == "http://x"
    with pytest.raises(TemplateError, match="not one of"):
        Template(TEMPLATE, parameter_overrides={"AllowHttpMedia": "maybe"})
    with pytest.raises(TemplateError, match="unknown parameter"):
        Template(TEMPLATE, parameter_overrides={"NoSuchParameter": "1"})


def test_pseudo_parameters(template: Template) -> None:
    assert template.ref("AWS::Region") == "us-east-1"
    assert template.ref("AWS::AccountId") == "123456789012"
    assert template.ref("AWS::StackName") == "sinch-gateway-local"
    assert template.ref("AWS::Partition") == "aws"


def test_refs_to_resources(template: Template) -> None:
    assert template.ref("MessagesTable") == "sinch-gateway-local-MessagesTable"
    assert template.ref("SendFunction") == "sinch-gateway-local-SendFunction"
    assert template.ref("MessagingLayer") == (
        "arn:aws:lambda:us-east-1:123456789012:layer:sinch-gateway-messaging:1"
    )
    with pytest.raises(TemplateError, match="not been created"):
        template.ref("SendQueue")  # its URL only exists once the queue does
    register_created(template)
    assert template.ref("SendQueue") == "http://127.0.0.1:4566/123456789012/sinch-gateway-local-SendQueue"
    assert template.ref("SinchSecret").startswith("arn:aws:secretsmanager:")


def test_get_att(template: Template) -> None:
    assert (
        template.get_att("SendQueue", "Arn")
        == "arn:aws:sqs:us-east-1:123456789012:sinch-gateway-local-SendQueue"
    )
    assert template.get_att("SendQueue", "QueueName") == "sinch-gateway-local-SendQueue"
    assert template.get_att("MessagesTable", "Arn") == (
        "arn:aws:dynamodb:us-east-1:123456789012:table/sinch-gateway-local-MessagesTable"
    )
    assert template.resolve({"Fn::GetAtt": "DeadLetterQueue.Arn"}).endswith(
        ":sinch-gateway-local-DeadLetterQueue"
    )
    with pytest.raises(TemplateError):
        template.get_att("MessagesTable", "NoSuchAttribute")


def test_sub(template: Template) -> None:
    assert template.resolve({"Fn::Sub": "/aws/lambda/${SendFunction}"}) == (
        "/aws/lambda/sinch-gateway-local-SendFunction"
    )
    api_id = template.rest_api_id("Api")
    assert template.resolve(
        {"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/${StageName}"}
    ) == (f"https://{api_id}.execute-api.us-east-1.amazonaws.com/prod")
    assert template.resolve({"Fn::Sub": ["${A}-${!Literal}-${SendQueue.QueueName}", {"A": "x"}]}) == (
        "x-${Literal}-sinch-gateway-local-SendQueue"
    )


def test_globals_merge_rules() -> None:
    merged = merge_globals(
        {"Timeout": 15, "Layers": [{"Ref": "L"}], "Environment": {"Variables": {"A": "1", "B": "2"}}},
        {"Timeout": 30, "Layers": ["arn:x"], "Environment": {"Variables": {"B": "3"}}},
    )
    assert merged == {
        "Timeout": 30,
        "Layers": [{"Ref": "L"}, "arn:x"],
        "Environment": {"Variables": {"A": "1", "B": "3"}},
    }
    assert merge_globals({"Ref": "X"}, "y") == "y"


def test_functions(template: Template) -> None:
    register_created(template)
    functions = {f.logical_id: f for f in template.functions()}
    assert set(functions) == {"SendFunction", "QueueFunction", "WebhookFunction", "CallbackFunction"}
    send = functions["SendFunction"]
    assert send.name == "sinch-gateway-local-SendFunction"
    assert send.arn == "arn:aws:lambda:us-east-1:123456789012:function:sinch-gateway-local-SendFunction"
    assert send.code_dir == REPO / "functions" / "send"
    assert send.handler == "app.lambda_handler"
    assert send.timeout == 15
    assert send.memory_size == 512
    assert send.runtime == "python3.11"
    assert send.layer_dirs == (REPO / "layers" / "messaging",)
    expected = {
        "POWERTOOLS_SERVICE_NAME": "sinch-gateway",
        "MESSAGES_TABLE": "sinch-gateway-local-MessagesTable",
        "SEND_QUEUE_URL": "http://127.0.0.1:4566/123456789012/sinch-gateway-local-SendQueue",
        "SINCH_SECRET_ID": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-SinchSecret-AbCdEf",
        "PUBLIC_BASE_URL": "",
        "ALLOW_HTTP_MEDIA": "false",
        "MAX_SEND_ATTEMPTS": "6",
        "MEDIA_BUCKET": "sinch-gateway-local-mediabucket",
    }
    assert {key: send.environment.get(key) for key in expected} == expected
    assert all(isinstance(value, str) for value in send.environment.values())
    webhooks = functions["WebhookFunction"].environment
    assert webhooks["WEBHOOK_SECRET_ID"].endswith(":secret:x-WebhookSecret-AbCdEf")
    gateway_roles = functions["QueueFunction"].environment["GATEWAY_ROLE_IDS"]
    assert gateway_roles == "AROAEXAMPLEROLE000000,AROAEXAMPLEROLE000001", "!Join of the roles' RoleIds"
    assert "SINCH_SECRET_ID" not in webhooks


def test_method_throttles_and_access_log_format(template: Template) -> None:
    template.bind({"HealthRateLimit": "2.5", "HealthBurstLimit": "3"})
    api = template.apis()["Api"]
    throttles = {
        (t.resource_path, t.http_method): (t.rate_limit, t.burst_limit) for t in api.method_throttles
    }
    assert throttles == {
        ("/health", "GET"): (2.5, 3),
        ("/", "GET"): (10.0, 40),
        ("/web/{asset}", "GET"): (10.0, 40),
        ("/v1/docs", "GET"): (5.0, 10),
        ("/v1/openapi.json", "GET"): (5.0, 10),
    }
    assert api.access_log_format is not None and "$context.identity.apiKeyId" in api.access_log_format


def test_routes_and_api_key_requirement(template: Template) -> None:
    routes = {(r.method, r.path): r for r in template.routes()}
    assert routes[("POST", "/v1/messages")].function == "SendFunction"
    assert routes[("POST", "/v1/messages")].api_key_required is True
    assert routes[("GET", "/v1/messages/{id}")].api_key_required is True
    assert routes[("GET", "/health")].api_key_required is False  # the event's Auth overrides the API's
    webhook = routes[("POST", "/v1/webhooks/sinch/delivery-reports")]
    assert (webhook.function, webhook.api_key_required) == ("WebhookFunction", False)
    api = template.apis()["Api"]
    assert api.stage == "prod"
    assert api.api_key_required is True
    assert len(api.rest_api_id) == 10


def test_sqs_mappings(template: Template) -> None:
    mapping, callbacks = sorted(template.sqs_mappings(), key=lambda m: m.function, reverse=True)
    assert mapping.function == "QueueFunction"
    assert mapping.queue == "SendQueue"
    assert mapping.queue_arn == "arn:aws:sqs:us-east-1:123456789012:sinch-gateway-local-SendQueue"
    assert mapping.batch_size == 10
    assert mapping.maximum_batching_window == 0
    assert mapping.report_batch_item_failures is True
    assert mapping.maximum_concurrency == 5
    assert mapping.enabled is True
    assert (callbacks.function, callbacks.queue) == ("CallbackFunction", "CallbackQueue")
    assert callbacks.queue_arn.endswith("-CallbackQueue.fifo")


def test_stream_mapping(template: Template) -> None:
    (mapping,) = template.stream_mappings()
    assert (mapping.function, mapping.table) == ("CallbackFunction", "MessagesTable")
    assert (mapping.batch_size, mapping.starting_position) == (100, "TRIM_HORIZON")
    assert mapping.report_batch_item_failures is False and mapping.enabled is True
    # The bounds the local poller applies as Lambda does: read from the template, not assumed.
    assert (mapping.maximum_retry_attempts, mapping.maximum_record_age_s) == (5, 3600)
    assert mapping.bisect_batch_on_function_error is True
    assert mapping.on_failure_queue == "MessageChangesDeadLetterQueue"


def test_a_stream_mapping_that_says_nothing_has_lambdas_defaults(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        """
Transform: AWS::Serverless-2016-10-31
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: handler.main
      Events:
        Changes:
          Type: DynamoDB
          Properties: {Stream: !GetAtt T.StreamArn, StartingPosition: LATEST}
"""
    )
    (mapping,) = Template(path, stack_name="t").stream_mappings()
    assert (mapping.maximum_retry_attempts, mapping.maximum_record_age_s) == (-1, -1)
    assert not mapping.bisect_batch_on_function_error and mapping.on_failure_queue is None


SMALL = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Env:
    Type: String
    Default: dev
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Globals:
  Function:
    Timeout: 5
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: handler.main
      Environment:
        Variables:
          MODE: !If [IsProd, production, development]
          GONE: !Ref AWS::NoValue
          FLAG: true
      Events:
        Any:
          Type: Api
          Properties:
            Path: /{proxy+}
            Method: any
  OnlyInProd:
    Type: AWS::SQS::Queue
    Condition: IsProd
"""


def test_small_template_with_conditions_and_implicit_api(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(SMALL)
    template = Template(path, stack_name="t")
    (function,) = template.functions()
    assert function.timeout == 5
    assert function.memory_size == 128  # Lambda's default
    assert function.code_dir == tmp_path / "src"
    assert function.environment == {"MODE": "development", "FLAG": "true"}
    assert "OnlyInProd" not in template.resources
    (route,) = template.routes()
    assert (route.method, route.path, route.api, route.api_key_required) == (
        "ANY",
        "/{proxy+}",
        "ServerlessRestApi",
        False,
    )
    assert template.apis()["ServerlessRestApi"].stage == "Prod"
    template.bind({"Env": "prod"})
    assert "OnlyInProd" in template.resources
    assert template.functions()[0].environment["MODE"] == "production"


def test_method_settings_paths_wildcards_and_other_settings(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        """
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
      MethodSettings:
        - {ResourcePath: "/*", HttpMethod: "*", ThrottlingBurstLimit: 9}
        - {ResourcePath: /, HttpMethod: get, ThrottlingRateLimit: 1, ThrottlingBurstLimit: 2}
        - {ResourcePath: "/*", HttpMethod: "*", LoggingLevel: ERROR}
"""
    )
    throttles = Template(path).apis()["Api"].method_throttles
    assert [(t.resource_path, t.http_method, t.rate_limit, t.burst_limit) for t in throttles] == [
        ("*", "*", 10000.0, 9),  # an unset limit is the account's
        ("/", "GET", 1.0, 2),
    ]


def test_gateway_responses_are_read_with_static_headers(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        """
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
      GatewayResponses:
        INVALID_API_KEY:
          StatusCode: 401
          ResponseParameters:
            Headers:
              WWW-Authenticate: "'ApiKey header=x-api-key'"
          ResponseTemplates:
            application/json: '{"message": "key"}'
        DEFAULT_4XX:
          ResponseTemplates:
            application/json: '{"message": $context.error.messageString}'
"""
    )
    invalid_key, default = Template(path).apis()["Api"].gateway_responses
    assert (invalid_key.response_type, invalid_key.status) == ("INVALID_API_KEY", 401)
    assert invalid_key.headers == (("WWW-Authenticate", "ApiKey header=x-api-key"),)
    assert invalid_key.templates == (("application/json", '{"message": "key"}'),)
    assert (default.response_type, default.status, default.headers) == ("DEFAULT_4XX", None, ())


@pytest.mark.parametrize(
    "parameters",
    ["Headers: {X-Key: method.request.header.x-api-key}", "Paths: {p: \"'x'\"}"],
)
def test_gateway_response_parameters_the_local_gateway_cannot_set_are_refused(
    tmp_path: Path, parameters: str
) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        f"""
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
      GatewayResponses:
        INVALID_API_KEY:
          ResponseParameters: {{{parameters}}}
"""
    )
    with pytest.raises(TemplateError, match=r"GatewayResponses\.INVALID_API_KEY"):
        Template(path).apis()
