"""The quick schema predicates never call an invalid value valid."""

from __future__ import annotations

from typing import Any

from flowyard.interpreter.program import validator
from flowyard.interpreter.schemaquick import quick_check
from hypothesis import given, settings
from hypothesis import strategies as st

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.one_of(st.floats(-5, 5), st.just(float("nan"))),
    st.sampled_from(["", "a", "ab", "abc", "x1"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3),
    ),
    max_leaves=6,
)
type_names = st.sampled_from(["null", "boolean", "integer", "number", "string", "object", "array"])


def _keyword(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(
            lambda t: {"type": t},
            st.one_of(type_names, st.lists(type_names, min_size=1, max_size=2, unique=True)),
        ),
        st.builds(lambda e: {"enum": e}, st.lists(scalars, min_size=1, max_size=3)),
        st.builds(lambda c: {"const": c}, scalars),
        st.builds(
            lambda r: {"required": r},
            st.lists(st.sampled_from(["a", "b"]), max_size=2, unique=True),
        ),
        st.builds(
            lambda k, n: {k: n},
            st.sampled_from(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]),
            st.integers(-3, 3),
        ),
        st.builds(
            lambda k, n: {k: n},
            st.sampled_from(["minLength", "maxLength", "minItems", "maxItems"]),
            st.integers(0, 3),
        ),
        st.builds(lambda p: {"pattern": p}, st.sampled_from(["^a", "b$", "[0-9]"])),
        st.builds(lambda p: {"properties": p}, st.dictionaries(st.sampled_from(["a", "b"]), inner)),
        st.builds(lambda x: {"additionalProperties": x}, st.one_of(st.booleans(), inner)),
        st.builds(lambda i: {"items": i}, inner),
        st.just({"format": "date-time"}),
        st.just({"title": "t", "description": "d"}),
    )


schemas = st.recursive(
    st.just({}),
    lambda inner: st.lists(_keyword(inner), max_size=3).map(
        lambda parts: {k: v for part in parts for k, v in part.items()}
    ),
    max_leaves=5,
)


@settings(max_examples=400, deadline=None)
@given(schemas, values)
def test_quick_valid_implies_valid(schema: dict[str, Any], value: Any) -> None:
    check = quick_check(schema)
    if check is not None and check(value):
        assert validator(schema).is_valid(value), (schema, value)


def test_common_schemas_have_a_quick_check() -> None:
    event = {
        "type": "object",
        "required": ["id", "n"],
        "properties": {"id": {"type": "string"}, "n": {"type": "integer", "minimum": 0}},
    }
    check = quick_check(event)
    assert check is not None
    assert check({"id": "a", "n": 1})
    assert not check({"id": "a"})
    assert not check({"id": "a", "n": -1})
    assert not check({"id": 1, "n": 1})
    assert not check([])


def test_keywords_outside_the_subset_have_none() -> None:
    assert quick_check({"type": "string", "format": "date-time"}) is None
    assert quick_check({"anyOf": [{"type": "string"}]}) is None
    assert quick_check({"properties": {"a": {"$ref": "#/x"}}}) is None


def test_integers_written_as_floats_go_to_the_full_validator() -> None:
    check = quick_check({"type": "integer"})
    assert check is not None
    assert not check(1.0)
    assert not check(True)
    assert validator({"type": "integer"}).is_valid(1.0)
