"""Read a SAM ``template.yaml`` the way the local stack needs it.

One job: turn the template into plain data (parameters, resources with SAM Globals merged, the
functions, API routes and SQS event source mappings) and resolve intrinsic functions (``Ref``,
``Fn::GetAtt``, ``Fn::Sub``, and the few others a SAM template uses) against the local stack's
physical ids. Nothing here talks to AWS: ``devstack.resources`` registers the physical ids of what
it creates (queue URLs, secret ARNs) with :meth:`Template.register`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml
from samtranslator.yaml_helper import yaml_parse

DEFAULT_STACK_NAME = "sinch-gateway-local"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_API = "AWS::Serverless::Api"
SERVERLESS_LAYER = "AWS::Serverless::LayerVersion"
DYNAMODB_TABLE = "AWS::DynamoDB::Table"
SQS_QUEUE = "AWS::SQS::Queue"
SECRET = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type
S3_BUCKET = "AWS::S3::Bucket"
S3_BUCKET_POLICY = "AWS::S3::BucketPolicy"

IMPLICIT_API = "ServerlessRestApi"  # SAM's logical id for Api events without RestApiId

# Lambda's defaults when the template says nothing.
DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY_SIZE = 128


class TemplateError(Exception):
    """The template uses something the local stack cannot read or resolve."""


class _NoValue:
    """``AWS::NoValue``: the property is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


# --- YAML ---------------------------------------------------------------------------------------


def parse_yaml(text: str) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template; short forms (``!Ref X``) become long ones."""
    data: Any = yaml_parse(text)
    if not isinstance(data, dict):
        raise TemplateError("template is not a mapping")
    return data


def read_template(path: str | Path) -> dict[str, Any]:
    """The template at ``path`` as CloudFormation sees it: with its local ``AWS::Include``s inlined."""
    path = Path(path)
    return inline_includes(parse_yaml(path.read_text(encoding="utf-8")), path.parent)


class _SnippetLoader(yaml.SafeLoader):
    """Plain YAML: the SAM translator teaches SafeLoader short forms, which an include may not use."""

    yaml_multi_constructors: ClassVar[dict[str | None, Any]] = {}  # PyYAML's registry: none here


def inline_includes(template: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Put each ``Fn::Transform: {Name: AWS::Include}`` with a local ``Location`` (relative to
    ``base_dir``, as `sam build` and `sam package` read it) in place, as CloudFormation does before
    the SAM transform (macros nested in a template run before its ``Transform`` section's): the
    snippet's keys join the mapping that holds the transform. A snippet is read as CloudFormation
    reads it: YAML without short forms (``!Ref``), and no include of its own."""

    def inline(value: Any, location: str | None = None) -> Any:
        if isinstance(value, list):
            return [inline(v, location) for v in value]
        if not isinstance(value, dict):
            return value
        rest = {k: inline(v, location) for k, v in value.items() if k != "Fn::Transform"}
        transform = value.get("Fn::Transform")
        if not (isinstance(transform, dict) and transform.get("Name") == "AWS::Include"):
            return rest if transform is None else rest | {"Fn::Transform": transform}
        if location is not None:
            raise TemplateError(f"AWS::Include of {location}: CloudFormation does not include recursively")
        location = str(transform["Parameters"]["Location"])
        try:
            text = (base_dir / location).read_text(encoding="utf-8")
            snippet = inline(yaml.load(text, _SnippetLoader), location)  # noqa: S506 - a SafeLoader
        except (OSError, yaml.YAMLError) as error:  # an S3 location, a missing file, a !Ref
            raise TemplateError(f"AWS::Include of {location}: {error}") from error
        if not rest:
            return snippet
        if not isinstance(snippet, dict) or set(snippet) & set(rest):
            raise TemplateError(f"AWS::Include of {location}: not a mapping, or it repeats a key")
        return rest | snippet

    included: dict[str, Any] = inline(template)
    return included


# --- plain data the other modules use -----------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str  # physical function name
    arn: str
    code_dir: Path
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    environment: dict[str, str]
    layer_dirs: tuple[Path, ...]
    tracing: bool = False  # Tracing: Active (X-Ray samples every invocation)


