"""The one interface every pipeline step implements."""

from __future__ import annotations

from typing import Protocol

from glassline.collector.records import SpanRecord


class Processor(Protocol):
    """Takes a batch and returns a batch. No I/O, no knowledge of its neighbours.

    Returning fewer spans is how a processor drops; the pipeline does chaining, timing,
    counting and error handling.
    """

    name: str

    def process(self, batch: list[SpanRecord]) -> list[SpanRecord]: ...
