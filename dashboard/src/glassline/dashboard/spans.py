"""Pure helpers for the trace drilldown: span tree order and chat messages from GenAI JSON."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from glassline.redaction import jsontext

__all__ = [
    "NO_ROOT_YET",
    "ChatMessage",
    "exceptions",
    "outcome",
    "parse_messages",
    "request_names",
    "tree_prefix",
    "waterfall_frame",
]


# What a trace's request is called before its root span came (its outcome is "pending").
NO_ROOT_YET = "(no root span yet)"


def request_names(names: pd.Series) -> pd.Series:
    """Traces' request names (their roots' names) as a list shows them: a trace whose root has
    not come yet says so, not "None" nor a dash."""
    return names.where(names.notna(), NO_ROOT_YET)


def outcome(spans: list[dict[str, Any]]) -> str:
    """The request's own outcome: its root span's status (``"pending"`` before the root came)."""
    root = next((s for s in spans if not s.get("parent_span_id")), None)
    if root is None:
        return "pending"
    return "failed" if root.get("status") == "error" else "ok"


# The shortest bar, as a share of the trace's extent: a fixed length (it was 0.5 ms) drew every
# span of a sub-millisecond trace (a cache hit) as long as the whole axis, the trace's own
# length lost, and was invisible on a trace of minutes.
MIN_BAR_SHARE = 0.01
# The axis of a trace whose spans all last zero time.
_EXTENT_OF_AN_INSTANT_MS = 0.001


def waterfall_frame(spans: list[dict[str, Any]]) -> pd.DataFrame:
    """Spans in tree order (parent before children, siblings by start) with depth and offset.

    Spans whose parent is missing (not yet arrived, or sampled away) are shown as roots so
    nothing silently disappears from the waterfall; so is the earliest span of a parent cycle
    (a span its own parent, or two each other's: broken clients send them), the rest of the
    cycle below it. ``bar_offset_ms``/``bar_ms`` are what to draw: a span shorter than
    :data:`MIN_BAR_SHARE` of the trace's extent gets a bar that long, moved left if needed so
    it ends inside its parent's bar (a zero-length span at its parent's end stays in it).
    """
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for s in spans:
        parent = s.get("parent_span_id")
        children[parent if parent in ids else None].append(s)
    t0 = min((s["start_ns"] for s in spans), default=0)
    extent_ms = (max((s["end_ns"] for s in spans), default=t0) - t0) / 1e6
    min_bar_ms = MIN_BAR_SHARE * (extent_ms or _EXTENT_OF_AN_INSTANT_MS)
    rows: list[dict[str, Any]] = []
    bars: dict[str, tuple[float, float]] = {}
    stack = [(s, 0) for s in sorted(children[None], key=lambda s: s["start_ns"], reverse=True)]
    earliest_first = sorted(spans, key=lambda s: s["start_ns"])
    while stack or len(bars) < len(ids):
        if not stack:  # only spans of parent cycles are left: the earliest is their root
            stack.append((next(s for s in earliest_first if s["span_id"] not in bars), 0))
        span, depth = stack.pop()
        if span["span_id"] in bars:  # the span a cycle leads back to
            continue
        offset, duration = (span["start_ns"] - t0) / 1e6, (span["end_ns"] - span["start_ns"]) / 1e6
        start, width = offset, max(duration, min_bar_ms)
        parent = bars.get(span.get("parent_span_id") or "")
        if parent and duration < min_bar_ms and start + width > parent[1]:
            start = max(parent[0], parent[1] - width)
        bars[span["span_id"]] = (start, start + width)
        rows.append(
            {
                "span_id": span["span_id"],
                "label": f"{tree_prefix(depth)}{span['name']}  ·{span['span_id'][:4]}",
                "depth": depth,
                "offset_ms": offset,
                "duration_ms": duration,
                "bar_offset_ms": start,
                "bar_ms": width,
                "status": span.get("status") or "unset",
                "kind": span.get("kind"),
            }
        )
        kids = sorted(children.get(span["span_id"], []), key=lambda s: s["start_ns"], reverse=True)
        stack.extend((kid, depth + 1) for kid in kids)
    columns = ["span_id", "label", "depth", "offset_ms", "duration_ms", "bar_offset_ms", "bar_ms"]
    return pd.DataFrame(rows, columns=[*columns, "status", "kind"])


def tree_prefix(depth: int) -> str:
    """Indent for a span at ``depth``: non-breaking spaces (Plotly drops leading plain spaces
    from tick labels) and a "└ " connector under the parent."""
    return "" if depth == 0 else "\u00a0" * (3 * (depth - 1)) + "\u00a0└\u00a0"


@dataclass(slots=True)
class ChatMessage:
    role: str
    texts: list[str] = field(default_factory=list)  # text parts, in order
    tool_calls: list[str] = field(default_factory=list)  # "name(arguments)" per call
    finish_reason: str | None = None


def _part_text(part: Any) -> tuple[str | None, str | None]:
    """(text, tool call) of one message part in the GenAI JSON shape."""
    if isinstance(part, str):
        return part, None
    if not isinstance(part, dict):
        return json.dumps(part), None
    kind = part.get("type")
    if kind == "tool_call":
        args = part.get("arguments")
        return None, f"{part.get('name', 'tool')}({json.dumps(args) if args is not None else ''})"
    if kind == "tool_call_response":
        return str(part.get("response", "")), None
    content = part.get("content")
    return (str(content) if content is not None else json.dumps(part)), None


def parse_messages(value: Any) -> list[ChatMessage]:
    """Messages from ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (JSON string or list).

    Accepts the semantic-convention shape (``parts``) and the older ``content`` string shape;
    anything unparseable becomes one message holding the raw text, so content is never hidden.
    """
    if value is None:
        return []
    data = value
    if isinstance(value, str):
        try:
            data = jsontext.parse(value)
        except ValueError:
            return [ChatMessage(role="raw", texts=[value])]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return [ChatMessage(role="raw", texts=[str(value)])]
    messages = []
    for item in data:
        if not isinstance(item, dict):
            messages.append(ChatMessage(role="raw", texts=[str(item)]))
            continue
        msg = ChatMessage(
            role=str(item.get("role", "unknown")), finish_reason=item.get("finish_reason")
        )
        parts = item.get("parts")
        if parts is None and "content" in item:
            parts = [item["content"]] if isinstance(item["content"], str) else item["content"] or []
        for part in parts or []:
            text, call = _part_text(part)
            if text is not None:
                msg.texts.append(text)
            if call is not None:
                msg.tool_calls.append(call)
        messages.append(msg)
    return messages


def exceptions(span: dict[str, Any]) -> list[dict[str, str]]:
    """The span's ``exception`` events as {type, message, stacktrace}."""
    found = []
    for event in span.get("events") or []:
        if event.get("name") != "exception":
            continue
        attributes = event.get("attributes") or {}
        found.append(
            {
                "type": str(attributes.get("exception.type", "")),
                "message": str(attributes.get("exception.message", "")),
                "stacktrace": str(attributes.get("exception.stacktrace", "")),
            }
        )
    return found