@dataclass(frozen=True)
class MethodThrottle:
    """A stage's method setting that throttles one method of one resource (``*`` for any)."""

    resource_path: str  # as routes name it: /v1/messages/{id}
    http_method: str
    rate_limit: float
    burst_limit: int


@dataclass(frozen=True)
class GatewayResponse:
    """One of an Api's ``GatewayResponses``: how API Gateway's own answer of a type is written."""

    response_type: str  # INVALID_API_KEY, MISSING_AUTHENTICATION_TOKEN, DEFAULT_4XX...
    status: int | None  # None: the type's own status
    headers: tuple[tuple[str, str], ...]  # static values
    templates: tuple[tuple[str, str], ...]  # (content type, body with $context variables)


@dataclass(frozen=True)
class ApiSpec:
    logical_id: str
    rest_api_id: str
    stage: str
    api_key_required: bool
    binary_media_types: tuple[str, ...]
    method_throttles: tuple[MethodThrottle, ...] = ()
    access_log_format: str | None = None  # AccessLogSetting.Format, $context variables in it
    gateway_responses: tuple[GatewayResponse, ...] = ()


@dataclass(frozen=True)
class Route:
    path: str  # the API Gateway resource path, e.g. /v1/messages/{id}
    method: str  # upper case, or ANY
    function: str  # logical id of the function
    api: str  # logical id of the API
    event_id: str
    api_key_required: bool


@dataclass(frozen=True)
class SqsMapping:
    function: str  # logical id of the function
    event_id: str
    queue: str  # logical id of the queue
    queue_arn: str
    batch_size: int
    maximum_batching_window: int
    report_batch_item_failures: bool
    maximum_concurrency: int | None
    enabled: bool = True


@dataclass(frozen=True)
class StreamMapping:
    """A DynamoDB stream event source mapping."""

    function: str  # logical id of the function
    event_id: str
    table: str  # logical id of the table
    batch_size: int
    starting_position: str  # TRIM_HORIZON or LATEST
    report_batch_item_failures: bool
    enabled: bool = True
    maximum_retry_attempts: int = -1  # -1: until the record expires, as Lambda's default
    maximum_record_age_s: int = -1
    bisect_batch_on_function_error: bool = False
    on_failure_queue: str | None = None  # logical id of the SQS queue of DestinationConfig.OnFailure


@dataclass
class _Registry:
    physical: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)


# --- the template -------------------------------------------------------------------------------


