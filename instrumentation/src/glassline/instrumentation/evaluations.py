"""Evaluation results as OpenTelemetry ``gen_ai.evaluation.result`` span events, and the
prompt version as a span attribute (what evaluations are compared across).

``record_evaluation`` puts one on the current span (inside ``@llm`` that is the model call;
inside ``@stage`` or ``@workflow`` their span); the collector stores it linked to that span
and trace, redacts its explanation like any content, and rolls it up by stage, model and
prompt version.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from glassline.instrumentation import _safe
from glassline.semconv import attributes as attrs

__all__ = ["Prompt", "prompt_attributes", "record_evaluation"]

Prompt = tuple[str, str]  # (template name, version), e.g. ("support-answer", "v7")


def prompt_attributes(prompt: Prompt | None) -> dict[str, AttributeValue]:
    """The span attributes of ``prompt=`` on ``@llm`` / ``@stage`` (none for None).

    Raises ``TypeError`` at decoration time for anything but a (name, version) pair: a
    mistake in the decorator's arguments is the developer's to see, not a telemetry error.
    """
    if prompt is None:
        return {}
    if not (isinstance(prompt, tuple) and len(prompt) == 2):
        raise TypeError(f"prompt= takes (name, version), got {prompt!r}")
    return {attrs.PROMPT_NAME: str(prompt[0]), attrs.PROMPT_VERSION: str(prompt[1])}


def record_evaluation(
    name: str,
    value: float | None = None,
    *,
    label: str | None = None,
    explanation: str | None = None,
    response_id: str | None = None,
    span: Span | None = None,
) -> None:
    """Record an evaluation of the current span (or ``span``): a score ``value``, a ``label``
    (``"pass"``/``"fail"`` count toward the pass rate) or both, and why.

    ``response_id`` names the model response judged, when it is not the span's own. Never
    raises: a bad value is logged once and the evaluation skipped.
    """
    try:
        values: dict[str, AttributeValue] = {attrs.GEN_AI_EVALUATION_NAME: str(name)}
        if value is not None:
            values[attrs.GEN_AI_EVALUATION_SCORE_VALUE] = float(value)
        if label is not None:
            values[attrs.GEN_AI_EVALUATION_SCORE_LABEL] = str(label)
        if explanation is not None:
            values[attrs.GEN_AI_EVALUATION_EXPLANATION] = str(explanation)
        if response_id is not None:
            values[attrs.GEN_AI_RESPONSE_ID] = str(response_id)
        target = span if span is not None else trace.get_current_span()
        target.add_event(attrs.GEN_AI_EVALUATION_RESULT, values)
    except Exception as exc:
        _safe.report("record_evaluation", exc)
