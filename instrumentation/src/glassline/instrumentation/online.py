"""Online evaluation: the app's evaluators run on a sample of production calls, off the hot path.

``@evaluate(evaluators=[...], sample_rate=0.1)`` on a sync or async function hands a sampled
call's arguments and result to a background worker thread through a bounded queue; the call
returns at once, whatever the evaluators do. A full queue drops the call's evaluation (and
counts it in ``dropped``); an evaluator that raises is logged once and skipped. Each result
becomes a short ``evaluate {name}`` span, a child of the span that was current at the call
(under ``@llm`` that is the model call), carrying a ``gen_ai.evaluation.result`` event and the
call's propagated attributes (stage, user, prompt version), so the collector stores it with
the trace and rolls it up by stage and prompt version.

An evaluator takes the :class:`Call` and returns a score (``float``), a verdict (``bool``:
``pass``/``fail``), a :class:`Score`, or ``None`` to abstain. An LLM-as-judge is an evaluator
that calls a model; it runs in the worker, never in the request.
"""

from __future__ import annotations

import functools
import inspect
import queue
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext
from opentelemetry.util.types import AttributeValue

from glassline.instrumentation import _context, _safe
from glassline.instrumentation._lifecycle import _tracer
from glassline.instrumentation.evaluations import record_evaluation
from glassline.semconv import attributes as attrs
from glassline.semconv.attributes import SpanKinds

__all__ = ["Call", "Evaluate", "Evaluator", "Score", "as_score", "evaluate"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Call:
    """One call: what the evaluated function got and returned (and, in a golden set, what it
    should have returned)."""

    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    output: Any
    expected: Any = None


@dataclass(frozen=True, slots=True)
class Score:
    """A full evaluation result; ``name`` defaults to the evaluator's name."""

    value: float | None = None
    label: str | None = None
    explanation: str | None = None
    name: str | None = None


Evaluator = Callable[[Call], "float | bool | Score | None"]


@dataclass(slots=True)
class _Job:
    call: Call
    parent: SpanContext
    propagated: Mapping[str, AttributeValue]


@dataclass(slots=True)
class Evaluate:
    """The decorator ``evaluate()`` returns, with its worker's counters and ``wait()``."""

    evaluators: Sequence[Evaluator]
    sample_rate: float
    max_queue: int
    submitted: int = 0
    dropped: int = 0  # sampled calls not evaluated: the queue was full
    evaluated: int = 0  # evaluator runs that produced a result
    failed: int = 0  # evaluator runs that raised
    _queue: queue.Queue[_Job] = field(init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._queue = queue.Queue(self.max_queue)

    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                output = await fn(*args, **kwargs)
                self._submit(args, kwargs, output)
                return output

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            output = fn(*args, **kwargs)
            self._submit(args, kwargs, output)
            return output

        return run  # type: ignore[return-value]

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every queued call was evaluated (tests, shutdown); False on timeout."""
        done = threading.Event()

        def drained() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=drained, daemon=True).start()
        return done.wait(timeout)

    def _submit(self, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        try:  # the app's result is already in hand: nothing here may reach it
            if self.sample_rate < 1.0 and random.random() >= self.sample_rate:
                return
            parent = trace.get_current_span().get_span_context()
            job = _Job(Call(args, dict(kwargs), output), parent, _context.current_attributes())
            self._start()
            self._queue.put_nowait(job)
            with self._lock:
                self.submitted += 1
        except queue.Full:
            with self._lock:
                self.dropped += 1
        except Exception as exc:
            _safe.report("evaluate.submit", exc)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="glassline-evaluate", daemon=True
                )
                self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                for evaluator in self.evaluators:
                    self._run(evaluator, job)
            finally:
                self._queue.task_done()

    def _run(self, evaluator: Evaluator, job: _Job) -> None:
        try:
            result = evaluator(job.call)
        except Exception as exc:
            self.failed += 1
            _safe.report(f"evaluator {getattr(evaluator, '__name__', evaluator)!s}", exc)
            return
        score = as_score(result)
        if score is None:
            return
        name = str(score.name or getattr(evaluator, "__name__", type(evaluator).__name__))
        try:
            _emit(name, score, job)
            self.evaluated += 1
        except Exception as exc:
            _safe.report("evaluate.emit", exc)


def as_score(result: object) -> Score | None:
    """An evaluator's result as a :class:`Score` (``None``: it abstained)."""
    if result is None or isinstance(result, Score):
        return result
    if isinstance(result, bool):
        return Score(value=float(result), label="pass" if result else "fail")
    return Score(value=float(result))  # type: ignore[arg-type]


def _emit(name: str, score: Score, job: _Job) -> None:
    parent = trace.set_span_in_context(NonRecordingSpan(job.parent))
    attributes = {**job.propagated, attrs.SPAN_KIND: SpanKinds.OTHER}
    span = _tracer().start_span(f"evaluate {name}", context=parent, attributes=attributes)
    try:
        record_evaluation(
            name, score.value, label=score.label, explanation=score.explanation, span=span
        )
    finally:
        span.end()


def evaluate(
    evaluators: Sequence[Evaluator], *, sample_rate: float = 1.0, max_queue: int = 1000
) -> Evaluate:
    """Run ``evaluators`` on ``sample_rate`` of the decorated function's calls, in the
    background (at most ``max_queue`` calls waiting; more are dropped and counted)."""
    if not 0.0 <= sample_rate <= 1.0:
        raise ValueError(f"sample_rate must be between 0 and 1, got {sample_rate}")
    if max_queue < 1:
        raise ValueError(f"max_queue must be at least 1, got {max_queue}")
    return Evaluate(list(evaluators), sample_rate, max_queue)
