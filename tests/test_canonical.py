"""The fast canonical path must agree with the exact RFC 8785 implementation, or step aside."""

from __future__ import annotations

import math

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from consortium.crypto.canonical import canonical_bytes, is_canonical, parse

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-(2.0**52), max_value=2.0**52)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@given(json_values)
def test_fast_path_matches_rfc8785(value) -> None:
    exact = rfc8785.dumps(value)
    assert canonical_bytes(value) == exact
    assert is_canonical(exact, parse(exact))


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [True, None, 'x\u0001\n"\\']},
        {"\u20ac": 1, "\U0001f600": 2, "\ufb33": 3},  # JCS sorts by UTF-16 code units
        {"n": 1e21, "m": 0.1, "k": -0.0},
        {"big": 2**53 - 1},
        ("tuple", 1.5),
    ],
)
def test_awkward_values(value) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


def test_values_jcs_refuses_are_refused() -> None:
    for value in ({"nan": math.nan}, {"big": 2**60}, {1: "non-string key"}):
        with pytest.raises((rfc8785.CanonicalizationError, TypeError, ValueError)):
            canonical_bytes(value)


def test_non_canonical_bytes_are_detected() -> None:
    assert not is_canonical(b'{"b":1,"a":2}', {"b": 1, "a": 2})
    assert not is_canonical(b'{"a": 2}', {"a": 2})
    assert not is_canonical(b'{"a":"\\u00e9"}', {"a": "\u00e9"})
    assert not is_canonical(b'{"a":1.50}', {"a": 1.5})
