"""Hypothesis strategies the fuzz tests share."""

from typing import Any

from hypothesis import strategies as st


def json_values(max_leaves: int = 12, max_items: int = 4) -> st.SearchStrategy[Any]:
    """Any JSON value, nested: what a hostile body, token or upstream answer may hold."""
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=max_items)
            | st.dictionaries(st.text(max_size=12), inner, max_size=max_items)
        ),
        max_leaves=max_leaves,
    )
