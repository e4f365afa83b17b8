"""What one evaluation pass (or one refill of the notifier queues between passes) did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from glassline.collector.alerts.state import Notice, Transition

__all__ = ["EvaluationReport"]


@dataclass(slots=True)
class EvaluationReport:
    """What one evaluation pass did."""

    evaluated_at: datetime
    rules: int = 0
    observations: int = 0
    transitions: list[Transition] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    enqueued: int = 0  # messages queued (alerts decided now or owed from earlier passes)
    dropped: int = 0  # digests a full queue refused (a pass claims only what fits)
    # Per notifier, alerts owed that no queue holds yet, and the oldest one's due time.
    waiting: dict[str, tuple[int, int]] = field(default_factory=dict)
    digests: list[str] = field(default_factory=list)  # tenants whose digest was sent
    errors: list[str] = field(default_factory=list)  # "rule: ErrorClass: message"
    claimed_by_other: bool = False  # the interval was already evaluated by another replica
