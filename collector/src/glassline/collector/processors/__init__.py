"""Pipeline steps: each takes a batch of spans and returns a batch (see :class:`Processor`)."""

from __future__ import annotations

from glassline.collector.processors.base import Processor
from glassline.collector.processors.limits import FitColumnsProcessor, LimitsProcessor

__all__ = ["FitColumnsProcessor", "LimitsProcessor", "Processor"]
