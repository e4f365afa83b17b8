"""_anyvalue.py: OTLP attribute values as plain Python values."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from glassline.collector import _anyvalue

_SCALAR = st.one_of(
    st.text(max_size=8).map(lambda s: AnyValue(string_value=s)),
    st.integers(-(2**63), 2**63 - 1).map(lambda i: AnyValue(int_value=i)),
    st.floats(allow_nan=False).map(lambda f: AnyValue(double_value=f)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.binary(max_size=4).map(lambda b: AnyValue(bytes_value=b)),
    st.just(AnyValue()),  # unset
)


def _array(values: list[AnyValue]) -> AnyValue:
    v = AnyValue()
    v.array_value.values.extend(values)
    return v


def _kvlist(values: list[AnyValue]) -> AnyValue:
    v = AnyValue()
    for i, x in enumerate(values):
        v.kvlist_value.values.add(key=f"k{i}").value.CopyFrom(x)
    return v


_VALUES = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=3).flatmap(
        lambda xs: st.sampled_from([_array(xs), _kvlist(xs)])
    ),
    max_leaves=12,
)


def _kv(key: str, value: AnyValue) -> KeyValue:
    kv = KeyValue(key=key)
    kv.value.CopyFrom(value)
    return kv


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=4), _VALUES), max_size=8))
def test_attributes_read_each_value_as_value_does(pairs: list[tuple[str, AnyValue]]) -> None:
    # attributes() reads a non-empty string_value first, value() asks the oneof: equal always
    expected: dict[str, Any] = {}
    for key, value in pairs:
        if key:
            expected[key] = _anyvalue.value(value)
    assert _anyvalue.attributes([_kv(k, v) for k, v in pairs]) == expected


def test_empty_and_zero_values_keep_their_kind() -> None:
    kvs = [
        _kv("s", AnyValue(string_value="")),
        _kv("i", AnyValue(int_value=0)),
        _kv("b", AnyValue(bool_value=False)),
        _kv("d", AnyValue(double_value=0.0)),
        _kv("none", AnyValue()),
    ]
    got = _anyvalue.attributes(kvs)
    assert got == {"s": "", "i": 0, "b": False, "d": 0.0, "none": None}
    assert [type(v) for v in got.values()] == [str, int, bool, float, type(None)]
