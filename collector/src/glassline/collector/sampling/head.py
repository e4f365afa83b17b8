"""Head sampling: the OpenTelemetry TraceIdRatioBased rule, applied in the collector.

The SDK keeps a trace when the low 64 bits of its trace id are below
``round(rate * 2**64)``; the collector applies the very same bound, so an SDK configured with
``sample_rate=r`` and a collector with ``head_rate=r`` agree on every trace id, and lowering
either rate only ever drops traces the other would also drop.
"""

from __future__ import annotations

__all__ = ["HeadSampler", "bound_for_rate", "low64"]

_TRACE_ID_LIMIT = (1 << 64) - 1


def bound_for_rate(rate: float) -> int:
    """Same computation as ``TraceIdRatioBased.get_bound_for_rate``."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate!r}")
    return round(rate * (_TRACE_ID_LIMIT + 1))


def low64(trace_id: str) -> int:
    """The low-order 64 bits of a hex trace id (the bits the OTel ratio sampler reads)."""
    return int(trace_id[-16:], 16)


class HeadSampler:
    """Decides from the trace id alone whether a trace is retained at all."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._bound = bound_for_rate(rate)

    @property
    def keeps_everything(self) -> bool:
        return self._bound > _TRACE_ID_LIMIT

    def keep(self, trace_id: str) -> bool:
        return low64(trace_id) < self._bound
