"""Create the template's DynamoDB tables, SQS queues, Secrets Manager secrets, S3 buckets (with
their bucket policies) and IAM roles in moto.

One job: what CloudFormation would do for these resource types, against the local endpoint.
Physical names are ``{stack_name}-{LogicalId}`` (lower case for a bucket) unless the template names
the resource.
Each created resource is registered with the template, so ``Ref``/``Fn::GetAtt`` resolve to it.
Other resource types are ignored (functions, APIs and layers are the other modules' business).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devstack import aws
from devstack.template import (
    DYNAMODB_TABLE,
    S3_BUCKET,
    S3_BUCKET_POLICY,
    SECRET,
    SQS_QUEUE,
    Template,
    TemplateError,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

IAM_ROLE = "AWS::IAM::Role"
CREATED_TYPES = (DYNAMODB_TABLE, SQS_QUEUE, SECRET, S3_BUCKET, S3_BUCKET_POLICY, IAM_ROLE)


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str
    url: str
    arn: str


@dataclass(frozen=True)
class Table:
    logical_id: str
    name: str
    arn: str


@dataclass(frozen=True)
class Secret:
    logical_id: str
    name: str
    arn: str


@dataclass(frozen=True)
class Bucket:
    logical_id: str
    name: str
    arn: str


@dataclass(frozen=True)
class Role:
    logical_id: str
    name: str
    arn: str
    role_id: str  # its unique id (AROA...): what SQS's SenderId shows for its sessions


@dataclass
class StackResources:
    tables: dict[str, Table] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)
    secrets: dict[str, Secret] = field(default_factory=dict)
    buckets: dict[str, Bucket] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)


def create_resources(template: Template, endpoint_url: str) -> StackResources:
    """Create every table, queue, secret and bucket of ``template`` in dependency order."""
    dynamodb = aws.client("dynamodb", endpoint_url, template.region)
    sqs = aws.client("sqs", endpoint_url, template.region)
    secrets = aws.client("secretsmanager", endpoint_url, template.region)
    s3 = aws.client("s3", endpoint_url, template.region)
    iam = aws.client("iam", endpoint_url, template.region)
    created = StackResources()
    for logical_id in creation_order(template):
        kind = template.resources[logical_id]["Type"]
        if kind == DYNAMODB_TABLE:
            created.tables[logical_id] = create_table(template, dynamodb, logical_id)
        elif kind == SQS_QUEUE:
            created.queues[logical_id] = create_queue(template, sqs, logical_id)
        elif kind == S3_BUCKET:
            created.buckets[logical_id] = create_bucket(template, s3, logical_id)
        elif kind == S3_BUCKET_POLICY:
            put_bucket_policy(template, s3, logical_id, tls=endpoint_url.startswith("https://"))
        elif kind == IAM_ROLE:
            created.roles[logical_id] = create_role(template, iam, logical_id)
        else:
            created.secrets[logical_id] = create_secret(template, secrets, logical_id)
    return created


def creation_order(template: Template) -> list[str]:
    """The tables, queues, secrets, buckets and roles, each after the ones it refers to (a DLQ before its
    queue, a bucket before its policy)."""
    wanted = {lid for lid, r in template.resources.items() if r.get("Type") in CREATED_TYPES}
    order: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in order:
            return
        if logical_id in visiting:
            raise TemplateError(f"circular reference through {logical_id}")
        visiting.add(logical_id)
        resource = template.resources[logical_id]
        depends = resource.get("DependsOn") or []
        depends = [depends] if isinstance(depends, str) else depends
        for dependency in sorted(set(references(resource.get("Properties"))) | set(depends)):
            if dependency in wanted:
                visit(dependency)
        visiting.discard(logical_id)
        order.append(logical_id)

    for logical_id in sorted(wanted):
        visit(logical_id)
    return order


def references(value: Any) -> Iterable[str]:
    """Logical ids (or parameter names) that ``value`` refers to through Ref, GetAtt or Sub."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref" and isinstance(arg, str):
                yield arg
                return
            if key == "Fn::GetAtt":
                yield (arg.split(".", 1)[0] if isinstance(arg, str) else arg[0])
                return
            if key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                for expr in re.findall(r"\$\{([^}!][^}]*)\}", text):
                    yield expr.split(".", 1)[0]
                if isinstance(arg, list) and len(arg) > 1:
                    yield from references(arg[1])
                return
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


