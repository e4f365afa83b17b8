"""processors/limits.py: long values truncated with a marker, excess attributes dropped."""

from __future__ import annotations

from glassline.collector.config import LimitsConfig
from glassline.collector.processors.limits import LimitsProcessor
from glassline.collector.records import SpanEvent, SpanRecord
from glassline.semconv import attributes as attrs


def span(**attributes: object) -> SpanRecord:
    return SpanRecord("acme", "a" * 32, "b" * 16, "s", 1, 2, attributes=dict(attributes))


def test_long_attribute_is_truncated_with_marker_and_original_length() -> None:
    processor = LimitsProcessor(LimitsConfig(max_attribute_length=20, truncation_marker="[cut]"))
    (out,) = processor.process([span(prompt="x" * 100, short="ok")])
    assert out.attributes["prompt"] == "x" * 15 + "[cut]"
    assert len(out.attributes["prompt"]) == 20
    assert out.attributes[attrs.TRUNCATED_PREFIX + "prompt"] == 100
    assert out.attributes["short"] == "ok"
    assert processor.truncated_values == 1


def test_strings_inside_lists_events_and_resource_are_bounded() -> None:
    processor = LimitsProcessor(LimitsConfig(max_attribute_length=16))
    record = span(tags=["y" * 50, "fine"])
    record.events.append(SpanEvent("e", 1, {"msg": "z" * 50}))
    record.resource["host"] = "h" * 50
    (out,) = processor.process([record])
    assert all(len(v) <= 16 for v in out.attributes["tags"])
    assert out.attributes["tags"][1] == "fine"
    assert len(out.events[0].attributes["msg"]) == 16
    assert len(out.resource["host"]) == 16


def test_attributes_beyond_the_limit_are_dropped_keeping_the_first() -> None:
    processor = LimitsProcessor(LimitsConfig(max_attributes_per_span=3))
    (out,) = processor.process([span(**{f"k{i}": i for i in range(10)})])
    assert list(out.attributes) == ["k0", "k1", "k2"]
    assert processor.dropped_attributes == 7


def test_events_beyond_the_limit_are_dropped() -> None:
    processor = LimitsProcessor(LimitsConfig(max_events_per_span=2))
    record = span()
    record.events.extend(SpanEvent(f"e{i}", i) for i in range(5))
    (out,) = processor.process([record])
    assert [e.name for e in out.events] == ["e0", "e1"]
    assert processor.dropped_events == 3


def test_spans_within_limits_are_untouched() -> None:
    record = span(a="short", b=1)
    assert LimitsProcessor(LimitsConfig()).process([record])[0].attributes == {"a": "short", "b": 1}


def test_typed_fields_are_cut_to_their_column_length_so_postgres_accepts_them() -> None:
    from glassline.collector.processors.limits import FitColumnsProcessor

    record = span()
    record.user_id, record.model, record.name = "u" * 300, "gpt-4o", "n" * 600
    (out,) = FitColumnsProcessor().process([record])
    assert (len(out.user_id or ""), out.model, len(out.name)) == (256, "gpt-4o", 512)


def test_values_the_stores_refuse_are_replaced_everywhere_and_counted() -> None:
    processor = LimitsProcessor(LimitsConfig())
    record = span(nan=float("nan"), inf=float("inf"), ninf=float("-inf"), nul="a\x00b",
                  lone="x\ud800y", nested={"k\x00": [float("nan"), "ok"]}, fine=1.5)  # fmt: skip
    record.name = "step\x00"
    record.status_message = "bad\udfff"
    record.events.append(SpanEvent("ev\x00", 1, {"v": float("inf")}))
    record.resource["host\x00"] = "h"
    (out,) = processor.process([record])
    assert out.attributes["nan"] == "NaN"
    assert out.attributes["inf"] == "Infinity" and out.attributes["ninf"] == "-Infinity"
    assert out.attributes["nul"] == "a\ufffdb"
    assert out.attributes["lone"] == "x\ufffdy"
    assert out.attributes["nested"] == {"k\ufffd": ["NaN", "ok"]}
    assert out.attributes["fine"] == 1.5
    assert (out.name, out.status_message) == ("step\ufffd", "bad\ufffd")
    assert (out.events[0].name, out.events[0].attributes) == ("ev\ufffd", {"v": "Infinity"})
    assert out.resource == {"host\ufffd": "h"}
    assert processor.replaced_values == 11  # the nested value counts once


def test_a_surrogate_pair_split_in_two_code_points_is_joined_not_replaced() -> None:
    (out,) = LimitsProcessor(LimitsConfig()).process([span(emoji="\ud83d\ude00")])
    assert out.attributes["emoji"] == "😀"


def test_safe_values_are_the_same_objects_so_the_common_path_copies_nothing() -> None:
    nested = {"a": ["é", 1.0, {"b": "ü"}]}
    (out,) = LimitsProcessor(LimitsConfig()).process([span(nested=nested)])
    assert out.attributes["nested"] is nested


def test_a_resource_shared_by_spans_is_fixed_once() -> None:
    processor = LimitsProcessor(LimitsConfig(max_attribute_length=16))
    resource = {"host\x00": "h" * 50}
    first, second = span(), span()
    first.resource = second.resource = resource  # as decode shares one resource's dict
    processor.process([first, second])
    assert first.resource is second.resource is resource
    assert list(resource) == ["host\ufffd"] and len(resource["host\ufffd"]) == 16
    assert (processor.replaced_values, processor.truncated_values) == (1, 1)
