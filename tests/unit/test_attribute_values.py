"""Our DynamoDB value conversion gives what boto3's TypeSerializer/TypeDeserializer give."""

from decimal import Decimal, DecimalException
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from sinch_gateway.data.attribute_values import deserialize, serialize

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**37), max_value=10**37)
    | st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**20), max_value=10**20)
    | st.text(max_size=20)
    | st.binary(min_size=1, max_size=10)
)
values = st.recursive(
    scalars
    | st.frozensets(st.text(min_size=1, max_size=5), min_size=1, max_size=4).map(set)
    | st.frozensets(st.integers(-1000, 1000), min_size=1, max_size=4).map(set),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


def sets_sorted(value: Any) -> Any:
    """Set members travel as a list whose order is the set's: compare them as sets."""
    if isinstance(value, dict):
        return {
            k: (sorted(v, key=repr) if k in ("SS", "NS", "BS") else sets_sorted(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [sets_sorted(v) for v in value]
    return value


@given(values)
def test_serialize_and_deserialize_agree_with_boto3(value: Any) -> None:
    ours, boto3s = serialize(value), TypeSerializer().serialize(value)
    assert sets_sorted(ours) == sets_sorted(boto3s)
    assert deserialize(ours) == TypeDeserializer().deserialize(boto3s)


@pytest.mark.parametrize(
    "value",
    [1.5, Decimal("1.00000000000000000000000000000000000000001"), {1, "a"}, object()],
    ids=["float", "rounded", "mixed set", "object"],
)
def test_what_dynamodb_cannot_hold_is_refused_as_boto3_refuses_it(value: Any) -> None:
    with pytest.raises((TypeError, DecimalException)) as ours:
        serialize(value)
    with pytest.raises((TypeError, DecimalException)) as theirs:
        TypeSerializer().serialize(value)
    assert type(ours.value) is type(theirs.value)


def test_an_empty_set_is_refused_before_dynamodb_refuses_it() -> None:
    with pytest.raises(TypeError, match="non-empty"):
        serialize(set())
