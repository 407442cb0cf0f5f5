"""DynamoDB attribute values to and from Python, as boto3.dynamodb.types does it.

Our own, because importing anything from boto3 imports s3transfer too (~0.1 s of every cold
start) for two small functions. Numbers come back as Decimal and floats are refused, as boto3
does; sets are typed by their members.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Context, Decimal, Inexact, Rounded
from typing import Any

# DynamoDB's number: up to 38 significant digits; anything that would round is an error.
_NUMBER = Context(Emin=-128, Emax=126, prec=38, traps=[Inexact, Rounded])


def _number(value: int | Decimal) -> str:
    return str(_NUMBER.create_decimal(value))


def serialize(value: Any) -> dict[str, Any]:  # noqa: PLR0911 - one branch per DynamoDB type
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Set):
        return _serialize_set(value)
    if isinstance(value, Mapping):
        return {"M": {str(k): serialize(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [serialize(v) for v in value]}
    raise TypeError(f"Unsupported type {type(value).__name__} for a DynamoDB value")


def _serialize_set(values: Set[Any]) -> dict[str, Any]:
    if values and all(isinstance(v, str) for v in values):
        return {"SS": list(values)}
    if values and all(isinstance(v, int | Decimal) and not isinstance(v, bool) for v in values):
        return {"NS": [_number(v) for v in values]}
    if values and all(isinstance(v, bytes | bytearray) for v in values):
        return {"BS": [bytes(v) for v in values]}
    raise TypeError("A DynamoDB set holds non-empty strings, numbers or binaries of one kind")


def deserialize(value: Mapping[str, Any]) -> Any:  # noqa: PLR0911 - one branch per DynamoDB type
    ((kind, raw),) = value.items()
    if kind in ("S", "BOOL", "B"):
        return raw
    if kind == "NULL":
        return None
    if kind == "N":
        return _NUMBER.create_decimal(raw)
    if kind == "M":
        return {k: deserialize(v) for k, v in raw.items()}
    if kind == "L":
        return [deserialize(v) for v in raw]
    if kind == "SS":
        return set(raw)
    if kind == "NS":
        return {_NUMBER.create_decimal(v) for v in raw}
    if kind == "BS":
        return set(raw)
    raise TypeError(f"Unknown DynamoDB type {kind}")
