"""DynamoDB's 400 KB item limit in moto, with items measured as DynamoDB measures them.

moto has its own size check, and it differs from DynamoDB's both ways: it adds no overhead for the
elements of a list or map (a list of 250,000 one-character strings, 500 KB to DynamoDB, is
accepted), it looks only at a top-level attribute being set (`SET events[0].detail = :big` is
accepted at any size), and it counts the attribute an update replaces twice (a `list_append` is
refused when the item is only about half the limit). Here every put and every update is measured
once it is applied, by DynamoDB's documented rules, and one over the limit is refused with
DynamoDB's own ValidationException, leaving the item as it was.

https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
"""

from __future__ import annotations

import base64
import copy
import math
from collections.abc import Mapping
from typing import Any

# "The maximum item size in DynamoDB is 400 KB" (attribute names and values together).
MAX_ITEM_BYTES = 400 * 1024


def _number_size(text: str) -> int:
    """1 byte per two significant digits, plus 1 (leading and trailing zeroes are trimmed)."""
    digits = text.lstrip("+-").lower().split("e")[0].replace(".", "").strip("0")
    return math.ceil(len(digits) / 2) + 1


def _binary_size(value: str | bytes) -> int:
    # Sent (and kept by moto's server) base64-encoded; the raw bytes are what count.
    return len(value) if isinstance(value, bytes) else len(base64.b64decode(value))


def value_size(value: Mapping[str, Any]) -> int:  # noqa: PLR0911 - one branch per DynamoDB type
    """The size of one attribute value in DynamoDB's JSON form ({"S": "..."}, {"L": [...]}...)."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(str(raw).encode("utf-8", "surrogatepass"))
    if kind == "N":
        return _number_size(str(raw))
    if kind == "B":
        return _binary_size(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode("utf-8", "surrogatepass")) for s in raw)
    if kind == "NS":
        return sum(_number_size(str(n)) for n in raw)
    if kind == "BS":
        return sum(_binary_size(b) for b in raw)
    # A list or map: 3 bytes, and 1 byte for each element besides the element itself.
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in raw.items())
    raise ValueError(f"not a DynamoDB attribute value type: {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size in bytes as DynamoDB counts it: each attribute's name and value."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def enforce_item_size() -> None:
    """Make moto's DynamoDB refuse an item over MAX_ITEM_BYTES as DynamoDB does, and only then.

    PutItem: "Item size has exceeded the maximum allowed size"; UpdateItem: "Item size to update
    has exceeded the maximum allowed size" (moto turns the first into the second for an update).
    """
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor

    if hasattr(Table.put_item, "sized"):
        return
    # moto's own check goes: it would refuse items DynamoDB takes.
    LimitedSizeDict.__setitem__ = dict.__setitem__  # type: ignore[method-assign]
    put_item, execute = Table.put_item, UpdateExpressionExecutor.execute

    def sized_put_item(self: Table, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
        if item_size(item_attrs) > MAX_ITEM_BYTES:
            raise ItemSizeTooLarge
        return put_item(self, item_attrs, *args, **kwargs)

    def sized_execute(self: UpdateExpressionExecutor, node: Any = None) -> None:
        if node is not None:  # a part of the expression: the whole is measured once, at the top
            execute(self, node)
            return
        before = copy.deepcopy(self.item.attrs)
        execute(self)
        if item_size(self.item.to_json()["Attributes"]) > MAX_ITEM_BYTES:
            self.item.attrs = before  # an update DynamoDB refuses changes nothing
            raise ItemSizeTooLarge

    sized_put_item.sized = True  # type: ignore[attr-defined]
    Table.put_item = sized_put_item  # type: ignore[method-assign]
    UpdateExpressionExecutor.execute = sized_execute  # type: ignore[method-assign]
