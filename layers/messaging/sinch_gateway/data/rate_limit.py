"""Sinch's per-service-plan rate, shared by every sender (all SendFunction and RetryFunction
containers), kept in one DynamoDB item per Sinch API.

The design is GCRA (the "generic cell rate algorithm", a token bucket stated as a schedule): the
item holds `nextSlot`, the epoch second from which the next call to Sinch may go. Taking a slot
is one conditional update, `nextSlot = nextSlot + interval` if the slot begins within the
caller's patience; the caller then sleeps until its slot. No read comes first and the stored
state is one number, so concurrent senders never overwrite each other: each update either takes
the next slot in the schedule or fails without changing anything (a failed conditional write
still costs a write unit, and returns the item, so the caller learns where the schedule is).

- Below the rate, `nextSlot` lies in the past; a slot there would allow a burst, so the
  schedule restarts at now instead (conditional on still being in the past: one sender wins).
  Which of the two writes to try first is guessed from what this container last saw, so that
  either way one write is the usual cost.
- Sinch answered 429 anyway. A lone 429 is most likely a call that arrived late and met the
  next second's calls: every sender skips one slot, and only the refused call waits its
  Retry-After (the whole fleet idle for a second would waste a second of the plan). A second 429
  within Sinch's one-second window means the plan's rate is really taken (another system on it,
  or a lower rate than configured): `hold_off` then moves `nextSlot` past the Retry-After, so
  every sender waits, not just the refused one. `refusedAt` on the item dates the last 429.

Slots are spaced at 1/(rate x HEADROOM): Sinch counts over a sliding second, and a call that
leaves on time can still arrive a few milliseconds late behind one that follows it.

One item takes every send: DynamoDB serves about 1,000 writes a second on one key, far above a
Sinch plan's rate. Clocks of Lambda hosts are NTP-synchronised to milliseconds, well under an
interval at the rates Sinch sells.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from sinch_gateway.data.messages import bookkeeping_id, condition_failed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(child=True)
HEADROOM = 0.97
SINCH_WINDOW_S = 1.0  # Sinch counts a plan's calls per second
# A take or a restart can lose a race to another sender; after this many rounds the caller is
# told to come back a slot later instead of looping.
_ROUNDS = 4


_DIGITS = 6  # microseconds


def _number(value: float) -> dict[str, str]:
    return {"N": f"{value:.{_DIGITS}f}"}


class SharedRate:
    """The rate of calls to Sinch, per Sinch API (`key`), for all senders together."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        rate_per_s: float,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = client
        self._table = table
        self._interval = 1.0 / (rate_per_s * HEADROOM)
        self._clock = clock
        self._sleep = sleep
        self._known: dict[str, float] = {}  # each schedule's next slot, as last seen here

    def acquire(self, key: str, max_wait_s: float, calls: int = 1) -> float:
        """Take slots for `calls` calls to Sinch, waiting for them at most `max_wait_s`.

        0.0 once the calls may go (after sleeping until their slot); otherwise, having taken
        nothing, how many seconds until the schedule has room again. When DynamoDB cannot be
        asked, the calls go: the message is already claimed, and Sinch's 429 is still retried,
        while an error here would leave it waiting for its lease with no retry queued.
        """
        try:
            return self._acquire(key, max_wait_s, calls)
        except (BotoCoreError, ClientError):
            logger.warning("the shared Sinch rate could not be read: sending without it", extra={"key": key})
            return 0.0

    def _acquire(self, key: str, max_wait_s: float, calls: int) -> float:
        item_id = {"S": bookkeeping_id("rate", key)}
        step = round(self._interval * calls, _DIGITS)
        for _ in range(_ROUNDS):
            now = round(self._clock(), _DIGITS)  # as stored: comparisons with the item are exact
            # Below the rate the schedule is mostly in the past: restarting it first is then the
            # one write needed. What this container last saw of the schedule tells which case.
            known = self._known.get(key)
            if known is None or known < now:
                found = self._restart(item_id, now, step)
                if found is None:
                    self._known[key] = now + step
                    return 0.0
                if found < now:
                    continue  # the schedule moved between two reads of the clock
            try:
                answer = self._db.update_item(
                    TableName=self._table,
                    Key={"id": item_id},
                    UpdateExpression="SET nextSlot = nextSlot + :step",
                    ConditionExpression="nextSlot BETWEEN :now AND :latest",
                    ExpressionAttributeValues={
                        ":step": _number(step),
                        ":now": _number(now),
                        ":latest": _number(now + max_wait_s),
                    },
                    ReturnValues="UPDATED_OLD",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
                slot = _slot(exc.response.get("Item"))
                self._known[key] = slot if slot is not None else now
                if slot is not None and slot > now:
                    return slot - now  # the schedule is full beyond our patience
                continue
            slot = float(answer["Attributes"]["nextSlot"]["N"])
            self._known[key] = slot + step
            self._sleep(max(0.0, slot - self._clock()))
            return 0.0
        return step

    def _restart(self, item_id: dict[str, str], now: float, step: float) -> float | None:
        """Idle until now: the schedule starts again with this call (no burst from the past).

        None when it did; otherwise the schedule's next slot as another sender left it.
        """
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"id": item_id},
                UpdateExpression="SET nextSlot = :next",
                ConditionExpression="attribute_not_exists(nextSlot) OR nextSlot < :now",
                ExpressionAttributeValues={":next": _number(now + step), ":now": _number(now)},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if condition_failed(exc):
                return _slot(exc.response.get("Item")) or now
            raise
        return None

    def hold_off(self, key: str, seconds: float) -> None:
        """Sinch answered 429 asking for `seconds`: the first 429 in a window costs every sender
        one slot; another within the window holds them all off for `seconds`."""
        try:
            self._hold_off(key, seconds)
        except (BotoCoreError, ClientError):
            logger.warning("could not hold the shared Sinch rate off", extra={"key": key})

    def _hold_off(self, key: str, seconds: float) -> None:
        now = round(self._clock(), _DIGITS)
        item_id = {"S": bookkeeping_id("rate", key)}
        values = {":now": _number(now), ":recent": _number(now - SINCH_WINDOW_S)}
        lone = "(attribute_not_exists(refusedAt) OR refusedAt < :recent)"
        # The schedule is mostly ahead of now when 429s happen (senders waiting for their slots).
        attempts = [
            ("SET nextSlot = nextSlot + :step", f"{lone} AND nextSlot >= :now", {":step": self._interval}),
            (
                "SET nextSlot = :next",
                f"{lone} AND (attribute_not_exists(nextSlot) OR nextSlot < :now)",
                {":next": now + self._interval},
            ),
            (
                "SET nextSlot = :until",
                "attribute_not_exists(nextSlot) OR nextSlot < :until",
                {":until": now + seconds},
            ),
        ]
        for update, condition, more in attempts:
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key={"id": item_id},
                    UpdateExpression=f"{update}, refusedAt = :now",
                    ConditionExpression=condition,
                    ExpressionAttributeValues={
                        **{k: v for k, v in values.items() if k in condition or k == ":now"},
                        **{k: _number(v) for k, v in more.items()},
                    },
                )
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
                continue
            return
        # Held off as long or longer already.


def _slot(item: object) -> float | None:
    """The next slot in an item DynamoDB returned with a failed condition (None: no schedule)."""
    if not isinstance(item, dict) or "nextSlot" not in item:
        return None
    return float(item["nextSlot"]["N"])