class Template:
    """A SAM template, with parameters bound and intrinsic functions resolvable."""

    def __init__(
        self,
        path: str | Path,
        *,
        parameter_overrides: Mapping[str, str] | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        self.path = Path(path).resolve()
        self.base_dir = self.path.parent
        self.raw = read_template(self.path)
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self._registry = _Registry()
        self._conditions: dict[str, bool] = {}
        self.resources: dict[str, dict[str, Any]] = {}
        self.parameters: dict[str, str] = {}
        self.bind(parameter_overrides or {})

    def bind(self, parameter_overrides: Mapping[str, str]) -> None:
        """(Re)bind the parameters: defaults, then ``parameter_overrides``."""
        self._conditions = {}
        self.resources = {}
        self.parameters = self._bind_parameters(parameter_overrides)
        self.resources = self._load_resources()

    def declares_parameter(self, name: str) -> bool:
        return name in (self.raw.get("Parameters") or {})

    # parameters ------------------------------------------------------------------------------

    def _bind_parameters(self, overrides: Mapping[str, str]) -> dict[str, str]:
        declared: dict[str, Any] = self.raw.get("Parameters") or {}
        unknown = set(overrides) - set(declared)
        if unknown:
            raise TemplateError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        bound: dict[str, str] = {}
        for name, spec in declared.items():
            if name in overrides:
                value = str(overrides[name])
            elif "Default" in spec:
                value = _scalar_str(spec["Default"])
            else:
                raise TemplateError(f"parameter {name} has no default and no value")
            allowed = spec.get("AllowedValues")
            if allowed is not None and value not in [_scalar_str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
            bound[name] = value
        return bound

    # resources -------------------------------------------------------------------------------

    def _load_resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = {}
        globals_ = self.raw.get("Globals") or {}
        for logical_id, declared in (self.raw.get("Resources") or {}).items():
            condition = declared.get("Condition")
            if condition is not None and not self.condition(condition):
                continue
            resource = dict(declared)
            kind = resource.get("Type", "")
            section = {SERVERLESS_FUNCTION: "Function", SERVERLESS_API: "Api"}.get(kind)
            if section and section in globals_:
                resource["Properties"] = merge_globals(globals_[section], resource.get("Properties") or {})
            resources[logical_id] = resource
        return resources

    def resources_of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.resources.items() if r.get("Type") == kind}

    def properties(self, logical_id: str) -> dict[str, Any]:
        props: dict[str, Any] = self.resources[logical_id].get("Properties") or {}
        return props

    def physical_name(self, logical_id: str) -> str:
        """The name the local stack gives a resource that does not name itself."""
        return f"{self.stack_name}-{logical_id}"

    def register(self, logical_id: str, physical_id: str, **attributes: str) -> None:
        """Record what ``Ref`` (and ``Fn::GetAtt``) of a created resource returns."""
        self._registry.physical[logical_id] = physical_id
        for name, value in attributes.items():
            self._registry.attributes[(logical_id, name)] = value

    # conditions ------------------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.raw.get("Conditions") or {}
            if name not in conditions:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self._evaluate_condition(conditions[name]))
        return self._conditions[name]

    def _evaluate_condition(self, expr: Any) -> bool:
        if isinstance(expr, dict) and len(expr) == 1:
            ((fn, arg),) = expr.items()
            if fn == "Fn::Equals":
                left, right = (self.resolve(a) for a in arg)
                return _scalar_str(left) == _scalar_str(right)
            if fn == "Fn::Not":
                return not self._evaluate_condition(arg[0])
            if fn == "Fn::And":
                return all(self._evaluate_condition(a) for a in arg)
            if fn == "Fn::Or":
                return any(self._evaluate_condition(a) for a in arg)
            if fn == "Condition":
                return self.condition(arg)
        raise TemplateError(f"cannot evaluate condition {expr!r}")

    # intrinsic functions ---------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic function inside ``value`` (``AWS::NoValue`` entries dropped)."""
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                    return self._intrinsic(key, arg)
            out = {}
            for key, item in value.items():
                resolved = self.resolve(item)
                if resolved is not NO_VALUE:
                    out[key] = resolved
            return out
        if isinstance(value, list):
            return [r for r in (self.resolve(item) for item in value) if r is not NO_VALUE]
        return value

    def resolve_str(self, value: Any) -> str:
        resolved = self.resolve(value)
        if isinstance(resolved, dict | list):
            raise TemplateError(f"expected a string, got {resolved!r}")
        return _scalar_str(resolved)

    def _intrinsic(self, fn: str, arg: Any) -> Any:  # noqa: PLR0911, PLR0912 - a dispatch table
        if fn == "Ref":
            return self.ref(self.resolve(arg))
        if fn == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else self.resolve(arg)
            return self.get_att(parts[0], parts[1])
        if fn == "Fn::Sub":
            return self._sub(arg)
        if fn == "Fn::Join":
            delimiter, items = arg
            return _scalar_str(self.resolve(delimiter)).join(_scalar_str(i) for i in self.resolve(items))
        if fn == "Fn::Select":
            index, items = self.resolve(arg)
            return items[int(index)]
        if fn == "Fn::Split":
            delimiter, text = self.resolve(arg)
            return _scalar_str(text).split(delimiter)
        if fn == "Fn::If":
            name, when_true, when_false = arg
            return self.resolve(when_true if self.condition(name) else when_false)
        if fn == "Fn::FindInMap":
            name, key1, key2 = self.resolve(arg)
            try:
                return self.raw["Mappings"][name][key1][key2]
            except KeyError as exc:
                raise TemplateError(f"Fn::FindInMap {arg!r}: no such entry") from exc
        if fn == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        if fn == "Fn::Base64":
            import base64

            return base64.b64encode(_scalar_str(self.resolve(arg)).encode()).decode()
        if fn == "Fn::ToJsonString":
            return json.dumps(self.resolve(arg), separators=(",", ":"))
        if fn == "Condition":
            return self.condition(arg)
        raise TemplateError(f"{fn} is not supported by the local stack")

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/"
                f"{fake_id(self.stack_name, 32)}"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            declared = (self.raw.get("Parameters") or {})[name]
            value = self.parameters[name]
            if str(declared.get("Type", "")).startswith("CommaDelimitedList") or declared.get(
                "Type", ""
            ).startswith("List<"):
                return [v.strip() for v in value.split(",")] if value else []
            return value
        if name in self._registry.physical:
            return self._registry.physical[name]
        if name in self.resources:
            return self._default_physical_id(name)
        raise TemplateError(f"Ref to unknown name {name}")

    def _default_physical_id(self, logical_id: str) -> str:
        kind = self.resources[logical_id].get("Type", "")
        props = self.properties(logical_id)
        if kind in (SERVERLESS_FUNCTION, "AWS::Lambda::Function"):
            return self.function_name(logical_id)
        if kind in (SERVERLESS_API, "AWS::ApiGateway::RestApi"):
            return self.rest_api_id(logical_id)
        if kind == SERVERLESS_LAYER:
            layer = self.resolve_str(props.get("LayerName", self.physical_name(logical_id)))
            return f"arn:aws:lambda:{self.region}:{self.account_id}:layer:{layer}:1"
        if kind == DYNAMODB_TABLE:
            return self.table_name(logical_id)
        if kind == "AWS::Logs::LogGroup" and "LogGroupName" in props:
            return self.resolve_str(props["LogGroupName"])
        if kind in (SQS_QUEUE, SECRET, S3_BUCKET):
            raise TemplateError(f"{logical_id} ({kind}) has not been created yet")
        return self.physical_name(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if (logical_id, attribute) in self._registry.attributes:
            return self._registry.attributes[(logical_id, attribute)]
        if logical_id not in self.resources:
            raise TemplateError(f"Fn::GetAtt on unknown resource {logical_id}")
        kind = self.resources[logical_id].get("Type", "")
        prefix = f"arn:aws:{{}}:{self.region}:{self.account_id}:"
        if kind == SQS_QUEUE and attribute in ("Arn", "QueueName"):
            name = self.queue_name(logical_id)
            return prefix.format("sqs") + name if attribute == "Arn" else name
        if kind == DYNAMODB_TABLE and attribute == "Arn":
            return prefix.format("dynamodb") + f"table/{self.table_name(logical_id)}"
        if kind in (SERVERLESS_FUNCTION, "AWS::Lambda::Function") and attribute == "Arn":
            return prefix.format("lambda") + f"function:{self.function_name(logical_id)}"
        if kind in (SERVERLESS_API, "AWS::ApiGateway::RestApi") and attribute == "RootResourceId":
            return fake_id(f"{logical_id}/", 10)
        raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} is not known to the local stack")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return _scalar_str(variables[expr])
            if "." in expr and not expr.startswith("AWS::"):
                logical_id, attribute = expr.split(".", 1)
                return _scalar_str(self.get_att(logical_id, attribute))
            return _scalar_str(self.ref(expr))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    # names -----------------------------------------------------------------------------------

    def table_name(self, logical_id: str) -> str:
        props = self.properties(logical_id)
        return (
            self.resolve_str(props["TableName"]) if "TableName" in props else self.physical_name(logical_id)
        )

    def queue_name(self, logical_id: str) -> str:
        props = self.properties(logical_id)
        if "QueueName" in props:
            return self.resolve_str(props["QueueName"])
        fifo = _truthy(self.resolve(props.get("FifoQueue", False)))
        return self.physical_name(logical_id) + (".fifo" if fifo else "")

    def bucket_name(self, logical_id: str) -> str:
        """As CloudFormation names a bucket that does not name itself: lower case, at most 63."""
        props = self.properties(logical_id)
        if "BucketName" in props:
            return self.resolve_str(props["BucketName"])
        return self.physical_name(logical_id).lower()[:63].rstrip("-")

    def secret_name(self, logical_id: str) -> str:
        props = self.properties(logical_id)
        return self.resolve_str(props["Name"]) if "Name" in props else self.physical_name(logical_id)

    def function_name(self, logical_id: str) -> str:
        props = self.properties(logical_id)
        if "FunctionName" in props:
            return self.resolve_str(props["FunctionName"])
        return self.physical_name(logical_id)

    def rest_api_id(self, logical_id: str) -> str:
        return fake_id(f"{self.stack_name}/{logical_id}", 10)

    # functions, APIs, routes, event sources --------------------------------------------------

    def functions(self) -> list[FunctionSpec]:
        return [self.function(lid) for lid in self.resources_of_type(SERVERLESS_FUNCTION)]

    def function(self, logical_id: str) -> FunctionSpec:
        props = self.properties(logical_id)
        code_uri = props.get("CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: CodeUri must be a local directory, got {code_uri!r}")
        variables = (props.get("Environment") or {}).get("Variables") or {}
        environment = {}
        for key, value in variables.items():
            resolved = self.resolve(value)
            if resolved is not NO_VALUE:
                environment[key] = _scalar_str(resolved)
        name = self.function_name(logical_id)
        return FunctionSpec(
            logical_id=logical_id,
            name=name,
            arn=f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}",
            code_dir=(self.base_dir / code_uri).resolve(),
            handler=self.resolve_str(props.get("Handler", "app.lambda_handler")),
            runtime=self.resolve_str(props.get("Runtime", "python3.11")),
            timeout=int(self.resolve_str(props.get("Timeout", DEFAULT_TIMEOUT))),
            memory_size=int(self.resolve_str(props.get("MemorySize", DEFAULT_MEMORY_SIZE))),
            environment=environment,
            layer_dirs=tuple(self._layer_dirs(props.get("Layers") or [])),
            tracing=self.resolve_str(props.get("Tracing", "PassThrough")) == "Active",
        )

    def _layer_dirs(self, layers: list[Any]) -> Iterator[Path]:
        for layer in layers:
            if not (isinstance(layer, dict) and set(layer) == {"Ref"}):
                continue  # a published layer ARN: its content is not available locally
            logical_id = layer["Ref"]
            if self.resources.get(logical_id, {}).get("Type") != SERVERLESS_LAYER:
                continue
            resource = self.resources[logical_id]
            content = resource.get("Properties", {}).get("ContentUri")
            if not isinstance(content, str):
                raise TemplateError(f"{logical_id}: ContentUri must be a local directory")
            directory = (self.base_dir / content).resolve()
            # With a BuildMethod, ``sam build`` puts the directory's content in python/ (on sys.path
            # as /opt/python); without one the directory is expected to hold python/ already.
            built = (resource.get("Metadata") or {}).get("BuildMethod")
            if not built and (directory / "python").is_dir():
                directory = directory / "python"
            yield directory

    def apis(self) -> dict[str, ApiSpec]:
        apis: dict[str, ApiSpec] = {}
        declared = self.resources_of_type(SERVERLESS_API)
        uses_implicit = any(
            event.get("Type") == "Api" and "RestApiId" not in (event.get("Properties") or {})
            for props in (self.properties(f) for f in self.resources_of_type(SERVERLESS_FUNCTION))
            for event in (props.get("Events") or {}).values()
        )
        if uses_implicit:
            implicit_props = merge_globals((self.raw.get("Globals") or {}).get("Api") or {}, {})
            declared = {**declared, IMPLICIT_API: {"Type": SERVERLESS_API, "Properties": implicit_props}}
        for logical_id, resource in declared.items():
            props = resource.get("Properties") or {}
            auth = props.get("Auth") or {}
            binary = [self.resolve_str(t).replace("~1", "/") for t in props.get("BinaryMediaTypes") or []]
            access_log = self.resolve(props.get("AccessLogSetting") or {})
            apis[logical_id] = ApiSpec(
                logical_id=logical_id,
                rest_api_id=self.rest_api_id(logical_id),
                stage=self.resolve_str(props.get("StageName", "Prod")),
                api_key_required=_truthy(self.resolve(auth.get("ApiKeyRequired", False))),
                binary_media_types=tuple(binary),
                method_throttles=self._method_throttles(props.get("MethodSettings") or []),
                access_log_format=access_log.get("Format"),
                gateway_responses=self._gateway_responses(props.get("GatewayResponses") or {}),
            )
        return apis

    def _gateway_responses(self, declared: Mapping[str, Any]) -> tuple[GatewayResponse, ...]:
        responses = []
        for response_type, response in self.resolve(dict(declared)).items():
            parameters = response.get("ResponseParameters") or {}
            if set(parameters) - {"Headers"}:
                raise TemplateError(f"GatewayResponses.{response_type}: the local gateway sets headers only")
            headers = []
            for name, value in (parameters.get("Headers") or {}).items():
                # Static values are quoted ('text'); others name request parameters.
                if not (isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == "'"):
                    raise TemplateError(
                        f"GatewayResponses.{response_type}: header {name} must be a static 'value' here"
                    )
                headers.append((str(name), value[1:-1]))
            status = response.get("StatusCode")
            templates = response.get("ResponseTemplates") or {}
            responses.append(
                GatewayResponse(
                    response_type=str(response_type),
                    status=int(_scalar_str(status)) if status is not None else None,
                    headers=tuple(headers),
                    templates=tuple((str(k), str(v)) for k, v in templates.items()),
                )
            )
        return tuple(responses)

    def _method_throttles(self, settings: list[Any]) -> tuple[MethodThrottle, ...]:
        throttles = []
        for setting in self.resolve(settings):
            if "ThrottlingRateLimit" not in setting and "ThrottlingBurstLimit" not in setting:
                continue  # logging or metrics settings: nothing the local stack enforces
            path = str(setting["ResourcePath"])
            if path != "/*" and not path.startswith("/"):
                raise TemplateError(f"MethodSettings ResourcePath {path!r} must start with /")
            throttles.append(
                MethodThrottle(
                    # Stage settings write /a/b as /~1a~1b (the leading / is the separator).
                    resource_path="*" if path == "/*" else path[1:].replace("~1", "/") or "/",
                    http_method=str(setting["HttpMethod"]).upper(),
                    # Unset, a stage's method takes the account's limits (10,000 rps, 5,000 burst).
                    rate_limit=float(setting.get("ThrottlingRateLimit", 10000)),
                    burst_limit=int(setting.get("ThrottlingBurstLimit", 5000)),
                )
            )
        return tuple(throttles)

    def routes(self) -> list[Route]:
        apis = self.apis()
        routes = []
        for logical_id in self.resources_of_type(SERVERLESS_FUNCTION):
            for event_id, event in (self.properties(logical_id).get("Events") or {}).items():
                if event.get("Type") != "Api":
                    continue
                props = event.get("Properties") or {}
                api_ref = props.get("RestApiId")
                api = api_ref["Ref"] if isinstance(api_ref, dict) and "Ref" in api_ref else IMPLICIT_API
                if api not in apis:
                    raise TemplateError(f"{logical_id}.{event_id}: RestApiId {api_ref!r} is not an API here")
                required = apis[api].api_key_required
                event_auth = props.get("Auth") or {}
                if "ApiKeyRequired" in event_auth:
                    required = _truthy(self.resolve(event_auth["ApiKeyRequired"]))
                method = self.resolve_str(props["Method"]).upper()
                routes.append(
                    Route(
                        path=self.resolve_str(props["Path"]),
                        method="ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method,
                        function=logical_id,
                        api=api,
                        event_id=event_id,
                        api_key_required=required,
                    )
                )
        return routes

    def sqs_mappings(self) -> list[SqsMapping]:
        mappings = []
        queues = self.resources_of_type(SQS_QUEUE)
        for logical_id in self.resources_of_type(SERVERLESS_FUNCTION):
            for event_id, event in (self.properties(logical_id).get("Events") or {}).items():
                if event.get("Type") != "SQS":
                    continue
                props = event.get("Properties") or {}
                queue_expr = props["Queue"]
                queue_arn = self.resolve_str(queue_expr)
                queue = next((q for q in queues if self.get_att(q, "Arn") == queue_arn), None)
                if queue is None:
                    raise TemplateError(f"{logical_id}.{event_id}: queue {queue_arn} is not in the template")
                scaling = self.resolve(props.get("ScalingConfig") or {})
                concurrency = scaling.get("MaximumConcurrency")
                response_types = self.resolve(props.get("FunctionResponseTypes") or [])
                mappings.append(
                    SqsMapping(
                        function=logical_id,
                        event_id=event_id,
                        queue=queue,
                        queue_arn=queue_arn,
                        batch_size=int(self.resolve_str(props.get("BatchSize", 10))),
                        maximum_batching_window=int(
                            self.resolve_str(props.get("MaximumBatchingWindowInSeconds", 0))
                        ),
                        report_batch_item_failures="ReportBatchItemFailures" in response_types,
                        maximum_concurrency=int(concurrency) if concurrency is not None else None,
                        enabled=_truthy(self.resolve(props.get("Enabled", True))),
                    )
                )
        return mappings

    def stream_mappings(self) -> list[StreamMapping]:
        mappings = []
        for logical_id in self.resources_of_type(SERVERLESS_FUNCTION):
            for event_id, event in (self.properties(logical_id).get("Events") or {}).items():
                if event.get("Type") != "DynamoDB":
                    continue
                props = event.get("Properties") or {}
                stream = props["Stream"]
                table = stream.get("Fn::GetAtt", [None])[0] if isinstance(stream, dict) else None
                if isinstance(table, str) and "." in table:
                    table = table.split(".", 1)[0]
                if table not in self.resources_of_type(DYNAMODB_TABLE):
                    raise TemplateError(
                        f"{logical_id}.{event_id}: stream {stream} is no table's of the template"
                    )
                response_types = self.resolve(props.get("FunctionResponseTypes") or [])
                mappings.append(
                    StreamMapping(
                        function=logical_id,
                        event_id=event_id,
                        table=table,
                        batch_size=int(self.resolve_str(props.get("BatchSize", 100))),
                        starting_position=self.resolve_str(props["StartingPosition"]),
                        report_batch_item_failures="ReportBatchItemFailures" in response_types,
                        enabled=_truthy(self.resolve(props.get("Enabled", True))),
                        maximum_retry_attempts=int(self.resolve_str(props.get("MaximumRetryAttempts", -1))),
                        maximum_record_age_s=int(
                            self.resolve_str(props.get("MaximumRecordAgeInSeconds", -1))
                        ),
                        bisect_batch_on_function_error=_truthy(
                            self.resolve(props.get("BisectBatchOnFunctionError", False))
                        ),
                        on_failure_queue=self._on_failure_queue(f"{logical_id}.{event_id}", props),
                    )
                )
        return mappings

    def _on_failure_queue(self, where: str, props: dict[str, Any]) -> str | None:
        """The logical id of a stream mapping's on-failure destination (an SQS queue here)."""
        destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if destination is None:
            return None
        arn = self.resolve_str(destination)
        queue = next((q for q in self.resources_of_type(SQS_QUEUE) if self.get_att(q, "Arn") == arn), None)
        if queue is None:
            raise TemplateError(f"{where}: on-failure destination {arn} is no SQS queue of the template")
        return queue


# --- helpers ------------------------------------------------------------------------------------


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rules: maps merge (local wins), lists are global + local, scalars: local."""
    if _is_intrinsic(global_value) or _is_intrinsic(local_value):
        return local_value
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def _is_intrinsic(value: Any) -> bool:
    if not (isinstance(value, dict) and len(value) == 1):
        return False
    key = str(next(iter(value)))
    return key == "Ref" or key.startswith("Fn::")


def _scalar_str(value: Any) -> str:
    """How CloudFormation renders a scalar where a string is expected."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def fake_id(seed: str, length: int) -> str:
    """A stable lower-case alphanumeric id (API Gateway style) derived from ``seed``."""
    digest = hashlib.sha256(seed.encode()).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest)[:length]


if __name__ == "__main__":  # `make cfn-lint` lints the whole template, its snippets inlined, from stdin
    import sys

    json.dump(read_template(sys.argv[1]), sys.stdout, indent=1)
