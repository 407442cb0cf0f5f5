"""Text as SQS takes it.

SQS refuses a message whose body or string attribute holds a character outside #x9 | #xA | #xD |
#x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF (InvalidMessageContents): U+FFFE, U+FFFF, lone
surrogates, most control characters. A caller's text (a clientReference, a key of a refused body,
Sinch's error text in a reason) may hold any of them, and a refused SendMessage fails whatever
was handling it, over and over. So every string the gateway puts on a queue passes through here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

# What SQS refuses (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html).
_REFUSED = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MAX_ATTRIBUTE_CHARS = 1000  # a reason is for a person to read; the body keeps the rest


def sqs_text(text: str) -> str:
    """`text` with each character SQS refuses written as its JSON escape ("\\uffff"): inside a JSON
    string the same text, elsewhere still readable. Text SQS takes comes back unchanged."""
    return _REFUSED.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def string_attributes(**values: str | None) -> dict[str, MessageAttributeValueTypeDef]:
    """SQS message attributes of type String, each as SQS takes it; None values left out."""
    return {
        name: {"DataType": "String", "StringValue": sqs_text(value)[:MAX_ATTRIBUTE_CHARS]}
        for name, value in values.items()
        if value
    }
