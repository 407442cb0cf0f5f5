"""devstack.poller: Lambda's SQS event shape and its reading of batchItemFailures."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.poller import failed_message_ids, sqs_event

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:q"

# As boto3's receive_message returns a message (AttributeNames/MessageAttributeNames All).
RECEIVED: Any = {
    "MessageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
    "ReceiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
    "MD5OfBody": "098f6bcd4621d373cade4e832627b4f6",
    "Body": "test",
    "Attributes": {
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "SentTimestamp": "1545082649183",
        "ApproximateReceiveCount": "1",
        "ApproximateFirstReceiveTimestamp": "1545082649185",
        "AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793",
    },
    "MD5OfMessageAttributes": "fa20e2def088daf7b14bc51e836c5547",
    "MessageAttributes": {
        "kind": {"StringValue": "retry", "DataType": "String"},
        "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
    },
}

# What Lambda hands the function for it.
EXPECTED_RECORD = {
    "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
    "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
    "body": "test",
    "attributes": {
        "ApproximateReceiveCount": "1",
        "AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793",
        "SentTimestamp": "1545082649183",
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": "1545082649185",
    },
    "messageAttributes": {
        "kind": {
            "stringValue": "retry",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    },
    "md5OfBody": "098f6bcd4621d373cade4e832627b4f6",
    "md5OfMessageAttributes": "fa20e2def088daf7b14bc51e836c5547",
    "eventSource": "aws:sqs",
    "eventSourceARN": QUEUE_ARN,
    "awsRegion": "us-east-1",
}


def test_sqs_event_shape() -> None:
    event = sqs_event([RECEIVED], QUEUE_ARN, "us-east-1")
    assert event == {"Records": [EXPECTED_RECORD]}


def test_fifo_attributes_and_no_message_attributes() -> None:
    message = {
        **RECEIVED,
        "Attributes": {
            **RECEIVED["Attributes"],
            "MessageGroupId": "g",
            "MessageDeduplicationId": "d",
            "SequenceNumber": "1",
        },
    }
    del message["MessageAttributes"], message["MD5OfMessageAttributes"]
    (record,) = sqs_event([message], QUEUE_ARN, "us-east-1")["Records"]  # type: ignore[list-item]
    assert record["attributes"]["MessageGroupId"] == "g"
    assert record["attributes"]["MessageDeduplicationId"] == "d"
    assert record["attributes"]["SequenceNumber"] == "1"
    assert record["messageAttributes"] == {}
    assert "md5OfMessageAttributes" not in record


IDS = ["a", "b", "c"]


@pytest.mark.parametrize(
    ("payload", "kept"),
    [
        (None, set()),  # a null response: all succeeded
        ({}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "c"}]}, {"a", "c"}),
        # Lambda fails the whole batch for these:
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, set(IDS)),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, set(IDS)),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, set(IDS)),
        ({"batchItemFailures": [{"itemIdentifer": "b"}]}, set(IDS)),
        ({"batchItemFailures": "b"}, set(IDS)),
        ("not an object", set(IDS)),
    ],
)
def test_batch_item_failures(payload: Any, kept: set[str]) -> None:
    assert failed_message_ids(payload, IDS) == kept
