"""The local stack's SQS tells who published a message, as SQS does: `SenderId` is the principal
whose key signed SendMessage (moto stamps one fixed id on every message, whoever sent it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack import aws
from devstack.iam_principals import (
    Credentials,
    Principal,
    create_user,
    derived_sender_id,
    function_credentials,
)
from devstack.moto_server import MotoServer
from devstack.resources import create_resources
from devstack.state import REPO_ROOT as ROOT
from devstack.template import Template

REGION = "us-east-1"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = MotoServer("127.0.0.1", 0)
    yield server.start()
    server.stop()


@pytest.fixture
def queue(endpoint: str) -> str:
    sqs = aws.client("sqs", endpoint, REGION)
    return sqs.create_queue(QueueName=f"q-{id(object())}")["QueueUrl"]


def sqs_as(endpoint: str, credentials: Credentials) -> Any:
    return boto3.session.Session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        region_name=REGION,
    ).client("sqs", endpoint_url=endpoint)


def senders(endpoint: str, queue: str) -> dict[str, str]:
    """Each waiting message's body and SenderId, as a consumer (here the stack's own tooling) reads them."""
    sqs = aws.client("sqs", endpoint, REGION)
    got = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageSystemAttributeNames=["SenderId"]
    )
    return {m["Body"]: m["Attributes"]["SenderId"] for m in got.get("Messages", [])}


def user(endpoint: str, name: str) -> Principal:
    return create_user(aws.client("iam", endpoint, REGION), f"{name}-{id(object())}")


def test_each_message_carries_the_unique_id_of_the_user_that_signed_it(endpoint: str, queue: str) -> None:
    acme, globex = user(endpoint, "acme"), user(endpoint, "globex")

    sqs_as(endpoint, acme.credentials).send_message(QueueUrl=queue, MessageBody="from acme")
    sqs_as(endpoint, globex.credentials).send_message_batch(
        QueueUrl=queue, Entries=[{"Id": "1", "MessageBody": "from globex"}]
    )

    assert senders(endpoint, queue) == {"from acme": acme.unique_id, "from globex": globex.unique_id}
    assert acme.unique_id != globex.unique_id


def test_an_iam_users_unique_id_has_the_form_aws_gives_it(endpoint: str) -> None:
    # AWS: "AIDA" and 17 more capitals or digits; moto: 20 random lowercase characters.
    assert re.fullmatch(r"AIDA[A-Z0-9]{17}", user(endpoint, "acme").unique_id)


def test_a_role_sessions_messages_carry_the_role_id_and_the_session_name(endpoint: str, queue: str) -> None:
    iam, sts = aws.client("iam", endpoint, REGION), aws.client("sts", endpoint, REGION)
    role = iam.create_role(RoleName=f"fulfilment-{id(object())}", AssumeRolePolicyDocument="{}")["Role"]
    session = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="fulfilment-service")["Credentials"]
    credentials = Credentials(session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])

    sqs_as(endpoint, credentials).send_message(QueueUrl=queue, MessageBody="from the role")

    assert senders(endpoint, queue) == {"from the role": f"{role['RoleId']}:fulfilment-service"}


def test_a_known_key_with_the_wrong_secret_is_refused_and_nothing_queued(endpoint: str, queue: str) -> None:
    acme = user(endpoint, "acme")
    forged = Credentials(acme.credentials.access_key_id, "not-the-secret-access-key")

    with pytest.raises(ClientError) as refused:
        sqs_as(endpoint, forged).send_message(QueueUrl=queue, MessageBody="forged")

    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert senders(endpoint, queue) == {}


def test_a_key_no_principal_holds_is_a_principal_of_its_own_never_anothers(endpoint: str, queue: str) -> None:
    acme = user(endpoint, "acme")

    aws.client("sqs", endpoint, REGION).send_message(QueueUrl=queue, MessageBody="from the tooling")

    (sender,) = senders(endpoint, queue).values()
    assert sender == derived_sender_id(aws.FAKE_ACCESS_KEY_ID) != acme.unique_id
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", sender)


def test_each_function_runs_as_a_session_of_its_role_named_after_it(endpoint: str, queue: str) -> None:
    template = Template(ROOT / "template.yaml", stack_name=f"principals-{id(object())}")
    resources = create_resources(template, endpoint)

    sessions = function_credentials(template, endpoint)

    assert set(sessions) == {"SendFunction", "QueueFunction", "WebhookFunction", "CallbackFunction"}
    retry = sessions["QueueFunction"]
    sqs_as(endpoint, retry).send_message(QueueUrl=queue, MessageBody="a retry")
    role_id = resources.roles["QueueFunctionRole"].role_id
    assert senders(endpoint, queue) == {"a retry": f"{role_id}:{template.function_name('QueueFunction')}"}
    # What the template hands QueueFunction to know its own: the same role ids.
    gateway_roles = template.function("QueueFunction").environment["GATEWAY_ROLE_IDS"].split(",")
    assert gateway_roles == [resources.roles["SendFunctionRole"].role_id, role_id]
