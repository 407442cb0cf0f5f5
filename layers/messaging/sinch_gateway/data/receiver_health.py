"""Status callback receivers' health (usecases.callback_breaker), one small item per tenant's
receiver in MessagesTable: `receiver#<tenant>#<origin>`.

Only receivers that failed have an item: a healthy receiver costs no write, and a container reads
its item at most once every few seconds (the breaker's cache). Every write renews the item's TTL,
so a receiver nobody calls any more is forgotten.

When DynamoDB cannot be asked, callbacks go: the health is an economy, and a callback must not
wait for it. A receiver then reads as healthy, a probe as taken, a hold as not set.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from sinch_gateway.data.messages import bookkeeping_id, condition_failed
from sinch_gateway.domain.status_callbacks import ReceiverHealth

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(child=True)
_KEEP_S = 3 * 86_400  # longer than any callback is retried
P = ParamSpec("P")
R = TypeVar("R")


def _or(fallback: R) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The call's answer, or `fallback` when DynamoDB could not be asked."""

    def wrap(call: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(call)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return call(*args, **kwargs)
            except (BotoCoreError, ClientError) as exc:
                logger.warning(
                    "a callback receiver's health could not be read or written: callbacks go on",
                    extra={"call": call.__name__, "cause": repr(exc)[:200]},
                )
                return fallback

        return guarded

    return wrap


def _number(value: float) -> dict[str, str]:
    return {"N": f"{value:.3f}"}


def _health(item: dict[str, Any] | None) -> ReceiverHealth:
    if not item:
        return ReceiverHealth()
    held = item.get("heldUntil", {}).get("N")
    return ReceiverHealth(
        failures=int(item.get("failures", {}).get("N", "0")),
        holds=int(item.get("holds", {}).get("N", "0")),
        held_until=float(held) if held is not None else None,
    )


class ReceiverHealthTable:
    def __init__(self, client: DynamoDBClient, table: str, clock: Callable[[], float] = time.time) -> None:
        self._db = client
        self._table = table
        self._clock = clock

    def _key(self, receiver: str) -> dict[str, dict[str, str]]:
        return {"id": {"S": bookkeeping_id("receiver", receiver)}}

    def _ttl(self) -> dict[str, str]:
        return {"N": str(int(self._clock()) + _KEEP_S)}

    @_or(ReceiverHealth())
    def get(self, receiver: str) -> ReceiverHealth:
        return _health(self._db.get_item(TableName=self._table, Key=self._key(receiver)).get("Item"))

    @_or(ReceiverHealth())
    def add_failure(self, receiver: str) -> ReceiverHealth:
        answer = self._db.update_item(
            TableName=self._table,
            Key=self._key(receiver),
            UpdateExpression="ADD failures :one SET #ttl = :ttl",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":ttl": self._ttl()},
            ReturnValues="ALL_NEW",
        )
        return _health(answer.get("Attributes"))

    @_or(False)
    def hold(self, receiver: str, until: float, holds: int, now: float, *, unless_held: bool) -> bool:
        values = {
            ":until": _number(until),
            ":holds": {"N": str(holds)},
            ":zero": {"N": "0"},
            ":ttl": self._ttl(),
        }
        condition: dict[str, Any] = {}
        if unless_held:
            condition = {"ConditionExpression": "attribute_not_exists(heldUntil) OR heldUntil <= :now"}
            values[":now"] = _number(now)
        return self._update(
            receiver,
            "SET heldUntil = :until, holds = :holds, failures = :zero, #ttl = :ttl",
            values,
            **condition,
        )

    @_or(True)
    def claim_probe(self, receiver: str, now: float, until: float) -> bool:
        return self._update(
            receiver,
            "SET heldUntil = :until, #ttl = :ttl",
            {":until": _number(until), ":now": _number(now), ":ttl": self._ttl()},
            ConditionExpression="heldUntil <= :now",
        )

    @_or(None)
    def clear(self, receiver: str) -> None:
        self._db.delete_item(TableName=self._table, Key=self._key(receiver))

    def _update(self, receiver: str, expression: str, values: dict[str, Any], **condition: str) -> bool:
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(receiver),
                UpdateExpression=expression,
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=values,
                **condition,  # type: ignore[arg-type]
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True
