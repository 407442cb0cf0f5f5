"""Who signs a request to the local AWS, as AWS tells it: IAM users and role sessions in moto, and
SQS's `SenderId` taken from the key that signed SendMessage.

One job: principals. On AWS, SQS stamps every message with the unique id of the principal whose
credentials signed SendMessage (its `SenderId` attribute): an IAM user's id (`AIDA…`), or a role's
id and session name (`AROA…:session`; a Lambda function's session is named after the function).
moto gives every message one fixed id and its IAM users lowercase ids no AWS user has. Here:

- an IAM user's unique id is `AIDA…`, shaped like AWS's (`moto_user_ids_like_aws`);
- SendMessage and SendMessageBatch stamp the signer's id (`sender_id_from_signature`). A key
  moto's IAM or STS issued must sign correctly (403 SignatureDoesNotMatch otherwise, as on AWS),
  so knowing a key id is not enough to send as its principal. Any other key stands for an IAM
  user of its own, whose id is derived from the key: moto accepts keys AWS would refuse, and the
  local stack's own tooling signs with one, but such a sender is never anybody's publisher;
- each function runs with a session of its template role (`function_credentials`), as Lambda
  runs it, so the messages it sends carry `<its role's id>:<function name>`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devstack import aws
from devstack.template import SERVERLESS_FUNCTION, Template

SESSION_DURATION_S = 43_200  # the longest AWS allows; moto does not let sessions expire anyway


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def environment(self) -> dict[str, str]:
        """The variables Lambda sets for a function's execution role."""
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


@dataclass(frozen=True)
class Principal:
    """An IAM user with an access key: its unique id (what SQS's SenderId says) and its key."""

    unique_id: str
    credentials: Credentials


class _Signer(threading.local):
    sender_id: str | None = None


_SIGNER = _Signer()


def aws_like_id(prefix: str, account_id: str) -> str:
    """A unique id of the form AWS gives (4-letter prefix, 21 characters), e.g. `AIDA…`."""
    from moto.iam.utils import generate_access_key_id_from_account_id

    return str(generate_access_key_id_from_account_id(account_id, prefix=prefix, total_length=21))


def derived_sender_id(access_key_id: str) -> str:
    """The SenderId of a key no IAM user or session of the local stack holds."""
    digest = base64.b32encode(hashlib.sha256(access_key_id.encode()).digest()).decode()
    return "AIDA" + digest[:17]


def moto_user_ids_like_aws() -> None:
    """Make moto's IAM users get `AIDA…` unique ids (moto: 20 random lowercase characters)."""
    from moto.iam.models import User

    if getattr(User.__init__, "aws_like_id", False):
        return
    make = User.__init__

    def init(self: Any, account_id: str, region_name: str, name: str, path: str | None = None) -> None:
        make(self, account_id, region_name, name, path)
        self.id = aws_like_id("AIDA", account_id)

    init.aws_like_id = True  # type: ignore[attr-defined]
    User.__init__ = init  # type: ignore[method-assign]


def sender_id_from_signature() -> None:
    """Make moto's SendMessage and SendMessageBatch stamp the signing principal's id as SenderId."""
    from moto.sqs.models import SQSBackend
    from moto.sqs.responses import SQSResponse

    if hasattr(SQSBackend.send_message, "stamps_sender"):
        return
    store = SQSBackend.send_message

    def send_message(self: SQSBackend, *args: Any, **kwargs: Any) -> Any:
        message = store(self, *args, **kwargs)
        if _SIGNER.sender_id is not None:
            message.sender_id = _SIGNER.sender_id
        return message

    send_message.stamps_sender = True  # type: ignore[attr-defined]
    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    for action in ("send_message", "send_message_batch"):
        setattr(SQSResponse, action, _signed_by_sender(getattr(SQSResponse, action)))


def _signed_by_sender(action: Callable[[Any], Any]) -> Callable[[Any], Any]:
    from werkzeug.exceptions import HTTPException

    def signed(self: Any) -> Any:
        try:
            _SIGNER.sender_id = signer_id(self)
        except HTTPException as refused:
            return _refusal(self, refused)
        try:
            return action(self)
        finally:
            _SIGNER.sender_id = None

    return signed


def _refusal(response: Any, refused: Any) -> Any:
    """moto's authentication errors are written in the query protocol's XML; a JSON-protocol
    client (boto3's SQS) reads the code from `__type` and x-amzn-query-error, as SQS sends them."""
    if "X-Amz-Target" not in response.headers:
        raise refused
    code = str(refused.error_type)
    headers = {
        "status": 403,
        "Content-Type": "application/x-amz-json-1.0",
        "x-amzn-query-error": f"{code};Sender",
    }
    return (
        403,
        headers,
        json.dumps({"__type": f"com.amazon.coral.service#{code}", "message": refused.message}),
    )


def signer_id(response: Any) -> str:
    """The unique id of whoever signed the request moto's `response` handles, its signature
    checked when the key is one moto issued."""
    from moto.iam.access_control import IAMRequest
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    # moto's own parser knows only 20-character AWS-shaped keys (every other one is "AKIAEXAMPLE").
    signed = re.search(r"Credential=([^/,\s]+)/", response.headers.get("Authorization", ""))
    access_key_id = signed.group(1) if signed else response.get_access_key()
    account, partition = response.current_account, response.partition
    iam = iam_backends[account][partition]
    key = iam.access_keys.get(access_key_id)
    if key is None or "Authorization" not in response.headers:
        return derived_sender_id(access_key_id)
    path = response.raw_path + (f"?{response.uri.split('?', 1)[1]}" if "?" in response.uri else "")
    IAMRequest(
        account_id=account,
        method=response.method,
        path=path,
        data=response.data,
        body=response.raw_body,
        headers=response.headers,
        action=response._get_action(),
    ).check_signature()  # raises InvalidClientTokenId or SignatureDoesNotMatch, as SQS answers
    if key.role_arn:
        session = sts_backends[account][partition].get_assumed_role_from_access_key(access_key_id)
        return str(session.user_id) if session is not None else derived_sender_id(access_key_id)
    return str(iam.get_user(str(key.user_name)).id)


def install() -> None:
    """Every emulation above; once per process (moto's backends are the process's)."""
    moto_user_ids_like_aws()
    sender_id_from_signature()


# --- principals of a local stack ----------------------------------------------------------------


def function_credentials(template: Template, endpoint_url: str) -> dict[str, Credentials]:
    """A session of each function's role, named after the function, as Lambda runs it. Functions
    without a role of the template's keep the local stack's default credentials."""
    sts = aws.client("sts", endpoint_url, template.region)
    sessions = {}
    for logical_id in template.resources_of_type(SERVERLESS_FUNCTION):
        role = template.resolve(template.properties(logical_id).get("Role"))
        if not isinstance(role, str) or ":role/" not in role:
            continue
        answer = sts.assume_role(
            RoleArn=role,
            RoleSessionName=template.function_name(logical_id)[:64],
            DurationSeconds=SESSION_DURATION_S,
        )["Credentials"]
        sessions[logical_id] = Credentials(
            answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"]
        )
    return sessions


def create_user(iam: Any, name: str) -> Principal:
    """An IAM user with an access key: a principal other code can sign with."""
    user = iam.create_user(UserName=name[:64])["User"]
    key = iam.create_access_key(UserName=user["UserName"])["AccessKey"]
    return Principal(user["UserId"], Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
