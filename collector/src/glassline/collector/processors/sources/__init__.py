"""Mapping tables from other LLM instrumentation libraries to the Glassline vocabulary.

One module per source: :mod:`.otel` (older GenAI convention names), :mod:`.openinference`,
:mod:`.traceloop` (OpenLLMetry), :mod:`.openlit` and :mod:`.langfuse`. Each exposes
``RENAMES`` (source name -> canonical name), and where its vocabulary needs more than renames,
``MESSAGE_PREFIXES`` and a ``hints(attrs, record)`` function. They are merged here once, at
import, into the lookup tables the normalizer uses on every span.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from glassline.collector.records import AttributeValue, SpanRecord

from . import langfuse, openinference, openlit, otel, traceloop
from ._messages import MessagePrefix
from ._values import Hints, Rename

HintFn = Callable[[dict[str, AttributeValue], SpanRecord], Hints]


def _merge(*tables: dict[str, Rename]) -> dict[str, Rename]:
    merged: dict[str, Rename] = {}
    for table in tables:
        for name, rename in table.items():
            if name in merged and merged[name] != rename:
                raise ValueError(f"two sources map {name!r} differently")
            merged[name] = rename
    return merged


RENAMES: Final[dict[str, Rename]] = _merge(
    otel.RENAMES, openinference.RENAMES, traceloop.RENAMES, openlit.RENAMES, langfuse.RENAMES
)
MESSAGE_PREFIXES: Final[dict[str, MessagePrefix]] = {
    **openinference.MESSAGE_PREFIXES,
    **traceloop.MESSAGE_PREFIXES,
}
# One str.startswith() call with a tuple tests every prefix at C speed.
MESSAGE_PREFIX_TUPLE: Final = tuple(MESSAGE_PREFIXES)

# (marker attribute, hints function): a source's hints run when its marker is present.
HINTS_BY_MARKER: Final[tuple[tuple[str, HintFn], ...]] = (
    (openinference.MARKER, openinference.hints),
    *((marker, traceloop.hints) for marker in traceloop.MARKERS),
)
LANGFUSE_PREFIX: Final = langfuse.MARKER_PREFIX
langfuse_hints: Final[HintFn] = langfuse.hints

__all__ = [
    "HINTS_BY_MARKER",
    "LANGFUSE_PREFIX",
    "MESSAGE_PREFIXES",
    "MESSAGE_PREFIX_TUPLE",
    "RENAMES",
    "Hints",
    "MessagePrefix",
    "Rename",
    "langfuse_hints",
    "otel",
]
