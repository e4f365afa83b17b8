"""Evaluations as data: the intake for log records and feedback, and the query API."""

from __future__ import annotations

from glassline.collector.evaluations.api import routes
from glassline.collector.evaluations.intake import EvaluationIntake, evaluation_from_log

__all__ = ["EvaluationIntake", "evaluation_from_log", "routes"]
