"""data.queue_text: whatever the gateway puts on a queue is text SQS takes."""

import json

from sinch_gateway.data.queue_text import MAX_ATTRIBUTE_CHARS, sqs_text, string_attributes
from tests.unit.test_status_callbacks import sqs_takes


def test_text_sqs_takes_is_left_as_it_is() -> None:
    text = 'tab\tline\ncr\r {"k": "caf\u00e9 \u4e2d \U0001f600 \ufffd \ue000"}'
    assert sqs_text(text) == text


def test_each_refused_character_is_written_as_its_json_escape() -> None:
    text = "a\uffffb\ufffe\ud800\x00\x0b\x1f\udc00"
    escaped = sqs_text(text)
    assert sqs_takes(escaped)
    assert escaped == "a\\uffffb\\ufffe\\ud800\\u0000\\u000b\\u001f\\udc00"
    # Inside a JSON string, the escape stands for the very character.
    assert json.loads(f'"{escaped}"') == text


def test_string_attributes_are_escaped_cut_and_left_out_when_empty() -> None:
    attributes = string_attributes(reason="x\uffff" * 2000, messageId=None, other="")
    assert set(attributes) == {"reason"}
    value = attributes["reason"]["StringValue"]
    assert attributes["reason"]["DataType"] == "String"
    assert sqs_takes(value) and len(value) == MAX_ATTRIBUTE_CHARS
