"""moto in server mode, on a thread of the stack's process, safe under concurrent requests.

One job: serve moto's AWS emulation on 127.0.0.1. moto's backends are not safe for concurrent
requests, and under a 10,000-message run both gave 500s that AWS never gives: DynamoDB raised
`RuntimeError: dictionary changed size during iteration` from its model's deepcopy, and two
concurrent SQS receives moving the same message to the DLQ raised `list.remove(x): x not in
list`. So DynamoDB requests are served one at a time, and so are SQS requests, except that a
long poll (ReceiveMessage waiting up to 20 s) holds the lock only while it scans the queue, never
while it waits: it must not hold every sender up. Nor may the scan itself be slow: moto's took
time quadratic in the queue's length (see `_retained`). A scan sees the queue at one instant, and a
FIFO queue's message group waits only for its messages in flight, as in SQS
(lock_fifo_groups_only_while_in_flight): both keep a group's order. And SendMessage refuses the
characters SQS refuses, as SQS does (refuse_characters_sqs_refuses); moto took them.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from devstack.dynamodb_limits import enforce_item_size

StartResponse = Callable[..., Any]
Wsgi = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


# A long poll's recheck of a queue that got no new message (see serialize_sqs_receives).
RECHECK_S = 0.05
# moto's backends are the process's, shared by every server in it: so are their locks.
DYNAMODB_LOCK = threading.Lock()
SQS_LOCK = threading.Lock()


class _ScanInstant(threading.local):
    now_ms: float | None = None


_SCAN_INSTANT = _ScanInstant()


class SerialBackends:
    """WSGI middleware: one DynamoDB request at a time, one SQS request at a time."""

    def __init__(self, app: Wsgi) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if target.startswith("DynamoDB"):
            lock = DYNAMODB_LOCK
        elif target.startswith("AmazonSQS.") and target != "AmazonSQS.ReceiveMessage":
            lock = SQS_LOCK
        else:  # ReceiveMessage takes the SQS lock per scan (serialize_sqs_receives)
            return self._app(environ, start_response)
        with lock:
            # Read the body inside the lock: moto builds it lazily from its models.
            return list(self._app(environ, start_response))


def serialize_sqs_receives() -> None:
    """Make moto's ReceiveMessage scan under SQS_LOCK and wait for messages outside it.

    The scan sees one instant, as SQS does. moto read the clock again for each message: when a
    FIFO group's last message in flight became visible in the middle of a scan, the group counted
    as held for its head and as free for that last message, which was given out alone, ahead of
    the messages before it (status callbacks reached a receiver as delivered, accepted, submitted).
    """
    from moto.core import utils
    from moto.sqs import models
    from moto.sqs.models import SQSBackend

    if hasattr(SQSBackend.receive_message, "scan_once"):
        return
    scan = SQSBackend.receive_message

    def sqs_clock_ms(dt: datetime | None = None) -> float:
        """moto.sqs's clock: during a receive's scan, the instant the scan began. (Read for every
        message a scan looks at, so it imports nothing itself.)"""
        if dt is not None:
            return float(utils.unix_time_millis(dt))
        frozen = _SCAN_INSTANT.now_ms
        return frozen if frozen is not None else float(utils.unix_time_millis())

    def receive_message(  # noqa: PLR0917 - moto calls it with its own positional signature
        self: SQSBackend,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        deadline = time.monotonic() + wait_seconds_timeout
        while True:
            with SQS_LOCK:
                _SCAN_INSTANT.now_ms = float(utils.unix_time_millis())
                try:
                    got = SQSBackend.receive_message.scan_once(  # type: ignore[attr-defined]
                        self, queue_name, count, 0, visibility_timeout, message_attribute_names
                    )
                finally:
                    _SCAN_INSTANT.now_ms = None
            left = deadline - time.monotonic()
            if got or left <= 0:
                return got
            # Wait for a new message (moto notifies), or a little while: a message whose
            # visibility ran out, or a FIFO group freed by a delete, is not announced. moto's own
            # wait_for_messages returns at once while any message is visible, though a held FIFO
            # group's are not receivable: the long poll then spun, rescanning the queue under the
            # lock, and held every other SQS request up.
            queue = self.get_queue(queue_name)
            with queue._messages_lock:  # moto's condition, notified on each send
                queue._messages_lock.wait(min(RECHECK_S, left))

    receive_message.scan_once = scan  # type: ignore[attr-defined]
    models.unix_time_millis = sqs_clock_ms  # type: ignore[attr-defined]
    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign]


def _retained(self: Any, queue_name: str, message: Any) -> bool:
    """moto's own check, for each message a receive returns, computes every attribute of the
    queue, three of them by walking all its messages: a receive from a queue of thousands took
    seconds, under the SQS lock, and held every SendMessage up. Only the retention period is needed."""
    period = int(self.get_queue(queue_name).message_retention_period)
    return bool(period + message.sent_timestamp / 1000 > time.time())


def lock_fifo_groups_only_while_in_flight() -> None:
    """Make a FIFO group wait only for its messages in flight, as SQS does.

    moto counts a received message whose visibility timeout ran out (or was set to end) as
    pending until its next receive reaches it, and releases it while it scans the queue: with two
    such messages in one group, the first is skipped (the second still holds the group), the
    second is released and returned, and the group's order is lost. SQS holds a group only while
    one of its messages is invisible.
    """
    from moto.sqs.models import Queue

    def in_flight_groups(self: Queue) -> set[str]:
        return {m.group_id for m in self.pending_messages if m.group_id is not None and not m.visible}

    Queue.pending_message_groups = property(in_flight_groups)  # type: ignore[method-assign,assignment]


def refuse_oversized_start_keys() -> None:
    """Make Query and Scan refuse an ExclusiveStartKey whose key values pass DynamoDB's limits (a
    partition key 2,048 bytes, a sort key 1,024), with the ValidationException DynamoDB gives for
    any key that does. moto checked the sizes of an item's keys only when it was written, and paged
    on from a start key of any size."""
    from moto.dynamodb.models import DynamoDBBackend

    if hasattr(DynamoDBBackend.query, "unchecked"):
        return

    def checked(operation: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(operation)

        def call(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
            given = signature.bind(self, *args, **kwargs).arguments
            if start_key := given.get("exclusive_start_key"):
                self.get_table(given["table_name"])._validate_key_sizes(start_key)
            return operation(self, *args, **kwargs)

        call.unchecked = operation  # type: ignore[attr-defined]
        return call

    DynamoDBBackend.query = checked(DynamoDBBackend.query)  # type: ignore[method-assign]
    DynamoDBBackend.scan = checked(DynamoDBBackend.scan)  # type: ignore[method-assign]


def keep_stream_records_out_of_transaction_backups() -> None:
    """Make TransactWriteItems back its tables up without their stream records. moto deep-copied
    each table a transaction names, its stream's records included, so every transaction took
    longer the more the table had ever been written to (3 s after some thousands of writes, and
    past a client's read timeout soon after), where DynamoDB's does not. The stream is shared by
    the backup instead, and a transaction that fails leaves no record in it, as on DynamoDB."""
    import copy

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if hasattr(DynamoDBBackend.transact_write_items, "unchecked"):
        return
    transact = DynamoDBBackend.transact_write_items

    def backed_up(self: Table, memo: dict[int, Any]) -> Table:
        if self.stream_shard is not None:
            memo[id(self.stream_shard)] = self.stream_shard  # shared, not copied
        clone = copy.copy(self)  # the same class, its attributes copied deeply below
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            setattr(clone, name, copy.deepcopy(value, memo))
        return clone

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        shards = [t.stream_shard for t in self.tables.values() if t.stream_shard is not None]
        written = [len(shard.items) for shard in shards]
        try:
            transact(self, transact_items)
        except Exception:
            for shard, length in zip(shards, written, strict=True):
                del shard.items[length:]
            raise

    transact_write_items.unchecked = transact  # type: ignore[attr-defined]
    Table.__deepcopy__ = backed_up  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


# SendMessage's allowed characters (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html).
_REFUSED_BY_SQS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ALLOWED_BY_SQS = "#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]"


def refuse_characters_sqs_refuses() -> None:
    """Make SendMessage (and each entry of SendMessageBatch) refuse a body or a String attribute
    value holding a character SQS refuses, with SQS's error: HTTP 400, InvalidMessageContents,
    "Invalid binary character '#xFFFF' was found in the message body, the set of allowed
    characters is ...". moto stored such a message, so code that would fail on SQS (and, in a
    stream's handler, stall the shard) passed here."""
    from moto.sqs.exceptions import SQSException
    from moto.sqs.models import SQSBackend

    if hasattr(SQSBackend.send_message, "unchecked"):
        return
    send = SQSBackend.send_message

    def refuse(text: str, where: str) -> None:
        found = _REFUSED_BY_SQS.search(text)
        if found is not None:
            raise SQSException(
                "InvalidMessageContents",
                f"Invalid binary character '#x{ord(found.group()):X}' was found in {where}, "
                f"the set of allowed characters is {_ALLOWED_BY_SQS}.",
            )

    def send_message(self: SQSBackend, queue_name: str, message_body: str, **kwargs: Any) -> Any:
        refuse(message_body, "the message body")
        for name, value in (kwargs.get("message_attributes") or {}).items():
            if str(value.get("DataType", "")).startswith("String"):
                refuse(str(value.get("StringValue", "")), f"the value of message attribute '{name}'")
        return send(self, queue_name, message_body, **kwargs)

    send_message.unchecked = send  # type: ignore[attr-defined]
    SQSBackend.send_message = send_message  # type: ignore[method-assign,assignment]


class MotoServer:
    """moto on a thread; a busy port is an error (moto's own ThreadedMotoServer hangs on one)."""

    def __init__(self, host: str, port: int) -> None:
        for name in ("werkzeug", "moto"):
            logging.getLogger(name).setLevel(logging.ERROR)
        self._host, self._port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        from devstack import iam_principals

        app = SerialBackends(DomainDispatcherApplication(create_backend_app))
        serialize_sqs_receives()
        enforce_item_size()
        lock_fifo_groups_only_while_in_flight()
        iam_principals.install()  # SQS's SenderId from the signing principal, as on AWS
        refuse_oversized_start_keys()
        refuse_characters_sqs_refuses()
        keep_stream_records_out_of_transaction_backups()
        try:
            self._server = make_server(
                self._host, self._port, app, threaded=True, request_handler=MotoRequestHandler
            )
        except (OSError, SystemExit) as exc:  # werkzeug exits the process on a busy port
            raise OSError(f"moto could not start on {self._host}:{self._port}: port in use") from exc
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        return f"http://{self._host}:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
