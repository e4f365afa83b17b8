"""What must be stored for one peer run: each check returns ``(passed, detail)``.

The rows are the stored spans of the run's tenant (dicts of the ``spans`` columns) and its
per-minute rollups. Expected figures come from the fake provider's fixed usage and from
genai-prices directly (not through Glassline's pricing code).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from genai_prices import Usage, calc_price

from .runs import OPENAI_TEXT, Run

Row = dict[str, Any]
Check = Callable[[Run, list[Row], list[Row]], tuple[bool, str]]

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-20241022"}


def llm_spans(spans: list[Row]) -> list[Row]:
    return [s for s in spans if s["kind"] == "llm"]


def expected_cost(run: Run) -> float:
    u = run.usage
    price = calc_price(
        Usage(
            input_tokens=u["input"],
            cache_read_tokens=u["cache_read"],
            cache_write_tokens=u["cache_creation"],
            output_tokens=u["output"],
        ),
        MODELS[run.provider],
        provider_id=run.provider,
    )
    return float(price.total_price)


def _all(spans: list[Row], field: str, want: object) -> tuple[bool, str]:
    got = [s[field] for s in spans]
    return bool(spans) and all(g == want for g in got), f"{field}={got}, want {want}"


def calls(run: Run, spans: list[Row], _: list[Row]) -> tuple[bool, str]:
    llm = llm_spans(spans)
    if len(llm) == run.calls:
        return True, f"{len(llm)} LLM spans"
    return False, f"{len(llm)} LLM spans ({[s['name'] for s in llm]}), want {run.calls}"


def model(run: Run, spans: list[Row], _: list[Row]) -> tuple[bool, str]:
    got = [s["model"] or "" for s in llm_spans(spans)]
    ok = bool(got) and all(g.startswith(MODELS[run.provider]) for g in got)
    return ok, f"models {got}"


def tokens(run: Run, spans: list[Row], _: list[Row]) -> tuple[bool, str]:
    llm = llm_spans(spans)
    got = [(s["input_tokens"], s["output_tokens"]) for s in llm]
    want = (run.usage["input"], run.usage["output"])
    return bool(llm) and all(g == want for g in got), f"(input, output) {got}, want {want}"


def cached_tokens(run: Run, spans: list[Row], _: list[Row]) -> tuple[bool, str]:
    llm = llm_spans(spans)
    got = [(s["cache_read_tokens"], s["cache_creation_tokens"]) for s in llm]
    want = (run.usage["cache_read"], run.usage["cache_creation"])
    return bool(llm) and all(g == want for g in got), f"(read, creation) {got}, want {want}"


def reasoning_tokens(run: Run, spans: list[Row], _: list[Row]) -> tuple[bool, str]:
    return _all(llm_spans(spans), "reasoning_tokens", run.usage["reasoning"])


def cost(run: Run, spans: list[Row], _: list[Row]) -> tuple[bool, str]:
    want = expected_cost(run)
    got = [s["cost_usd"] for s in llm_spans(spans)]
    ok = bool(got) and all(g is not None and math.isclose(g, want, rel_tol=1e-6) for g in got)
    return ok, f"cost {got}, want {want:.8f} (genai-prices)"


def content(run: Run, spans: list[Row], _: list[Row]) -> tuple[bool, str]:
    """Every model call has its question in its input messages and the answer in its output."""
    missing = []
    for s in llm_spans(spans):
        attrs = s["attributes"]
        inp = str(attrs.get("gen_ai.input.messages", ""))
        out = str(attrs.get("gen_ai.output.messages", ""))
        if "peer question" not in inp or OPENAI_TEXT not in out.replace('", "', ""):
            missing.append(s["name"])
        else:
            json.loads(inp), json.loads(out)  # the conventions' JSON shape, parseable
    return not missing and bool(llm_spans(spans)), f"spans without content: {missing}"


def span_tree(run: Run, spans: list[Row], _: list[Row]) -> tuple[bool, str]:
    ids = {(s["trace_id"], s["span_id"]) for s in spans}
    orphans = [
        s["name"]
        for s in spans
        if s["parent_span_id"] and (s["trace_id"], s["parent_span_id"]) not in ids
    ]
    roots = [s["name"] for s in spans if not s["parent_span_id"]]
    return bool(roots) and not orphans, f"roots {roots}, spans with a missing parent {orphans}"


def kinds(run: Run, spans: list[Row], _: list[Row]) -> tuple[bool, str]:
    """A root is the workflow, unless it is a model call made outside any span of the app."""
    roots = [s["kind"] for s in spans if not s["parent_span_id"]]
    bad = [k for k in roots if k not in ("workflow", "llm")]
    inner = [s["kind"] for s in spans if s["parent_span_id"] and s["kind"] == "workflow"]
    return bool(roots) and not bad and not inner, f"root kinds {roots}, inner workflows {inner}"


def stage(run: Run, spans: list[Row], _: list[Row]) -> tuple[bool, str]:
    return _all(llm_spans(spans), "stage", run.stage)


def rollup_requests(run: Run, _: list[Row], rollups: list[Row]) -> tuple[bool, str]:
    count = sum(r["count"] for r in rollups if r["kind"] == "llm")
    return count == run.calls, f"rollup LLM requests {count}, want {run.calls}"


CHECKS: dict[str, Check] = {
    "calls": calls,
    "model": model,
    "tokens": tokens,
    "cached": cached_tokens,
    "reasoning": reasoning_tokens,
    "cost": cost,
    "content": content,
    "tree": span_tree,
    "kinds": kinds,
    "stage": stage,
    "rollups": rollup_requests,
}
