"""Test helpers for applications instrumented with Glassline (public API).

::

    from glassline.instrumentation.testing import capture_spans

    def test_answer_records_cost():
        with capture_spans() as spans:
            answer("hi")
        [call] = spans.of_kind("llm")
        assert call.attributes["glassline.cost.usd"] > 0
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import overload

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from glassline.instrumentation._processors import switchboard
from glassline.semconv import attributes as attrs

__all__ = ["SpanCapture", "capture_spans"]


class SpanCapture(Sequence[ReadableSpan]):
    """A live, read-only view of the spans finished since the capture began, in end order."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._exporter = exporter

    def _spans(self) -> tuple[ReadableSpan, ...]:
        return self._exporter.get_finished_spans()

    @overload
    def __getitem__(self, index: int) -> ReadableSpan: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[ReadableSpan]: ...
    def __getitem__(self, index: int | slice) -> ReadableSpan | Sequence[ReadableSpan]:
        return self._spans()[index]

    def __len__(self) -> int:
        return len(self._spans())

    def named(self, name: str) -> list[ReadableSpan]:
        """The spans with this name."""
        return [s for s in self._spans() if s.name == name]

    def of_kind(self, kind: str) -> list[ReadableSpan]:
        """The spans whose ``glassline.span.kind`` is ``kind`` (``"llm"``, ``"stage"``, ...)."""
        return [s for s in self._spans() if (s.attributes or {}).get(attrs.SPAN_KIND) == kind]

    def one(self, name: str) -> ReadableSpan:
        """The only span with this name (AssertionError otherwise)."""
        found = self.named(name)
        assert len(found) == 1, f"expected one span {name!r}, got {len(found)}: {self.names()}"
        return found[0]

    def names(self) -> list[str]:
        """The names of all spans, in end order."""
        return [s.name for s in self._spans()]

    def clear(self) -> None:
        """Forget the spans captured so far."""
        self._exporter.clear()


@contextmanager
def capture_spans() -> Iterator[SpanCapture]:
    """Capture the spans finished inside the block, in memory.

    Uses the global SDK TracerProvider, installing a plain one if the application has none,
    so it works with or without :func:`glassline.instrumentation.init`.
    """
    board = switchboard()
    if board is None:
        trace.set_tracer_provider(TracerProvider())
        board = switchboard()
    if board is None:
        raise RuntimeError("the global TracerProvider is not an OpenTelemetry SDK provider")
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    board.add(processor)
    try:
        yield SpanCapture(exporter)
    finally:
        board.remove(processor)