# --- DynamoDB -----------------------------------------------------------------------------------


def create_table(template: Template, client: DynamoDBClient, logical_id: str) -> Table:
    props = template.resolve(template.properties(logical_id))
    name = template.table_name(logical_id)
    billing = props.get("BillingMode", "PROVISIONED")
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        request["ProvisionedThroughput"] = _throughput(props.get("ProvisionedThroughput"))
    if props.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [
            _index(index, with_throughput=billing == "PROVISIONED")
            for index in props["GlobalSecondaryIndexes"]
        ]
    if props.get("LocalSecondaryIndexes"):
        request["LocalSecondaryIndexes"] = [
            _index(index, with_throughput=False) for index in props["LocalSecondaryIndexes"]
        ]
    stream = props.get("StreamSpecification")
    if stream and stream.get("StreamViewType"):
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    if props.get("Tags"):
        request["Tags"] = props["Tags"]
    description = client.create_table(**request)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and _true(ttl.get("Enabled")):
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
    arn = description["TableArn"]
    attributes = {"Arn": arn}
    if "LatestStreamArn" in description:
        attributes["StreamArn"] = description["LatestStreamArn"]
    template.register(logical_id, name, **attributes)
    return Table(logical_id=logical_id, name=name, arn=arn)


def _throughput(value: dict[str, Any] | None) -> dict[str, int]:
    value = value or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    return {
        "ReadCapacityUnits": int(value["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(value["WriteCapacityUnits"]),
    }


def _index(index: dict[str, Any], *, with_throughput: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "IndexName": index["IndexName"],
        "KeySchema": index["KeySchema"],
        "Projection": index.get("Projection") or {"ProjectionType": "ALL"},
    }
    if with_throughput:
        out["ProvisionedThroughput"] = _throughput(index.get("ProvisionedThroughput"))
    return out


# --- SQS ----------------------------------------------------------------------------------------

_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "MaximumMessageSize",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
)


def create_queue(template: Template, client: SQSClient, logical_id: str) -> Queue:
    props = template.resolve(template.properties(logical_id))
    name = template.queue_name(logical_id)
    attributes: dict[str, str] = {}
    for key in _QUEUE_ATTRIBUTES:
        if key in props:
            attributes[key] = _attribute(props[key])
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            policy = props[key]
            attributes[key] = policy if isinstance(policy, str) else json.dumps(policy)
    tags = {tag["Key"]: str(tag["Value"]) for tag in props.get("Tags") or []}
    if tags:
        url = client.create_queue(QueueName=name, Attributes=attributes, tags=tags)["QueueUrl"]  # type: ignore[arg-type]
    else:
        url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    template.register(logical_id, url, Arn=arn, QueueName=name, QueueUrl=url)
    return Queue(logical_id=logical_id, name=name, url=url, arn=arn)


def _attribute(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- S3 -----------------------------------------------------------------------------------------


def create_bucket(template: Template, client: S3Client, logical_id: str) -> Bucket:
    """The bucket with the template's encryption, public access block, ownership and lifecycle
    (moto keeps them; it does not expire objects)."""
    props = template.resolve(template.properties(logical_id))
    name = template.bucket_name(logical_id)
    if template.region == "us-east-1":
        client.create_bucket(Bucket=name)
    else:
        location: Any = {"LocationConstraint": template.region}
        client.create_bucket(Bucket=name, CreateBucketConfiguration=location)
    if "BucketEncryption" in props:
        rules: Any = [  # CloudFormation's names for the API's
            {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
            | ({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {})
            for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        client.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in props:
        client.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    if "OwnershipControls" in props:
        client.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
    if "LifecycleConfiguration" in props:
        client.put_bucket_lifecycle_configuration(
            Bucket=name,
            LifecycleConfiguration={
                "Rules": [_lifecycle_rule(r) for r in props["LifecycleConfiguration"]["Rules"]]
            },
        )
    arn = f"arn:aws:s3:::{name}"
    template.register(logical_id, name, Arn=arn, DomainName=f"{name}.s3.amazonaws.com")
    return Bucket(logical_id=logical_id, name=name, arn=arn)


def _lifecycle_rule(rule: dict[str, Any]) -> Any:
    """A CloudFormation lifecycle rule in the API's words."""
    converted: dict[str, Any] = {
        "ID": rule["Id"],
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        converted["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return converted


def put_bucket_policy(template: Template, client: S3Client, logical_id: str, *, tls: bool) -> None:
    """The policy as written, except, on a plain-http endpoint, statements that deny requests made
    without TLS: moto enforces them, and every request to it is one (docs/local-stack.md)."""
    props = template.resolve(template.properties(logical_id))
    document = dict(props["PolicyDocument"])
    statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
    document["Statement"] = [s for s in statements if tls or not _denies_plain_http(s)]
    if document["Statement"]:
        client.put_bucket_policy(Bucket=str(props["Bucket"]), Policy=json.dumps(document))


def _denies_plain_http(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition", {}).get("Bool", {})
    return statement.get("Effect") == "Deny" and str(condition.get("aws:SecureTransport")).lower() == "false"


# --- Secrets Manager ----------------------------------------------------------------------------

_PASSWORD_OPTIONS = (
    "ExcludeCharacters",
    "ExcludeLowercase",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "IncludeSpace",
    "RequireEachIncludedType",
)


def create_secret(template: Template, client: SecretsManagerClient, logical_id: str) -> Secret:
    props = template.resolve(template.properties(logical_id))
    name = template.secret_name(logical_id)
    if "SecretString" in props:
        value = str(props["SecretString"])
    else:
        value = generate_secret_string(client, props.get("GenerateSecretString") or {})
    request: dict[str, Any] = {"Name": name, "SecretString": value}
    if props.get("Description"):
        request["Description"] = str(props["Description"]).strip()
    if props.get("Tags"):
        request["Tags"] = props["Tags"]
    arn = client.create_secret(**request)["ARN"]
    template.register(logical_id, arn, Id=arn)
    return Secret(logical_id=logical_id, name=name, arn=arn)


def generate_secret_string(client: SecretsManagerClient, spec: dict[str, Any]) -> str:
    """CloudFormation's GenerateSecretString, using Secrets Manager's own GetRandomPassword."""
    options: dict[str, Any] = {"PasswordLength": int(spec.get("PasswordLength", 32))}
    for key in _PASSWORD_OPTIONS:
        if key in spec:
            options[key] = spec[key] if key == "ExcludeCharacters" else _true(spec[key])
    password = client.get_random_password(**options)["RandomPassword"]
    template_text = spec.get("SecretStringTemplate")
    string_key = spec.get("GenerateStringKey")
    if template_text is None and string_key is None:
        return password
    if template_text is None or string_key is None:
        raise TemplateError("GenerateSecretString needs both SecretStringTemplate and GenerateStringKey")
    document = json.loads(template_text)
    document[string_key] = password
    return json.dumps(document)


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


# --- IAM ----------------------------------------------------------------------------------------


def create_role(template: Template, client: Any, logical_id: str) -> Role:
    """The role with its trust policy, so that `!GetAtt <Role>.Arn` and `.RoleId` resolve and its
    sessions are principals of their own (devstack.iam_principals). moto enforces no permissions:
    the role's policies are not copied; tests/least_privilege.py holds the code to them instead."""
    props = template.properties(logical_id)
    name = (
        template.resolve_str(props["RoleName"]) if "RoleName" in props else template.physical_name(logical_id)
    )
    trust = template.resolve(props.get("AssumeRolePolicyDocument") or {})
    role = client.create_role(RoleName=name[:64], AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    template.register(logical_id, role["RoleName"], Arn=role["Arn"], RoleId=role["RoleId"])
    return Role(logical_id=logical_id, name=role["RoleName"], arn=role["Arn"], role_id=role["RoleId"])
